"""RtlSoc: a :class:`dmaengine.Platform` in virtual time whose DMA controller is RTL, clocked edge by edge.

The rules are those of :class:`dmaengine.sim.Soc`: one thread runs the simulation at a time; blocking calls
(``sync_wait``, ``synchronize``, ``run_for``) advance virtual time until their condition holds; bottom halves
(callbacks) run as events in virtual time, ``bh_latency_ns`` after the interrupt handler scheduled them; a
blocking call from inside the simulation raises StateError. Time advances by clock cycles while the controller is
busy or a register write waits to land, and jumps straight to the next event while it is idle, so waiting on an
idle controller costs nothing.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .._context import WaitQueue, bottom_half
from .._errors import ConfigError, StateError
from .._platform import Platform
from ._bench import Bench, BusAgent
from ._controller import DmaController, Top
from ._uart import RtlUart

__all__ = ["RtlSoc", "RtlTasklet"]

log = logging.getLogger("dmaengine")

#: Where the peripherals' windows are (4 KiB each; a UART's TX FIFO at +0, its RX FIFO at +4).
PERIPH_BASE = 0xF000_0000
PERIPH_STRIDE = 0x1000


def _ns(seconds: float, name: str) -> int:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds != seconds:
        raise ConfigError(f"{name} must be a number of seconds, not {seconds!r}")
    return round(seconds * 1e9)


class _Event:
    __slots__ = ("cancelled", "fn")

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.cancelled = False


class RtlTasklet:
    """A bottom half in virtual time: :meth:`schedule` runs the function ``latency_ns`` later (coalescing)."""

    def __init__(self, soc: RtlSoc, fn: Callable[[], None], name: str, latency_ns: int) -> None:
        self._soc = soc
        self._fn = fn
        self.name = name
        self.latency_ns = latency_ns
        self._ev: _Event | None = None
        self._scheduled = 0
        self._done = 0
        self._running = False
        self._killed = False

    def schedule(self) -> None:
        """Ask for one more run; requests before it starts make one run."""
        if self._ev is None and not self._killed:
            self._scheduled += 1
            self._ev = self._soc.at(self._soc.now_ns + self.latency_ns, self._run)

    def _run(self) -> None:
        self._ev = None
        run_id = self._scheduled
        self._running = True
        try:
            with bottom_half():
                self._fn()
        except Exception:  # a bottom half never stops the simulation
            log.exception("bottom half %s failed", self.name)
        finally:
            self._running = False
            self._done = run_id

    def flush(self, timeout: float | None = None) -> bool:
        """Run the simulation until every run scheduled before this call has finished."""
        target = self._scheduled
        return self._soc.wait_for(lambda: self._done >= target, timeout, None)

    def in_context(self) -> bool:
        """True while this bottom half runs."""
        return self._running

    def kill(self) -> None:
        """Cancel a pending run; no more runs."""
        self._killed = True
        if self._ev is not None:
            self._ev.cancelled = True
            self._ev = None
        self._done = self._scheduled


class RtlSoc(Platform):
    """A SoC in virtual time around an RTL DMA controller: the Amaranth :class:`DmaController` (or ``controller``,
    any component with its ports), simulated cycle by cycle at ``clock_hz``; its :class:`BusAgent` serving the
    memory port from this platform's address space; and its register-only driver (``driver``, default
    :class:`~dmaengine.rtl.RtlDmaDevice`) registered as ``dma0``.

    Arguments: ``variant`` of the built-in controller (see :data:`~dmaengine.rtl.VARIANTS`), its ``channels``,
    ``burst_words`` and ``len_bits``; ``clock_hz`` (an integer number of nanoseconds per cycle);
    ``bh_latency_ns`` from an interrupt to its bottom half; ``watchdog_ns``: the deadline of a wait that has
    none (a wait without timeout on a controller that stays busy raises TimeoutError then); ``vcd``: a path to
    write the waveforms of the run to (closed by :meth:`close`); ``peripherals``: :class:`RtlUart` peripherals,
    each in a 4 KiB window from ``0xf000_0000`` on, with a TX and an RX request line and the slave-map entries
    ``(name, "tx")`` / ``(name, "rx")`` (none by default: a bare memory-to-memory controller).

    >>> soc = RtlSoc()
    >>> soc.dmac.name, len(soc.dmac.channels), hex(soc.dmac.dma_mask)
    ('dma0', 2, '0xffffffff')
    >>> soc.close()
    """

    realtime = False

    def __init__(self, *, variant: str = "good", channels: int = 2, burst_words: int = 16, len_bits: int = 24,
                 clock_hz: int = 100_000_000, bh_latency_ns: int = 1_000, vcd: str | os.PathLike[str] | None = None,
                 controller: Any = None, driver: Callable[[BusAgent], Any] | None = None,
                 peripherals: Iterable[RtlUart] = (), watchdog_ns: int = 100_000_000) -> None:
        super().__init__()
        if not isinstance(clock_hz, int) or isinstance(clock_hz, bool) or clock_hz <= 0 or 1_000_000_000 % clock_hz:
            raise ConfigError(f"clock_hz must divide 1 GHz (a whole number of ns per cycle), not {clock_hz!r}")
        if not isinstance(bh_latency_ns, int) or isinstance(bh_latency_ns, bool) or bh_latency_ns < 0:
            raise ConfigError(f"bh_latency_ns must be an int >= 0, not {bh_latency_ns!r}")
        if not isinstance(watchdog_ns, int) or isinstance(watchdog_ns, bool) or watchdog_ns <= 0:
            raise ConfigError(f"watchdog_ns must be an int > 0, not {watchdog_ns!r}")
        self.controller = controller if controller is not None else DmaController(channels, burst_words, len_bits,
                                                                                  variant)
        self.watchdog_ns = watchdog_ns
        self._peripherals: dict[str, RtlUart] = {}
        wiring = []
        for i, p in enumerate(peripherals):
            if not isinstance(p, RtlUart):
                raise ConfigError(f"peripherals are RtlUart, not {p!r}")
            if p.name in self._peripherals:
                raise ConfigError(f"a peripheral named {p.name!r} is already attached")
            if 2 * i + 1 >= len(self.controller.dreq):
                raise ConfigError(f"the controller has {len(self.controller.dreq)} request lines: too many "
                                  f"peripherals ({p.name!r})")
            self._peripherals[p.name] = p
            wiring.append((PERIPH_BASE + PERIPH_STRIDE * i, p.rtl, 2 * i, 2 * i + 1))
        top = Top(self.controller, wiring)
        self.period_ns = 1_000_000_000 // clock_hz
        self.bh_latency_ns = bh_latency_ns
        self.bench = Bench(top, top.domain.clk, vcd)
        self.bus = BusAgent(self.bench, self.controller, self.address_space, top.ext)
        for (base, _, tx_line, rx_line), p in zip(wiring, self._peripherals.values()):
            p.attach(self, base, tx_line, rx_line)
        self._polls = [p.poll for p in self._peripherals.values()]
        self._now = 0
        self._heap: list[tuple[int, int, _Event]] = []
        self._seq = itertools.count()
        self._stepping = threading.Lock()
        self._stepper: int | None = None
        self._closed = False
        if driver is None:
            from ._driver import RtlDmaDevice
            driver = RtlDmaDevice
        #: The controller's driver, registered as ``dma0``.
        self.dmac = driver(self.bus)
        self.register_device(self.dmac)
        from ._driver import RtlDmaRequest
        for p in self._peripherals.values():
            self.add_slave_map(p.name, "tx", RtlDmaRequest(self.dmac.name, p.tx_line))
            self.add_slave_map(p.name, "rx", RtlDmaRequest(self.dmac.name, p.rx_line))

    # --- clock --------------------------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        """Virtual time in integer nanoseconds."""
        return self._now

    @property
    def now(self) -> float:
        """Virtual time in seconds."""
        return self._now / 1e9

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far (idle time skipped is not counted)."""
        return self.bench.cycles

    def at(self, time_ns: int, fn: Callable[[], None]) -> _Event:
        """Run ``fn`` at virtual time ``time_ns`` (not before now), after the clock edge of that instant."""
        if time_ns < self._now:
            raise ConfigError(f"time_ns {time_ns} is in the past (now {self._now})")
        ev = _Event(fn)
        heapq.heappush(self._heap, (time_ns, next(self._seq), ev))
        return ev

    def _peek(self) -> int | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _run(self, pred: Callable[[], bool] | None, deadline: int | None) -> bool:
        """Clock the controller and run events until ``pred()`` (True) or ``deadline`` (False, the clock then
        stands at the deadline) or nothing is left to happen (False)."""
        bus = self.bus
        period = self.period_ns
        heap = self._heap
        watchdog = None if deadline is not None else self._now + self.watchdog_ns
        # The predicate is tested after whatever can change what it tests: an event (a bottom half), the
        # interrupt handler, the last posted register write landing; and every 256 cycles (memory a test looks at).
        quiet = 0
        while True:
            if not quiet and pred is not None and pred():
                return True
            t_ev = self._peek()
            if bus.active:
                t_edge = (self._now // period + 1) * period
                if t_ev is None or t_ev >= t_edge:
                    if watchdog is not None and t_edge > watchdog:
                        raise TimeoutError(f"the controller is still busy after {self.watchdog_ns} ns of virtual "
                                           f"time in a wait without timeout (now {self._now} ns)")
                    if deadline is not None and t_edge > deadline:
                        self._now = max(self._now, deadline)
                        return bool(pred is not None and pred())
                    self._now = t_edge
                    posted = bus.write_pending()
                    bus.cycle(t_edge)
                    for poll in self._polls:
                        poll()
                    quiet = (quiet + 1) & 255
                    if bus.irq and not bus.write_pending() and bus.irq_handler is not None:
                        bus.irq_handler()
                        quiet = 0
                    elif posted and not bus.write_pending():
                        quiet = 0
                    continue
            if quiet:  # the controller just went idle: test the predicate before waiting for an event
                quiet = 0
                continue
            if t_ev is None:
                if deadline is not None:
                    self._now = max(self._now, deadline)
                return False
            if deadline is not None and t_ev > deadline:
                self._now = max(self._now, deadline)
                return bool(pred is not None and pred())
            _, _, ev = heapq.heappop(heap)
            self._now = max(self._now, t_ev)
            ev.fn()

    def _advance(self, what: str, step: Callable[[], bool]) -> bool:
        """Run ``step`` holding the SoC: one thread at a time may run a simulation, and not from inside it."""
        me = threading.get_ident()
        if not self._stepping.acquire(blocking=False):
            if self._stepper == me:
                raise StateError(f"{what} from inside the simulation (a callback or an interrupt) would re-enter it")
            raise StateError(f"{what}: the SoC is being run by another thread (an RtlSoc is single-threaded)")
        self._stepper = me
        try:
            return step()
        finally:
            self._stepper = None
            self._stepping.release()

    def run(self, until: float) -> None:
        """Run the simulation until virtual time ``until`` seconds."""
        t = _ns(until, "until")
        if t < self._now:
            raise ConfigError(f"until must not be in the past (now {self.now!r} s), not {until!r}")
        self._advance("run", lambda: self._run(None, t))

    def run_for(self, seconds: float) -> None:
        """Run the simulation for ``seconds`` of virtual time (idle stretches cost nothing)."""
        t = _ns(seconds, "seconds")
        if t < 0:
            raise ConfigError(f"seconds must be >= 0, not {seconds!r}")
        self._advance("run_for", lambda: self._run(None, self._now + t))

    def run_until_idle(self, timeout: float | None = 3600.0) -> None:
        """Run until no event is left, the controller is idle and the peripherals' lines are quiet (the last
        character sent and received); TimeoutError after ``timeout`` virtual seconds (a cyclic transfer never
        ends)."""
        deadline = None if timeout is None else self._now + _ns(timeout, "timeout")
        done = lambda: not self.bus.active and self._peek() is None  # noqa: E731
        if not self._advance("run_until_idle", lambda: self._run(done, deadline)):
            raise TimeoutError(f"the SoC is still busy after {timeout} s of virtual time")
        quiet = max((p.idle_at_ns() for p in self._peripherals.values()), default=self._now)
        if quiet > self._now:
            if deadline is not None and quiet > deadline:
                self._advance("run_until_idle", lambda: self._run(None, deadline))
                raise TimeoutError(f"the SoC is still busy after {timeout} s of virtual time")
            self._advance("run_until_idle", lambda: self._run(None, quiet))

    def peripheral(self, name: str) -> RtlUart:
        """The peripheral called ``name``."""
        try:
            return self._peripherals[name]
        except KeyError:
            known = ", ".join(self._peripherals) or "none"
            raise ConfigError(f"no peripheral named {name!r} (there are: {known})") from None

    @property
    def peripherals(self) -> list[RtlUart]:
        """Every attached peripheral, in attach order."""
        return list(self._peripherals.values())

    # --- platform hooks -----------------------------------------------------------------------------------
    def create_tasklet(self, fn: Callable[[], None], name: str) -> RtlTasklet:
        return RtlTasklet(self, fn, name, self.bh_latency_ns)

    def wait_for(self, pred: Callable[[], bool], timeout: float | None, waitq: WaitQueue | None) -> bool:
        """Clock the controller and run events until ``pred()`` holds (True), or until ``timeout`` virtual
        seconds have passed or nothing is left to happen (False)."""
        if pred():
            return True
        deadline = None if timeout is None else self._now + _ns(timeout, "timeout")
        return self._advance("waiting", lambda: self._run(pred, deadline))

    def close(self) -> None:
        """Release every channel, unregister the controller and finish the VCD file."""
        super().close()
        if not self._closed:
            self._closed = True
            self.bench.close()

    def summary(self) -> str:
        """The debugfs summary, and the clock."""
        return f"{super().summary()}virtual time: {self._now} ns, {self.bench.cycles} RTL cycles\n"
