"""A board description: what :meth:`Soc.from_board` builds (controllers, peripherals, their request-line wiring).

:func:`dmaengine.sim.Soc.from_dts` reads one from device-tree source; a program may also make one by hand. It holds
no parser state: every field is plain data (and the peripheral models, not yet attached).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._periph import Peripheral

__all__ = ["Board", "ControllerDesc", "NodeInfo", "PeripheralDesc", "Wire"]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Where a part came from in the device tree: its path, node name, labels and aliases."""

    path: str
    labels: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The node name with its unit address (``serial@40011000``)."""
        return self.path.rsplit("/", 1)[-1] or "/"


@dataclass(frozen=True, slots=True)
class ControllerDesc:
    """A DMA controller: ``channels`` (``dma-channels``), ``requests`` request lines (``dma-requests``; None: no
    limit) and its bus (see :class:`dmaengine.sim.Soc`)."""

    node: NodeInfo
    channels: int = 8
    requests: int | None = None
    bus_bytes_per_s: int = 400_000_000
    bus_width_bytes: int = 4
    max_burst: int = 16
    fetch_latency_ns: int = 100
    reg: tuple[int, int] | None = None
    compatible: tuple[str, ...] = ("dmaengine,sim-dmac",)


@dataclass(frozen=True, slots=True)
class Wire:
    """One ``dmas`` / ``dma-names`` entry: the client's channel ``slave`` ("tx", "rx") is request line ``line`` of
    controller number ``controller`` (an index into :attr:`Board.controllers`), served by FIFO ``port``
    ("tx" or "rx")."""

    slave: str
    controller: int
    line: int
    port: str


@dataclass(frozen=True, slots=True)
class PeripheralDesc:
    """A peripheral model at MMIO ``base`` (its TX FIFO at ``base + tx_offset``, RX at ``base + rx_offset``)."""

    node: NodeInfo
    model: Peripheral
    base: int
    wires: tuple[Wire, ...] = ()
    tx_offset: int = 0
    rx_offset: int = 4
    size: int = 0x1000
    compatible: tuple[str, ...] = ()


@dataclass(slots=True)
class Board:
    """A whole board: controllers (registered ``dma0``, ``dma1``... in this order), peripherals, RAM and the
    bottom-half latency; ``unmodelled`` lists ``(node path, why)`` of nodes the simulator does not model."""

    source: str = "<board>"
    controllers: list[ControllerDesc] = field(default_factory=list)
    peripherals: list[PeripheralDesc] = field(default_factory=list)
    memory: tuple[int, int] | None = None
    bh_latency_ns: int = 1_000
    model: str | None = None
    compatible: tuple[str, ...] = ()
    unmodelled: list[tuple[str, str]] = field(default_factory=list)
