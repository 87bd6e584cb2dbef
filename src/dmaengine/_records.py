"""Frozen records of the API: configuration, capabilities, status, results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._enums import BusWidth, ResidueGranularity, Result, TransferDirection
from ._errors import ConfigError

__all__ = [
    "ChannelStats",
    "DataChunk",
    "InterleavedTemplate",
    "SgEntry",
    "SlaveCaps",
    "SlaveConfig",
    "TxResult",
    "TxState",
    "get_icg",
]


@dataclass(frozen=True, slots=True)
class SlaveConfig:
    """``struct dma_slave_config``. ``*_maxburst`` counts words of ``*_addr_width``."""

    direction: TransferDirection | None = None
    src_addr: int = 0
    dst_addr: int = 0
    src_addr_width: BusWidth = BusWidth.UNDEFINED
    dst_addr_width: BusWidth = BusWidth.UNDEFINED
    src_maxburst: int = 0
    dst_maxburst: int = 0
    src_port_window_size: int = 0
    dst_port_window_size: int = 0
    device_fc: bool = False
    peripheral_config: Any = None


@dataclass(frozen=True, slots=True)
class SlaveCaps:
    """``struct dma_slave_caps``, as ``dma_get_slave_caps`` fills it."""

    src_addr_widths: frozenset[BusWidth]
    dst_addr_widths: frozenset[BusWidth]
    directions: frozenset[TransferDirection]
    min_burst: int
    max_burst: int
    max_sg_burst: int
    cmd_pause: bool
    cmd_resume: bool
    cmd_terminate: bool
    residue_granularity: ResidueGranularity
    descriptor_reuse: bool


@dataclass(frozen=True, slots=True)
class TxState:
    """``struct dma_tx_state``: last completed cookie, last used cookie, residue in bytes."""

    last: int
    used: int
    residue: int
    in_flight_bytes: int = 0


@dataclass(frozen=True, slots=True)
class TxResult:
    """``struct dmaengine_result``: how a descriptor ended and the bytes it did not move."""

    result: Result
    residue: int


@dataclass(frozen=True, slots=True)
class SgEntry:
    """One scatter-gather segment: a DMA address and a length in bytes."""

    addr: int
    length: int


@dataclass(frozen=True, slots=True)
class DataChunk:
    """``struct data_chunk``: ``size`` bytes, then an inter-chunk gap."""

    size: int
    icg: int = 0
    dst_icg: int = 0
    src_icg: int = 0


def get_icg(inc: bool, sgl: bool, icg: int, dir_icg: int) -> int:
    """``dmaengine_get_icg``: the gap after a chunk on one side of an interleaved transfer."""
    if inc:
        if dir_icg:
            return dir_icg
        if sgl:
            return icg
    return 0


@dataclass(frozen=True, slots=True)
class InterleavedTemplate:
    """``struct dma_interleaved_template``: ``numf`` frames of the chunks in ``sgl``."""

    src_start: int
    dst_start: int
    dir: TransferDirection = TransferDirection.MEM_TO_MEM
    src_inc: bool = True
    dst_inc: bool = True
    src_sgl: bool = False
    dst_sgl: bool = False
    numf: int = 1
    frame_size: int = 0
    sgl: tuple[DataChunk, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.sgl, tuple):
            object.__setattr__(self, "sgl", tuple(self.sgl))
        if self.frame_size == 0:
            object.__setattr__(self, "frame_size", len(self.sgl))
        if self.frame_size != len(self.sgl):
            raise ConfigError(f"frame_size must equal len(sgl) = {len(self.sgl)}, not {self.frame_size!r}")
        if self.numf < 1:
            raise ConfigError(f"numf must be >= 1, not {self.numf!r}")
        if not self.sgl:
            raise ConfigError("sgl must hold at least one DataChunk, not ()")
        for chunk in self.sgl:
            if chunk.size <= 0:
                raise ConfigError(f"chunk size must be > 0, not {chunk.size!r}")

    @property
    def length(self) -> int:
        """Bytes moved by the whole transfer."""
        return self.numf * sum(c.size for c in self.sgl)

    def segments(self) -> Iterable[tuple[int, int, int]]:
        """Yield ``(src_addr, dst_addr, size)`` for every chunk of every frame, in order."""
        src, dst = self.src_start, self.dst_start
        for _ in range(self.numf):
            for c in self.sgl:
                yield src, dst, c.size
                if self.src_inc:
                    src += c.size + get_icg(self.src_inc, self.src_sgl, c.icg, c.src_icg)
                if self.dst_inc:
                    dst += c.size + get_icg(self.dst_inc, self.dst_sgl, c.icg, c.dst_icg)


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """A snapshot of a channel's counters."""

    memcpy_count: int
    bytes_transferred: int
    in_use: bool
    submitted: int
    completed: int
    errors: int
    callback_errors: int = 0
