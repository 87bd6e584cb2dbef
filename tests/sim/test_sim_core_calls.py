"""The compiled bus core's own shortcuts (src/native/sim.c, issue 14): its hot methods' METH_FASTCALL arguments
(checked as PyArg_ParseTuple checked them), ``arm``'s sync written into the schedule's slots (an int that did not
change kept), a grant's landing kept out of the heap, ``take``'s run of lone bursts counted in 64 bits and the pool
of segment buffers: each against the pure-Python specification or exact values worked out by hand.

Without the compiled core these tests are skipped; the rest of the suite runs every schedule both ways
(``make test``)."""

from __future__ import annotations

import types
from typing import Any

import pytest
from test_sim_bus_native import _both, _seen  # (tests/sim is on the path, as pytest runs it)
from test_sim_lane_moves import _never, _one_lane

from dmaengine import _native
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._dmac import Dmac
from dmaengine.sim._kernel import TickClock
from dmaengine.sim._periph import Flow

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")
STATE_NAMES = ("waiting", "busy_until_ns", "stop_ns", "computed_ns", "events", "jumps", "last_grant",
               "last_grant_ns", "last_event_ns", "granted", "landed", "since_ns", "_nheap")


class _Index:
    """An int by ``__index__`` only (what "L" and "n" took)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v


class _Falsy:
    """An object whose truth raises."""

    def __bool__(self) -> bool:
        raise ZeroDivisionError("no truth")


@needs_core
def test_the_fastcall_methods_check_their_arguments_as_before() -> None:
    native, _, movers = _one_lane()
    c = native.core
    for call, n in ((lambda *a: c.loop(*a), 2), (lambda *a: c.due(*a), 3), (lambda *a: c.arm(*a), 6),
                    (lambda *a: c.take_move(*a), 5), (lambda *a: c.take_moves(*a), 4)):
        with pytest.raises(TypeError, match=rf"takes exactly {n} arguments \({n + 1} given\)$"):
            call(*([0] * (n + 1)))
        with pytest.raises(TypeError, match=rf"takes exactly {n} arguments \(0 given\)$"):
            call()
    with pytest.raises(TypeError, match=r"'float' object cannot be interpreted as an integer"):
        c.due(0.5, 0, 0)
    with pytest.raises(TypeError, match=r"'str' object cannot be interpreted as an integer"):
        c.due(0, "0", 0)
    with pytest.raises(TypeError, match=r"'float' object cannot be interpreted as an integer"):
        c.take_move(0.0, 100, movers, _never, Dmac._sched_store)
    with pytest.raises(TypeError):
        c.arm(native, 0, 0, 0, 1, None)
    with pytest.raises(OverflowError):
        c.arm(native, 0, 1 << 70, 0, 1, 1)
    with pytest.raises(OverflowError):
        c.loop(1 << 64, True)
    with pytest.raises(ZeroDivisionError):  # snapshots is "p": any object's truth, raising as bool() does
        c.loop(1, _Falsy())
    assert c.due(_Index(0), _Index(0), _Index(0)) == c.due(0, 0, 0) == 0
    # an __index__ object is an int, as before: nothing moved here (no burst has landed by 0)
    assert c.take_move(_Index(0), _Index(0), movers, _never, Dmac._sched_store) == 0
    assert c.take_moves(_Index(0), movers, _never, Dmac._sched_store) == 0
    c.loop(_Index(0), [])  # (nothing run: max_events 0, snapshots False)


def _lone_flow_lanes() -> list[Lane]:
    """A peripheral lane paced by its flow (a burst every 1000 ns) and a copy lane that starts later: the landing of
    nearly every grant comes before anything else ahead (kept out of the heap)."""
    flow = Flow(TickClock(0, 250, 1), 0, 0, 1, None)
    return [Lane(0, NEVER, 4, 30, 4, 30, flow, request_bytes=4, limit_bytes=1 << 20, item_bursts=5, item_irq=True,
                 next_items=((5, True),)),
            Lane(1, 40, 64, 160, 64, 160, ends_program=True)]


def _lone_flow_schedule(max_events: int) -> BusSchedule:
    return BusSchedule(_lone_flow_lanes(), 0, 30_000, 0, -1, -1, pending=((0, 1000, 1), (1, 10_000, 2)),
                       max_events=max_events)


@needs_core
@pytest.mark.parametrize("max_events", [1, 2, 3, 64, 1000])
def test_kept_landings_stop_snapshot_and_replay_as_python(max_events: int) -> None:
    """A chunk may end at a kept landing (max_events 1: every chunk does), a snapshot may be taken at one, and a
    jump may follow one (the copy lane): extended chunk by chunk, replayed at every instant, both ways agree."""
    pure, native = _both(lambda: _lone_flow_schedule(max_events))
    assert _seen(native) == _seen(pure)
    steps = 0
    while native.computed_ns < native.stop_ns and steps < 3000:
        native.extend(max_events)
        pure.extend(max_events)
        assert _seen(native) == _seen(pure)
        steps += 1
    assert native.computed_ns == pure.computed_ns == 30_000 and len(native.program_ends) == 1
    assert native.jumps == pure.jumps > 0 and native.events == pure.events > 100
    assert len(native.item_ends) == len(pure.item_ends) == 6
    for stop in range(0, 30_000, 555):
        assert _seen(native.replay(stop)) == _seen(pure.replay(stop))


@needs_core
def test_arm_writes_the_state_into_the_schedule_as_state_gives_it() -> None:
    native = _lone_flow_schedule(1)
    c = native.core
    old_jumps, old_stop = native.jumps, native.stop_ns

    def arm(sched: Any) -> Any:  # (past every end computed: a chunk more runs, and the state is written)
        return c.arm(sched, -1, len(native.item_ends), len(native.program_ends), 1, 5)

    events = native.events
    assert arm(native) is not None and native.events > events
    st = c.state()
    assert tuple(getattr(native, k) for k in STATE_NAMES) == st
    assert native.jumps is old_jumps and native.stop_ns is old_stop  # unchanged ints kept, not made again
    granted = native.granted  # a list of ints: updated in place (as the pure-Python loop updates it)
    assert arm(native) is not None and native.granted is granted and native.granted == c.state()[9]
    native.landed = [*native.landed[:-1], "x"]  # not a list of ints: a new one
    odd = native.landed
    assert arm(native) is not None and native.landed is not odd and native.landed == c.state()[10]
    assert odd[-1] == "x"
    # an object that is not a BusSchedule (no slots: setattr) gets the same values
    plain = types.SimpleNamespace()
    arm(plain)
    assert tuple(getattr(plain, k) for k in STATE_NAMES) == c.state()
    seen: list[str] = []

    class Watched(types.SimpleNamespace):
        def __setattr__(self, name: str, value: Any) -> None:
            seen.append(name)
            super().__setattr__(name, value)

    w = Watched()
    arm(w)
    assert seen == list(STATE_NAMES) and tuple(getattr(w, k) for k in STATE_NAMES) == c.state()

    class Refusing(types.SimpleNamespace):
        def __setattr__(self, name: str, value: Any) -> None:
            raise AttributeError(f"no {name}")

    with pytest.raises(AttributeError, match="^no waiting$"):
        arm(Refusing())


def _core_with_segments(segments: list[Any]) -> Any:
    core: Any = _native.core
    lane = (0, 100, 8, 10, 8, 10, False, None, None, ())
    state = [0, NEVER, [], -1, 0, 1, 0, -1, 0, 0, 0, 0, [0], [0], [0], [0], [0], [0], [False], [0]]
    return core.BusCore([lane], state, [segments], -1, [], [])


@needs_core
def test_take_counts_runs_of_lone_bursts_exactly() -> None:
    segs = [(0, 1, 0, 10, 8, 0), (10, 1, 0, 10, 8, 5), (20, 3, 10, 10, 8, 15), (50, 1, 0, 10, 8, 40),
            (60, 1, 0, 10, 6, 55)]
    c = _core_with_segments(segs)
    assert c.take(0, 9) == (0, 0, -1)
    assert c.take(0, 45) == (4, 32, 40)  # two lone bursts, then two of the strided three
    assert c.take(0, 65) == (2, 16, 60)  # the strided one's last, then a lone one
    assert c.take(0, 1000) == (1, 6, 70)
    assert c.take(0, 1000) == (0, 0, -1)
    probed = _core_with_segments(segs)
    bursts: list[tuple[int, int, int]] = []
    assert probed.take(0, 45, bursts) == (4, 32, 40)
    assert bursts == [(0, 0, 10), (5, 10, 20), (15, 20, 30), (30, 30, 40)]
    # bytes past 64 bits: the 64-bit run stops before it overflows, and the sum raises as it did
    big = 1 << 62
    c = _core_with_segments([(0, 1, 0, 10, big, 0), (10, 1, 0, 10, big, 0)])
    assert c.take(0, 10) == (1, big, 10)
    c = _core_with_segments([(0, 1, 0, 10, big, 0), (10, 1, 0, 10, big, 0)])
    with pytest.raises(OverflowError, match="does not fit in 64 bits"):
        c.take(0, 20)


@needs_core
def test_a_new_core_takes_a_dead_ones_segment_buffer_empty() -> None:
    """Cores dropped give their segment buffers to new ones (a pool): a new schedule's segments are its own."""
    for _ in range(40):  # more than the pool holds, each with segments
        _, native = _both(lambda: _lone_flow_schedule(1000))
        assert native.lane_segments(0)
        del native
    pure, native = _both(lambda: _lone_flow_schedule(1000))
    assert _seen(native) == _seen(pure)
    assert _core_with_segments([]).segments(0) == []


@needs_core
def test_a_checked_mover_is_checked_again_where_it_can_change() -> None:
    """A mover tuple passed once is not checked again in full, but its mvs list (which can change length) is."""
    native, w, movers = _one_lane()
    c = native.core
    assert c.take_moves(50, movers, _never, Dmac._sched_store) == 4  # (landings 11 .. 41: checked, remembered)
    mvs = movers[0][2]
    mvs.append(memoryview(bytearray(16)))
    with pytest.raises(TypeError, match=r"^take_moves: a mover must be None or \(ch, prog, mvs list"):
        c.take_moves(100, movers, _never, Dmac._sched_store)
    with pytest.raises(TypeError, match=r"^take_moves: a mover must be None or \(ch, prog, mvs list"):
        c.take_move(0, 100, movers, _never, Dmac._sched_store)
    mvs.pop()
    assert c.take_moves(100, movers, _never, Dmac._sched_store) == 5
    assert [e[:3] for e in w.log] == [("read", 41, 32), ("read", 91, 40)]
