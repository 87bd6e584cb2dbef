"""The DMA controller model: channels, request lines, bursts, a shared bus, descriptor fetch latency, interrupts.

Semantics (burst by burst): a channel loads a program (its descriptor's linked-list items) after
``fetch_latency_ns``; before each burst it waits for its request line (memory-to-memory work is always ready);
ready channels are granted the bus round-robin in channel order; a burst of ``beats`` beats holds the bus for
``ceil(beats * bus_width_bytes / bus_bytes_per_s)`` seconds (one bus cycle per beat, however narrow the beat:
``bus_bytes_per_s`` is what the bus moves at full width) and its bytes land when it ends. Memory-to-memory work
moves full-width beats in bursts of up to ``mem_burst`` beats. A peripheral asks for a burst when its FIFO has
``max(threshold, burst)`` bytes of room (TX) or data (RX).

Speed: a channel with the bus to itself whose peripheral runs steadily is planned in closed form (an
:class:`~._plan.ItemPlan` per item: one event at its end, residue from the clock, bytes moved lazily by ``sync``
before any client code runs; a lone cyclic flow goes on from period to period). Channels that contend for the bus
(peripheral flows and copies, any mix) are planned together in a :class:`~._bus.BusSchedule`: their grants computed
in one loop over their merged request instants, exactly as burst by burst would grant them, period interrupts
raised by one event each, bytes moved in bulk. Anything that could change the timing (another channel starts,
pause, terminate, new RX data, an unmap) settles plans at the current instant into the exact burst-by-burst state,
so both paths give the same result (``Soc(fast=False)`` never plans; the tests compare the two).
"""

from __future__ import annotations

import enum
import functools
import heapq
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dmaengine import ConfigError, Result, TransferDirection
from dmaengine.provider import AddressSpace, DmaFault

from .. import _native
from ._bus import BusSchedule, Lane
from ._kernel import PRIO_HW, Event, TickClock
from ._periph import Flow, Port, RxPort, TxPort
from ._plan import ItemPlan

if TYPE_CHECKING:
    from dmaengine import Mapping

    from ._lane import PeriodLane
    from ._soc import Soc

__all__ = ["Dmac", "Irq", "Item", "Program"]

M2M = TransferDirection.MEM_TO_MEM
M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM
#: The defaults: bytes of one bus word (a 32-bit bus), and the longest memory-to-memory burst in words.
WORD = 4
MEM_BURST = 16
#: After a schedule that could not be made (a channel not steady, memory unmapped or shared), the first and the
#: longest wait before the next try.
PLAN_BACKOFF_NS = 10_000
PLAN_BACKOFF_MAX_NS = 10_000_000
#: A shared-bus schedule is used when its first chunk covers at least this many events; it is computed this many
#: events at a time.
SCHED_MIN_EVENTS = 4
SCHED_CHUNK_EVENTS = 128
#: Chunks a schedule computes at once while none holds an interrupt (see Dmac._sched_arm).
SCHED_AHEAD_CHUNKS = 4
#: An instant after every other.
NEVER = 1 << 62


_addr_of = operator.itemgetter(0)
_size_of = operator.itemgetter(1)
_add, _le = operator.add, operator.le


def _apart(spans: list[tuple[int, int, bool, int]]) -> bool:
    """No channel writes memory that another reads or writes: ``spans`` are ``(addr, size, write, lane)``.

    One sweep in address order: a span clashes with an earlier one of another lane that reaches past its start
    (a write with any such span, a read with such a write). Of the spans seen, the two furthest ends reached by
    different lanes are kept (over all spans, and over writes): the furthest of another lane is one of them.
    Where no two spans overlap at all (each ends where or before the next begins: the usual case), that is all
    (one pass in C)."""
    spans.sort()
    starts = list(map(_addr_of, spans))
    if all(map(_le, map(_add, starts, map(_size_of, spans)), starts[1:])):
        return True
    end1 = end2 = wend1 = wend2 = -1  # furthest end, furthest of another lane than end1's; the same for writes
    lane1 = wlane1 = -1
    for a, size, write, i in spans:
        if write:
            if (end1 if lane1 != i else end2) > a:
                return False
        elif (wend1 if wlane1 != i else wend2) > a:
            return False
        e = a + size
        if i == lane1:
            if e > end1:
                end1 = e
        elif e > end1:
            end2, end1, lane1 = end1, e, i
        elif e > end2:
            end2 = e
        if write:
            if i == wlane1:
                if e > wend1:
                    wend1 = e
            elif e > wend1:
                wend2, wend1, wlane1 = wend1, e, i
            elif e > wend2:
                wend2 = e
    return True


def _spans_replace(spans: list[tuple[int, int, bool, int]], pos: int,
                   mine: list[tuple[int, int, bool, int]]) -> list[tuple[int, int, bool, int]] | None:
    """The spans of a schedule with lane ``pos``'s replaced by ``mine`` (a relane), as a new list when they are
    apart (:func:`_apart`), else None."""
    out = [s for s in spans if s[3] != pos]
    out += mine
    return out if _apart(out) else None


#: :func:`_spans_replace` compiled (src/native/sim.c), or None; it raises OverflowError for a value below 0 or from
#: 2**62 on, where the Python code answers.
_spans_replace_core: Callable[[list[tuple[int, int, bool, int]], int, list[tuple[int, int, bool, int]]],
                              list[tuple[int, int, bool, int]] | None] | None = \
    None if _native.core is None else _native.core.spans_replace


#: A copy lane's bytes move in the compiled core (src/native/copy.c) where the address space's ``copy`` is this one.
_copy_core = _native.core is not None
_space_copy = AddressSpace.copy
#: :meth:`Dmac._lane`'s memory-to-memory case compiled (src/native/copy.c), or None; NotImplemented where it is not
#: the plain case (the Python answers).
_copy_lane: Callable[[Dmac, _HwChannel], Any] | None = None
#: :meth:`Dmac._lane_memory`'s one-copy case compiled (src/native/copy.c), or None; NotImplemented where it is not the
#: plain case.
_copy_memory: Callable[[Dmac, _HwChannel, list[tuple[int, int, bool, int]], int], Any] | None = None


class Irq(enum.Enum):
    """What a channel interrupt says."""

    PERIOD = "period"  # an item with its interrupt bit ended (cyclic period)
    DONE = "done"  # the program ended
    ERROR = "error"  # a bus error stopped the program


class Item:
    """One linked-list item: ``length`` bytes from ``src`` to ``dst`` (``src`` None: fill with ``value``)."""

    __slots__ = ("dst", "irq", "length", "src", "value")

    def __init__(self, src: int | None, dst: int, length: int, irq: bool = False, value: int = 0) -> None:
        self.src = src
        self.dst = dst
        self.length = length
        self.irq = irq
        self.value = value


class Program:
    """What a driver writes into a channel's registers: items, direction, peripheral width and burst (a
    memory-to-memory program moves the controller's full bus words in its memory bursts whatever they say)."""

    __slots__ = ("burst", "cyclic", "direction", "items", "port", "total", "width")

    def __init__(self, items: list[Item], direction: TransferDirection, width: int = WORD,
                 burst: int = MEM_BURST, port: Port | None = None, cyclic: bool = False) -> None:
        if not items:
            raise ConfigError("a program needs at least one item, not []")
        self.items = items
        self.direction = direction
        self.width = width
        self.burst = burst
        self.port = port
        self.cyclic = cyclic
        self.total = sum(i.length for i in items)


_DONE_IRQ = Irq.DONE
_PERIOD_IRQ = Irq.PERIOD
_NOERROR = Result.NOERROR
#: What BusCore.wake needs besides the controller: the event class, the period interrupt's kind and result, the
#: schedule's look-ahead (chunks, events per chunk), and the wake event's label and priority.
_WAKE_CONSTS = (Event, _PERIOD_IRQ, _NOERROR, SCHED_AHEAD_CHUNKS, SCHED_CHUNK_EVENTS, "bus", PRIO_HW)
_new_event = object.__new__
_heappush = heapq.heappush


class _State(enum.Enum):
    IDLE = 0
    FETCH = 1
    WAITREQ = 2
    WAITBUS = 3
    BURST = 4
    STEADY = 5
    HALTED = 6
    SCHED = 7  # on a shared-bus schedule (see Dmac._try_schedule)


_FETCH, _STEADY, _HALTED, _WAITREQ = _State.FETCH, _State.STEADY, _State.HALTED, _State.WAITREQ
_BURST, _WAITBUS, _SCHED, _IDLE = _State.BURST, _State.WAITBUS, _State.SCHED, _State.IDLE


class _HwChannel:
    __slots__ = ("abort_pending", "burst_bytes", "checked", "copy_maps", "done", "ev", "fetch_label", "fetch_ns",
                 "fetched", "idx", "item_idx", "item_label", "item_off", "mvs", "next_prog", "paused", "period_end",
                 "plan", "prog", "request_ns", "rest_spans", "skels", "state", "steady_end", "views")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        #: A program whose memory was checked whole (a cyclic ring goes on period after period unchecked).
        self.checked: Program | None = None
        #: Its items' memory, resolved when it was checked (valid while ``checked`` is the running program).
        self.views: list[np.ndarray] | None = None
        #: The same as memoryviews (a schedule's moves slice and assign them for less than numpy's arrays cost),
        #: set with ``views``.
        self.mvs: list[memoryview] | None = None
        #: What Dmac._lane builds of its lane whatever the instant, per item of one program (Dmac._skeleton), and
        #: the spans of a checked ring's other items per ``(item_idx, pos)`` of one program (Dmac._lane_memory).
        self.skels: tuple[Program, dict[int, Any]] | None = None
        self.rest_spans: tuple[Program, dict[tuple[int, int], list[tuple[int, int, bool, int]]]] | None = None
        #: A copy item's memory as Dmac._lane_memory found it for a schedule, as the compiled move takes it (its
        #: mover, :meth:`Dmac._sched_mover`): ``(self, prog, item index, dst mapping, item.dst - its addr, src
        #: mapping, item.src - its addr, item length)``.
        self.copy_maps: tuple[_HwChannel, Program, int, Mapping, int, Mapping, int, int] | None = None
        #: The end of a plan (set by the controller), and its event label.
        self.steady_end: Callable[[], None] = lambda: None
        #: The end of a lone cyclic flow's period planned as the continuation of the one before (set by the
        #: controller: :meth:`Dmac._period_end`).
        self.period_end: Callable[[], None] = lambda: None
        self.item_label = f"item{idx}"
        #: Its descriptor fetch's event (set by the controller: :meth:`Dmac._fetched`) and label.
        self.fetched: Callable[[], None] = lambda: None
        self.fetch_label = f"fetch{idx}"
        self.prog: Program | None = None
        self.next_prog: Program | None = None
        self.item_idx = 0
        self.item_off = 0
        self.done = 0
        self.state = _State.IDLE
        self.paused = False
        self.abort_pending = False
        self.ev: Event | None = None
        self.plan: ItemPlan | None = None
        self.burst_bytes = 0
        #: When the channel last started waiting for the bus.
        self.request_ns = 0
        #: The instant of its descriptor fetch while a schedule holds it as its lane's first request (-1: none;
        #: see :meth:`Dmac.start`).
        self.fetch_ns = -1


