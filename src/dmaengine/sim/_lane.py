"""The lean per-period path: a cyclic period's end and its bottom half in one kernel event.

A lone cyclic flow ends a period at ``end_ns``; its interrupt asks for the controller's bottom half, which runs
``latency_ns`` later and calls the client back. When nothing else is due until that instant, the two are one
event: a :class:`PeriodLane` schedules the period's end *postponed* to ``end_ns + latency_ns``, and when it runs
it does the hardware's part as of ``end_ns`` (the clock set back to it), then the bottom half in line at its own
instant, without pushing it on the queue.

It is exact because nothing can tell the difference:

- no other event runs in between: the lane postpones only when the queue holds nothing from ``end_ns`` to
  ``end_ns + latency_ns``, and a kernel watch puts the end back at ``end_ns`` (its own priority and sequence
  number, as if never postponed) the moment anything is scheduled in that window (events before ``end_ns`` run
  before it either way);
- no client looks in between: a run that stops inside the window ends with :meth:`Soc.sync`, which settles the
  lane first (:meth:`settle`: the end happens as of ``end_ns`` and its bottom half is scheduled as it would have
  been);
- no waiter looks in between: when events run one ``Kernel.step`` at a time (``Soc.wait_for`` tests its
  predicate after each), the postponed event does only the end, with the clock at ``end_ns``, and leaves its
  bottom half queued; only ``Kernel.run_until``, which runs events back to back, gets both in one;
- traces, waveforms and ``Kernel.trace`` see every event: the lane does not postpone while any of them records.

One lane per controller; one postponed event per kernel at a time (two controllers' lanes never overlap).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import TYPE_CHECKING

from dmaengine.provider import tracing

from ._kernel import PRIO_HW, Event, Kernel

if TYPE_CHECKING:
    from ._soc import SimTasklet

__all__ = ["PeriodLane"]


class PeriodLane:
    """Postpones one cyclic period end at a time to its bottom half's instant (see the module docstring)."""

    __slots__ = ("_due_ns", "_end_ns", "_ev", "_fn", "_label", "_owner", "kernel", "merged", "postponed_end_ns",
                 "put_back", "settled", "tasklet")

    def __init__(self, kernel: Kernel, tasklet: SimTasklet) -> None:
        self.kernel = kernel
        #: The controller's bottom half: its ``latency_ns`` is the postponement.
        self.tasklet = tasklet
        self._ev: Event | None = None
        self._end_ns = self._due_ns = -1
        self._fn: Callable[[], None] = _nothing
        self._label = ""
        #: The object whose ``ev`` attribute holds the period's event (the controller's channel).
        self._owner: object = None
        #: Periods that ran as one event, and postponed ends put back at their instant by an event scheduled in the
        #: window or settled by a run that stopped there (for tests and curiosity).
        self.merged = 0
        self.put_back = 0
        self.settled = 0
        #: The instant of the postponed period end (a huge number when none is postponed): :meth:`settle` has
        #: work to do once the clock reaches it.
        self.postponed_end_ns = _NEVER
        kernel.watchers.append(self._watch)

    def schedule(self, owner: object, end_ns: int, fn: Callable[[], None], label: str) -> Event:
        """Schedule ``fn``, the end of a period, at ``end_ns`` (hardware priority); ``owner.ev`` holds the event
        returned, which the lane replaces if it has to put the end back at ``end_ns``. Postponed when it can be."""
        k = self.kernel
        tl = self.tasklet
        latency = tl.latency_ns
        due = end_ns + latency
        other = k.postponed
        if ((other is not None and other is not self) or k.trace is not None or k.probe is not None or tl.killed
                or (tl.hold and end_ns <= k.now_ns + latency)  # a bottom half held in line must run before this end
                or tracing()):
            return k.at(end_ns, fn, label, PRIO_HW)
        heap = k._heap
        if len(heap) > 16:  # k.free_between(end_ns, due), inlined: with many events queued, not worth asking
            return k.at(end_ns, fn, label, PRIO_HW)
        for t, _, _, e in heap:
            if end_ns <= t <= due and not e.cancelled:
                return k.at(end_ns, fn, label, PRIO_HW)
        if due <= k.watch_ns or due < k.now_ns:
            ev = k.at(due, self._run, label, PRIO_HW)
        else:  # k.at(due, self._run, label, PRIO_HW), inlined: nothing watches that instant
            seq = next(k._seq)
            ev = Event(due, self._run, label, PRIO_HW, seq)
            heappush(k._heap, (due, PRIO_HW, seq, ev))
        self._ev, self._end_ns, self._due_ns, self._fn, self._label, self._owner = ev, end_ns, due, fn, label, owner
        self.postponed_end_ns = end_ns
        k.postponed = self
        if due > k.watch_ns:  # k.watch(due)
            k.watch_ns = due
        return ev

    def _release(self) -> None:
        self._ev = None
        self.postponed_end_ns = _NEVER
        self._owner = None
        self.kernel.postponed = None

    def _live(self) -> bool:
        ev = self._ev
        if ev is None:
            return False
        if ev.cancelled:  # the controller dropped the period (pause, abort, a new flow) before it ended
            self._release()
            return False
        return True

    def _watch(self, t: int) -> int:
        """Something is being scheduled at ``t``: put the period's end back at its instant if ``t`` is within the
        window. Returns the instant up to which the lane still watches (-1: none)."""
        if not self._live():
            return -1
        if t > self._due_ns or t < self._end_ns:  # after the window, or before the end: runs before it either way
            return self._due_ns
        ev = self._ev
        assert ev is not None
        new = self.kernel.reschedule(ev, self._end_ns, self._fn, self._label, PRIO_HW)
        self._owner.ev = new  # type: ignore[attr-defined]
        self._release()
        self.put_back += 1
        return -1

    def settle(self, now: int) -> None:
        """The clock stands at ``now`` with no event run since the period's end: let the end happen, as of its
        instant (its bottom half is then scheduled at its own instant, as it would have been), and whatever it
        scheduled up to ``now`` (the next period's end, when the window is longer than a period: hardware events
        only, since the bottom half comes after the window)."""
        k = self.kernel
        try:
            while self._live() and self._end_ns <= now:
                ev = self._ev
                assert ev is not None
                ev.cancel()
                fn, end = self._fn, self._end_ns
                self._release()
                self.settled += 1
                k.now_ns = end
                fn()
                while True:
                    t = k.peek()
                    if t is None or t > now:
                        break
                    k.step()
        finally:
            k.now_ns = now

    def _run(self) -> None:
        """The postponed event: the period's end as of ``end_ns``, then its bottom half in line."""
        k = self.kernel
        due, fn = self._due_ns, self._fn
        self._ev = None  # self._release(), inlined
        self.postponed_end_ns = _NEVER
        self._owner = None
        k.postponed = None
        if not k.back_to_back:  # run a step at a time: a waiter looks after this event, at the end's instant
            k.now_ns = self._end_ns
            fn()  # (its bottom half is queued, as it would have been)
            return
        tl = self.tasklet
        tl.hold = True  # the bottom half the interrupt asks for is not queued: it runs below
        end = self._end_ns
        k.now_ns = end
        try:
            fn()
        finally:
            tl.hold = False
        seq = tl.held_seq
        tl.held_seq = -1
        heap = k._heap
        while heap and heap[0][3].cancelled:  # k.peek(), inlined
            heappop(heap)
        if heap and heap[0][0] <= due:
            # The end scheduled something due by then (the next period's end, when the window is longer than a
            # period): the clock stays at the end, and the bottom half takes its place in the queue.
            if seq >= 0:
                tl.queue_held(due, seq)
            return
        k.now_ns = due
        if seq >= 0:
            self.merged += 1
            tl.run_now()


_NEVER = 1 << 62


def _nothing() -> None:
    pass
