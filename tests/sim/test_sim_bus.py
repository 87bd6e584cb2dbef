"""The shared-bus schedule's arithmetic (sim/_bus.py), directly: grants in round-robin and in the kernel's order of
one instant, round-robin stretches taken in one step, the stop before a landing the controller must run itself,
period ends, replays, and the bytes taken by an instant."""

from __future__ import annotations

from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._kernel import TickClock
from dmaengine.sim._periph import Flow


def grants(sched: BusSchedule, pos: int) -> list[tuple[int, int]]:
    """``(grant_ns, end_ns)`` of every burst of lane ``pos``."""
    out = []
    for grant, count, stride, burst_ns, _, _ in sched.lane_segments(pos):
        out += [(grant + j * stride, grant + j * stride + burst_ns) for j in range(count)]
    return out


def mem_lane(idx: int, nbytes: int, burst_bytes: int = 64, burst_ns: int = 160) -> Lane:
    bursts = -(-nbytes // burst_bytes)
    last = nbytes - (bursts - 1) * burst_bytes
    return Lane(idx, bursts, burst_bytes, burst_ns, last, burst_ns * last // burst_bytes)


def test_memory_to_memory_lanes_take_turns_after_the_last_grant_in_channel_order() -> None:
    lanes = [mem_lane(0, 256), mem_lane(2, 256), mem_lane(5, 256)]
    # Channel 5 holds the bus from 1000 (kernel seq 7); 0 and 2 wait: after 5 comes 0, then 2, then 5 again.
    sched = BusSchedule(lanes, 1000, NEVER, 1160, 5, 1000, holder=2, holder_end_ns=1160, holder_seq=7,
                        holder_grant_ns=1000, holder_request_ns=990, waiting=((0, 1000), (1, 1000)))
    assert grants(sched, 2) == [(1000, 1160), (1480, 1640), (1960, 2120), (2440, 2600)]
    assert grants(sched, 0) == [(1160, 1320), (1640, 1800), (2120, 2280)]
    assert grants(sched, 1) == [(1320, 1480), (1800, 1960), (2280, 2440)]
    # The stretch in the middle is taken in one step; the schedule stops at the first landing that ends an item
    # (channel 5's fourth burst): the controller runs that one itself.
    assert sched.jumps == 1
    assert sched.stop_ns == sched.computed_ns == 2600
    assert [(t, kind, pos) for t, _, kind, pos in sched.pending()] == [(2600, 0, 2)]
    assert sched.waiting == 0b011 and sched.last_grant == 5 and sched.busy_until_ns == 2600


def test_a_request_at_the_instant_the_bus_frees_goes_by_the_kernel_order() -> None:
    """Two FIFOs on one frame clock ask at the same instants: the request scheduled first (lower seq) is granted
    at once, the other when that burst ends; the first one's next request is scheduled first again."""
    clock = TickClock(0, 1000, 1)  # a tick every 1000 ns

    def lane(idx: int) -> Lane:
        flow = Flow(clock, 0, 0, 4, None)  # 4 bytes a tick
        return Lane(idx, 3, 8, 50, 8, 50, flow, request_bytes=8, limit_bytes=1 << 30)

    sched = BusSchedule([lane(0), lane(1)], 500, NEVER, 500, -1, 0, pending=((0, 1000, 5), (1, 1000, 4)))
    assert grants(sched, 1) == [(1000, 1050), (3000, 3050), (5000, 5050)]
    assert grants(sched, 0) == [(1050, 1100), (3050, 3100)]
    # Channel 1's third burst ends its item (and program): the controller runs that landing itself.
    assert sched.stop_ns == 5050 and sched.waiting == 0b01
    assert [(t, kind, pos) for t, _, kind, pos in sched.pending()] == [(5050, 0, 1)]


def test_a_landing_that_would_find_the_fifo_dry_stops_the_schedule_before_it() -> None:
    clock = TickClock(0, 100, 1)
    tx = Flow(clock, 0, 0, 1, None)  # drains a byte every 100 ns
    # Room for a burst when 8 bytes have drained (at 700 ns); the FIFO held 9 bytes: the tick at 900 ns finds
    # it dry unless a burst landed before.
    fifo = Lane(0, 4, 8, 150, 8, 150, tx, request_bytes=8, limit_bytes=9)
    copy = mem_lane(1, 64 * 100, burst_ns=400)
    sched = BusSchedule([fifo, copy], 0, NEVER, 400, 1, 0, holder=1, holder_end_ns=400, holder_seq=1,
                        pending=((0, 700, 2),))
    # The copy takes the bus again at 400 until 800; the TX burst granted then lands at 950: not steady.
    assert grants(sched, 1) == [(0, 400), (400, 800)]
    assert grants(sched, 0) == [(800, 950)]
    assert sched.stop_ns == 950


def test_cyclic_periods_are_noted_and_the_schedule_goes_on() -> None:
    clock = TickClock(0, 1000, 1)
    lane = Lane(3, NEVER, 4, 10, 4, 10, Flow(clock, 0, 0, 4, None), request_bytes=4, limit_bytes=1 << 30,
                item_bursts=2, item_irq=True, next_items=((2, False), (2, True)))
    sched = BusSchedule([lane, mem_lane(4, 64)], 0, NEVER, 0, -1, 0, pending=((0, 0, 1),), max_events=16)
    # Bursts at ticks 0, 1, 2, ...; items of 2 bursts; the second item has no interrupt bit.
    assert sched.item_ends[:2] == [(1010, 0), (5010, 0)]
    before = sched.computed_ns
    sched.extend(16)
    assert sched.computed_ns > before and sched.item_ends[2] == (9010, 0)


def test_replay_gives_the_state_at_an_earlier_instant() -> None:
    lanes = [mem_lane(0, 64 * 40), mem_lane(1, 64 * 40)]
    start = {"holder": 0, "holder_end_ns": 160, "holder_seq": 1, "waiting": ((1, 0),)}
    full = BusSchedule(lanes, 0, NEVER, 160, 0, 0, **start)  # type: ignore[arg-type]
    for t in (1, 160, 161, 1600, 3000, 12_000):
        fresh = BusSchedule(lanes, 0, t, 160, 0, 0, **start)  # type: ignore[arg-type]
        again = full.replay(t)
        assert (again.granted, again.waiting, again.busy_until_ns, again.last_grant, again.pending()) == \
               (fresh.granted, fresh.waiting, fresh.busy_until_ns, fresh.last_grant, fresh.pending())


def test_take_moves_each_landed_burst_once() -> None:
    sched = BusSchedule([mem_lane(0, 64 * 10)], 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1)
    seen: list[tuple[int, int, int]] = []
    assert sched.take(0, 159, seen) == (0, 0, -1)
    assert sched.take(0, 480, seen) == (3, 192, 480)
    assert sched.take(0, 500, seen) == (0, 0, -1)
    assert sched.take(0, 1000, seen) == (3, 192, 960)
    assert seen[:4] == [(0, 0, 160), (160, 160, 320), (320, 320, 480), (480, 480, 640)]
