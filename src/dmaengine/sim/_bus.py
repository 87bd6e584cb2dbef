"""The shared bus in closed form: who holds the bus when, for channels that contend for it, computed in one tight
loop over their merged request instants instead of one kernel event per burst. Pure arithmetic: no state of the
model lives here, and no bytes move (see :mod:`._dmac` for who builds a schedule, when, and what it does with it).

The loop reproduces the controller's burst-by-burst semantics exactly, including how one instant's events are
ordered (the kernel runs them by the order they were scheduled in, ``seq``):

- a channel whose request line asserts at ``t`` (a ``dreq`` event) starts waiting for the bus and arbitrates;
- a burst that ends at ``t`` lands its bytes; its channel asks for its next burst at once (memory to memory, or a
  FIFO that already has room / data) or schedules its ``dreq`` at the instant its FIFO will; then it arbitrates;
- arbitration, when the bus is free, grants the waiting channel next after the last granted one, in channel order.

A peripheral flow's request instants do not depend on its grant times as long as its FIFO never runs dry (TX) or
full (RX) while it waits: each burst's landing is checked against its flow (lazily: a bound before which every
landing is steady), and the schedule stops at the first landing that would not be steady, and at the landing that
ends a peripheral program or a memory-to-memory item that is not its program's last (the controller's own event runs
those). The landing that ends a memory-to-memory program is noted (the controller ends the program and raises its
interrupt then, :attr:`BusSchedule.program_ends`) and the schedule goes on. A peripheral program's item
ends (cyclic periods) are noted and the schedule goes on. Stretches in which only memory-to-memory channels want
the bus go round-robin in one step (:meth:`BusSchedule._jump`). A schedule is computed a chunk of events at a time
(:meth:`BusSchedule.extend`) and keeps a snapshot of its state every ``SNAPSHOT_EVENTS`` events, from which
:meth:`BusSchedule.replay` recomputes the state at an earlier instant.
"""

from __future__ import annotations

import heapq
from typing import Any

from .. import _native
from ._kernel import TickClock
from ._periph import Flow

__all__ = ["BusSchedule", "Lane", "Segment"]

#: Sequence numbers of instants scheduled by a schedule: above every kernel sequence number.
NEW_SEQ = 1 << 62

#: ``(grant_ns, count, stride_ns, burst_ns, burst_bytes, request_ns)``: ``count`` bursts of one channel, the
#: ``j``-th (0-based) granted at ``grant_ns + j * stride_ns`` and landing ``burst_ns`` later; the first one's
#: request instant is ``request_ns``, a later one's is the end of the one before it (``grant - stride + burst``).
Segment = tuple[int, int, int, int, int, int]
#: A schedule's state before the events of one instant, for :meth:`BusSchedule.replay`.
_Snapshot = tuple[int, int, list[tuple[int, int, int, int]], int, int, int, int, int, int, int, int, int, list[int],
                  list[int], list[int], list[int], list[int], list[int], list[bool], list[int]]
#: An instant after every other; how often (in events) a schedule keeps its state for a replay.
NEVER = 1 << 62
SNAPSHOT_EVENTS = 64


def _arith(flow: Flow | None) -> tuple[int, int, int, int, int, int, int] | None:
    """``(limit, ref_count, unit, tick0, epoch_ns, num, den)`` of a plain :class:`Flow` on a :class:`TickClock`:
    its ``time_of(m)`` is None past ``limit``, else ``epoch_ns + ((tick0 + ceil((m - ref_count) / unit)) * num) //
    den`` (what the loop computes inline); None for any other flow (the loop calls its ``time_of``)."""
    if flow is None or type(flow) is not Flow or type(flow.clock) is not TickClock:
        return None
    clock = flow.clock
    limit = NEVER if flow.limit is None else flow.limit
    return limit, flow.ref_count, flow.unit, flow.ref_tick - 1 + clock.offset, clock.epoch_ns, clock.num, clock.den


def _spec(ln: Lane) -> tuple[Any, ...]:
    """What the compiled core takes of a lane (its constants)."""
    flow = ln.flow
    return (ln.idx, ln.bursts, ln.burst_bytes, ln.burst_ns, ln.last_bytes, ln.last_burst_ns, ln.ends_program,
            _arith(flow), None if flow is None else flow.time_of, ln.next_items)


