"""The discrete-event kernel: integer nanoseconds, ties broken by priority then insertion order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from .. import _native

__all__ = ["PRIO_APP", "PRIO_BH", "PRIO_HW", "Event", "Kernel", "TickClock"]

#: At one instant, hardware events (bursts, interrupts) run first, then bottom halves (callbacks), then
#: application events (the default of :meth:`Kernel.at`).
PRIO_HW = 0
PRIO_BH = 1
PRIO_APP = 2


class Event:
    """A scheduled call; :meth:`cancel` makes the kernel skip it."""

    __slots__ = ("cancelled", "fn", "label", "priority", "seq", "time_ns")

    def __init__(self, time_ns: int, fn: Callable[[], None], label: str, priority: int = 2, seq: int = 0) -> None:
        self.time_ns = time_ns
        self.fn = fn
        self.label = label
        self.priority = priority
        self.seq = seq
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run this event."""
        self.cancelled = True

    def __lt__(self, other: Event) -> bool:  # a rescheduled event's old, cancelled entry may tie with it
        return False


_new_event = object.__new__
_heappush = heapq.heappush


class Kernel:
    """A deterministic event queue: heap entries ``(time_ns, priority, seq, event)``."""

    __slots__ = ("_heap", "_seq", "back_to_back", "dispatching", "events_run", "now_ns", "period_runner", "postponed",
                 "probe", "trace", "watch_ns", "watchers")

    def __init__(self, trace: bool = False) -> None:
        self.now_ns = 0
        self._heap: list[tuple[int, int, int, Event]] = []
        self._seq = itertools.count()
        #: ``(time_ns, label)`` of every event run, when tracing.
        self.trace: list[tuple[int, str]] | None = [] if trace else None
        self.events_run = 0
        #: True while an event runs (the simulation cannot be run from inside itself).
        self.dispatching = False
        #: While a waveform records (sim/_wave.py): ``probe(t, fn)`` runs each event's ``fn``; None otherwise.
        self.probe: Callable[[int, Callable[[], None]], None] | None = None
        #: Watches: :meth:`at` first calls every ``watcher(time_ns)`` when an event is scheduled at or before
        #: ``watch_ns``; each returns the instant up to which it still watches (-1: none), and ``watch_ns`` becomes
        #: the latest (a controller's computed runs of bursts use it to end before anything else happens).
        self.watch_ns = -1
        self.watchers: list[Callable[[int], int]] = []
        #: The one postponed event, if any (see sim/_lane.py: a cyclic period's end run with its bottom half).
        self.postponed: object | None = None
        #: True while :meth:`run_until` runs events back to back (nobody looks between two of them); False while
        #: events run one :meth:`step` at a time (a waiter may look after each). A postponed event runs what
        #: follows it in line only in the first case.
        self.back_to_back = False
        #: The compiled period runner (``period_run`` of src/native/period.c), wired by the controller's driver
        #: when the compiled core is there; None: every event runs in Python. While a lane holds a postponed period
        #: end (sim/_lane.py), :meth:`run_until` hands it the queue: it runs that event and the lane's next ones,
        #: as the Python code of each layer would, and returns False when the next event is not its case.
        self.period_runner: Callable[[Kernel, int], bool] | None = None

    def at(self, time_ns: int, fn: Callable[[], None], label: str = "", priority: int = PRIO_APP) -> Event:
        """Run ``fn`` at ``time_ns`` (not before now); at one instant, by ``priority`` then in order of calls."""
        if time_ns < self.now_ns:
            raise ValueError(f"time_ns {time_ns} is in the past (now {self.now_ns})")
        if time_ns <= self.watch_ns:
            self.watch_ns = max([w(time_ns) for w in self.watchers], default=-1)
        seq = next(self._seq)
        ev = _new_event(Event)  # Event(time_ns, fn, label, priority, seq) without its __init__ frame: the same slots
        ev.time_ns = time_ns
        ev.fn = fn
        ev.label = label
        ev.priority = priority
        ev.seq = seq
        ev.cancelled = False
        _heappush(self._heap, (time_ns, priority, seq, ev))
        return ev

    def watch(self, until_ns: int) -> None:
        """A watcher asks to be called for events scheduled up to ``until_ns``."""
        if until_ns > self.watch_ns:
            self.watch_ns = until_ns

    def reschedule(self, ev: Event, time_ns: int, fn: Callable[[], None] | None = None,
                   label: str | None = None, priority: int | None = None) -> Event:
        """Move a pending event to ``time_ns`` (not before now), keeping its place among events of one instant
        (its sequence number, and its priority unless ``priority`` is given): as if it had been scheduled there in
        the first place. ``fn`` and ``label`` replace the event's."""
        if time_ns < self.now_ns:
            raise ValueError(f"time_ns {time_ns} is in the past (now {self.now_ns})")
        ev.cancel()
        prio = ev.priority if priority is None else priority
        new = Event(time_ns, ev.fn if fn is None else fn, ev.label if label is None else label, prio, ev.seq)
        heapq.heappush(self._heap, (time_ns, prio, ev.seq, new))
        return new

    def reserve_seq(self) -> int:
        """A sequence number taken now, for an event pushed later with :meth:`at_seq` (it keeps the place among
        events of one instant that it would have had if scheduled now)."""
        return next(self._seq)

    def at_seq(self, time_ns: int, fn: Callable[[], None], label: str, priority: int, seq: int) -> Event:
        """:meth:`at` with a sequence number from :meth:`reserve_seq` (watchers are told, as by :meth:`at`)."""
        if time_ns < self.now_ns:
            raise ValueError(f"time_ns {time_ns} is in the past (now {self.now_ns})")
        if time_ns <= self.watch_ns:
            self.watch_ns = max([w(time_ns) for w in self.watchers], default=-1)
        ev = Event(time_ns, fn, label, priority, seq)
        heapq.heappush(self._heap, (time_ns, priority, seq, ev))
        return ev

    def peek(self) -> int | None:
        """The time of the next live event, or None when the queue is empty."""
        heap = self._heap
        while heap and heap[0][3].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def free_between(self, lo_ns: int, hi_ns: int, most: int = 16) -> bool:
        """True when no live event is queued from ``lo_ns`` to ``hi_ns``; False also when more than ``most``
        events are queued (the question is then not worth its answer)."""
        heap = self._heap
        if len(heap) > most:
            return False
        for t, _, _, ev in heap:  # noqa: SIM110  (a loop: a generator costs more on this hot path)
            if lo_ns <= t <= hi_ns and not ev.cancelled:
                return False
        return True

    def step(self) -> bool:
        """Run the next live event; False when there is none."""
        heap = self._heap
        while heap:
            t, _, _, ev = heapq.heappop(heap)
            if ev.cancelled:
                continue
            self.now_ns = t
            self.events_run += 1
            if self.trace is not None:
                self.trace.append((t, ev.label))
            self.dispatching = True
            try:
                if self.probe is not None:
                    self.probe(t, ev.fn)  # a waveform records (sim/_wave.py)
                else:
                    ev.fn()
            finally:
                self.dispatching = False
            return True
        return False

    def run_until_true(self, pred: Callable[[], bool], deadline_ns: int | None) -> bool:
        """Run events one at a time, as :meth:`step` does (a waiter looks after each), until ``pred()`` holds after
        one (True), or until no live event is left at or before ``deadline_ns`` (None: no deadline; False, and
        the clock then stands at the deadline if that is later). ``pred`` is not asked before the first event."""
        heap = self._heap
        pop = heapq.heappop
        while heap:
            t, _, _, ev = heap[0]
            if ev.cancelled:
                pop(heap)
                continue
            if deadline_ns is not None and t > deadline_ns:
                break
            if self.trace is not None or self.probe is not None:
                self.step()
            else:
                pop(heap)  # step(), inlined: this loop runs once per event a waiter waits through
                self.now_ns = t
                self.events_run += 1
                self.dispatching = True
                try:
                    ev.fn()
                finally:
                    self.dispatching = False
            if pred():
                return True
        if deadline_ns is not None and deadline_ns > self.now_ns:
            self.now_ns = deadline_ns
        return False

    def run_until(self, time_ns: int) -> None:
        """Run every event at or before ``time_ns``, then set the clock to ``time_ns``."""
        core = _native.core
        if core is not None and type(self) is Kernel and core.kernel_run_until(self, time_ns) is None:
            return  # the loop below, compiled (src/native/wake.c); NotImplemented: not its case, nothing done
        heap = self._heap
        pop = heapq.heappop
        self.back_to_back = True
        try:
            while heap:
                t, _, _, ev = heap[0]
                if ev.cancelled:
                    pop(heap)
                    continue
                if t > time_ns:
                    break
                if self.trace is not None or self.probe is not None:
                    self.step()
                    continue
                if self.postponed is not None and self.period_runner is not None and self.period_runner(self, time_ns):
                    continue
                pop(heap)  # step(), inlined: this loop runs once per event of a long run
                self.now_ns = t
                self.events_run += 1
                self.dispatching = True
                try:
                    ev.fn()
                finally:
                    self.dispatching = False
        finally:
            self.back_to_back = False
        if time_ns > self.now_ns:
            self.now_ns = time_ns


class TickClock:
    """Ticks ``j = 0, 1, ...`` at ``epoch_ns + ((j + offset) * num) // den``: a rate of ``den / num`` per ns,
    exact over any run length."""

    __slots__ = ("den", "epoch_ns", "num", "offset")

    def __init__(self, epoch_ns: int, num: int, den: int, offset: int = 0) -> None:
        self.epoch_ns = epoch_ns
        self.num = num
        self.den = den
        self.offset = offset

    def time(self, j: int) -> int:
        """The instant of tick ``j``."""
        return self.epoch_ns + ((j + self.offset) * self.num) // self.den

    def count(self, t: int) -> int:
        """How many ticks happen at or before ``t``."""
        c = ((t - self.epoch_ns + 1) * self.den + self.num - 1) // self.num - self.offset
        return c if c > 0 else 0

    @property
    def min_interval_ns(self) -> int:
        """The shortest gap between two ticks."""
        return self.num // self.den
