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
full (RX) while it waits: each burst's landing is checked against its flow, and the schedule stops just before the
first landing that would not be steady, and before the first landing that ends an item (the controller's own
event does what an item end does). Stretches in which only memory-to-memory channels want the bus go round-robin
in one step (:meth:`BusSchedule._jump`).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._periph import Flow

__all__ = ["BusSchedule", "Lane", "Segment"]

#: Sequence numbers of instants scheduled by a schedule: above every kernel sequence number.
NEW_SEQ = 1 << 62

#: ``(grant_ns, count, stride_ns, burst_ns, burst_bytes, request_ns)``: ``count`` bursts of one channel, the
#: ``j``-th (0-based) granted at ``grant_ns + j * stride_ns`` and landing ``burst_ns`` later; the first one's
#: request instant is ``request_ns``, a later one's is the end of the one before it (``grant - stride + burst``).
Segment = tuple[int, int, int, int, int, int]


class Lane:
    """One channel's part in a schedule: the rest of its current item, in bursts.

    ``bursts`` bursts are left (counting one on the bus now, if any), all of ``burst_bytes`` holding the bus
    ``burst_ns`` except the last one (``last_bytes``, ``last_burst_ns``). ``flow`` None: memory to memory (always
    asking). Otherwise the port's flow: the next burst is asked for when the flow's count reaches
    ``request_bytes``, and a burst landing at ``t`` is steady only if ``flow.count(t) <= limit_bytes`` (both grow by
    ``burst_bytes`` with every landing)."""

    __slots__ = ("burst_bytes", "burst_ns", "bursts", "flow", "idx", "last_burst_ns", "last_bytes", "limit_bytes",
                 "request_bytes")

    def __init__(self, idx: int, bursts: int, burst_bytes: int, burst_ns: int, last_bytes: int, last_burst_ns: int,
                 flow: Flow | None = None, request_bytes: int = 0, limit_bytes: int = 0) -> None:
        self.idx = idx
        self.bursts = bursts
        self.burst_bytes = burst_bytes
        self.burst_ns = burst_ns
        self.last_bytes = last_bytes
        self.last_burst_ns = last_burst_ns
        self.flow = flow
        self.request_bytes = request_bytes
        self.limit_bytes = limit_bytes


