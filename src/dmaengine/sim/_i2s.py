"""An I2S audio codec: a frame clock at ``rate_hz``, TX and RX FIFOs with DMA request lines."""

from __future__ import annotations

import os
import wave
from collections.abc import Callable

import numpy as np

from dmaengine import ConfigError

from .. import _check
from .._native import core
from ._capture import ByteCapture, check_capture
from ._kernel import TickClock
from ._periph import Peripheral, RxPort, TxPort
from ._tone import SineTable

__all__ = ["I2s", "SampledRx", "sine_frames"]

#: ``source(first_frame, count) -> bytes`` of ``count`` interleaved little-endian frames.
FrameSource = Callable[[int, int], bytes]


#: Frames a computed source works out at once (and keeps): a call for a few frames slices them, it does not pay
#: numpy's fixed cost per call again.
_BLOCK_FRAMES = 4096


class _BlockSource:
    """A frame source computed a block at a time: ``compute(first, count)`` gives the bytes of ``count`` frames of
    ``frame_bytes`` each, frame by frame (a frame's bytes do not depend on which block computed it); calls for
    consecutive frames, as a sampling port makes them, slice the block they fall in."""

    __slots__ = ("_block", "_first", "_stop", "compute", "frame_bytes")

    def __init__(self, compute: FrameSource, frame_bytes: int) -> None:
        self.compute = compute
        self.frame_bytes = frame_bytes
        self._block = b""
        self._first = self._stop = 0

    def __call__(self, first: int, count: int) -> bytes:
        stop = first + count
        if first < self._first or stop > self._stop:
            self._block = self.compute(first, max(count, _BLOCK_FRAMES))
            self._first, self._stop = first, first + max(count, _BLOCK_FRAMES)
        fb = self.frame_bytes
        a = (first - self._first) * fb
        return self._block[a : a + count * fb]


def sine_frames(freq_hz: float, rate_hz: int, channels: int, sample_width: int, amplitude: float = 0.25
                ) -> FrameSource:
    """A frame source playing a sine on every channel (exactly reproducible from the frame index)."""
    dtype = np.dtype({1: "u1", 2: "<i2", 4: "<i4"}[sample_width])
    full = {1: 127, 2: 32767, 4: 2**31 - 1}[sample_width]

    scale = amplitude * full

    def encode(v: np.ndarray) -> bytes:
        if sample_width == 1:
            v = v + 128
        return np.repeat(v.astype(dtype)[:, None], channels, axis=1).tobytes()

    table = SineTable.build(freq_hz, rate_hz, lambda s: scale * s, scale, encode, channels * sample_width)

    def compute(first: int, count: int) -> bytes:
        if table is not None:  # the formula's bytes, bit for bit, from one period's table
            return table.frames(first, count)
        n = np.arange(first, first + count, dtype=np.float64)
        return encode(np.rint(amplitude * full * np.sin(2 * np.pi * freq_hz * n / rate_hz)))

    return _BlockSource(compute, channels * sample_width)