class Lane:
    """One channel's part in a schedule: the rest of its program, in bursts.

    ``bursts`` bursts are left (counting one on the bus now, if any; :data:`NEVER` for a cyclic program), all of
    ``burst_bytes`` holding the bus ``burst_ns`` except the very last one (``last_bytes``, ``last_burst_ns``).
    The current item ends with burst ``item_bursts`` (its interrupt bit ``item_irq``); then come ``next_items``,
    ``(bursts, irq)`` each, over and over for a cyclic program. ``flow`` None: memory to memory (always asking);
    ``ends_program``: its very last landing ends its program (the rest of the last item of a memory-to-memory
    program), and the schedule goes on past it (:attr:`BusSchedule.program_ends`) instead of stopping there.
    Otherwise the port's flow: the next burst is asked for when the flow's count reaches ``request_bytes``, and a
    burst landing at ``t`` is steady only if ``flow.count(t) <= limit_bytes`` (both grow by ``burst_bytes`` with
    every landing)."""

    __slots__ = ("burst_bytes", "burst_ns", "bursts", "core_args", "ends_program", "flow", "idx", "item_bursts",
                 "item_irq", "last_burst_ns", "last_bytes", "limit_bytes", "next_items", "request_bytes")

    def __init__(self, idx: int, bursts: int, burst_bytes: int, burst_ns: int, last_bytes: int, last_burst_ns: int,
                 flow: Flow | None = None, request_bytes: int = 0, limit_bytes: int = 0, item_bursts: int = 0,
                 item_irq: bool = False, next_items: tuple[tuple[int, bool], ...] = (),
                 ends_program: bool = False) -> None:
        self.idx = idx
        self.bursts = bursts
        self.burst_bytes = burst_bytes
        self.burst_ns = burst_ns
        self.last_bytes = last_bytes
        self.last_burst_ns = last_burst_ns
        self.flow = flow
        self.request_bytes = request_bytes
        self.limit_bytes = limit_bytes
        self.item_bursts = item_bursts or bursts
        self.item_irq = item_irq
        self.next_items = next_items
        self.ends_program = ends_program
        #: What the compiled :meth:`BusSchedule.relane` takes of a memory-to-memory lane (its constants, and its
        #: request, limit, item bursts and interrupt bit), made at its first relane: a copy's lane is kept across
        #: relanes (``BusSchedule.copy_memo``) and relaned again as it is (None: not made yet).
        self.core_args: tuple[tuple[Any, ...], tuple[int, int, int, bool]] | None = None