IrqHandler = Callable[[int, Irq, Result, int], None]


class Dmac:
    """The controller model. A driver programs it with :meth:`start`, :meth:`pause`, :meth:`resume`,
    :meth:`abort`, reads :meth:`progress`, and receives interrupts through ``irq(chan, Irq, Result, residue)``,
    always from a hardware event, never from inside one of these calls."""

    # Every attribute the controller keeps is a slot (the period runner, src/native/period.c, reads and writes them
    # at their offsets); ``__dict__`` stays, so a test or a user may still set any other attribute on an instance
    # (a wrapped ``sync``), and so does ``__weakref__``.
    __slots__ = ("__dict__", "__weakref__", "_busy_until", "_deferred", "_done_cut", "_last_grant", "_last_grant_ns",
                 "_plan_backoff_ns", "_plan_retry_ns", "_raising", "_sched", "_sched_chans", "_sched_dones",
                 "_sched_ev", "_sched_irqs", "_sched_lone_ports", "_sched_movers", "_sched_movers_of",
                 "_sched_ports", "_sched_spans", "_sync_ns", "_took", "_took_ns",
                 "_waiting", "burst_probe", "bursts", "bus_bytes_per_s", "bus_width_bytes", "chans", "fast",
                 "fetch_latency_ns", "irq", "kernel", "lane", "mem_burst", "plans", "relanes", "runs", "soc",
                 "wakes_kept")

    def __init__(self, soc: Soc, channels: int = 8, bus_bytes_per_s: int = 400_000_000,
                 fetch_latency_ns: int = 100, fast: bool = True, bus_width_bytes: int = WORD,
                 mem_burst: int = MEM_BURST) -> None:
        for name, v, lo in (("channels", channels, 1), ("bus_bytes_per_s", bus_bytes_per_s, 1),
                            ("fetch_latency_ns", fetch_latency_ns, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"{name} must be an int >= {lo}, not {v!r}")
        self.soc = soc
        self.kernel = soc.kernel
        self.bus_bytes_per_s = bus_bytes_per_s
        self.fetch_latency_ns = fetch_latency_ns
        self.fast = fast
        #: Bytes of one bus beat, and the longest memory-to-memory burst in beats.
        self.bus_width_bytes = bus_width_bytes
        self.mem_burst = mem_burst
        self.chans = [_HwChannel(i) for i in range(channels)]
        for c in self.chans:
            c.steady_end = functools.partial(self._steady_end, c)
            c.period_end = functools.partial(self._period_end, c)
            c.fetched = functools.partial(self._fetched, c)
        self.irq: IrqHandler | None = None
        self._busy_until = 0
        self._waiting: list[_HwChannel] = []
        self._last_grant = -1
        self._last_grant_ns = -1
        self._plan_retry_ns = 0
        self._plan_backoff_ns = 0
        #: Bursts simulated one by one, and items planned in closed form (for tests and curiosity).
        self.bursts = 0
        self.plans = 0
        #: The channels that contend for the bus, planned together (see :meth:`_try_schedule`): the schedule, its
        #: channels by lane, and its next event.
        self._sched: BusSchedule | None = None
        self._sched_chans: list[_HwChannel] = []
        self._sched_ev: Event | None = None
        #: The memory the schedule's lanes may touch, ``(addr, size, write, pos)`` (see :meth:`_sched_relane`).
        self._sched_spans: list[tuple[int, int, bool, int]] = []
        self._raising = 0  # interrupt handlers running (nested)
        self._sched_irqs = 0  # period interrupts of the schedule raised so far
        self._sched_dones = 0  # program ends of the schedule run so far
        #: While a schedule's program end raises its interrupt: the schedule's sequence number up to which its
        #: instants were scheduled before that landing ran (a settle meanwhile schedules the later ones only after
        #: the handler, in :attr:`_deferred`, as the controller would: after what the handler schedules).
        self._done_cut: int | None = None
        self._deferred: list[tuple[int, int, _HwChannel, int]] = []
        self._took: BusSchedule | None = None  # the schedule and instant of the last _sched_take
        #: What the compiled core moves each lane's bytes with (:meth:`_sched_mover`, per lane), and the
        #: ``_sched_chans`` list they were made for (made again for a new schedule's list, kept across relanes).
        self._sched_movers: list[Any] = []
        self._sched_movers_of: list[_HwChannel] | None = None
        #: Each lane's port as :meth:`_sched_relane` last saw it (made with ``_sched_movers``).
        self._sched_ports: list[Port | None] = []
        self._took_ns = -1
        #: No two lanes of the schedule serve one port (an interrupt moves its own lane's bytes only).
        self._sched_lone_ports = True
        #: Round-robin stretches of memory-to-memory bursts computed in one step, and lanes of a running schedule
        #: replaced in place (:meth:`_sched_relane`) (for tests and curiosity).
        self.runs = 0
        self.relanes = 0
        #: Relanes that kept the wake a relane at the same instant scheduled (:meth:`_sched_relane`).
        self.wakes_kept = 0
        #: None, or a callable ``(idx, request_ns, grant_ns, end_ns)`` called for each burst of channel ``idx`` when
        #: its bytes move: at its end burst by burst, later for the planned ones (a schedule's or a lone flow's
        #: plan; sim/_wave.py draws them). None (the default): nothing is called.
        self.burst_probe: Callable[[int, int, int, int], None] | None = None
        #: The lean per-period path of a lone cyclic flow (sim/_lane.py), wired by the SoC; None: plain events.
        self.lane: PeriodLane | None = None
        #: No planned burst lands before this instant (a bound kept by :meth:`sync` and whoever sets a plan).
        self._sync_ns = 0

    # --- timing -------------------------------------------------------------------------------------------
    def burst_ns(self, beats: int) -> int:
        """How long a burst of ``beats`` bus cycles holds the bus."""
        return -(-beats * self.bus_width_bytes * 1_000_000_000 // self.bus_bytes_per_s)

    def _burst_len(self, ch: _HwChannel) -> tuple[int, int]:
        """(bytes, beats) of the channel's next burst."""
        prog = ch.prog
        assert prog is not None
        rem = prog.items[ch.item_idx].length - ch.item_off
        width, burst = (self.bus_width_bytes, self.mem_burst) if prog.direction is M2M else (prog.width, prog.burst)
        bb = width * burst
        n = bb if bb < rem else rem
        return n, -(-n // width)

    # --- driver interface -----------------------------------------------------------------------------------
    def start(self, idx: int, prog: Program) -> None:
        """Load ``prog`` into channel ``idx``; it runs after the descriptor fetch latency."""
        ch = self.chans[idx]
        if self._sched is not None:
            if prog.direction is M2M and ch.prog is None and not ch.abort_pending and self.fetch_latency_ns \
                    and self._sched_admit(ch, prog):
                return
            self._sched_settle()
        if ch.abort_pending:
            ch.next_prog = prog
            return
        if ch.prog is not None:
            raise RuntimeError(f"channel {idx} is busy")
        ch.prog = prog
        ch.item_idx = ch.item_off = ch.done = 0
        ch.state = _FETCH
        # self._others_changed(ch), and what self._others_on_bus(ch) will say, in one pass while no other channel
        # is STEADY (the usual case: nothing to drop, and no channel changes state before the test below).
        # A channel with no program is IDLE (never STEADY, never on the bus): one test skips it.
        on_bus: bool | None = False
        for o in self.chans:
            if o.prog is None:
                continue
            st = o.state
            if st is _FETCH:  # (``ch`` itself)
                continue
            if st is _STEADY:
                self._others_changed(ch)
                on_bus = None  # (asked after the drops)
                break
            if not on_bus and st is not _HALTED and (st is not _WAITREQ or o.ev is not None):
                on_bus = True
        k = self.kernel
        ch.ev = k.at(k.now_ns + self.fetch_latency_ns, ch.fetched, ch.fetch_label, PRIO_HW)
        if on_bus is not False and prog.direction is M2M and self.fast and self.fetch_latency_ns \
                and not self._raising and k.trace is None and k.probe is None \
                and (self._busy_until > k.now_ns or not self._waiting) \
                and (on_bus or self._others_on_bus(ch)):
            # A copy joins the channels already on the bus: planned with them now, its fetch the first request of
            # its lane (what the fetch does to a copy), instead of burst by burst until it and a new schedule then.
            # Not from an interrupt handler (the hardware event that raised it is not over), nor with a trace or a
            # waveform (they show the fetch as an event).
            self._try_schedule(ch)

    def _others_on_bus(self, ch: _HwChannel) -> bool:
        """Does a channel other than ``ch`` want the bus (a burst on it, waiting for it, or a request ahead)?"""
        waitreq, fetch, halted = _State.WAITREQ, _State.FETCH, _State.HALTED
        for o in self.chans:
            st = o.state
            if o is not ch and o.prog is not None and st is not fetch and st is not halted \
                    and (st is not waitreq or o.ev is not None):
                return True
        return False

    def aborting(self, idx: int) -> bool:
        """True while an aborted channel's last burst is still on the bus."""
        return self.chans[idx].abort_pending

    def busy(self, idx: int) -> bool:
        """True while channel ``idx`` holds a program or an aborted burst is still on the bus."""
        ch = self.chans[idx]
        return ch.prog is not None or ch.abort_pending

    def progress(self, idx: int) -> int:
        """Bytes moved by the program in this pass (cyclic: since the ring last wrapped), at burst granularity."""
        ch = self.chans[idx]
        if self._sched is not None:
            self._sched_take(self.kernel.now_ns)
        plan = ch.plan
        if plan is None:
            return ch.done
        j = plan.done(self.kernel.now_ns)
        return ch.done + plan.nbytes(j) - plan.nbytes(plan.materialized)

    def pause(self, idx: int) -> None:
        """Stop after the burst on the bus, if any; the request is ignored until :meth:`resume`."""
        if self._sched is not None:
            self._sched_settle()
        ch = self.chans[idx]
        ch.paused = True
        if ch.state is _State.STEADY:
            self._drop(ch)
        elif ch.state is _State.WAITREQ:
            self._cancel(ch)
            ch.state = _State.HALTED
        elif ch.state is _State.WAITBUS:
            self._waiting.remove(ch)
            ch.state = _State.HALTED

    def resume(self, idx: int) -> None:
        """Continue a paused channel where it stopped."""
        if self._sched is not None:
            self._sched_settle()
        ch = self.chans[idx]
        ch.paused = False
        if ch.state is _State.HALTED and ch.prog is not None:
            self._others_changed(ch)
            self._request(ch)

    def abort(self, idx: int) -> None:
        """Stop the channel: a burst already on the bus finishes (its bytes land), nothing after it."""
        if self._sched is not None:
            self._sched_settle()
        ch = self.chans[idx]
        ch.next_prog = None
        if ch.state is _State.STEADY:
            ch.paused = True  # so that the drop does not plan again
            self._drop(ch)
        ch.paused = False
        if ch.state is _State.BURST or ch.state is _State.STEADY:
            ch.abort_pending = True
            return
        self._cancel(ch)
        if ch in self._waiting:
            self._waiting.remove(ch)
        self._reset(ch)

    def sync(self) -> None:
        """Move the bytes of every planned burst finished by now (before client code looks at memory)."""
        now = self.kernel.now_ns
        sched = self._sched
        if sched is not None and (now != self._took_ns or sched is not self._took):  # (_sched_take's own test)
            core = sched.core
            if core is not None and self.burst_probe is None:  # self._sched_take(now), inlined: once per sync
                self._took_ns = now
                self._took = sched
                movers = self._sched_movers if self._sched_movers_of is self._sched_chans \
                    else self._sched_mover_list()
                self.bursts += core.take_moves(now, movers, self._sched_move_at, self._sched_store)
            else:
                self._sched_take(now)
        if now < self._sync_ns:
            return  # no planned burst lands before then (with a schedule too: its lanes hold no plan)
        nxt = NEVER
        for ch in self.chans:
            plan = ch.plan
            if plan is not None:
                if now >= plan.next_land_ns:  # (none lands before next_land_ns)
                    self._materialize(ch, now)
                if plan.next_land_ns < nxt:
                    nxt = plan.next_land_ns
        self._sync_ns = nxt

    def port_changed(self, port: Port) -> None:
        """A port's timing changed (fed data, stopped): re-plan channels that serve it."""
        if self._sched is not None:
            if self._sched_port_changed(port):
                return  # (the one channel that serves the port is a lane of the schedule: not STEADY nor WAITREQ)
            self._sched_settle()
        for ch in self.chans:
            prog = ch.prog
            if prog is None or prog.port is not port:
                continue
            if ch.state is _State.STEADY:
                self._drop(ch)
            elif ch.state is _State.WAITREQ:
                self._cancel(ch)
                self._request(ch)

    def memory_changed(self) -> None:
        """A mapping went away: re-plan, so that a bus error happens at its exact burst."""
        for ch in self.chans:
            ch.checked = None
        if self._sched is not None:
            self._sched_settle()
        for ch in self.chans:
            if ch.state is _State.STEADY:
                self._drop(ch)

    # --- burst by burst -----------------------------------------------------------------------------------
    def _cancel(self, ch: _HwChannel) -> None:
        if ch.ev is not None:
            ch.ev.cancel()
            ch.ev = None

    def _reset(self, ch: _HwChannel) -> None:
        ch.prog = None
        ch.plan = None
        ch.state = _State.IDLE
        ch.abort_pending = False
        nxt, ch.next_prog = ch.next_prog, None
        if nxt is not None:
            self.start(ch.idx, nxt)

    def _fetched(self, ch: _HwChannel) -> None:
        ch.ev = None
        prog = ch.prog
        assert prog is not None
        if isinstance(prog.port, RxPort):
            prog.port.dma_enable(self.kernel.now_ns)
        self._request(ch)
        self._try_schedule()

    def _dreq(self, ch: _HwChannel) -> None:
        """A channel's request line asserts (a hardware event)."""
        ch.ev = None
        self._request(ch)
        self._try_schedule()

    def _request(self, ch: _HwChannel) -> None:
        """The channel wants its next burst: wait for the request line, then for the bus."""
        if ch.paused:
            ch.state = _State.HALTED
            return
        prog = ch.prog
        assert prog is not None
        port = prog.port
        if port is not None:
            now = self.kernel.now_ns
            port.advance(now)
            n, _ = self._burst_len(ch)
            need = max(port.threshold, n)
            t = port.time_when_room(need) if isinstance(port, TxPort) else port.time_when_level(need)  # type: ignore[attr-defined]
            if t != -1:
                ch.state = _State.WAITREQ
                if self._try_steady(ch):
                    return
                self._others_changed(ch)  # plans coexist only with plans
                if ch.state is not _State.WAITREQ or ch.ev is not None:
                    return  # planned together with the others meanwhile
                if t is not None:
                    ch.ev = self.kernel.at(t, lambda: self._dreq(ch), f"dreq{ch.idx}", PRIO_HW)
                return
        elif prog.direction is M2M and self._try_steady(ch):
            return
        ch.state = _State.WAITBUS
        ch.request_ns = self.kernel.now_ns
        self._waiting.append(ch)
        self._others_changed(ch)
        self._arbitrate()

    def _arbitrate(self) -> None:
        now = self.kernel.now_ns
        waiting = self._waiting
        if not waiting or self._busy_until > now:
            return
        last = self._last_grant
        pick = waiting[0] if len(waiting) == 1 else min(waiting, key=lambda c: (c.idx <= last, c.idx))
        waiting.remove(pick)
        self._last_grant = pick.idx
        self._last_grant_ns = now
        n, beats = self._burst_len(pick)
        end = now + self.burst_ns(beats)
        self._busy_until = end
        pick.state = _State.BURST
        pick.burst_bytes = n
        pick.ev = self.kernel.at(end, lambda: self._burst_end(pick), f"burst{pick.idx}", PRIO_HW)

    def _burst_end(self, ch: _HwChannel) -> None:
        ch.ev = None
        self.bursts += 1
        now = self.kernel.now_ns
        if self.burst_probe is not None:  # a burst stepped one by one: granted at the last grant (its line's
            self.burst_probe(ch.idx, self._last_grant_ns, self._last_grant_ns, now)  # rise: line_state)
        n = ch.burst_bytes
        res = self._move(ch, ch.item_off, n, now)
        if ch.abort_pending:
            self._reset(ch)
        elif res is not Result.NOERROR:
            self._fault(ch, res)
        else:
            ch.item_off += n
            ch.done += n
            self._after_burst(ch)
        self._arbitrate()
        self._try_schedule()

    def _after_burst(self, ch: _HwChannel, plan: ItemPlan | None = None) -> None:
        """The burst that ended now may end an item or the program; then ask for the next burst (or go on with
        ``plan``, the plan that just ended, into the next item)."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        if ch.item_off == item.length:
            ch.item_idx += 1
            ch.item_off = 0
            if ch.item_idx == len(prog.items):
                if not prog.cyclic:
                    ch.prog = None
                    ch.state = _State.IDLE
                    self._raise(ch, Irq.DONE, Result.NOERROR, 0)
                    return
                ch.item_idx = 0
                ch.done = 0
            if item.irq:
                self._raise(ch, Irq.PERIOD, Result.NOERROR, 0)
            if plan is not None and self._continue(ch, plan):
                return
        self._request(ch)

    def _continue(self, ch: _HwChannel, plan: ItemPlan) -> bool:
        """Plan the next item of a lone steady flow as the continuation of the one that just ended: same port,
        same clock, same bursts, the stream goes on where it stopped (what :meth:`_try_steady` would find)."""
        prog = ch.prog
        flow = plan.flow
        if flow is None or prog is None or ch.paused or not self.fast:
            return False
        port = prog.port
        item = prog.items[ch.item_idx]
        if port is None or port.clock is not flow.clock or item.length % plan.burst_bytes:
            return False
        halted = _State.HALTED
        for o in self.chans:
            if (o.prog is not None or o.abort_pending) and o is not ch and o.state is not halted:
                return False
        if ch.checked is not prog or ch.views is None:  # every item's memory once, until a mapping goes away
            space = self.soc.address_space
            try:
                if prog.direction is M2D:
                    views = [space.resolve(it.src, it.length, False) for it in prog.items]  # type: ignore[arg-type]
                else:
                    views = [space.resolve(it.dst, it.length, True) for it in prog.items]
            except DmaFault:
                return False
            ch.checked = prog
            ch.views = views
            ch.mvs = [v.data for v in views]
        now = self.kernel.now_ns
        if plan.item_offset == 0 and plan.item_bytes == item.length and plan.last_burst_ns == plan.burst_ns:
            plan.follow_on(now)
            nxt = plan
        else:
            nxt = ItemPlan(0, item.length, plan.burst_bytes, plan.burst_ns, now, flow,
                           plan.first_request_bytes + plan.bursts * plan.burst_bytes, plan.burst_ns)
        ch.plan = nxt
        self._sync_ns = 0  # a new plan: the next sync looks at it
        ch.state = _State.STEADY
        self.plans += 1
        end = nxt.end()
        if end is not None:
            lane = self.lane
            fn = ch.period_end if nxt is plan and prog.cyclic else ch.steady_end
            if lane is None:
                ch.ev = self.kernel.at(end, fn, ch.item_label, PRIO_HW)
            else:
                ch.ev = lane.schedule(ch, end, fn, ch.item_label)
        return True

    def _raise(self, ch: _HwChannel, kind: Irq, result: Result, residue: int) -> None:
        if self.irq is not None:
            self._raising += 1  # (a handler runs in the middle of a hardware event: see start)
            try:
                self.irq(ch.idx, kind, result, residue)
            finally:
                self._raising -= 1

    def _fault(self, ch: _HwChannel, result: Result) -> None:
        prog = ch.prog
        assert prog is not None
        residue = prog.total - ch.done
        ch.prog = None
        ch.state = _State.IDLE
        self._raise(ch, Irq.ERROR, result, residue)

    def _move(self, ch: _HwChannel, off: int, n: int, t: int) -> Result:
        """Move ``n`` bytes at item offset ``off`` at instant ``t``; a bus error is a result."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        space = self.soc.address_space
        d = prog.direction
        try:
            if d is M2D:
                assert item.src is not None
                data = space.resolve(item.src + off, n, False)
                port = prog.port
                if not isinstance(port, TxPort):
                    return Result.WRITE_FAILED
                port.dma_write(t, data.tobytes())
            elif d is D2M:
                view = space.resolve(item.dst + off, n, True)
                port = prog.port
                if not isinstance(port, RxPort):
                    return Result.READ_FAILED
                view[:] = np.frombuffer(port.dma_read(t, n), dtype=np.uint8)
            elif item.src is None:
                space.fill(item.dst + off, item.value, n)
            else:
                space.check(item.src + off, n, False)
                space.copy(item.dst + off, item.src + off, n)
        except DmaFault as f:
            return Result.WRITE_FAILED if f.write else Result.READ_FAILED
        return Result.NOERROR

    # --- closed-form plans --------------------------------------------------------------------------------
    def _try_steady(self, ch: _HwChannel) -> bool:
        """Plan the rest of ``ch``'s item in closed form when it has the bus to itself (channels that contend for
        the bus are planned together by :meth:`_try_schedule`)."""
        if not self.fast or ch.paused:
            return False
        now = self.kernel.now_ns
        if self._busy_until > now:
            return False
        halted, waitreq = _State.HALTED, _State.WAITREQ
        for o in self.chans:
            if (o.prog is not None or o.abort_pending) and o is not ch and o.state is not halted:
                if o.state is waitreq and o.ev is None and not o.abort_pending:
                    continue  # its request line stays low until its port changes (that drops every plan)
                return False
        plan = self._make_plan(ch, now, True)
        if plan is None:
            return False
        ch.plan = plan
        self._sync_ns = 0  # a new plan: the next sync looks at it
        ch.state = _State.STEADY
        self.plans += 1
        end = plan.end()
        if end is not None:
            ch.ev = self.kernel.at(end, ch.steady_end, ch.item_label, PRIO_HW)
        return True

    def _plan_failed(self, now: int) -> None:
        """The channels could not be scheduled together now: back off before the next try (planning is optional:
        burst by burst gives the same)."""
        backoff = min(max(2 * self._plan_backoff_ns, PLAN_BACKOFF_NS), PLAN_BACKOFF_MAX_NS)
        self._plan_backoff_ns = backoff
        self._plan_retry_ns = now + backoff

    def _make_plan(self, ch: _HwChannel, now: int, waiting: bool) -> ItemPlan | None:
        """A plan of the rest of ``ch``'s current item from now, if its flow is steady; else None. ``waiting``:
        the caller saw that the channel's request is not asserted now."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        off = ch.item_off
        rem = item.length - off
        space = self.soc.address_space
        try:
            if prog.direction is M2M:
                if item.src is not None:
                    if item.src < item.dst + item.length and item.dst < item.src + item.length:
                        return None  # overlapping: copied burst by burst, as the hardware would
                    space.check(item.src + off, rem, False)
                space.check(item.dst + off, rem, True)
                word, burst = self.bus_width_bytes, self.mem_burst
                bb = word * burst
                return ItemPlan(off, rem, bb, self.burst_ns(burst), now, None, 0,
                                self.burst_ns(-(-(rem % bb) // word)))
            port = prog.port
            if port is None:
                return None
            bb = prog.width * prog.burst
            if rem % bb:
                return None
            need = max(port.threshold, bb)
            if not waiting:
                port.advance(now)
                if isinstance(port, TxPort):
                    if port.time_when_room(need) == -1:
                        return None  # asserted now: the burst is not a planned one
                elif port.time_when_level(need) == -1:  # type: ignore[attr-defined]
                    return None
            flow = port.steady_flow(now)
            if flow is None:
                return None
            m, u, depth = flow.clock.min_interval_ns, port.unit, port.depth
            d = self.burst_ns(prog.burst)
            if m <= 0 or bb // u < 1 or (bb // u) * m < d:
                return None
            w = -(-d // m)
            if isinstance(port, TxPort):
                if depth - need - u + 1 < u * w:
                    return None
                assert item.src is not None
                space.check(item.src + off, rem, False)
                x1 = port.written + need - depth
            else:
                assert isinstance(port, RxPort)
                if need + u - 1 + u * w > depth:
                    return None
                space.check(item.dst + off, rem, True)
                x1 = port.popped + need
            return ItemPlan(off, rem, bb, d, now, flow, x1, d)
        except DmaFault:
            return None

    def _materialize(self, ch: _HwChannel, t: int) -> None:
        plan = ch.plan
        assert plan is not None
        if t < plan.next_land_ns:
            return  # no burst lands before then
        j = plan.done(t)
        m = plan.materialized
        if j <= m:
            plan.next_land_ns = plan.land_ns(m + 1)
            return
        bb, size = plan.burst_bytes, plan.item_bytes
        b0, b1 = m * bb, j * bb  # plan.nbytes(m), plan.nbytes(j), inlined
        if b1 > size:
            b1 = size
            if b0 > size:
                b0 = size
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        off, n = plan.item_offset + b0, b1 - b0
        port = prog.port
        direction = prog.direction
        if direction is M2D:
            assert item.src is not None and isinstance(port, TxPort)
            views = ch.views if ch.checked is prog else None  # a cyclic ring's items, resolved once (_continue)
            if views is not None:
                port.steady_write(t, views[ch.item_idx][off : off + n].tobytes())
            else:
                port.steady_write(t, self.soc.address_space.resolve(item.src + off, n, False).tobytes())
        elif direction is D2M:
            assert isinstance(port, RxPort)
            views = ch.views if ch.checked is prog else None
            view = (views[ch.item_idx][off : off + n] if views is not None
                    else self.soc.address_space.resolve(item.dst + off, n, True))
            view[:] = np.frombuffer(port.steady_read(t, n), dtype=np.uint8)
        elif item.src is None:
            self.soc.address_space.fill(item.dst + off, item.value, n)
        else:
            self.soc.address_space.copy(item.dst + off, item.src + off, n)
        probe = self.burst_probe
        if probe is not None:  # a planned burst is granted the instant it asks (it has the bus to itself)
            for k in range(m + 1, j + 1):
                start = plan.start(k)
                assert start is not None
                probe(ch.idx, start, start, start + plan.duration_ns(k))
        self.bursts += j - m
        plan.materialized = j
        plan.next_land_ns = plan.land_ns(j + 1)
        ch.item_off = plan.item_offset + b1
        ch.done += n

    def _note_grants(self, plan: ItemPlan, now: int, idx: int) -> None:
        """Keep the round-robin pointer right: the plan's last burst that started by now was a grant."""
        j = plan.done(now)
        if j < plan.bursts:
            s = plan.start(j + 1)
            if s is not None and s <= now:
                j += 1
        if j:
            s = plan.start(j)
            assert s is not None
            if s > self._last_grant_ns:
                self._last_grant_ns = s
                self._last_grant = idx

    def _steady_end(self, ch: _HwChannel) -> None:
        ch.ev = None
        now = self.kernel.now_ns
        self._materialize(ch, now)
        plan = ch.plan
        assert plan is not None
        j = plan.bursts
        if plan.materialized == j:  # the end event (at plan.end()): its last burst was the last grant
            s = now - (plan.burst_ns if j <= plan.full_bursts else plan.last_burst_ns)
            if s > self._last_grant_ns:
                self._last_grant_ns = s
                self._last_grant = ch.idx
        else:
            self._note_grants(plan, now, ch.idx)
        ch.plan = None
        self._busy_until = now
        if ch.abort_pending:
            self._reset(ch)
        else:
            self._after_burst(ch, plan)
        if self._waiting:
            self._arbitrate()
        self._try_schedule()

    def _period_end(self, ch: _HwChannel) -> None:
        """:meth:`_steady_end` of a lone cyclic flow's period planned by :meth:`_continue` as the continuation of
        the one before (its plan follows on, whole bursts from the item's start): the same steps, inlined, with
        nothing looked up twice; then the next period, planned the same way, when nothing changed. Anything
        unusual goes the general way (same result)."""
        plan = ch.plan
        prog = ch.prog
        if (plan is None or prog is None or not prog.cyclic or ch.abort_pending or plan.item_offset
                or plan.flow is None
                or plan.item_bytes != plan.full_bursts * plan.burst_bytes or ch.checked is not prog
                or ch.views is None or prog.port is None or self.burst_probe is not None):
            self._steady_end(ch)
            return
        ch.ev = None
        now = self.kernel.now_ns
        # _materialize, at the plan's end: every burst is done (the end event is the last burst's end).
        bb, size = plan.burst_bytes, plan.item_bytes
        m = plan.materialized
        j = plan.bursts
        idx = ch.item_idx
        b0 = m * bb
        n = size - b0
        port = prog.port
        views = ch.views
        assert views is not None and port is not None
        if prog.direction is M2D:
            assert isinstance(port, TxPort)
            if n:  # port.steady_write, inlined
                port.fifo += views[idx][b0:size].tobytes()
                port.written += n
                clock = port.clock
                if clock is not None:
                    c = ((now - clock.epoch_ns + 1) * clock.den + clock.num - 1) // clock.num - clock.offset
                    c = (c if c > 0 else 0) - port.ticks_done
                    if c > 0:
                        port._ticks(c, False)
        else:
            assert isinstance(port, RxPort)
            if n:
                views[idx][b0:size] = np.frombuffer(port.steady_read(now, n), dtype=np.uint8)
        self.bursts += j - m
        plan.materialized = j
        plan.next_land_ns = NEVER
        # The end event: its last burst was the last grant.
        s = now - plan.burst_ns
        if s > self._last_grant_ns:
            self._last_grant_ns = s
            self._last_grant = ch.idx
        ch.plan = None
        self._busy_until = now
        # _after_burst: the item ends.
        items = prog.items
        item = items[idx]
        idx += 1
        ch.item_off = 0
        if idx == len(items):
            idx = 0
            ch.done = 0
        else:
            ch.done += n
        ch.item_idx = idx
        if item.irq and self.irq is not None:  # self._raise(...), inlined
            self.irq(ch.idx, Irq.PERIOD, Result.NOERROR, 0)
        # _continue: the next period follows on, when nothing changed. (The other channels are idle or halted, as
        # _continue found them when it planned the first period: anything that starts or resumes one drops this
        # plan first, and the interrupt handler cannot, since it finds no plan to drop.)
        if ch.prog is prog and not ch.paused and not ch.abort_pending and items[idx].length == size \
                and port.clock is plan.flow.clock and ch.checked is prog and plan.last_burst_ns == plan.burst_ns:
            x1 = plan.first_request_bytes + j * bb  # plan.follow_on(now), inlined
            plan.first_request_bytes = x1
            plan.start_ns = now
            plan.materialized = 0
            ch.plan = plan
            ch.state = _State.STEADY
            self.plans += 1
            flow = plan.flow
            clock = flow.clock
            if type(flow) is Flow and type(clock) is TickClock and flow.limit is None:
                # plan.end() and the first burst's landing (plan.land_ns(1)), inlined: Flow.time_of of the
                # first and the last request
                d = plan.burst_ns
                tick0 = flow.ref_tick - 1 + clock.offset
                ref, unit, num, den = flow.ref_count, flow.unit, clock.num, clock.den
                epoch = clock.epoch_ns
                plan.next_land_ns = epoch + ((tick0 - (ref - x1) // unit) * num) // den + d
                end: int | None = epoch + ((tick0 - (ref - x1 - (j - 1) * bb) // unit) * num) // den + d
            else:
                plan.next_land_ns = 0
                end = plan.end()
            if plan.next_land_ns < self._sync_ns:
                self._sync_ns = plan.next_land_ns
            if end is not None:
                lane = self.lane
                if lane is None:
                    ch.ev = self.kernel.at(end, ch.period_end, ch.item_label, PRIO_HW)
                else:
                    ch.ev = lane.schedule(ch, end, ch.period_end, ch.item_label)
            return  # nothing waits for the bus, and no schedule can be made (the others are idle)
        if not self._continue(ch, plan):
            self._request(ch)
        if self._waiting:
            self._arbitrate()
        self._try_schedule()

    def _drop(self, ch: _HwChannel) -> None:
        """Leave a plan at the current instant and go on burst by burst (or let its last burst end now)."""
        plan = ch.plan
        assert plan is not None
        now = self.kernel.now_ns
        self._materialize(ch, now)
        j = plan.materialized
        if j == plan.bursts:  # the item ends at this very instant: its end event is due now and does the rest
            return
        self._note_grants(plan, now, ch.idx)
        self._cancel(ch)
        ch.plan = None
        s = plan.start(j + 1)
        if s is not None and s <= now:
            end = s + plan.duration_ns(j + 1)
            ch.state = _State.BURST
            ch.burst_bytes = plan.nbytes(j + 1) - plan.nbytes(j)
            self._busy_until = end
            ch.ev = self.kernel.at(end, lambda: self._burst_end(ch), f"burst{ch.idx}", PRIO_HW)
            return
        ch.state = _State.WAITREQ
        if ch.paused:
            ch.state = _State.HALTED
            return
        self._request(ch)

    def _others_changed(self, ch: _HwChannel) -> None:
        for o in self.chans:
            if o is not ch and o.state is _State.STEADY:
                self._drop(o)

    # --- shared-bus schedules ------------------------------------------------------------------------------
    def _try_schedule(self, fetching: _HwChannel | None = None) -> None:
        """After a hardware event: plan every channel that contends for the bus together, in one
        :class:`BusSchedule`, computed a chunk at a time: the bursts, grants and landings of all of them, cyclic
        periods included (one event per period interrupt), until the first instant that needs the controller
        itself (a program's or memory-to-memory item's end, a FIFO that would not be steady, another channel's
        fetch). The schedule's channels are in state ``SCHED``; anything that could change the timing settles it
        at the current instant (:meth:`_sched_settle`).

        ``fetching``: a memory-to-memory channel just started (:meth:`start`), whose descriptor fetch is its lane's
        first request (for a copy, the fetch does just what its request line would: ask for the bus) instead of
        the instant the schedule must end before; nothing is planned unless other channels are on the bus. Any
        other copy waiting for its fetch is a lane the same way (copies started at one instant are one schedule
        from the first fetch), except with a trace, a waveform or no fetch latency."""
        if not self.fast or self._sched is not None:
            return
        now = self.kernel.now_ns
        if now < self._plan_retry_ns:
            return
        stop = NEVER
        k = self.kernel
        # A copy's fetch (what it does: ask for the bus) can be its lane's first request, as for ``fetching``: the
        # copies started at one instant are one schedule from their fetches. Not with a trace or a waveform (they
        # show the fetch as an event), nor with no fetch latency.
        join = self.fetch_latency_ns and k.trace is None and k.probe is None
        for ch in self.chans:  # another channel's fetch: the schedule ends before it
            st = ch.state
            if st is _FETCH and ch is not fetching:
                prog = ch.prog
                if join and prog is not None and prog.direction is M2M:
                    continue
                ev = ch.ev
                assert ev is not None
                stop = min(stop, ev.time_ns)
            elif st is _BURST and ch.prog is not None:
                item = ch.prog.items[ch.item_idx]
                if ch.item_off + ch.burst_bytes >= item.length and not ch.prog.cyclic \
                        and ch.item_idx + 1 == len(ch.prog.items):
                    return  # the burst on the bus ends its program: the next event tries again
        if stop <= now + 1:
            return
        lanes: list[Lane] = []
        chans: list[_HwChannel] = []
        fetches: list[tuple[_HwChannel, int]] = []
        waiting: list[tuple[int, int]] = []
        pending: list[tuple[int, int, int]] = []
        ports: list[Port] = []  # the lanes' ports
        holder = -1
        holder_end = holder_seq = 0
        # _lane's and _lane_memory's compiled copy cases called here, without their frames, while neither method is
        # replaced (on the class or the instance): they are what those methods would call first.
        direct = _copy_lane is not None and _copy_memory is not None and type(self)._lane is _dmac_lane \
            and type(self)._lane_memory is _dmac_lane_memory and "_lane" not in self.__dict__ \
            and "_lane_memory" not in self.__dict__
        copies = direct  # every lane a copy whose memory copy_memory finds (its mover then made with it)
        for ch in self.chans:
            prog = ch.prog
            if prog is None:
                if ch.abort_pending:
                    return
                continue
            st = ch.state
            if st is _HALTED or (st is _WAITREQ and ch.ev is None):
                continue  # its request line stays low until it resumes or its port changes (both settle)
            if st is _FETCH and ch is not fetching and not (join and prog.direction is M2M):
                continue
            if ch.abort_pending or ch.paused or st is _STEADY:
                return
            if direct and prog.direction is M2M:
                lane = _copy_lane(self, ch)  # type: ignore[misc]
                if lane is NotImplemented:
                    lane = self._lane(ch, now)
            else:
                lane = self._lane(ch, now)
                copies = False
            if lane is None:
                self._plan_failed(now)
                return
            pos = len(lanes)
            if st is _WAITBUS:
                waiting.append((pos, ch.request_ns))
            else:
                ev = ch.ev
                assert ev is not None
                if st is _BURST:
                    if holder >= 0:
                        return  # a burst ends now and another started now: the next event tries again
                    holder, holder_end, holder_seq = pos, ev.time_ns, ev.seq
                else:
                    pending.append((pos, ev.time_ns, ev.seq))
                    if st is _FETCH:
                        fetches.append((ch, ev.time_ns))
            lanes.append(lane)
            chans.append(ch)
            if prog.port is not None:
                ports.append(prog.port)
        if not lanes or (len(lanes) == 1 and holder < 0 and not waiting) or (holder >= 0 and
                                                                             lanes[holder].bursts <= 1):
            return  # nothing to plan, or the burst on the bus ends its item
        if fetching is not None and len(lanes) - (fetching in chans) < 1:
            return  # no other channel on the bus: the fetch goes on as a kernel event
        h_req = chans[holder].request_ns if holder >= 0 else 0
        sched = BusSchedule(lanes, now, stop, self._busy_until, self._last_grant, self._last_grant_ns, holder,
                            holder_end, holder_seq, self._last_grant_ns, h_req, tuple(waiting), tuple(pending),
                            SCHED_CHUNK_EVENTS)
        if sched.events < SCHED_MIN_EVENTS:
            return  # an item end or a fetch is near: the next hardware event tries again
        spans: list[tuple[int, int, bool, int]] = []
        for pos, ch in enumerate(chans):
            ok = _copy_memory(self, ch, spans, pos) if direct else NotImplemented  # type: ignore[misc]
            if ok is NotImplemented:
                ok = self._lane_memory(ch, spans, pos)
                copies = False
            if not ok:
                self._plan_failed(now)
                return
        if _spans_replace_core is None:
            apart = _apart(spans)
        else:  # the same check compiled (no lane has position len(chans): none of the spans is dropped)
            try:
                apart = _spans_replace_core(spans, len(chans), []) is not None
            except OverflowError:  # a value past the compiled check's domain: the Python answers
                apart = _apart(spans)
        if not apart:
            self._plan_failed(now)
            return
        self._plan_backoff_ns = 0
        for ch in chans:
            ev = ch.ev
            if ev is not None:
                ev.cancelled = True  # ev.cancel(), inlined
                ch.ev = None
            ch.state = _SCHED
        for ch, t in fetches:
            ch.fetch_ns = t
        if waiting:
            self._waiting = [c for c in self._waiting if c.state is not _SCHED]
        self._sched = sched
        self._sched_chans = chans
        self._sched_spans = spans
        if copies and not ports:  # _sched_mover_list's answer, made now: each lane's copy mover, no port
            self._sched_movers = [ch.copy_maps for ch in chans]
            self._sched_ports = [None] * len(chans)
            self._sched_movers_of = chans
        self._sched_lone_ports = not ports or len({id(p) for p in ports}) == len(ports)
        self._sched_irqs = 0
        self._sched_dones = 0
        self.plans += 1
        self._sched_arm()

    def _lane(self, ch: _HwChannel, now: int) -> Lane | None:
        """Channel ``ch``'s part in a schedule (its memory is checked later: :meth:`_lane_memory`): the rest of
        its item (memory to memory), or of its program (a peripheral's, when every item is whole bursts); None
        if it cannot be planned (a peripheral's flow stopped, a burst that is not whole)."""
        prog = ch.prog
        assert prog is not None
        idx = ch.item_idx
        if prog.direction is M2M:  # _skeleton's memory-to-memory case and burst_ns, inlined (nothing to keep)
            if _copy_lane is not None:  # the same, compiled (src/native/copy.c), where it is the plain case
                made = _copy_lane(self, ch)
                if made is not NotImplemented:
                    return made
            item = prog.items[idx]
            src, dst, length = item.src, item.dst, item.length
            if src is not None and src < dst + length and dst < src + length:
                return None  # overlapping: copied burst by burst, as the hardware would
            width, mem_burst, bps = self.bus_width_bytes, self.mem_burst, self.bus_bytes_per_s
            bb = width * mem_burst
            burst_ns = -(-mem_burst * width * 1_000_000_000 // bps)
            rem = length - ch.item_off
            bursts = -(-rem // bb)
            last = rem - (bursts - 1) * bb
            last_ns = burst_ns
            if last != bb:
                beats = -(-last // width)
                last_ns = -(-beats * width * 1_000_000_000 // bps)
            return Lane(ch.idx, bursts, bb, burst_ns, last, last_ns,
                        ends_program=not prog.cyclic and idx + 1 == len(prog.items))
        skels = ch.skels
        if skels is None or skels[0] is not prog:
            skels = ch.skels = (prog, {})
        sk = skels[1].get(idx)
        if sk is None:
            sk = skels[1][idx] = self._skeleton(prog, idx)
        rem = prog.items[idx].length - ch.item_off
        port = prog.port
        if port is None:
            return None
        bb, nxt, more, irq = sk
        need = port.threshold if port.threshold > bb else bb
        if rem % bb or need > port.depth:
            return None
        port.advance(now)
        flow = port.steady_flow(now)
        if flow is None:
            return None
        d = -(-prog.burst * self.bus_width_bytes * 1_000_000_000 // self.bus_bytes_per_s)  # self.burst_ns(prog.burst)
        cur = rem // bb
        bursts = cur if more is None else more if more == NEVER else cur + more
        if isinstance(port, TxPort):
            return Lane(ch.idx, bursts, bb, d, bb, d, flow, port.written + need - port.depth, port.written, cur,
                        irq, nxt)
        assert isinstance(port, RxPort)
        return Lane(ch.idx, bursts, bb, d, bb, d, flow, port.popped + need, port.popped + port.depth, cur, irq, nxt)

    def _skeleton(self, prog: Program, idx: int) -> Any:
        """What :meth:`_lane` builds of a channel's lane at item ``idx`` of ``prog`` whatever the instant (kept
        per program in ``_HwChannel.skels``): memory to memory, False (overlapping) or ``(burst_bytes, burst_ns,
        ends_program)``; else ``(burst_bytes, next_items, more, irq)``, ``more`` the bursts of the items after it
        (None: not all whole bursts; NEVER: a ring)."""
        item = prog.items[idx]
        if prog.direction is M2M:
            src = item.src
            if src is not None and src < item.dst + item.length and item.dst < src + item.length:
                return False
            return (self.bus_width_bytes * self.mem_burst, self.burst_ns(self.mem_burst),
                    not prog.cyclic and idx + 1 == len(prog.items))
        items = prog.items
        bb = prog.width * prog.burst
        after = items[idx + 1:] + items[:idx + 1] if prog.cyclic else items[idx + 1:]
        nxt: tuple[tuple[int, bool], ...] = ()
        more: int | None = None
        if bb and all(it.length % bb == 0 and it.length for it in after):
            nxt = tuple((it.length // bb, it.irq) for it in after)
            more = NEVER if prog.cyclic else sum(n for n, _ in nxt)
        return bb, nxt, more, item.irq

    def _lane_memory(self, ch: _HwChannel, spans: list[tuple[int, int, bool, int]], pos: int) -> bool:
        """Is the memory lane ``pos`` (channel ``ch``) may touch in the schedule mapped, in the right direction?
        Notes it in ``spans`` (``(addr, size, write, pos)``)."""
        if _copy_memory is not None:  # the one-copy case below, compiled (src/native/copy.c), where it is plain
            done = _copy_memory(self, ch, spans, pos)
            if done is not NotImplemented:
                return done
        prog = ch.prog
        assert prog is not None
        space = self.soc.address_space
        items = prog.items
        off = ch.item_off
        idx = ch.item_idx
        if prog.cyclic and ch.checked is prog:  # a ring checked whole, until a mapping goes away
            cache = ch.rest_spans
            if cache is None or cache[0] is not prog:
                cache = ch.rest_spans = (prog, {})
            rest = cache[1].get((idx, pos))
            if rest is None:
                out: list[tuple[int, int, bool, int]] = []
                for it in items[:idx] + items[idx + 1:]:
                    if it.src is not None and prog.direction is not D2M:
                        out.append((it.src, it.length, False, pos))
                    if prog.direction is not M2D:
                        out.append((it.dst, it.length, True, pos))
                rest = cache[1][idx, pos] = out
            it = items[idx]
            size = it.length - off
            if it.src is not None and prog.direction is not D2M:
                spans.append((it.src + off, size, False, pos))
            if prog.direction is not M2D:
                spans.append((it.dst + off, size, True, pos))
            spans += rest
            return True
        if prog.direction is M2M and not prog.cyclic:  # the loop below for one copy, in one lookup of its memory
            it = items[idx]
            size = it.length - off
            src = it.src
            dst = it.dst + off
            if src is None:
                if not space.can_copy(dst, None, size):
                    return False
            elif _copy_core and type(space).copy is _space_copy and "copy" not in space.__dict__:
                # can_copy, and where: the compiled core moves the bytes (its copy is AddressSpace's own).
                maps = space.copy_maps(dst, src + off, size)
                if maps is None:
                    return False
                dm, sm = maps
                ch.copy_maps = (ch, prog, idx, dm, it.dst - dm.addr, sm, src - sm.addr, it.length)
                spans.append((src + off, size, False, pos))
            else:
                src += off
                if not space.can_copy(dst, src, size):
                    return False
                spans.append((src, size, False, pos))
            spans.append((dst, size, True, pos))
            return True
        todo = [(items[idx], off)]
        if prog.direction is not M2M:
            rest_items = items[:idx] + items[idx + 1:] if prog.cyclic else items[idx + 1:]
            todo += [(it, 0) for it in rest_items]
        try:
            for it, o in todo:
                size = it.length - o
                if it.src is not None and prog.direction is not D2M:
                    space.check(it.src + o, size, False)
                    spans.append((it.src + o, size, False, pos))
                if prog.direction is not M2D:
                    space.check(it.dst + o, size, True)
                    spans.append((it.dst + o, size, True, pos))
        except DmaFault:
            return False
        if ch.checked is not prog and prog.direction is not M2M:
            # Every item's memory, resolved once for the program (until a mapping goes away): the schedule's
            # bytes move through these views (and _continue's, for a ring).
            try:
                if prog.direction is M2D:
                    views = [space.resolve(it.src, it.length, False) for it in items]  # type: ignore[arg-type]
                else:
                    views = [space.resolve(it.dst, it.length, True) for it in items]
            except DmaFault:  # (an item's part already moved is gone): resolved burst run by burst run
                if prog.cyclic:
                    ch.checked = prog
                    ch.views = ch.mvs = None
            else:
                ch.checked = prog
                ch.views = views
                ch.mvs = [v.data for v in views]
        return True

    def _sched_admit(self, ch: _HwChannel, prog: Program) -> bool:
        """:meth:`start` of a copy on channel ``ch`` while a schedule runs and ``ch`` is one of its lanes (its
        last program ended in it): the lane takes the new program in place (:meth:`_sched_relane`), its
        descriptor fetch its first request (what the fetch does to a copy: ask for the bus). False (nothing
        changed) where the schedule cannot take it so: the caller settles and starts it as before."""
        k = self.kernel
        if not self.fast or self._raising or k.trace is not None or k.probe is not None or ch.state is not _IDLE:
            return False
        now = k.now_ns
        if now != self._took_ns or self._sched is not self._took:  # (one test, no call, when taken at now)
            self._sched_take(now)  # (before the channel holds its new program)
        ch.prog = prog
        ch.item_idx = ch.item_off = ch.done = 0
        fetch_ns = now + self.fetch_latency_ns
        if self._sched_relane(ch, fetch_ns):
            ch.state = _SCHED
            ch.fetch_ns = fetch_ns
            return True
        ch.prog = None
        return False

    def _sched_port_changed(self, port: Port) -> bool:
        """:meth:`port_changed` while a schedule runs: when the one channel that serves ``port`` is a lane of the
        schedule with nothing on the bus and not waiting for it (an RX ring fed again, its data run out or still
        arriving), its lane takes the port's new flow in place (:meth:`_sched_relane`), its next request where
        the request line will rise (a request ahead is asked again, as burst by burst cancels the request line's
        event and schedules it again). False (nothing changed) otherwise: the caller settles."""
        k = self.kernel
        if k.trace is not None or k.probe is not None:
            return False
        chan = None
        for ch in self.chans:
            prog = ch.prog
            if prog is not None and prog.port is port:
                if chan is not None or ch.state is not _SCHED or ch.paused:
                    return False
                chan = ch
        if chan is None:
            return False
        prog = chan.prog
        assert prog is not None
        now = k.now_ns
        if now != self._took_ns or self._sched is not self._took:  # (one test, no call, when taken at now)
            self._sched_take(now)  # (the port's FIFO as of now)
        port.advance(now)
        rem = prog.items[chan.item_idx].length - chan.item_off  # self._burst_len(chan)[0], inlined (not M2M)
        n = prog.width * prog.burst
        if rem < n:
            n = rem
        need = port.threshold
        if n > need:
            need = n
        t = port.time_when_room(need) if isinstance(port, TxPort) else port.time_when_level(need)  # type: ignore[attr-defined]
        if t == -1:
            return False  # the request line is up now: burst by burst it waits for the bus at once
        return self._sched_relane(chan, t)

    def _sched_relane(self, ch: _HwChannel, request_ns: int | None) -> bool:
        """Channel ``ch``'s lane of the running schedule, built afresh (its new program, or its port's new flow),
        takes the place of the old one without settling the others (:meth:`BusSchedule.relane`): the others go on
        from the state at now, the lane asks for the bus at ``request_ns`` (None: not yet), and the schedule is
        computed from now with it. What a settle and a new schedule would give, without the kernel events and the
        other lanes built again. False, nothing changed, where that cannot be done (the lane is on the bus or
        waits for it, an interrupt or program end at now is not raised yet, the memory is not apart, a fetch
        outside the schedule is due now, ...): the caller settles."""
        sched = self._sched
        assert sched is not None
        if self._raising or self._done_cut is not None or self.burst_probe is not None or self._waiting:
            return False
        try:
            pos = self._sched_chans.index(ch)
        except ValueError:
            return False
        now = self.kernel.now_ns
        ends, dones = sched.item_ends, sched.program_ends
        if (self._sched_irqs < len(ends) and ends[self._sched_irqs][0] <= now) \
                or (self._sched_dones < len(dones) and dones[self._sched_dones][0] <= now):
            return False  # an interrupt at now not raised yet (its event is behind the caller's)
        stop = NEVER
        for o in self.chans:  # another channel's fetch: the schedule ends before it
            if o.state is _FETCH:
                ev = o.ev
                assert ev is not None
                if ev.time_ns < stop:
                    stop = ev.time_ns
        if stop <= now + 1:
            return False
        if now != self._took_ns or sched is not self._took:  # (its callers took at now: then one test, no call)
            self._sched_take(now)
        # A copy of one item from its start (a new program): its shape, what its lane and memory depend on.
        prog = ch.prog
        assert prog is not None
        shape = None
        if prog.direction is M2M and len(prog.items) == 1 and not ch.item_off and not prog.cyclic:
            item = prog.items[0]
            shape = (pos, item.src, item.dst, item.length, self.bus_width_bytes, self.mem_burst, self.bus_bytes_per_s)
        memo = sched.copy_memo
        ring = sched.ring_memo
        lane: Lane | None
        spans: list[tuple[int, int, bool, int]] | None
        if memo is not None and memo[0] == shape:
            # The lane's last program had this shape (the copy repeats): its lane is the one built then, and its
            # memory is what the spans hold, mapped then (an unmap since would have settled the schedule).
            lane = memo[1]
            spans = self._sched_spans
        elif ring is not None and ring[0] == pos and ring[1] is prog and ring[2] == ch.item_idx \
                and ring[3] <= ch.item_off and ch.checked is prog:
            # The same ring as when its spans were put in, at the same item, no earlier in it (an RX ring fed
            # again): its memory from now on is within those spans (the rest of that item and the other items
            # whole), which were apart from the others' then and whenever those changed since; they stay (a
            # later relane of another lane checks against them: never apart where the exact spans would not be).
            lane = self._lane(ch, now)
            if lane is None:
                return False
            spans = self._sched_spans
        else:
            lane = self._lane(ch, now)
            if lane is None:
                return False
            mine: list[tuple[int, int, bool, int]] = []
            if not self._lane_memory(ch, mine, pos):
                return False
            if _spans_replace_core is None:
                spans = _spans_replace(self._sched_spans, pos, mine)
            else:
                try:
                    spans = _spans_replace_core(self._sched_spans, pos, mine)
                except OverflowError:  # (a value past what the compiled code takes)
                    spans = _spans_replace(self._sched_spans, pos, mine)
            if spans is None:
                return False
            if prog.cyclic and ch.checked is prog:  # (_lane_memory's ring case: its spans, no other effect)
                ring = (pos, prog, ch.item_idx, ch.item_off)
            elif ring is not None and ring[0] == pos:
                ring = None
        new = sched.relane(now, pos, lane, request_ns, stop)
        if new is None:
            return False
        if shape is not None:
            new.copy_memo = (shape, lane)
        elif memo is not None and memo[0][0] != pos:
            new.copy_memo = memo  # (another lane's: its spans are still the schedule's)
        new.ring_memo = ring  # (another lane's, or this ring's: the spans hold its memory as it says)
        # A wake at this instant already (another relane at it: new RX data, then a copy's start) stays when no
        # event was scheduled since it was (the next sequence number is its own plus one) and no watcher would be
        # told of a new one: the one this would schedule would run exactly where it runs, as the same call.
        k = self.kernel
        ev = self._sched_ev
        if ev is not None:
            if ev.time_ns == now and now > k.watch_ns and k.reserve_seq() == ev.seq + 1:
                self.wakes_kept += 1
            else:
                ev.cancelled = True  # .cancel(), inlined
                ev = self._sched_ev = None
        self._sched = new
        self._sched_spans = spans
        self._sched_irqs = 0
        self._sched_dones = 0
        self._took = new  # (it holds nothing landed by now: a take at now has nothing to move)
        self._took_ns = now
        # The lanes' ports, kept across relanes: only a lane whose port changed (or a schedule whose lanes shared
        # one) looks at them all again (no other lane gains a port while the schedule runs: that is a relane).
        chans = self._sched_chans
        if self._sched_movers_of is not chans:
            self._sched_mover_list()
        port = ch.prog.port if ch.prog is not None else None
        if not self._sched_lone_ports or self._sched_ports[pos] is not port:
            ports = [c.prog.port for c in chans if c.prog is not None and c.prog.port is not None]
            self._sched_lone_ports = len({id(p) for p in ports}) == len(ports)
            self._sched_ports[pos] = port
        self.plans += 1
        self.relanes += 1
        # Computed ahead from a wake at this instant, once client code is done, not here: another change at this
        # instant (new RX data, then a copy's start) would throw away what this computed.
        if ev is None:
            self._sched_ev = k.at(now, self._sched_wake, "bus", PRIO_HW)
        return True

    def _sched_arm(self) -> None:
        """Schedule the schedule's next event: the next period interrupt or program end, or the end of what is
        computed. Until one is computed, the schedule is computed further now (up to ``SCHED_AHEAD_CHUNKS``
        chunks), not from an event at the end of each chunk."""
        sched = self._sched
        assert sched is not None
        core = sched.core
        if core is not None:  # the same, compiled
            t = core.arm(sched, -1, self._sched_irqs, self._sched_dones, SCHED_AHEAD_CHUNKS, SCHED_CHUNK_EVENTS)
            if t < NEVER:
                self._sched_ev = self._wake_at(t)
            return
        ends = sched.item_ends
        dones = sched.program_ends
        for _ in range(SCHED_AHEAD_CHUNKS):
            if self._sched_irqs < len(ends) or self._sched_dones < len(dones) or sched.computed_ns >= sched.stop_ns:
                break
            sched.extend(SCHED_CHUNK_EVENTS)
        t = sched.computed_ns - 1 if sched.computed_ns < NEVER else NEVER
        if self._sched_irqs < len(ends) and ends[self._sched_irqs][0] < t:
            t = ends[self._sched_irqs][0]
        if self._sched_dones < len(dones) and dones[self._sched_dones][0] < t:
            t = dones[self._sched_dones][0]
        if t < NEVER:
            self._sched_ev = self.kernel.at(t, self._sched_wake, "bus", PRIO_HW)

    def _wake_at(self, t: int) -> Event:
        """``kernel.at(t, self._sched_wake, "bus", PRIO_HW)``: the schedule's next wake (``Kernel.at`` inlined
        where no watcher is to be told: once per wake)."""
        k = self.kernel
        if t <= k.watch_ns or t < k.now_ns:  # a watcher to tell, or an instant to refuse: Kernel.at
            return k.at(t, self._sched_wake, "bus", PRIO_HW)
        seq = next(k._seq)
        ev = _new_event(Event)  # Event(t, self._sched_wake, "bus", PRIO_HW, seq) without its __init__ frame
        ev.time_ns = t
        ev.fn = self._sched_wake
        ev.label = "bus"
        ev.priority = PRIO_HW
        ev.seq = seq
        ev.cancelled = False
        _heappush(k._heap, (t, PRIO_HW, seq, ev))
        return ev

    def _sched_wake(self) -> None:
        """A scheduled landing ends an item with its interrupt bit (raise it, as the burst's end would), or the
        computed part of the schedule ends (compute more, or settle at its stop)."""
        self._sched_ev = None
        sched = self._sched
        assert sched is not None
        now = self.kernel.now_ns
        ends = sched.item_ends
        core = sched.core
        if core is not None:  # the same in one compiled call (BusCore.wake, src/native/sim.c)
            core.wake(self, sched, now, _WAKE_CONSTS)
            return
        if self._sched_irqs < len(ends) and ends[self._sched_irqs][0] == now:
            if self._sched_irqs + 1 < len(ends) and ends[self._sched_irqs + 1][0] == now:
                self._sched_take(now)  # several interrupts at once
            else:
                self._sched_take_lane(ends[self._sched_irqs][1], now)
            while self._sched_irqs < len(ends) and ends[self._sched_irqs][0] == now:
                ch = self._sched_chans[ends[self._sched_irqs][1]]
                self._sched_irqs += 1
                self.plans += 1  # one more item planned in closed form
                self._raise(ch, Irq.PERIOD, Result.NOERROR, 0)
                if self._sched is not sched:
                    return  # the handler changed something: settled
        dones = sched.program_ends
        if self._sched_dones < len(dones) and dones[self._sched_dones][0] == now \
                and self._sched_program_end(sched, now):
            return
        if now + 1 >= sched.computed_ns:
            if sched.computed_ns >= sched.stop_ns:
                self._sched_settle()
                return
            sched.extend(SCHED_CHUNK_EVENTS)
        self._sched_arm()

    def _sched_program_end(self, sched: BusSchedule, now: int) -> bool:
        """The schedule's next program end, due at ``now``: take its lane, end the program and raise its DONE.
        True when the wake is over (the handler settled the schedule, or it has nothing more to run)."""
        dones = sched.program_ends
        _, pos, cut = dones[self._sched_dones]
        self._sched_dones += 1
        self._sched_take_lane(pos, now)
        ch = self._sched_chans[pos]
        self.plans += 1  # one more item planned in closed form
        prog = ch.prog  # self._end_program(ch), inlined (once per copy)
        assert prog is not None and ch.item_off == prog.items[ch.item_idx].length
        ch.item_idx += 1
        ch.item_off = 0
        ch.prog = None
        ch.state = _IDLE
        irq = self.irq
        if irq is not None:  # self._raise(ch, Irq.DONE, Result.NOERROR, 0), inlined, with _done_cut set around it
            self._done_cut = cut
            self._raising += 1
            try:
                irq(ch.idx, _DONE_IRQ, _NOERROR, 0)
            finally:
                self._raising -= 1
                self._done_cut = None
                if self._deferred:
                    self._schedule_deferred()
        elif self._deferred:
            self._schedule_deferred()
        if self._sched is not sched:  # the handler settled it (a new program): as after a burst's end
            self._arbitrate()
            self._try_schedule()
            return True
        if self._sched_dones == len(dones) and self._sched_irqs == len(sched.item_ends) \
                and sched.last_event_ns <= now and sched.finished:  # (the ints first: a property frame less)
            self._sched_settle()
            return True
        return False

    def _sched_take(self, t: int) -> None:
        """Move the bytes of every scheduled burst landed by ``t`` (not moved yet)."""
        sched = self._sched
        assert sched is not None
        if t == self._took_ns and sched is self._took:
            return  # nothing lands at or before an instant the schedule has already taken (it computes ahead)
        self._took_ns = t
        self._took = sched
        probe = self.burst_probe
        core = sched.core
        if core is not None and probe is None:  # the same, every lane in one compiled pass
            movers = self._sched_movers if self._sched_movers_of is self._sched_chans else self._sched_mover_list()
            self.bursts += core.take_moves(t, movers, self._sched_move_at, self._sched_store)
            return
        chans = self._sched_chans
        move = self._sched_move
        for pos, count, n, last, bursts in sched.take_all(t, probe is not None):
            ch = chans[pos]
            move(ch, n, last)
            self.bursts += count
            if probe is not None:
                for request_ns, grant_ns, end_ns in bursts:
                    probe(ch.idx, request_ns, grant_ns, end_ns)

    def _sched_take_lane(self, pos: int, t: int) -> None:
        """:meth:`_sched_take` of lane ``pos`` alone (its interrupt is raised at ``t``: whatever its handler may
        look at is that channel's memory and port, which no other lane writes; the others move when client code
        looks). Every lane when a probe draws bursts (in the order they land) or lanes share a port."""
        sched = self._sched
        assert sched is not None
        if self.burst_probe is not None or not self._sched_lone_ports:
            self._sched_take(t)
            return
        if t == self._took_ns and sched is self._took:
            return
        core = sched.core
        if core is not None:  # the same in one compiled call
            movers = self._sched_movers if self._sched_movers_of is self._sched_chans else self._sched_mover_list()
            self.bursts += core.take_move(pos, t, movers, self._sched_move_at, self._sched_store)
            return
        count, n, last = sched.take(pos, t)
        if count:
            self._sched_move(self._sched_chans[pos], n, last)
            self.bursts += count

    def _sched_move(self, ch: _HwChannel, n: int, last: int) -> None:
        """Move ``n`` bytes of channel ``ch``'s scheduled bursts, the last of which landed at ``last``."""
        prog = ch.prog
        assert prog is not None
        items = prog.items
        item = items[ch.item_idx]
        off = ch.item_off
        d = prog.direction
        if d is M2M:
            space = self.soc.address_space
            if item.src is None:
                space.fill(item.dst + off, item.value, n)
            else:
                space.copy(item.dst + off, item.src + off, n)
            ch.item_off = off + n
            ch.done += n
        elif off + n <= item.length:  # within one item (to its end at most: the next item then, as _take_items)
            mvs = ch.mvs if ch.checked is prog else None  # every item's memory, resolved once
            port = prog.port
            if d is M2D:
                assert item.src is not None and isinstance(port, TxPort)
                if mvs is not None:
                    port.steady_write(last, mvs[ch.item_idx][off:off + n].tobytes())
                else:
                    port.steady_write(last, self.soc.address_space.resolve(item.src + off, n, False).tobytes())
            else:
                assert isinstance(port, RxPort)
                data = port.steady_read(last, n)
                if mvs is not None and type(data) is bytes:
                    mvs[ch.item_idx][off:off + n] = data
                else:
                    view = (self.soc.address_space.resolve(item.dst + off, n, True) if mvs is None
                            else np.asarray(mvs[ch.item_idx][off:off + n]))
                    view[:] = np.frombuffer(data, dtype=np.uint8)
            off += n
            if off == item.length:  # the item's end: the next item, a ring wraps (as _take_items)
                idx = ch.item_idx + 1
                if idx == len(items):
                    ch.item_idx = ch.item_off = ch.done = 0
                else:
                    ch.item_idx = idx
                    ch.item_off = 0
                    ch.done += n
            else:
                ch.item_off = off
                ch.done += n
        else:
            self._take_items(ch, n, last)

    def _sched_mover_list(self) -> list[Any]:
        """:meth:`_sched_mover` of every lane of the schedule, made once per schedule's channel list (a lane whose
        channel holds another program or memory since is moved by :meth:`_sched_move_at`, which makes its mover
        again), with ``_sched_ports``."""
        chans = self._sched_chans
        if self._sched_movers_of is not chans:
            self._sched_movers = [self._sched_mover(ch) for ch in chans]
            self._sched_ports = [None if ch.prog is None else ch.prog.port for ch in chans]
            self._sched_movers_of = chans
        return self._sched_movers

    @staticmethod
    def _sched_mover(ch: _HwChannel) -> tuple[Any, ...] | None:
        """What the compiled core needs to do :meth:`_sched_move` of peripheral channel ``ch`` itself (its items'
        memory resolved once): ``(ch, prog, mvs, item lengths, port.steady_write or port.steady_read, tx)``, valid
        while ``ch`` holds that program and memory; None where :meth:`_sched_move` does it."""
        prog = ch.prog
        if prog is None:
            return None
        d = prog.direction
        if d is M2M:  # a copy item whose memory a schedule found, moved by the compiled core (src/native/copy.c)
            cm = ch.copy_maps
            return cm if cm is not None and cm[1] is prog else None
        mvs = ch.mvs
        if ch.checked is not prog or mvs is None:
            return None
        port = prog.port
        lengths = tuple(it.length for it in prog.items)
        if d is M2D and isinstance(port, TxPort):
            return ch, prog, mvs, lengths, port.steady_write, True
        if d is D2M and isinstance(port, RxPort):
            return ch, prog, mvs, lengths, port.steady_read, False
        return None

    def _sched_move_at(self, pos: int, n: int, last: int) -> None:
        """:meth:`_sched_move` of lane ``pos`` (for the compiled core, where it does not move a lane itself), and
        that lane's mover made again."""
        ch = self._sched_chans[pos]
        self._sched_move(ch, n, last)
        if self._sched_movers_of is self._sched_chans and ch.mvs is not None and ch.checked is ch.prog:
            self._sched_movers[pos] = self._sched_mover(ch)  # (not for a copy: it never has one)

    @staticmethod
    def _sched_store(mvs: list[memoryview], pieces: list[tuple[int, int, int]], data: Any, single: bool) -> None:
        """Bytes a port's ``steady_read`` gave other than as ``bytes`` of the length asked, stored as
        :meth:`_sched_move` (``single``: within one item) or :meth:`_take_items` stores them (for the compiled
        core)."""
        if single:
            i, o, k = pieces[0]
            if type(data) is bytes:
                mvs[i][o:o + k] = data
            else:
                np.asarray(mvs[i][o:o + k])[:] = np.frombuffer(data, dtype=np.uint8)
            return
        buf = np.frombuffer(data, dtype=np.uint8).data
        at = 0
        for i, o, k in pieces:
            mvs[i][o:o + k] = buf[at:at + k]
            at += k

    def _take_items(self, ch: _HwChannel, n: int, last: int) -> None:
        """Move ``n`` bytes of a peripheral channel's scheduled bursts (the last landed at ``last``) across its
        items, which advance as they do burst by burst (a cyclic ring wraps)."""
        prog = ch.prog
        assert prog is not None
        items = prog.items
        port = prog.port
        mvs = ch.mvs if ch.checked is prog else None  # every item's memory, resolved once
        pieces: list[tuple[int, int, int]] = []  # (item index, offset, bytes)
        rest = n
        idx, off, done = ch.item_idx, ch.item_off, ch.done
        while rest:
            length = items[idx].length
            k = length - off
            if rest < k:
                k = rest
            pieces.append((idx, off, k))
            rest -= k
            off += k
            done += k
            if off == length:
                idx += 1
                off = 0
                if idx == len(items):
                    idx = 0
                    done = 0
        ch.item_idx, ch.item_off, ch.done = idx, off, done
        get: list[tuple[memoryview, int, int]]
        if mvs is None:
            space = self.soc.address_space
            write = prog.direction is not M2D
            get = []
            for i, o, k in pieces:
                it = items[i]
                addr = it.dst if write else it.src
                assert addr is not None
                get.append((space.resolve(addr + o, k, write).data, 0, k))
        else:
            get = [(mvs[i], o, k) for i, o, k in pieces]
        if prog.direction is M2D:
            assert isinstance(port, TxPort)
            port.steady_write(last, b"".join([v[o:o + k] for v, o, k in get]))
        else:
            assert isinstance(port, RxPort)
            buf = np.frombuffer(port.steady_read(last, n), dtype=np.uint8).data
            at = 0
            for v, o, k in get:
                v[o:o + k] = buf[at:at + k]
                at += k

    def _sched_settle(self) -> None:
        """Leave the schedule at the current instant: its bytes landed by now move, and every channel takes the
        state burst by burst would have now (its pending instants become kernel events, in the kernel's order)."""
        sched = self._sched
        assert sched is not None
        now = self.kernel.now_ns
        self._sched_take(now)
        if self._sched_ev is not None:
            self._sched_ev.cancelled = True  # .cancel(), inlined
            self._sched_ev = None
        self._sched = None
        chans, self._sched_chans = self._sched_chans, []
        fetch_ns = [ch.fetch_ns for ch in chans]
        for ch in chans:
            ch.fetch_ns = -1
        # Every event computed has run (nothing ahead, every program end raised: the state is final), or the rest
        # is recomputed up to now.
        final = sched.finished and sched.last_event_ns <= now and self._sched_dones == len(sched.program_ends)
        st = sched if now + 1 >= sched.computed_ns or final else sched.replay(now + 1)
        state = _State
        # A program end landed now whose interrupt has not been raised yet (its event is behind the caller's at
        # this instant): end the program as the schedule's event would, and raise it below.
        dones = [pos for t, pos, _ in sched.program_ends[self._sched_dones:] if t <= now]
        cut = self._done_cut
        if dones:
            cut = sched.program_ends[self._sched_dones][2]
            for pos in dones:
                self.plans += 1
                self._end_program(chans[pos])
        for ch in chans:
            if ch.prog is not None:  # not a lane that ended its program in the schedule
                ch.state = state.WAITREQ
        for pos, ch in enumerate(chans):
            if st.waiting >> pos & 1:
                ch.state = state.WAITBUS
                ch.request_ns = st.since_ns[pos]
                self._waiting.append(ch)
        for t, seq, kind, pos in st.pending():
            ch = chans[pos]
            if fetch_ns[pos] == t and kind == 1:  # its fetch (its lane's first request, see start): not run yet
                kind = 2
                ch.state = state.FETCH
            elif kind == 0:
                lane = st.lanes[pos]
                ch.state = state.BURST
                ch.burst_bytes = lane.burst_bytes if st.granted[pos] < lane.bursts else lane.last_bytes
                ch.request_ns = st.since_ns[pos]
            if cut is not None and seq > cut:
                self._deferred.append((t, kind, ch, seq))
            else:
                self._pending_event(t, kind, ch)
        self._busy_until = st.busy_until_ns
        self._last_grant = st.last_grant
        self._last_grant_ns = st.last_grant_ns
        self.runs += st.jumps
        if dones:
            try:
                for pos in dones:
                    self._raise(chans[pos], Irq.DONE, Result.NOERROR, 0)
            finally:
                if self._done_cut is None:
                    self._schedule_deferred()

    def _end_program(self, ch: _HwChannel) -> None:
        """What the end of the last burst of ``ch``'s program does to it (its bytes moved by the schedule), before
        its interrupt."""
        prog = ch.prog
        assert prog is not None and ch.item_off == prog.items[ch.item_idx].length
        ch.item_idx += 1
        ch.item_off = 0
        ch.prog = None
        ch.state = _IDLE

    def _pending_event(self, t: int, kind: int, ch: _HwChannel) -> None:
        """A settled schedule's instant ``t`` of channel ``ch`` as a kernel event: kind 0 its burst's end, 1 its
        request, 2 its descriptor fetch."""
        if kind == 0:
            ch.ev = self.kernel.at(t, functools.partial(self._burst_end, ch), f"burst{ch.idx}", PRIO_HW)
        elif kind == 1:
            ch.ev = self.kernel.at(t, functools.partial(self._dreq, ch), f"dreq{ch.idx}", PRIO_HW)
        else:
            ch.ev = self.kernel.at(t, functools.partial(self._fetched, ch), f"fetch{ch.idx}", PRIO_HW)

    def _schedule_deferred(self) -> None:
        """The instants a settle put off during a program end's interrupt (see :attr:`_done_cut`), in order."""
        deferred, self._deferred = self._deferred, []
        for t, kind, ch, _ in deferred:
            self._pending_event(t, kind, ch)

    def line_state(self, idx: int) -> tuple[bool, bool, Port | None]:
        """What a waveform shows of channel ``idx`` (sim/_wave.py): whether it holds a program, whether its
        burst holds the bus, and the port whose request line it has raised (waiting for the bus or bursting),
        if any."""
        ch = self.chans[idx]
        st = ch.state
        on_bus = st is _State.BURST
        prog = ch.prog
        port = prog.port if prog is not None and (on_bus or st is _State.WAITBUS) else None
        return prog is not None or ch.abort_pending, on_bus, port

    def describe(self, idx: int) -> str:
        """A one-line state of channel ``idx`` for the debugfs summary."""
        if self._sched is not None:
            self._sched_settle()
        ch = self.chans[idx]
        if ch.prog is None:
            return "idle"
        kind = "cyclic" if ch.prog.cyclic else ch.prog.direction.name
        return f"{ch.state.name.lower()} {kind} {self.progress(idx)}/{ch.prog.total} B"


if _native.core is not None:
    from dmaengine import Mapping as _Mapping

    _native.core.lane_setup(Lane)
    _native.core.memory_setup(AddressSpace.copy, AddressSpace.copy_maps, _Mapping)
    _copy_lane = _native.core.copy_lane
    _copy_memory = _native.core.copy_memory
_dmac_lane = Dmac._lane
_dmac_lane_memory = Dmac._lane_memory
