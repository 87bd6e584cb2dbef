"""An ADC: a known waveform sampled at ``rate_hz`` into an RX FIFO with a DMA request line."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dmaengine import ConfigError

from .. import _check
from ._i2s import SampledRx, _BlockSource
from ._periph import Peripheral
from ._tone import SineTable

__all__ = ["Adc"]

Waveform = Callable[[np.ndarray], np.ndarray]


class Adc(Peripheral):
    """An ADC with ``bits`` of resolution, one sample of ``sample_width`` bytes (little-endian) per tick at
    ``rate_hz``, starting when a DMA channel starts serving ``rx_fifo_addr`` (the first sample one period later).

    ``waveform(n)`` maps sample indices (an int64 array) to codes; the default is a sine of ``freq_hz`` around
    mid-scale. :meth:`expected` gives the codes of samples ``first .. first+count-1``, to check a capture.
    """

    def __init__(self, name: str, rate_hz: int = 8_000, bits: int = 12, sample_width: int = 2,
                 freq_hz: float = 50.0, waveform: Waveform | None = None, fifo_depth: int = 32,
                 threshold: int = 1) -> None:
        super().__init__(name)
        rate_hz = _check.index("rate_hz", rate_hz, 1, what="a positive int")
        sample_width = _check.index("sample_width", sample_width, what="1, 2 or 4 bytes")
        if sample_width not in (1, 2, 4):
            raise ConfigError(f"sample_width must be 1, 2 or 4 bytes, not {sample_width!r}")
        bits = _check.index("bits", bits, 1, 8 * sample_width, what=f"1..{8 * sample_width}")
        freq_hz = _check.number("freq_hz", freq_hz, 0, what="a finite number of hertz >= 0")
        if waveform is not None and not callable(waveform):
            raise ConfigError(f"waveform must be a callable or None, not {waveform!r}")
        fifo_depth = _check.index("fifo_depth", fifo_depth, 1, what="a positive int")
        threshold = _check.index("threshold", threshold, 1, what="a positive int")
        self.rate_hz = rate_hz
        self.bits = bits
        self.sample_width = sample_width
        self.freq_hz = freq_hz
        self._dtype = np.dtype({1: "u1", 2: "<u2", 4: "<u4"}[sample_width])
        #: The default waveform (one bound method, so that :meth:`_source` can tell it from another).
        self._default: Waveform = self._sine
        self.waveform: Waveform = waveform if waveform is not None else self._default
        #: The default sine's samples, computed a block at a time, for the parameters in ``_blocks_for``.
        self._blocks = _BlockSource(self._codes, sample_width)
        self._blocks_for: tuple[object, ...] = ()
        self.rx = SampledRx(self, fifo_depth, threshold, sample_width, rate_hz, self._source)

    def _sine(self, n: np.ndarray) -> np.ndarray:
        half = (1 << (self.bits - 1)) - 1
        return np.rint(half + 1 + half * np.sin(2 * np.pi * self.freq_hz * n / self.rate_hz)).astype(np.int64)

    def expected(self, first: int, count: int) -> np.ndarray:
        """The codes of samples ``first .. first+count-1``."""
        first = _check.index("first", first, 0, what="an int >= 0")
        count = _check.index("count", count, 0, what="an int >= 0")
        codes = np.asarray(self.waveform(np.arange(first, first + count, dtype=np.int64)), dtype=np.int64)
        return (codes & ((1 << self.bits) - 1)).astype(self._dtype)

    def _codes(self, first: int, count: int) -> bytes:
        return self.expected(first, count).tobytes()

    def _sine_source(self) -> Callable[[int, int], bytes]:
        """The default sine's ``_codes``: from one period's table (:class:`SineTable`, bit for bit the same
        bytes) when the sine has a short enough period."""
        half = (1 << (self.bits - 1)) - 1
        mask = (1 << self.bits) - 1
        dtype = self._dtype

        def encode(v: np.ndarray) -> bytes:  # expected()'s masking and width, of _sine's rounded values
            return (v.astype(np.int64) & mask).astype(dtype).tobytes()

        table = SineTable.build(self.freq_hz, self.rate_hz, lambda s: half + 1 + half * s, half, encode,
                                dtype.itemsize)
        return self._codes if table is None else table.frames

    def _source(self, first: int, count: int) -> bytes:
        if self.waveform is not self._default:  # a caller's waveform is called as asked, never ahead
            return self._codes(first, count)
        key = (self.freq_hz, self.rate_hz, self.bits, self._dtype)
        if key != self._blocks_for:  # the sine's parameters changed: its computed blocks are stale
            self._blocks = _BlockSource(self._sine_source(), self._dtype.itemsize)
            self._blocks_for = key
        blocks = self._blocks
        if first < blocks._first or first + count > blocks._stop:
            return blocks(first, count)
        a = (first - blocks._first) * blocks.frame_bytes  # blocks(first, count), inlined: a slice of the block
        return blocks._block[a : a + count * blocks.frame_bytes]

    @property
    def overruns(self) -> int:
        """Samples lost because the FIFO was full."""
        self.sync()
        assert self.rx is not None
        return self.rx.overruns