class BusSchedule:
    """The bus from ``start_ns`` for ``lanes`` (sorted by channel index), computed lazily: :attr:`computed_ns`
    says up to where (every event before it has run), :meth:`extend` computes further, and nothing is computed
    at or past :attr:`stop_ns` (brought forward to the first landing the controller must run itself: see the
    module's docstring).

    The start state: ``holder`` (a lane position, or -1) has a burst on the bus ending at ``holder_end_ns``
    (kernel sequence number ``holder_seq``, request instant ``holder_request_ns``, granted at ``holder_grant_ns``);
    ``waiting`` lanes wait for the bus (``(pos, since_ns)``); ``pending`` lanes have a request instant
    ``(pos, time_ns, seq)`` ahead. The bus is busy until ``busy_until_ns``; the last grant went to channel
    ``last_grant`` at ``last_grant_ns``. :meth:`replay` gives the state after every event before an earlier
    instant. :attr:`item_ends` lists ``(end_ns, pos)`` of the landings computed so far that end an item with
    its interrupt bit set (the controller raises the interrupt then), :attr:`program_ends` the ``(end_ns, pos,
    seq)`` of the landings that end a lane with ``ends_program`` (``seq``: every instant the schedule had
    scheduled before that landing's events ran has a sequence number up to it; the later ones come after what the
    controller schedules at the landing).
    """

    __slots__ = ("_heap", "_irq", "_item_k", "_last_pos", "_next_end", "_nheap", "_rr", "_seq", "_snaps", "_taken",
                 "busy_until_ns", "computed_ns", "copy_memo", "core", "events", "granted", "item_ends", "jumps",
                 "landed", "lanes", "last_event_ns", "last_grant", "last_grant_ns", "limit", "program_ends",
                 "request", "ring_memo", "segments", "since_ns", "start_ns", "stop_ns", "waiting")

    def __init__(self, lanes: list[Lane], start_ns: int, stop_ns: int, busy_until_ns: int, last_grant: int,
                 last_grant_ns: int, holder: int = -1, holder_end_ns: int = 0, holder_seq: int = 0,
                 holder_grant_ns: int = 0, holder_request_ns: int = 0, waiting: tuple[tuple[int, int], ...] = (),
                 pending: tuple[tuple[int, int, int], ...] = (), max_events: int = NEVER) -> None:
        self.lanes = lanes
        self.start_ns = start_ns
        self.stop_ns = stop_ns
        self.computed_ns = start_ns
        self.busy_until_ns = busy_until_ns
        self.last_grant = last_grant
        self.last_grant_ns = last_grant_ns
        n = len(lanes)
        self.granted = [0] * n
        self.landed = [0] * n
        self.request = [ln.request_bytes for ln in lanes]
        self.limit = [ln.limit_bytes for ln in lanes]
        #: Per lane: since when it waits for the bus, or when its request is due.
        self.since_ns = [0] * n
        #: Per lane: the burst that ends its current item, that item's interrupt bit, and the next item's index.
        self._next_end = [ln.item_bursts for ln in lanes]
        self._irq = [ln.item_irq for ln in lanes]
        self._item_k = [0] * n
        #: Bursts granted per lane, as arithmetic runs.
        self.segments: list[list[Segment]] = [[] for _ in lanes]
        self.item_ends: list[tuple[int, int]] = []
        self.program_ends: list[tuple[int, int, int]] = []
        #: The last instant whose events the loop ran (-1: none yet).
        self.last_event_ns = -1
        #: Per lane: (segments fully taken, bursts taken of the next one) by :meth:`take`.
        self._taken = [(0, 0)] * n
        self._heap: list[tuple[int, int, int, int]] = []  # (time_ns, seq, kind 0: burst end / 1: request, pos)
        self._seq = NEW_SEQ
        self._last_pos = -1  # the lane granted last in this schedule
        self._snaps: list[_Snapshot] = []
        #: Kept by the controller across relanes (``Dmac._sched_relane``): a copy lane's shape and its lane, whose
        #: memory this schedule's spans hold; None in a schedule built afresh (or replayed).
        self.copy_memo: tuple[tuple[Any, ...], Lane] | None = None
        #: Kept the same way: ``(pos, prog, item_idx, item_off)`` of a ring (a cyclic program checked whole) whose
        #: memory from that item and offset on is what the spans hold for lane ``pos``; None: none.
        self.ring_memo: tuple[int, Any, int, int] | None = None
        self.waiting = 0  # a bit per lane position
        self.events = 0
        self.jumps = 0
        #: Lane positions below this one were granted no later than the last grant (round-robin order).
        self._rr = sum(1 for ln in lanes if ln.idx <= last_grant)
        for pos, since in waiting:
            self.waiting |= 1 << pos
            self.since_ns[pos] = since
        for pos, t, seq in pending:
            self._heap.append((t, seq, 1, pos))
            self.since_ns[pos] = t
        if holder >= 0:
            ln = lanes[holder]
            self.granted[holder] = 1
            self._last_pos = holder
            self.since_ns[holder] = holder_request_ns
            nbytes, dur = (ln.burst_bytes, ln.burst_ns) if ln.bursts > 1 else (ln.last_bytes, ln.last_burst_ns)
            self.segments[holder].append((holder_grant_ns, 1, 0, dur, nbytes, holder_request_ns))
            self._heap.append((holder_end_ns, holder_seq, 0, holder))
            self._granted(holder, 1, holder_end_ns)
        heapq.heapify(self._heap)
        self.core: Any = None
        self._nheap = 0
        core = _native.core
        if core is not None and n <= core.BUS_MAX_LANES:
            try:
                self.core = core.BusCore(
                    [(ln.idx, ln.bursts, ln.burst_bytes, ln.burst_ns, ln.last_bytes, ln.last_burst_ns,
                      ln.ends_program, None, None, ln.next_items) if ln.flow is None else _spec(ln)
                     for ln in lanes],  # (_spec inlined for a copy's lane: no flow, no arithmetic)
                    (self.computed_ns, self.stop_ns, self._heap, self._last_pos, self._rr, self._seq,
                     self.busy_until_ns, self.last_grant, self.last_grant_ns, self.waiting, self.events, self.jumps,
                     self.granted, self.landed, self.request, self.limit, self.since_ns, self._next_end, self._irq,
                     self._item_k), self.segments, self.last_event_ns, self.item_ends, self.program_ends)
            except OverflowError:  # a value past 64 bits: this schedule runs in Python
                self.core = None
        if self.core is not None:
            self.core.loop(max_events, True)
            self._sync()
        else:
            self._loop(max_events, True)

    def _sync(self) -> None:
        """Read the compiled core's state back into the attributes the controller reads."""
        (self.waiting, self.busy_until_ns, self.stop_ns, self.computed_ns, self.events, self.jumps, self.last_grant,
         self.last_grant_ns, self.last_event_ns, self.granted, self.landed, self.since_ns, self._nheap) = \
            self.core.state()

    def _granted(self, pos: int, g: int, end_ns: int) -> None:
        """Lane ``pos`` was granted its burst ``g``, which lands at ``end_ns``: stop there if it is not steady or
        ends the program; note an item end (the loop does the same inline)."""
        if end_ns >= self.stop_ns:
            return
        ln = self.lanes[pos]
        flow = ln.flow
        if flow is not None and flow.count(end_ns) > self.limit[pos]:
            self.stop_ns = end_ns
        elif g == self._next_end[pos]:
            if g >= ln.bursts:
                if not ln.ends_program:
                    self.stop_ns = end_ns
            else:
                self._next_item(pos, g, end_ns)

    def _next_item(self, pos: int, g: int, end_ns: int) -> None:
        """Lane ``pos``'s burst ``g``, landing at ``end_ns``, ends its current item."""
        if self._irq[pos]:
            self.item_ends.append((end_ns, pos))
        nxt = self.lanes[pos].next_items
        k = self._item_k[pos]
        bursts, self._irq[pos] = nxt[k]
        self._next_end[pos] = g + bursts
        self._item_k[pos] = k + 1 if k + 1 < len(nxt) else 0

    def _snapshot(self, at_ns: int) -> None:
        self._snaps.append((at_ns, self.stop_ns, list(self._heap), self._last_pos, self._rr, self._seq,
                            self.busy_until_ns, self.last_grant, self.last_grant_ns, self.waiting, self.events,
                            self.jumps, list(self.granted), list(self.landed), list(self.request),
                            list(self.limit), list(self.since_ns), list(self._next_end), list(self._irq),
                            list(self._item_k)))

    def replay(self, stop_ns: int) -> BusSchedule:
        """The state after every event before ``stop_ns`` (no later than :attr:`computed_ns`), from the last
        snapshot at or before it; the new schedule's segments hold only bursts granted since that snapshot."""
        if self.core is not None:
            item_ends: list[tuple[int, int]] = []
            program_ends: list[tuple[int, int, int]] = []
            c = self.core.replay(stop_ns, item_ends, program_ends)
            if c is None:
                return self  # no event has run: the state is the start state
            new = object.__new__(BusSchedule)
            new.lanes = self.lanes
            new.start_ns = self.start_ns
            new.item_ends = item_ends
            new.program_ends = program_ends
            new.core = c
            new.copy_memo = new.ring_memo = None
            new._sync()
            return new
        if not self._snaps:
            return self  # no event has run: the state is the start state
        snap = self._snaps[0]  # the state before the first event (nothing ran before it)
        for s in reversed(self._snaps):
            if s[0] <= stop_ns:
                snap = s
                break
        new = object.__new__(BusSchedule)
        new.lanes = self.lanes
        new.start_ns = self.start_ns
        new.segments = [[] for _ in self.lanes]
        new.item_ends = []
        new.program_ends = []
        new.last_event_ns = -1
        new._taken = [(0, 0)] * len(self.lanes)
        new._snaps = []
        new.core = None
        new.copy_memo = new.ring_memo = None
        (new.computed_ns, stop, heap, new._last_pos, new._rr, new._seq, new.busy_until_ns, new.last_grant,
         new.last_grant_ns, new.waiting, new.events, new.jumps, granted, landed, request, limit, since, next_end,
         irq, item_k) = snap
        new.stop_ns = min(stop_ns, stop)
        new._heap = list(heap)
        new.granted = list(granted)
        new.landed = list(landed)
        new.request = list(request)
        new.limit = list(limit)
        new.since_ns = list(since)
        new._next_end = list(next_end)
        new._irq = list(irq)
        new._item_k = list(item_k)
        new._loop(NEVER, False)
        return new

    def relane(self, now_ns: int, pos: int, lane: Lane, request_ns: int | None, stop_ns: int) -> BusSchedule | None:
        """The schedule from ``now_ns`` on with lane ``pos`` replaced by ``lane`` (a channel that starts a program,
        or whose port's flow changed), without settling the others: the state after every event before
        ``now_ns + 1`` (as :meth:`replay` gives it), then lane ``pos`` afresh (nothing granted or landed, its
        request and limit counts, its first item and interrupt bit from ``lane``) with its request at
        ``request_ns`` (ordered after every instant already scheduled, as a kernel event scheduled now would be;
        None: no request ahead), computed up to ``stop_ns``. Nothing after ``now_ns`` is computed yet
        (:attr:`computed_ns` is ``now_ns + 1``: :meth:`extend`).

        The new schedule holds none of the bursts landed by ``now_ns`` (the caller has taken them) and no item or
        program end up to it (the caller has raised them); a burst on the bus at ``now_ns`` lands in it, checked as
        the loop checks a grant (it may stop the schedule or end an item). A request of lane ``pos`` ahead is
        dropped: ``request_ns`` takes its place (as a request line's event cancelled and scheduled again). None
        when lane ``pos`` has a burst on the bus or waits for the bus at ``now_ns``, when ``request_ns`` is not
        after ``now_ns``, when the schedule is not computed past ``now_ns``, or (compiled) when a value does not fit in
        64 bits: then nothing changed, and the caller settles as before."""
        if pos < 0 or now_ns + 1 > self.computed_ns or (request_ns is not None and request_ns <= now_ns):
            return None
        lanes = list(self.lanes)
        lanes[pos] = lane
        if self.core is not None:
            item_ends: list[tuple[int, int]] = []
            program_ends: list[tuple[int, int, int]] = []
            args = lane.core_args
            if args is None:
                flow = lane.flow  # _spec(lane), inlined (with _arith for a copy's lane: None)
                if flow is None:
                    args = lane.core_args = (
                        (lane.idx, lane.bursts, lane.burst_bytes, lane.burst_ns, lane.last_bytes, lane.last_burst_ns,
                         lane.ends_program, None, None, lane.next_items),
                        (lane.request_bytes, lane.limit_bytes, lane.item_bursts, lane.item_irq))
                else:  # (not kept: a flow's lane is made afresh for each relane)
                    clock = flow.clock  # _arith(flow), inlined
                    if type(flow) is Flow and type(clock) is TickClock:
                        ar: tuple[int, int, int, int, int, int, int] | None = (
                            NEVER if flow.limit is None else flow.limit, flow.ref_count, flow.unit,
                            flow.ref_tick - 1 + clock.offset, clock.epoch_ns, clock.num, clock.den)
                    else:
                        ar = None
                    args = ((lane.idx, lane.bursts, lane.burst_bytes, lane.burst_ns, lane.last_bytes,
                             lane.last_burst_ns, lane.ends_program, ar, flow.time_of, lane.next_items),
                            (lane.request_bytes, lane.limit_bytes, lane.item_bursts, lane.item_irq))
            try:
                c = self.core.relane(now_ns, pos, args[0], args[1], request_ns, stop_ns, item_ends, program_ends)
            except OverflowError:
                return None
            if c is None:
                return None
            new = object.__new__(BusSchedule)
            new.lanes = lanes
            new.start_ns = self.start_ns
            new.item_ends = item_ends
            new.program_ends = program_ends
            new.core = c
            new.copy_memo = new.ring_memo = None
            (new.waiting, new.busy_until_ns, new.stop_ns, new.computed_ns, new.events, new.jumps, new.last_grant,
             new.last_grant_ns, new.last_event_ns, new.granted, new.landed, new.since_ns, new._nheap) = \
                c.state()  # new._sync(), inlined
            return new
        if not self._snaps:  # no event has run: from the state as it is (the start state)
            self._snapshot(self.computed_ns)
            r = self.replay(now_ns + 1)
            self._snaps = []
        else:
            r = self.replay(now_ns + 1)
        if r.waiting >> pos & 1 or any(e[3] == pos and e[2] == 0 for e in r._heap):
            return None
        if any(e[3] == pos for e in r._heap):  # its request ahead: the new one takes its place
            r._heap = [e for e in r._heap if e[3] != pos]
            heapq.heapify(r._heap)
        r.lanes = lanes
        r.granted[pos] = r.landed[pos] = 0
        r.request[pos] = lane.request_bytes
        r.limit[pos] = lane.limit_bytes
        r.since_ns[pos] = 0
        r._next_end[pos] = lane.item_bursts
        r._irq[pos] = lane.item_irq
        r._item_k[pos] = 0
        r.segments = [[] for _ in lanes]
        r._taken = [(0, 0)] * len(lanes)
        r.item_ends = []
        r.program_ends = []
        r.stop_ns = stop_ns
        for t, _, kind, h in r._heap:
            if kind == 0:  # the burst on the bus (granted last), landing at t
                ln = lanes[h]
                g = r.granted[h]
                nbytes, dur = (ln.burst_bytes, ln.burst_ns) if g < ln.bursts else (ln.last_bytes, ln.last_burst_ns)
                r.segments[h].append((r.last_grant_ns, 1, 0, dur, nbytes, r.since_ns[h]))
                if t < stop_ns:  # as the loop checks a grant
                    ar = _arith(ln.flow)
                    late: int | None = NEVER
                    if ln.flow is not None:
                        x = r.limit[h] + 1
                        if ar is None:
                            late = ln.flow.time_of(x)
                        else:
                            late = None if x > ar[0] else ar[4] + ((ar[3] - (ar[1] - x) // ar[2]) * ar[5]) // ar[6]
                    if late is not None and t >= late:
                        r.stop_ns = t
                    elif g == r._next_end[h]:
                        if g >= ln.bursts:
                            if not ln.ends_program:
                                r.stop_ns = t
                        else:
                            r._next_item(h, g, t)
                    if not r.item_ends and (t, h) in self.item_ends:
                        # Its grant was checked before the state replayed from (a snapshot after it: one a relane
                        # at this instant took, or one the loop took while it was on the bus), so the check above
                        # found its item end done: the interrupt it noted then is still to come.
                        r.item_ends.append((t, h))
        if request_ns is not None:
            r._seq += 1
            heapq.heappush(r._heap, (request_ns, r._seq, 1, pos))
            r.since_ns[pos] = request_ns
        r.computed_ns = min(now_ns + 1, r.stop_ns)
        r._snaps = []
        r._snapshot(r.computed_ns)
        return r

    def extend(self, max_events: int) -> None:
        """Compute about ``max_events`` more events (whole instants), up to :attr:`stop_ns` at most."""
        if self.core is not None:
            self.core.loop(max_events, True)
            self._sync()
        else:
            self._loop(max_events, True)

    # --- the loop ---------------------------------------------------------------------------------------------
    def _loop(self, max_events: int, snapshots: bool) -> None:
        """Run the events from :attr:`computed_ns` on, before :attr:`stop_ns` (see the module's docstring for
        their semantics), about ``max_events`` of them (a round-robin stretch taken in one step counts one); with
        ``snapshots``, keep the state every ``SNAPSHOT_EVENTS`` events for :meth:`replay`."""
        heap = self._heap
        lanes = self.lanes
        flows = [ln.flow for ln in lanes]
        time_of = [None if f is None else f.time_of for f in flows]
        arith = [_arith(f) for f in flows]
        # Per lane: an instant before which a landing is steady (limits only grow: it stays one).
        safe = [NEVER if f is None else 0 for f in flows]
        bursts = [ln.bursts for ln in lanes]
        ends_program = [ln.ends_program for ln in lanes]
        program_ends = self.program_ends
        burst_bytes = [ln.burst_bytes for ln in lanes]
        burst_ns = [ln.burst_ns for ln in lanes]
        granted, landed, request, limit, since = self.granted, self.landed, self.request, self.limit, self.since_ns
        next_end = self._next_end
        segments = self.segments
        heappop, heappush = heapq.heappop, heapq.heappush
        waiting, busy, rr, seq, stop, events = self.waiting, self.busy_until_ns, self._rr, self._seq, self.stop_ns, \
            self.events
        last_pos, last_grant_ns = self._last_pos, self.last_grant_ns
        periph = 0
        for p, f in enumerate(flows):
            if f is not None:
                periph |= 1 << p
        work = 0  # events run one by one, plus one per round-robin stretch taken in one step
        next_snap = events
        last_t = -1
        computed = stop
        while heap:
            t, _, kind, pos = heap[0]
            if t >= stop:
                computed = stop
                break
            if t > last_t:
                if work >= max_events:
                    computed = t
                    break
                if snapshots and events >= next_snap:
                    self.waiting, self.busy_until_ns, self._rr, self._seq, self.stop_ns, self.events = \
                        waiting, busy, rr, seq, stop, events
                    self._last_pos, self.last_grant_ns = last_pos, last_grant_ns
                    self._snapshot(t)
                    next_snap = events + SNAPSHOT_EVENTS
                last_t = t
            if kind == 0:
                if flows[pos] is None and busy <= t and burst_ns[pos] < stop - t and not waiting & periph:
                    self.waiting, self.busy_until_ns, self._rr, self._seq, self.stop_ns, self.events = \
                        waiting, busy, rr, seq, stop, events
                    self._last_pos, self.last_grant_ns = last_pos, last_grant_ns
                    if self._jump(t, pos):
                        waiting, busy, rr, seq, events = self.waiting, self.busy_until_ns, self._rr, self._seq, \
                            self.events
                        last_pos, last_grant_ns = self._last_pos, self.last_grant_ns
                        work += 1
                        continue
                heappop(heap)
                events += 1
                work += 1
                n = landed[pos] + 1
                landed[pos] = n
                if n >= bursts[pos] and ends_program[pos]:
                    program_ends.append((t, pos, seq))
                elif n < bursts[pos]:
                    to = time_of[pos]
                    if to is None:
                        waiting |= 1 << pos
                        since[pos] = t
                    else:
                        b = burst_bytes[pos]
                        x = request[pos] + b
                        request[pos] = x
                        limit[pos] += b
                        ar = arith[pos]
                        if ar is None:
                            r = to(x)
                        elif x > ar[0]:
                            r = None
                        else:  # Flow.time_of(x), inline
                            r = ar[4] + ((ar[3] - (ar[1] - x) // ar[2]) * ar[5]) // ar[6]
                        if r is not None:
                            if r <= t:
                                waiting |= 1 << pos
                                since[pos] = t
                            else:
                                seq += 1
                                heappush(heap, (r, seq, 1, pos))
                                since[pos] = r
            else:
                heappop(heap)
                events += 1
                work += 1
                waiting |= 1 << pos
            # Arbitration: the bus is free, grant the waiting lane next after the last granted one.
            if waiting and busy <= t:
                m = waiting >> rr << rr
                if not m:
                    m = waiting
                p = (m & -m).bit_length() - 1
                waiting &= ~(1 << p)
                g = granted[p] + 1
                granted[p] = g
                if g < bursts[p]:
                    nbytes, dur = burst_bytes[p], burst_ns[p]
                else:
                    ln = lanes[p]
                    nbytes, dur = ln.last_bytes, ln.last_burst_ns
                end = t + dur
                busy = end
                rr = p + 1
                last_pos = p
                last_grant_ns = t
                seq += 1
                heappush(heap, (end, seq, 0, p))
                segments[p].append((t, 1, 0, dur, nbytes, since[p]))
                if end < stop:
                    if end >= safe[p]:  # it may be late: the first instant it would be
                        ar = arith[p]
                        x = limit[p] + 1
                        if ar is None:
                            late = time_of[p](x)  # type: ignore[misc]
                        else:
                            late = None if x > ar[0] else ar[4] + ((ar[3] - (ar[1] - x) // ar[2]) * ar[5]) // ar[6]
                        safe[p] = NEVER if late is None else late
                    if end >= safe[p]:
                        stop = end
                    elif g == next_end[p]:
                        if g >= bursts[p]:
                            if not ends_program[p]:
                                stop = end
                        else:
                            self._next_item(p, g, end)
        self.waiting, self.busy_until_ns, self._rr, self._seq, self.stop_ns, self.events = \
            waiting, busy, rr, seq, stop, events
        self._last_pos, self.last_grant_ns = last_pos, last_grant_ns
        self.computed_ns = min(computed, stop)
        if last_t > self.last_event_ns:
            self.last_event_ns = last_t
        if last_pos >= 0:
            self.last_grant = lanes[last_pos].idx

    def _jump(self, t: int, pos: int) -> bool:
        """The burst of memory-to-memory lane ``pos`` ends at ``t``, the next event, and only memory-to-memory
        lanes wait: take the round-robin bursts that end before anything else happens in one step (each lane
        asks again the moment its burst ends, so they take turns in channel order, full burst after full burst).
        False when fewer than two would."""
        lanes = self.lanes
        waiting = self.waiting
        heap = self._heap
        tp = self.stop_ns
        for e in heap:
            if e[2] == 1 and e[0] < tp:
                tp = e[0]
        burst_ns = lanes[pos].burst_ns
        parts = [pos]
        for p in range(pos + 1, len(lanes)):
            if waiting >> p & 1:
                parts.append(p)
        for p in range(pos):
            if waiting >> p & 1:
                parts.append(p)
        k = len(parts)
        granted = self.granted
        # Bursts after the one ending at t: g = 1..m, burst g held by parts[g % k], granted at t + (g - 1) * burst_ns;
        # none may be a lane's last one, and every burst ending in the jump (g = 0..m-1, at t + g * burst_ns) ends
        # before tp.
        m = (tp - 1 - t) // burst_ns + 1
        for i, p in enumerate(parts):
            ln = lanes[p]
            if ln.burst_ns != burst_ns:
                return False
            q = ln.bursts - granted[p] - 1  # more bursts it may be granted, its last one excluded
            m = min(m, (q + 1) * k - 1 if i == 0 else q * k + i - 1)
        if m < 2:
            return False
        heapq.heappop(heap)
        self.events += m
        self.jumps += 1
        stride = k * burst_ns
        since = self.since_ns
        for i, p in enumerate(parts):
            g1 = i if i else k
            if m >= g1:
                c = (m - g1) // k + 1
                self.segments[p].append((t + (g1 - 1) * burst_ns, c, stride, burst_ns, lanes[p].burst_bytes,
                                         t if i == 0 else since[p]))
                granted[p] += c
            if m > i:
                self.landed[p] += (m - i + k - 1) // k
        hold = parts[m % k]
        grant = t + (m - 1) * burst_ns
        self.waiting = 0
        for i, p in enumerate(parts):
            if p != hold:
                self.waiting |= 1 << p
                last = m - 1 - ((m - 1 - i) % k)  # its last burst among 0..m-1, which ended at t + last * burst_ns
                if last >= 0:
                    since[p] = t + last * burst_ns
        if m >= k:  # it asked for burst m when its burst m - k ended
            since[hold] = t + (m - k) * burst_ns
        end = grant + burst_ns
        self.busy_until_ns = end
        self.last_grant = lanes[hold].idx
        self.last_grant_ns = grant
        self._last_pos = hold
        self._rr = hold + 1
        self._seq += 1
        heapq.heappush(heap, (end, self._seq, 0, hold))
        return True

    # --- the state, read ----------------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Nothing more to compute: no burst on the bus, no request due (the instants computed may still be ahead:
        :attr:`last_event_ns`)."""
        if self.core is not None:
            return not self._nheap and not self.waiting
        return not self._heap and not self.waiting

    def pending(self) -> list[tuple[int, int, int, int]]:
        """The instants ahead, in the kernel's order: ``(time_ns, seq, kind, pos)``, kind 0 the end of the burst
        on the bus, 1 a request."""
        if self.core is not None:
            return self.core.pending()
        return sorted(self._heap, key=lambda e: e[1])

    def take_all(self, t: int, probe: bool = False) -> list[tuple[int, int, int, int, list[tuple[int, int, int]]]]:
        """:meth:`take` for every lane that has bursts landed by ``t`` not taken before: ``(pos, count, bytes,
        last landing ns, bursts)`` each (``bursts`` filled only with ``probe``)."""
        if self.core is not None:
            return self.core.take_all(t, probe)
        out = []
        taken = self._taken
        for pos, segs in enumerate(self.segments):
            si, done = taken[pos]
            if si == len(segs):
                continue
            grant, _, stride, dur, _, _ = segs[si]
            if grant + done * stride + dur > t:
                continue
            bursts: list[tuple[int, int, int]] = []
            count, nbytes, last = self.take(pos, t, bursts if probe else None)
            out.append((pos, count, nbytes, last, bursts))
        return out

    def take(self, pos: int, t: int, bursts: list[tuple[int, int, int]] | None = None) -> tuple[int, int, int]:
        """Lane ``pos``'s bursts landed by ``t`` not taken before: ``(count, bytes, last landing ns)``; with
        ``bursts``, append each one's ``(request_ns, grant_ns, end_ns)``."""
        if self.core is not None:
            return self.core.take(pos, t, bursts)
        segs = self.segments[pos]
        si, done = self._taken[pos]
        count = nbytes = 0
        last = -1
        while si < len(segs):
            grant, c, stride, dur, bb, req = segs[si]
            if grant + done * stride + dur > t:
                break
            k = c if stride == 0 else min(c, (t - grant - dur) // stride + 1)
            if bursts is not None:
                for j in range(done, k):
                    g = grant + j * stride
                    bursts.append((req if j == 0 else g - stride + dur, g, g + dur))
            count += k - done
            nbytes += (k - done) * bb
            last = grant + (k - 1) * stride + dur
            if k < c:
                done = k
                break
            si += 1
            done = 0
        self._taken[pos] = (si, done)
        return count, nbytes, last

    def lane_segments(self, pos: int) -> list[Segment]:
        """Lane ``pos``'s bursts granted so far, as :data:`Segment` runs (taken or not)."""
        if self.core is not None:
            return self.core.segments(pos)
        return list(self.segments[pos])