class BusSchedule:
    """The bus from ``start_ns`` for ``lanes`` (sorted by channel index), every event before ``stop_ns``.

    The start state: ``holder`` (a lane position, or -1) has a burst on the bus ending at ``holder_end_ns``
    (kernel sequence number ``holder_seq``, request instant ``holder_request_ns``, granted at ``holder_grant_ns``);
    ``waiting`` lanes wait for the bus (each since its ``since_ns``); ``pending`` lanes have a request instant
    ``(pos, time_ns, seq)`` ahead. The bus is busy until ``busy_until_ns``; the last grant went to channel
    ``last_grant``. After construction the state is the one after every event before :attr:`stop_ns`.
    """

    __slots__ = ("_args", "_heap", "_rr", "_seq", "_taken", "busy_until_ns", "events", "granted", "holder",
                 "holder_grant_ns", "holder_request_ns", "jumps", "landed", "lanes", "last_grant", "last_grant_ns",
                 "limit", "request", "segments", "since_ns", "start_ns", "stop_ns", "waiting")

    def __init__(self, lanes: list[Lane], start_ns: int, stop_ns: int, busy_until_ns: int, last_grant: int,
                 last_grant_ns: int, holder: int = -1, holder_end_ns: int = 0, holder_seq: int = 0,
                 holder_grant_ns: int = 0, holder_request_ns: int = 0, waiting: tuple[tuple[int, int], ...] = (),
                 pending: tuple[tuple[int, int, int], ...] = (), max_events: int = 1 << 62) -> None:
        self._args = (lanes, start_ns, busy_until_ns, last_grant, last_grant_ns, holder, holder_end_ns, holder_seq,
                      holder_grant_ns, holder_request_ns, waiting, pending)
        self.lanes = lanes
        self.start_ns = start_ns
        self.stop_ns = stop_ns
        self.busy_until_ns = busy_until_ns
        self.last_grant = last_grant
        self.last_grant_ns = last_grant_ns
        n = len(lanes)
        self.granted = [0] * n
        self.landed = [0] * n
        self.request = [ln.request_bytes for ln in lanes]
        self.limit = [ln.limit_bytes for ln in lanes]
        self.since_ns = [0] * n
        #: Bursts granted per lane, as arithmetic runs.
        self.segments: list[list[Segment]] = [[] for _ in lanes]
        #: Per lane: (segments fully taken, bursts taken of the next one) by :meth:`take`.
        self._taken = [(0, 0)] * n
        self._heap: list[tuple[int, int, int, int]] = []  # (time_ns, seq, kind 0: burst end / 1: request, pos)
        self._seq = NEW_SEQ
        self.holder = holder
        self.holder_grant_ns = holder_grant_ns
        self.holder_request_ns = holder_request_ns
        self.waiting = 0  # a bit per lane position
        self.events = 0
        self.jumps = 0
        #: Lane positions at or below this one were granted no later than the last grant (round-robin order).
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
            nbytes, dur = (ln.burst_bytes, ln.burst_ns) if ln.bursts > 1 else (ln.last_bytes, ln.last_burst_ns)
            self.segments[holder].append((holder_grant_ns, 1, 0, dur, nbytes, holder_request_ns))
            self._heap.append((holder_end_ns, holder_seq, 0, holder))
            self._check_landing(holder, holder_end_ns)
        heapq.heapify(self._heap)
        self._loop(max_events)

    def replay(self, stop_ns: int) -> BusSchedule:
        """The same schedule, every event before ``stop_ns`` (an earlier stop: the state at an earlier instant)."""
        lanes, start, busy, last, last_ns, holder, h_end, h_seq, h_grant, h_req, waiting, pending = self._args
        return BusSchedule(lanes, start, min(stop_ns, self.stop_ns), busy, last, last_ns, holder, h_end, h_seq,
                           h_grant, h_req, waiting, pending)

    # --- the loop ---------------------------------------------------------------------------------------------
    def _check_landing(self, pos: int, end_ns: int) -> None:
        """The burst of lane ``pos`` granted last lands at ``end_ns``: stop before then if it ends the item or if
        its FIFO would not be steady until then."""
        ln = self.lanes[pos]
        if self.granted[pos] >= ln.bursts:
            if end_ns < self.stop_ns:
                self.stop_ns = end_ns
        elif ln.flow is not None and ln.flow.count(end_ns) > self.limit[pos] and end_ns < self.stop_ns:
            self.stop_ns = end_ns

    def _arbitrate(self, t: int) -> None:
        waiting = self.waiting
        if not waiting or self.busy_until_ns > t:
            return
        rr = self._rr
        hi = waiting >> rr << rr
        m = hi if hi else waiting
        pos = (m & -m).bit_length() - 1
        self.waiting = waiting & ~(1 << pos)
        ln = self.lanes[pos]
        g = self.granted[pos]
        nbytes, dur = (ln.burst_bytes, ln.burst_ns) if g + 1 < ln.bursts else (ln.last_bytes, ln.last_burst_ns)
        end = t + dur
        self.busy_until_ns = end
        self.last_grant = ln.idx
        self.last_grant_ns = t
        self._rr = pos + 1
        self.holder = pos
        self.holder_grant_ns = t
        self.holder_request_ns = self.since_ns[pos]
        self._seq += 1
        heapq.heappush(self._heap, (end, self._seq, 0, pos))
        self.segments[pos].append((t, 1, 0, dur, nbytes, self.since_ns[pos]))
        self.granted[pos] = g + 1
        self._check_landing(pos, end)

    def _loop(self, max_events: int) -> None:
        heap = self._heap
        lanes = self.lanes
        last_t = -1
        while heap:
            t, _, kind, pos = heap[0]
            if t >= self.stop_ns:
                break
            if self.events >= max_events and t > last_t:
                self.stop_ns = t
                break
            last_t = t
            if kind == 0 and lanes[pos].flow is None and self._jump(t, pos):
                continue
            heapq.heappop(heap)
            self.events += 1
            if kind == 0:
                ln = lanes[pos]
                self.landed[pos] += 1
                if self.landed[pos] < ln.bursts:
                    flow = ln.flow
                    if flow is None:
                        self.waiting |= 1 << pos
                        self.since_ns[pos] = t
                    else:
                        self.request[pos] += ln.burst_bytes
                        self.limit[pos] += ln.burst_bytes
                        r = flow.time_of(self.request[pos])
                        if r is not None:
                            if r <= t:
                                self.waiting |= 1 << pos
                                self.since_ns[pos] = t
                            else:
                                self._seq += 1
                                heapq.heappush(heap, (r, self._seq, 1, pos))
                                self.since_ns[pos] = r
            else:
                self.waiting |= 1 << pos
            self._arbitrate(t)

    def _jump(self, t: int, pos: int) -> bool:
        """The burst of memory-to-memory lane ``pos`` ends at ``t``, the next event: when only memory-to-memory
        lanes wait, take the round-robin bursts that end before anything else happens in one step. False when
        fewer than two would."""
        lanes = self.lanes
        waiting = self.waiting
        heap = self._heap
        tp = self.stop_ns
        for e in heap:
            if e[2] == 1 and e[0] < tp:
                tp = e[0]
        ln0 = lanes[pos]
        d = ln0.burst_ns
        if self.granted[pos] >= ln0.bursts or t + d >= tp:
            return False
        parts = [pos]
        for p in range(pos + 1, len(lanes)):
            if waiting >> p & 1:
                parts.append(p)
        for p in range(pos):
            if waiting >> p & 1:
                parts.append(p)
        k = len(parts)
        # Bursts after the one ending at t: g = 1..m, burst g held by parts[g % k]; none may be a lane's last one,
        # and every burst ending in the jump (g = 0..m-1) ends before tp.
        m = (tp - 1 - t) // d + 1
        for i, p in enumerate(parts):
            ln = lanes[p]
            if ln.flow is not None or ln.burst_ns != d:
                return False
            q = ln.bursts - self.granted[p] - 1  # more bursts it may be granted, its last one excluded
            m = min(m, (q + 1) * k - 1 if i == 0 else q * k + i - 1)
        if m < 2:
            return False
        heapq.heappop(heap)
        self.events += m
        self.jumps += 1
        stride = k * d
        for i, p in enumerate(parts):
            g1 = i if i else k
            if m < g1:
                continue
            c = (m - g1) // k + 1
            ln = lanes[p]
            self.segments[p].append((t + (g1 - 1) * d, c, stride, d, ln.burst_bytes,
                                     t if i == 0 else self.since_ns[p]))
            self.granted[p] += c
        for i, p in enumerate(parts):  # bursts 0..m-1 landed; every lane but the holder of burst m waits again
            self.landed[p] += (m - i + k - 1) // k if m > i else 0
        hold = parts[m % k]
        grant = t + (m - 1) * d
        for i, p in enumerate(parts):
            if p != hold:
                last = m - 1 - ((m - 1 - i) % k)  # its last burst in 0..m-1
                if last >= 0:
                    self.since_ns[p] = t + last * d
        self.since_ns[hold] = grant
        self.waiting = 0
        for p in parts:
            if p != hold:
                self.waiting |= 1 << p
        end = grant + d
        self.holder = hold
        self.holder_grant_ns = grant
        self.holder_request_ns = grant
        self.busy_until_ns = end
        self.last_grant = lanes[hold].idx
        self.last_grant_ns = grant
        self._rr = hold + 1
        self._seq += 1
        heapq.heappush(heap, (end, self._seq, 0, hold))
        return True

    # --- the state, read ----------------------------------------------------------------------------------------
    def pending(self) -> list[tuple[int, int, int, int]]:
        """The instants ahead, in the kernel's order: ``(time_ns, seq, kind, pos)``, kind 0 the end of the burst
        on the bus, 1 a request."""
        return sorted(self._heap, key=lambda e: e[1])

    def take(self, pos: int, t: int, bursts: list[tuple[int, int, int]] | None = None) -> tuple[int, int, int]:
        """Lane ``pos``'s bursts landed by ``t`` not taken before: ``(count, bytes, last landing ns)``; with
        ``bursts``, append each one's ``(request_ns, grant_ns, end_ns)``."""
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