class SampledRx(RxPort):
    """A receiver that samples ``unit`` bytes per tick from ``source`` once a DMA channel starts serving it."""

    __slots__ = ("rate_hz", "source")

    def __init__(self, owner: Peripheral, depth: int, threshold: int, unit: int, rate_hz: int,
                 source: FrameSource) -> None:
        super().__init__(owner, depth, threshold, unit)
        self.rate_hz = rate_hz
        self.source = source

    def dma_enable(self, t: int) -> None:
        if self.clock is None:
            self.clock = TickClock(t, 1_000_000_000, self.rate_hz, offset=1)
            self.ticks_done = 0

    def _ticks(self, n: int, unbounded: bool) -> None:
        k = n if unbounded else min(n, (self.depth - len(self.fifo)) // self.unit)
        if k:
            self.fifo += self.source(self.ticks_done, k)
            self.entered += k * self.unit
        self.overruns += n - k
        self.ticks_done += n

    def steady_read(self, t: int, n: int) -> bytes:
        # RxPort.steady_read (advance unbounded, then pop) in one call; the samples of an empty FIFO that the read
        # takes whole are returned as the source gave them.
        clock = self.clock
        if clock is None or type(clock) is not TickClock:
            return super().steady_read(t, n)
        fifo = self.fifo
        c = ((t - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset - self.ticks_done
        if c > 0:
            src = self.source
            if type(src) is _BlockSource:  # src(self.ticks_done, c), inlined: consecutive frames slice the block
                first = self.ticks_done
                stop = first + c
                if first < src._first or stop > src._stop:
                    data = src(first, c)
                else:
                    a = (first - src._first) * src.frame_bytes
                    data = src._block[a : a + c * src.frame_bytes]
            else:
                data = src(self.ticks_done, c)
            self.entered += c * self.unit
            self.ticks_done += c
            if not fifo and len(data) == n and type(data) is bytes:
                self.popped += n
                return data
            fifo += data
        return self._pop(n)


class _I2sTx(TxPort):
    """The codec plays one frame per tick from the first byte written on; an empty FIFO plays silence."""

    __slots__ = ()
    owner: I2s

    def _start(self, t: int) -> None:
        if self.owner._stopped:  # a stopped codec drops what the DMA writes
            self.fifo.clear()
            return
        self.clock = TickClock(t, 1_000_000_000, self.owner.rate_hz)
        self.ticks_done = 0

    def time_when_room(self, need: int) -> int | None:
        if self.owner._stopped:  # a stopped codec does not assert its request line
            return None
        return super().time_when_room(need)

    def steady_write(self, t: int, data: bytes) -> None:
        # TxPort.steady_write (append, then advance) with _ticks' steady case inlined: the controller's schedule
        # calls it once per move of a playback lane
        fifo = self.fifo
        fifo += data
        self.written += len(data)
        clock = self.clock
        if clock is None:
            return
        if type(clock) is TickClock:
            n = ((t - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset - self.ticks_done
        else:
            n = clock.count(t) - self.ticks_done
        if n <= 0:
            return
        ku = n * self.unit
        have = len(fifo)
        if have < ku or type(self)._ticks is not _I2S_TX_TICKS:
            self._ticks(n, False)
            return
        if have == ku:  # every frame plays from the FIFO: _ticks' steady case
            played: bytes | bytearray = bytes(fifo)
            fifo.clear()
        else:
            played = fifo[:ku]
            del fifo[:ku]
        cap = self.owner._played
        limit = cap.limit
        if limit is None or cap._kept + ku <= limit:
            cap._chunks.append(played)
            cap._kept += ku
            cap.total += ku
        else:
            cap.append(played)
        self.drained += ku
        self.ticks_done += n

    def _ticks(self, n: int, unbounded: bool) -> None:
        u = self.unit
        fifo = self.fifo
        ku = n * u
        have = len(fifo)
        if have >= ku:  # every frame plays from the FIFO (the steady case)
            if have == ku:
                played: bytes | bytearray = bytes(fifo)
                fifo.clear()
            else:
                played = fifo[:ku]  # a copy already (ByteCapture keeps bytes-like chunks)
                del fifo[:ku]
            cap = self.owner._played
            limit = cap.limit
            if limit is None or cap._kept + ku <= limit:  # ByteCapture.append, inlined: nothing to let go
                cap._chunks.append(played)
                cap._kept += ku
                cap.total += ku
            else:
                cap.append(played)
            self.drained += ku
            self.ticks_done += n
            return
        k = have // u
        o = self.owner
        if k:
            ku = k * u
            if len(fifo) == ku:
                o._played.append(bytes(fifo))
                fifo.clear()
            else:
                o._played.append(bytes(fifo[:ku]))
                del fifo[:ku]
            self.drained += ku
        if k < n:
            o._played.append(bytes((n - k) * u))
            o._underruns += n - k
        self.ticks_done += n


_I2S_TX_TICKS = _I2sTx._ticks  # (steady_write inlines its steady case only for this very method)

if core is not None:  # the compiled core does these ports' steady calls itself, as their methods here do them
    core.BusCore.set_ports(tick_clock=TickClock, block_source=_BlockSource, rx_pop=RxPort._pop,
                           sampled_rx=SampledRx, sampled_rx_read=SampledRx.steady_read, i2s_tx=_I2sTx,
                           i2s_tx_write=_I2sTx.steady_write, i2s_tx_ticks=_I2S_TX_TICKS)


class I2s(Peripheral):
    """An I2S codec: ``rate_hz`` frames per second of ``channels`` samples of ``sample_width`` bytes.

    TX: DMA fills ``tx_fifo_addr``; the codec starts with the first byte and then plays one frame per tick; an
    empty FIFO plays a silent frame and counts an underrun. :attr:`played` is every PCM byte that came out;
    :meth:`write_wav` saves it. :meth:`stop` stops the codec (and flushes its TX FIFO) until :meth:`start`.

    RX: once a DMA channel starts serving ``rx_fifo_addr``, one frame per tick comes from ``rx_source``: a WAV
    file path (silence after its end), a callable ``source(first_frame, count) -> bytes``, or by default a
    440 Hz sine (:func:`sine_frames`). Frames that find the FIFO full are lost and counted in ``rx_overruns``.

    ``capture`` bounds what the codec keeps of what it played: the most recent ``capture`` bytes (default 64 MiB,
    about 5.8 minutes of 48 kHz stereo S16; None keeps everything). :attr:`played_dropped` counts the older bytes
    let go; :meth:`take_played` drains what is kept (a long run drains as it goes and keeps nothing else).
    """

    def __init__(self, name: str, rate_hz: int = 48_000, channels: int = 2, sample_width: int = 2,
                 fifo_depth: int = 64, threshold: int = 1,
                 rx_source: str | os.PathLike[str] | FrameSource | None = None,
                 capture: int | None = 64 << 20) -> None:
        super().__init__(name)
        rate_hz = _check.index("rate_hz", rate_hz, 1, what="a positive int")
        channels = _check.index("channels", channels, what="1, 2, 4, 6 or 8")
        if channels not in (1, 2, 4, 6, 8):
            raise ConfigError(f"channels must be 1, 2, 4, 6 or 8, not {channels!r}")
        sample_width = _check.index("sample_width", sample_width, what="1, 2 or 4 bytes")
        if sample_width not in (1, 2, 4):
            raise ConfigError(f"sample_width must be 1, 2 or 4 bytes, not {sample_width!r}")
        fifo_depth = _check.index("fifo_depth", fifo_depth, 1, what="a positive int")
        threshold = _check.index("threshold", threshold, 1, what="a positive int")
        if rx_source is not None and not callable(rx_source) and not isinstance(rx_source, (str, os.PathLike)):
            raise ConfigError(f"rx_source must be a WAV path, a callable or None, not {rx_source!r}")
        self.rate_hz = rate_hz
        self.channels = channels
        self.sample_width = sample_width
        self.frame_bytes = channels * sample_width
        if fifo_depth % self.frame_bytes:
            raise ConfigError(f"fifo_depth must be a multiple of the frame size {self.frame_bytes}, not {fifo_depth!r}")
        self._played = ByteCapture(check_capture(capture))
        self._underruns = 0
        self._stopped = False
        if rx_source is None:
            source = sine_frames(440.0, rate_hz, channels, sample_width)
        elif callable(rx_source):
            source = rx_source
        else:
            path = os.fspath(rx_source)
            if "\0" in path:  # (open() would raise a bare ValueError)
                raise ConfigError(f"rx_source {path!r} is not a readable WAV file: embedded null byte")
            try:
                source = self._wav_source(path)
            except (OSError, EOFError, wave.Error) as e:
                raise ConfigError(f"rx_source {path!r} is not a readable WAV file: {e}") from None
        self.tx = _I2sTx(self, fifo_depth, threshold, self.frame_bytes)
        self.rx = SampledRx(self, fifo_depth, threshold, self.frame_bytes, rate_hz, source)

    def _wav_source(self, path: str) -> FrameSource:
        with wave.open(path, "rb") as w:  # a missing or non-WAV file: the caller names the bad rx_source
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (self.rate_hz, self.channels,
                                                                          self.sample_width):
                raise ConfigError(
                    f"{path!r} is {w.getframerate()} Hz x {w.getnchannels()} ch x {w.getsampwidth()} B, not "
                    f"{self.rate_hz} Hz x {self.channels} ch x {self.sample_width} B")
            pcm = w.readframes(w.getnframes())
        fb = self.frame_bytes

        def source(first: int, count: int) -> bytes:
            chunk = pcm[first * fb : (first + count) * fb]
            short = count * fb - len(chunk)
            return chunk + bytes(short) if short else chunk

        return source

    @property
    def played(self) -> bytes:
        """The PCM bytes the codec played (silence for underruns), in order: all of them unless ``capture``
        let the oldest go (:attr:`played_dropped`) or :meth:`take_played` took them."""
        self.sync()
        return self._played.data()

    def take_played(self) -> bytes:
        """The kept PCM bytes (as :attr:`played`), which the codec then forgets.

        >>> from dmaengine.sim import I2s
        >>> I2s("i2s9").take_played()
        b''
        """
        self.sync()
        return self._played.take()

    @property
    def played_dropped(self) -> int:
        """Played bytes no longer kept because of ``capture`` (not those taken)."""
        self.sync()
        return self._played.dropped

    @property
    def frames_played(self) -> int:
        """Frames played so far (kept or not)."""
        self.sync()
        return self._played.total // self.frame_bytes

    @property
    def underruns(self) -> int:
        """Frames played as silence because the TX FIFO was empty."""
        self.sync()
        return self._underruns

    @property
    def rx_overruns(self) -> int:
        """Captured frames lost because the RX FIFO was full."""
        self.sync()
        assert self.rx is not None
        return self.rx.overruns

    def frame_time_ns(self, k: int) -> int:
        """The instant the codec plays frame ``k`` (counted from the current start, see :meth:`stop`)."""
        k = _check.index("k", k, 0, what="a frame number >= 0")
        clock = self.tx.clock if self.tx is not None else None
        if clock is None:
            raise ConfigError(f"{self.name} is not playing; frame_time_ns({k!r}) is unknown")
        return clock.time(k)

    def stop(self) -> None:
        """Stop playing: the TX FIFO is flushed, and what the DMA writes is dropped until :meth:`start`."""
        self.sync()
        tx = self.tx
        assert tx is not None
        self._stopped = True
        tx.clock = None
        tx.fifo.clear()
        tx.port_changed()

    def start(self) -> None:
        """Undo :meth:`stop`: the next byte the DMA writes starts the frame clock again."""
        self._stopped = False

    def write_wav(self, path: str | os.PathLike[str]) -> None:
        """Save :attr:`played` as a WAV file (stdlib ``wave``)."""
        with wave.open(os.fspath(path), "wb") as w:
            w.setnchannels(self.channels)
            w.setsampwidth(self.sample_width)
            w.setframerate(self.rate_hz)
            w.writeframes(self.played)
