"""A UART-like peripheral in Amaranth HDL: TX and RX FIFOs on the bus, request lines, a character-time tick; and
its line model on the bench side (what leaves on TX, what arrives on RX, in virtual time)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal

from .._errors import ConfigError

if TYPE_CHECKING:
    from ._soc import RtlSoc

__all__ = ["RtlUart", "UartFifo"]

TX_FIFO, RX_FIFO = 0x0, 0x4


class UartFifo(Elaboratable):
    """The peripheral: a TX FIFO written at ``+0`` and an RX FIFO read at ``+4`` (bytes, one per beat in lane 0),
    each ``depth`` characters. ``tick`` (one cycle) lets the line take the next TX character (shown on
    ``tx_valid`` / ``tx_data`` in that cycle); ``rx_valid`` / ``rx_data`` (one cycle) deliver a received one (lost
    and counted in ``rx_overruns`` when the FIFO is full). ``dreq_tx`` is high while ``burst`` characters fit in
    the TX FIFO, ``dreq_rx`` while ``burst`` wait in the RX FIFO. A write to a full TX FIFO, a read of an empty RX
    FIFO, a beat wider than one byte or to another offset is a bus error."""

    def __init__(self, depth: int = 16, burst: int = 1) -> None:
        self.depth = depth
        self.burst = burst
        self.bus_sel = Signal()
        self.bus_we = Signal()
        self.bus_addr = Signal(12)
        self.bus_lanes = Signal(4)
        self.bus_wdata = Signal(32)
        self.bus_rdata = Signal(32)
        self.bus_err = Signal()
        self.tick = Signal()
        self.tx_valid = Signal()
        self.tx_data = Signal(8)
        self.rx_valid = Signal()
        self.rx_data = Signal(8)
        self.dreq_tx = Signal()
        self.dreq_rx = Signal()
        self.tx_level = Signal(range(depth + 1))
        self.rx_level = Signal(range(depth + 1))
        self.rx_overruns = Signal(16)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        depth = self.depth
        tx = Signal(8 * depth)  # character 0 is the oldest
        rx = Signal(8 * depth)
        byte = self.bus_lanes == 0b0001
        tx_push = self.bus_sel & self.bus_we & (self.bus_addr == TX_FIFO) & byte & (self.tx_level < depth)
        tx_pop = self.tick & (self.tx_level != 0)
        rx_pop = self.bus_sel & ~self.bus_we & (self.bus_addr == RX_FIFO) & byte & (self.rx_level != 0)
        rx_push = self.rx_valid & ((self.rx_level < depth) | rx_pop)
        m.d.comb += [
            self.tx_valid.eq(tx_pop),
            self.tx_data.eq(tx[:8]),
            self.bus_rdata.eq(rx[:8]),
            self.bus_err.eq(self.bus_sel & ~Mux(self.bus_we, tx_push, rx_pop)),
            self.dreq_tx.eq(depth - self.tx_level >= self.burst),
            self.dreq_rx.eq(self.rx_level >= self.burst),
        ]
        self._fifo(m, tx, self.tx_level, tx_push, tx_pop, self.bus_wdata[:8])
        self._fifo(m, rx, self.rx_level, rx_push, rx_pop, self.rx_data)
        with m.If(self.rx_valid & ~rx_push):
            m.d.sync += self.rx_overruns.eq(self.rx_overruns + 1)
        return m

    @staticmethod
    def _fifo(m: Module, data: Signal, level: Signal, push: Any, pop: Any, value: Any) -> None:
        with m.If(push & pop):
            m.d.sync += [data.eq(data >> 8), data.bit_select(Cat(Const(0, 3), level - 1), 8).eq(value)]
        with m.Elif(push):
            m.d.sync += [data.bit_select(Cat(Const(0, 3), level), 8).eq(value), level.eq(level + 1)]
        with m.Elif(pop):
            m.d.sync += [data.eq(data >> 8), level.eq(level - 1)]


class RtlUart:
    """A UART on an :class:`RtlSoc`: the :class:`UartFifo` RTL, and its line at ``baud`` (8N1: a character
    every ``10 / baud`` seconds). ``output`` holds the characters sent (``output_ns`` when each started on the
    line); :meth:`feed` makes characters arrive on RX. Attached by ``RtlSoc(peripherals=[...])``, which gives it
    ``tx_fifo_addr`` / ``rx_fifo_addr`` and the slave-map entries ``(name, "tx")`` and ``(name, "rx")``."""

    def __init__(self, name: str, baud: int = 115_200, depth: int = 16, burst: int = 1) -> None:
        if not isinstance(baud, int) or isinstance(baud, bool) or not 300 <= baud <= 10_000_000:
            raise ConfigError(f"baud must be an int 300..10000000, not {baud!r}")
        if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 256:
            raise ConfigError(f"depth must be an int 1..256, not {depth!r}")
        if not isinstance(burst, int) or isinstance(burst, bool) or not 1 <= burst <= depth:
            raise ConfigError(f"burst must be an int 1..depth ({depth}), not {burst!r}")
        self.name = name
        self.baud = baud
        self.char_ns = round(10 * 1e9 / baud)
        self.rtl = UartFifo(depth, burst)
        self.tx_fifo_addr = 0
        self.rx_fifo_addr = 0
        self.tx_line = self.rx_line = -1
        self.output = bytearray()
        self.output_ns: list[int] = []
        self._soc: RtlSoc | None = None
        self._tick_due = False
        self._tx_free_ns = 0
        self._rx_free_ns = 0
        self._tx_level: Any = None

    def attach(self, soc: RtlSoc, base: int, tx_line: int, rx_line: int) -> None:
        """Wire to ``soc`` (called by RtlSoc)."""
        self._soc = soc
        self.tx_fifo_addr = base + TX_FIFO
        self.rx_fifo_addr = base + RX_FIFO
        self.tx_line, self.rx_line = tx_line, rx_line
        self._tx_level = soc.bench.slot(self.rtl.tx_level)

    def feed(self, data: bytes | Iterable[int]) -> None:
        """Characters arrive on RX one per character time, after those fed before."""
        soc = self._soc
        if soc is None:
            raise ConfigError(f"{self.name} is not attached to an RtlSoc")
        t = max(soc.now_ns, self._rx_free_ns)
        for b in bytes(data):
            t += self.char_ns
            soc.at(t, functools.partial(soc.bus.strobe, (self.rtl.rx_valid, 1), (self.rtl.rx_data, b)))
        self._rx_free_ns = t

    @property
    def rx_overruns(self) -> int:
        """Characters lost because the RX FIFO was full."""
        assert self._soc is not None
        return int(self._soc.bench.slot(self.rtl.rx_overruns).curr)

    def poll(self) -> None:
        """After a clock edge: when the TX FIFO holds a character and no tick is due, schedule the line's next."""
        if not self._tick_due and self._tx_level.curr:
            soc = self._soc
            assert soc is not None
            self._tick_due = True
            soc.at(max(soc.now_ns, self._tx_free_ns), self._tick)

    def _tick(self) -> None:
        soc = self._soc
        assert soc is not None
        self._tick_due = False
        bus = soc.bus
        bus.strobe((self.rtl.tick, 1))
        if soc.bench.slot(self.rtl.tx_valid).curr:
            self.output.append(int(soc.bench.slot(self.rtl.tx_data).curr))
            self.output_ns.append(soc.now_ns)
            self._tx_free_ns = soc.now_ns + self.char_ns

    def idle_at_ns(self) -> int:
        """When the line has sent its last character and received the last one fed."""
        return max(self._tx_free_ns, self._rx_free_ns)
