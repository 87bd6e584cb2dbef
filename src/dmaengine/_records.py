"""Frozen records of the API: configuration, capabilities, status, results."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import _check
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

    def __post_init__(self) -> None:
        # Every field is checked here, so a config that exists is well-formed; Channel.slave_config checks it
        # against the channel's caps. Integers may be anything with __index__ (numpy's too), never bools.
        put = object.__setattr__
        if self.direction is not None:
            put(self, "direction", _check.enum_value("direction", self.direction, TransferDirection))
        for side in ("src", "dst"):
            put(self, f"{side}_addr", _check.addr(f"{side}_addr", getattr(self, f"{side}_addr")))
            put(self, f"{side}_addr_width",
                _check.enum_value(f"{side}_addr_width", getattr(self, f"{side}_addr_width"), BusWidth))
            put(self, f"{side}_maxburst", _check.index(f"{side}_maxburst", getattr(self, f"{side}_maxburst"), 0))
            name = f"{side}_port_window_size"
            put(self, name, _check.index(name, getattr(self, name), 0))
        put(self, "device_fc", _check.flag("device_fc", self.device_fc))


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

    def __post_init__(self) -> None:
        if self.addr.__class__ is not int or self.length.__class__ is not int or self.addr < 0 or self.length < 1:
            object.__setattr__(self, "addr", _check.addr("addr", self.addr))
            object.__setattr__(self, "length", _check.length("length", self.length))


@dataclass(frozen=True, slots=True)
class DataChunk:
    """``struct data_chunk``: ``size`` bytes, then an inter-chunk gap."""

    size: int
    icg: int = 0
    dst_icg: int = 0
    src_icg: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", _check.index("chunk size", self.size, 1, what="> 0"))
        for name in ("icg", "dst_icg", "src_icg"):
            object.__setattr__(self, name, _check.index(f"chunk {name}", getattr(self, name), 0, what=">= 0"))


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
        put = object.__setattr__
        put(self, "src_start", _check.addr("src_start", self.src_start))
        put(self, "dst_start", _check.addr("dst_start", self.dst_start))
        put(self, "dir", _check.enum_value("dir", self.dir, TransferDirection))
        for name in ("src_inc", "dst_inc", "src_sgl", "dst_sgl"):
            put(self, name, _check.flag(name, getattr(self, name)))
        if isinstance(self.sgl, (str, bytes)) or not isinstance(self.sgl, Iterable):
            raise ConfigError(f"sgl must be a sequence of DataChunk, not {self.sgl!r}")
        if not isinstance(self.sgl, tuple):
            put(self, "sgl", tuple(self.sgl))
        for chunk in self.sgl:
            if not isinstance(chunk, DataChunk):
                raise ConfigError(f"sgl entries must be DataChunk, not {chunk!r}")
        put(self, "frame_size", _check.index("frame_size", self.frame_size, 0, what=f"len(sgl) = {len(self.sgl)}"))
        if self.frame_size == 0:
            put(self, "frame_size", len(self.sgl))
        if self.frame_size != len(self.sgl):
            raise ConfigError(f"frame_size must equal len(sgl) = {len(self.sgl)}, not {self.frame_size!r}")
        put(self, "numf", _check.index("numf", self.numf, 1, what=">= 1"))
        if not self.sgl:
            raise ConfigError("sgl must hold at least one DataChunk, not ()")

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
