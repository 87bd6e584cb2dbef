"""Peripheral building blocks: FIFO ports with a DMA request line, and the base class of peripheral models.

A port is evaluated lazily: its FIFO is brought up to date (``advance``) whenever the controller or a client
looks at it, from the exact tick times of the peripheral's clock. Ticks at an instant happen before a DMA burst
that lands at the same instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmaengine import ConfigError, TransferDirection

from .. import _check
from ._kernel import TickClock

if TYPE_CHECKING:
    from ._soc import Soc

__all__ = ["Flow", "Peripheral", "Port", "RxPort", "TxPort"]

_INF = float("inf")


class Flow:
    """Bytes drained (TX) or filled (RX) by a port up to an instant, assuming its FIFO never runs dry or full."""

    __slots__ = ("clock", "limit", "ref_count", "ref_tick", "unit")

    def __init__(self, clock: TickClock, ref_tick: int, ref_count: int, unit: int, limit: int | None) -> None:
        self.clock = clock
        self.ref_tick = ref_tick
        self.ref_count = ref_count
        self.unit = unit
        self.limit = limit

    def count(self, t: int) -> int:
        """Total bytes by ``t`` (ticks at ``t`` included)."""
        c = self.ref_count + self.unit * (self.clock.count(t) - self.ref_tick)
        lim = self.limit
        return c if lim is None or c <= lim else lim

    def time_of(self, m: int) -> int | None:
        """The earliest instant at which the total reaches ``m`` bytes; None if never."""
        if self.limit is not None and m > self.limit:
            return None
        k = -(-(m - self.ref_count) // self.unit)
        return self.clock.time(self.ref_tick + k - 1)


def _check_pos(name: str, value: int) -> int:
    return _check.index(name, value, 1, what="a positive int")


class Port:
    """A FIFO with a DMA request line. ``unit`` is the bytes the peripheral moves per tick."""

    __slots__ = ("clock", "depth", "fifo", "fifo_addr", "line", "name", "owner", "threshold", "ticks_done", "unit")
    direction: TransferDirection

    def __init__(self, owner: Peripheral, kind: str, depth: int, threshold: int, unit: int) -> None:
        self.owner = owner
        self.name = f"{owner.name}.{kind}"
        self.depth = depth = _check_pos(f"{self.name} fifo depth", depth)
        self.threshold = threshold = _check_pos(f"{self.name} threshold", threshold)
        self.unit = _check_pos(f"{self.name} unit", unit)
        if threshold > depth:
            raise ConfigError(f"{self.name} threshold must be <= fifo depth {depth}, not {threshold!r}")
        self.fifo = bytearray()
        self.fifo_addr = -1
        self.line = -1
        self.clock: TickClock | None = None
        self.ticks_done = 0

    @property
    def level(self) -> int:
        """Bytes in the FIFO (as of the last :meth:`advance`)."""
        return len(self.fifo)

    def advance(self, t: int, unbounded: bool = False) -> None:
        """Run the peripheral's ticks up to and including ``t``."""
        clock = self.clock
        if clock is None:
            return
        if type(clock) is TickClock:  # clock.count(t) - ticks_done, inlined (a tick count below 0 is 0)
            n = ((t - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset - self.ticks_done
        else:
            n = clock.count(t) - self.ticks_done
        if n > 0:
            self._ticks(n, unbounded)

    def _ticks(self, n: int, unbounded: bool) -> None:
        raise NotImplementedError

    def steady_flow(self, now: int) -> Flow | None:
        """The flow from now on if the FIFO never runs dry (TX) or full (RX); None when the port is stopped."""
        raise NotImplementedError

    def port_changed(self) -> None:
        """Tell the controllers that this port's timing changed (new data fed, stopped)."""
        soc = self.owner.soc
        if soc is not None:
            for d in soc.controllers:
                d.port_changed(self)


class TxPort(Port):
    """A transmit FIFO the DMA fills (MEM_TO_DEV); the peripheral drains ``unit`` bytes per tick.

    A subclass implements ``_start(t)``, called when a byte arrives while ``clock`` is None (set ``clock`` to a
    :class:`TickClock` and ``ticks_done`` to 0), and ``_ticks(n, unbounded)``, which runs the next ``n`` ticks: take
    bytes from ``fifo``, add them to ``drained``, add ``n`` to ``ticks_done`` (or set ``clock`` to None to idle).
    """

    __slots__ = ("drained", "written")
    direction = TransferDirection.MEM_TO_DEV

    def __init__(self, owner: Peripheral, depth: int, threshold: int, unit: int) -> None:
        super().__init__(owner, "tx", depth, threshold, unit)
        self.drained = 0
        self.written = 0

    def room(self) -> int:
        """Free bytes in the FIFO."""
        return self.depth - len(self.fifo)

    def time_when_room(self, need: int) -> int | None:
        """When the FIFO will have ``need`` free bytes if nothing is written: -1 if it has them now, None if
        never."""
        missing = need - self.room()
        if missing <= 0 or self.clock is None:
            return None if missing > 0 else -1
        u = self.unit
        k = -(-missing // u)
        if k > len(self.fifo) // u:
            return None
        return self.clock.time(self.ticks_done + k - 1)

    def _start(self, t: int) -> None:
        """Hook: the first byte arrives while the peripheral is idle."""

    def dma_write(self, t: int, data: bytes) -> None:
        """A DMA burst lands at ``t`` (after the ticks at ``t``)."""
        self.advance(t)
        self.fifo += data
        self.written += len(data)
        if self.clock is None:
            self._start(t)
            self.advance(t)

    def steady_write(self, t: int, data: bytes) -> None:
        """Bytes that landed at or before ``t`` on a steady plan (never late): append, then advance."""
        fifo = self.fifo
        fifo += data
        self.written += len(data)
        clock = self.clock  # self.advance(t), inlined: the controller's schedule calls this once per move
        if clock is None:
            return
        if type(clock) is TickClock:
            n = ((t - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset - self.ticks_done
        else:
            n = clock.count(t) - self.ticks_done
        if n > 0:
            self._ticks(n, False)

    def steady_flow(self, now: int) -> Flow | None:
        if self.clock is None:
            return None
        return Flow(self.clock, self.ticks_done, self.drained, self.unit, None)


class RxPort(Port):
    """A receive FIFO the DMA drains (DEV_TO_MEM); the peripheral fills ``unit`` bytes per tick.

    A subclass starts ``clock`` (in ``dma_enable`` or when data arrives) and implements ``_ticks(n, unbounded)``,
    which produces the next ``n`` ticks' bytes with ``_push`` (whole units while there is room, unless
    ``unbounded``) and adds ``n`` to ``ticks_done``; ``_supply()`` bounds the ticks still to come.
    """

    __slots__ = ("entered", "overruns", "popped")
    direction = TransferDirection.DEV_TO_MEM

    def __init__(self, owner: Peripheral, depth: int, threshold: int, unit: int) -> None:
        super().__init__(owner, "rx", depth, threshold, unit)
        self.entered = 0
        self.popped = 0
        self.overruns = 0

    def time_when_level(self, need: int) -> int | None:
        """When the FIFO will hold ``need`` bytes if nothing is read: -1 if it holds them now, None if never."""
        missing = need - len(self.fifo)
        if missing <= 0:
            return -1
        if self.clock is None:
            return None
        u = self.unit
        k = -(-missing // u)
        if k > (self.depth - len(self.fifo)) // u or k > self._supply():
            return None
        return self.clock.time(self.ticks_done + k - 1)

    def _supply(self) -> float:
        """Ticks of data still to come (infinite for a sampling peripheral)."""
        return _INF

    def dma_enable(self, t: int) -> None:
        """A DMA channel started serving this port: a sampling peripheral starts its clock."""

    def dma_read(self, t: int, n: int) -> bytes:
        """A DMA burst takes ``n`` bytes at ``t`` (after the ticks at ``t``)."""
        self.advance(t)
        return self._pop(n)

    def steady_read(self, t: int, n: int) -> bytes:
        """Bytes taken at or before ``t`` on a steady plan (never an overrun): advance unbounded, then pop."""
        clock = self.clock  # self.advance(t, unbounded=True), inlined: called once per move of a schedule
        if clock is not None:
            if type(clock) is TickClock:
                c = ((t - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset - self.ticks_done
            else:
                c = clock.count(t) - self.ticks_done
            if c > 0:
                self._ticks(c, True)
        return self._pop(n)

    def _pop(self, n: int) -> bytes:
        fifo = self.fifo
        have = len(fifo)
        if n < have:
            data = bytes(fifo[:n])
            del fifo[:n]
        elif n == have:
            data = bytes(fifo)
            fifo.clear()
        else:
            raise AssertionError(f"{self.name}: DMA read of {n} bytes from a FIFO holding {have}")
        self.popped += n
        return data

    def _push(self, data: bytes | bytearray, unbounded: bool) -> None:
        """Put produced bytes in the FIFO, whole units only while there is room; count the rest as overruns."""
        if not unbounded:
            room = (self.depth - len(self.fifo)) // self.unit * self.unit
            if len(data) > room:
                self.overruns += (len(data) - room) // self.unit
                data = data[:room]
        self.fifo += data
        self.entered += len(data)

    def steady_flow(self, now: int) -> Flow | None:
        if self.clock is None:
            return None
        supply = self._supply()
        limit = None if supply == _INF else self.entered + int(supply) * self.unit
        return Flow(self.clock, self.ticks_done, self.entered, self.unit, limit)


class Peripheral:
    """Base of peripheral models. Subclasses create ``self.tx`` and/or ``self.rx`` ports in ``__init__``.

    The SoC gives each port a FIFO address (``tx_fifo_addr``, ``rx_fifo_addr``) and a DMA request line, and adds
    slave-map entries ``(name, "tx")`` / ``(name, "rx")``.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(f"peripheral name must be an identifier, not {name!r}")
        self.name = name
        self.soc: Soc | None = None
        self.tx: TxPort | None = None
        self.rx: RxPort | None = None

    @property
    def ports(self) -> list[Port]:
        """The ports, TX first."""
        return [p for p in (self.tx, self.rx) if p is not None]

    @property
    def tx_fifo_addr(self) -> int:
        """The MMIO address of the transmit FIFO (``dst_addr`` of a MEM_TO_DEV slave_config)."""
        if self.tx is None:
            raise ConfigError(f"{self.name} has no TX FIFO")
        return self.tx.fifo_addr

    @property
    def rx_fifo_addr(self) -> int:
        """The MMIO address of the receive FIFO (``src_addr`` of a DEV_TO_MEM slave_config)."""
        if self.rx is None:
            raise ConfigError(f"{self.name} has no RX FIFO")
        return self.rx.fifo_addr

    @property
    def now_ns(self) -> int:
        """The SoC clock."""
        return self.soc.now_ns if self.soc is not None else 0

    def idle_at_ns(self) -> int:
        """The instant this peripheral will have finished the work it holds on its own (for a UART: bytes in its
        TX FIFO sent, bytes fed to its RX line arrived); now when it holds none or runs forever (a codec, an ADC).
        :meth:`Soc.run_until_idle` runs until every peripheral's instant."""
        return self.now_ns

    def sync(self) -> None:
        """Bring the ports and in-flight DMA up to the SoC clock before a client looks at the model."""
        soc = self.soc
        if soc is None:
            return
        with soc.exclusive(f"{self.name}: reading the model"):
            soc.sync()
            now = soc.now_ns
            for p in (self.tx, self.rx):  # self.ports, without the property's list
                if p is not None:
                    p.advance(now)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
