"""A schedule's lanes moved in one compiled pass (``BusCore.take_moves`` / ``take_move`` in src/native/sim.c, used
by ``Dmac._sched_take`` / ``_sched_take_lane``) against their pure-Python specification (``Dmac._sched_move`` and
``Dmac._take_items`` after ``BusSchedule.take_all`` / ``take``): the same random schedules and channels, both ways,
must give the same port calls (instants and bytes), the same memory, the same item index, offset and done, the same
bursts counted and the same exceptions; hostile input to the compiled methods raises naming it (issue 14).

Without the compiled core these tests are skipped; the rest of the suite runs every schedule both ways
(``make test``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sim_bus_native import _both, _outcome, _seen, schedules  # (tests/sim is on the path, as pytest runs it)

from dmaengine import TransferDirection, _native
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._dmac import Dmac, Item, Program, _HwChannel
from dmaengine.sim._periph import RxPort, TxPort

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")
M2D, D2M, M2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM, TransferDirection.MEM_TO_MEM
EXAMPLES = int(os.environ.get("BUS_NATIVE_EXAMPLES", "300"))
STOP_NS = 20_000  # the schedules here are computed up to it when built


class _Tx(TxPort):
    """A TX port that records what it is given."""

    def __init__(self, log: list[Any]) -> None:  # (no peripheral behind it)
        self.log = log

    def steady_write(self, t: int, data: bytes) -> None:
        self.log.append(("write", t, type(data).__name__, bytes(data)))


class _Rx(RxPort):
    """An RX port that records what it is asked and gives bytes of (t, n): as bytes, or (``mode``) as a bytearray,
    too short, too long, or a value that is no buffer."""

    def __init__(self, log: list[Any], mode: str = "bytes") -> None:
        self.log = log
        self.mode = mode

    def steady_read(self, t: int, n: int) -> Any:
        self.log.append(("read", t, n))
        data = bytes((t * 7 + i * 13) & 255 for i in range(n))
        if self.mode == "bytearray":
            return bytearray(data)
        if self.mode == "short":
            return data[:-1]
        if self.mode == "long":
            return data + b"!"
        if self.mode == "none":
            return None
        return data


class _World:
    """Channels, their programs, memory and ports, built the same way twice."""

    def __init__(self, specs: list[tuple[bool, list[int], int, int, str, int]]) -> None:
        self.log: list[Any] = []
        self.chans: list[_HwChannel] = []
        self.mems: list[list[bytearray]] = []
        for i, (tx, lengths, idx, off, mode, done) in enumerate(specs):
            ch = _HwChannel(i)
            port: TxPort | RxPort = _Tx(self.log) if tx else _Rx(self.log, mode)
            items = [Item(0x1000 * k, 0x1000 * k + 1, n) for k, n in enumerate(lengths)]
            ch.prog = Program(items, M2D if tx else D2M, port=port, cyclic=True)
            mem = [bytearray((j * 31 + k * 5 + i) & 255 for j in range(n)) for k, n in enumerate(lengths)]
            self.mems.append(mem)
            ch.checked = ch.prog
            ch.mvs = [memoryview(b) for b in mem]
            ch.item_idx, ch.item_off, ch.done = idx, off, done
            self.chans.append(ch)

    def state(self) -> tuple[Any, ...]:
        return (list(self.log), [[bytes(b) for b in m] for m in self.mems],
                [(ch.item_idx, ch.item_off, ch.done) for ch in self.chans])


def _dmac() -> Any:
    """A controller with nothing but its methods (``_sched_move`` needs no more while every item's memory is
    resolved)."""
    return object.__new__(Dmac)


def _schedules(lanes: list[Lane]) -> tuple[BusSchedule, BusSchedule]:
    saved = _native.core
    try:
        _native.core = None
        pure = BusSchedule(lanes, 0, STOP_NS, 0, -1, -1, pending=tuple((p, 1 + p, p + 1) for p in range(len(lanes))))
    finally:
        _native.core = saved
    native = BusSchedule(lanes, 0, STOP_NS, 0, -1, -1,
                         pending=tuple((p, 1 + p, p + 1) for p in range(len(lanes))))
    assert pure.core is None and native.core is not None
    return pure, native


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Lane], list[Any], list[Any], list[tuple[int, int]]]:
    """Up to 4 memory-to-memory lanes (any burst sizes: only their landings matter here), a peripheral channel per
    lane (TX or RX, 1-5 items, a random item state), movers (valid, stale, None or for another lane's channel) and
    a rising sequence of takes (all lanes, or one)."""
    n = draw(st.integers(1, 4))
    lanes = []
    specs = []
    for p in range(n):
        bb = draw(st.sampled_from([1, 4, 8, 16, 32, 64]))
        lanes.append(Lane(p, NEVER, bb, draw(st.integers(1, 90)), bb, 1))
        lengths = draw(st.lists(st.integers(1, 70), min_size=1, max_size=5))
        idx = draw(st.integers(0, len(lengths) - 1))
        off = draw(st.integers(0, lengths[idx] - 1))
        mode = draw(st.sampled_from(["bytes"] * 8 + ["bytearray", "short", "long", "none"]))
        specs.append((draw(st.booleans()), lengths, idx, off, mode, draw(st.integers(0, 1000))))
    movers = [draw(st.sampled_from(["valid"] * 6 + ["none", "stale_mvs", "stale_prog", "unchecked"]))
              for _ in range(n)]
    t = 0
    takes = []
    for _ in range(draw(st.integers(1, 12))):
        t += draw(st.integers(0, 400))
        takes.append((t, draw(st.integers(-1, n - 1))))
    return lanes, specs, movers, takes


def _movers(w: _World, kinds: list[str]) -> list[Any]:
    out: list[Any] = []
    for ch, kind in zip(w.chans, kinds, strict=True):
        m = Dmac._sched_mover(ch)
        assert m is not None
        if kind == "none":
            m = None
        elif kind == "stale_mvs":
            m = (m[0], m[1], list(m[2]), *m[3:])
        elif kind == "stale_prog":
            assert ch.prog is not None
            m = (m[0], Program(ch.prog.items, ch.prog.direction, port=ch.prog.port), *m[2:])
        elif kind == "unchecked":
            ch.checked = None
            ch.mvs = None
            m = None
        out.append(m)
    return out


@needs_core
@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_the_compiled_moves_are_the_python_moves(case: tuple[list[Lane], list[Any], list[Any], list[Any]]) -> None:
    lanes, specs, kinds, takes = case
    # "unchecked" lanes would need the address space: they are the Python path's, so both sides take it alike.
    kinds = [("none" if k == "unchecked" else k) for k in kinds]
    pure, native = _schedules(lanes)
    wp, wc = _World(specs), _World(specs)
    movers = _movers(wc, kinds)
    dm = _dmac()
    fallbacks: list[int] = []

    def move(pos: int, n: int, last: int) -> None:
        fallbacks.append(pos)
        Dmac._sched_move(dm, wc.chans[pos], n, last)

    moved: set[int] = set()

    def py_all(t: int) -> int:
        total = 0
        for pos, count, n, last, _ in pure.take_all(t):
            moved.add(pos)
            Dmac._sched_move(dm, wp.chans[pos], n, last)
            total += count
        return total

    def py_one(pos: int, t: int) -> int:
        count, n, last = pure.take(pos, t)
        if count:
            moved.add(pos)
            Dmac._sched_move(dm, wp.chans[pos], n, last)
        return count

    for t, which in takes:
        if which < 0:
            a = _outcome(py_all, t)
            b = _outcome(native.core.take_moves, t, movers, move, Dmac._sched_store)
        else:
            a = _outcome(py_one, which, t)
            b = _outcome(native.core.take_move, which, t, movers, move, Dmac._sched_store)
        assert a == b
        assert wp.state() == wc.state()
        if a[0] == "raised":
            break
    # a lane whose mover is not valid is the Python path's (a valid one too, past 64 pieces of items in one move)
    assert {p for p in moved if kinds[p] != "valid"} <= set(fallbacks)


def _one_lane(tx: bool = False, mode: str = "bytes") -> tuple[BusSchedule, _World, list[Any]]:
    _, native = _schedules([Lane(0, NEVER, 8, 10, 8, 1)])
    w = _World([(tx, [16, 16], 0, 0, mode, 0)])
    return native, w, _movers(w, ["valid"])


def _never(*_: Any) -> None:
    raise AssertionError("not the fallback")


@needs_core
def test_the_compiled_moves_refuse_hostile_input() -> None:
    native, w, movers = _one_lane()
    c = native.core
    with pytest.raises(TypeError, match=r"^take_moves: movers must be a list of 1 movers, not \(\)"):
        c.take_moves(100, (), _never, Dmac._sched_store)
    with pytest.raises(TypeError, match=r"^take_move: movers must be a list of 1 movers, not \[None, None\]"):
        c.take_move(0, 100, [None, None], _never, Dmac._sched_store)
    with pytest.raises(TypeError, match=r"^take_moves: move and store must be callable, not 3 and"):
        c.take_moves(100, movers, 3, Dmac._sched_store)
    with pytest.raises(IndexError, match=r"^BusCore: no lane 1"):
        c.take_move(1, 100, movers, _never, Dmac._sched_store)
    with pytest.raises(IndexError, match=r"^BusCore: no lane -1"):
        c.take_move(-1, 100, movers, _never, Dmac._sched_store)
    m = movers[0]
    for bad in [(1, 2), ("x",) * 6, (*m[:2], tuple(m[2]), *m[3:]), (*m[:3], [16, 16], *m[4:]), (*m[:5], 1),
                (*m[:3], (16,), *m[4:]), [*m]]:
        with pytest.raises(TypeError, match=r"^take_moves: a mover must be None or \(ch, prog, mvs list"):
            c.take_moves(100, [bad], _never, Dmac._sched_store)
        with pytest.raises(TypeError, match=r"^take_moves: a mover must be None or \(ch, prog, mvs list"):
            c.take_move(0, 100, [bad], _never, Dmac._sched_store)
    with pytest.raises(TypeError, match=r"^take_moves: a mover's item lengths must be ints, not \(16, '16'\)"):
        c.take_moves(100, [(*m[:3], (16, "16"), *m[4:])], _never, Dmac._sched_store)
    with pytest.raises(OverflowError):
        c.take_moves(1 << 70, movers, _never, Dmac._sched_store)
    assert w.log == []  # nothing moved by what was refused
    assert c.take_moves(100, movers, _never, Dmac._sched_store) == 9  # and it still works (landings 11 .. 91)
    assert [e[:3] for e in w.log] == [("read", 91, 72)]


@needs_core
@pytest.mark.parametrize("attr,value", [("item_idx", 2), ("item_idx", -1), ("item_idx", "0"), ("item_off", -1),
                                        ("done", None), ("item_idx", 1 << 70)])
def test_a_channel_state_the_compiled_move_does_not_take_is_the_python_paths(attr: str, value: Any) -> None:
    native, w, movers = _one_lane(tx=True)
    setattr(w.chans[0], attr, value)
    calls: list[tuple[int, int, int]] = []
    dm = _dmac()

    def move(pos: int, n: int, last: int) -> None:
        calls.append((pos, n, last))
        Dmac._sched_move(dm, w.chans[pos], n, last)

    expect = _World([(True, [16, 16], 0, 0, "bytes", 0)])
    setattr(expect.chans[0], attr, value)
    a = _outcome(Dmac._sched_move, dm, expect.chans[0], 24, 31)
    b = _outcome(native.core.take_move, 0, 31, movers, move, Dmac._sched_store)
    assert calls == [(0, 24, 31)]
    assert (a[0], a[1:] if a[0] == "raised" else None) == (b[0], b[1:] if b[0] == "raised" else None)
    assert w.state() == expect.state()


@needs_core
def test_a_port_that_takes_the_memory_away_mid_move_raises() -> None:
    native, w, movers = _one_lane()
    mvs = w.chans[0].mvs
    assert mvs is not None
    port = w.chans[0].prog.port  # type: ignore[union-attr]

    def steal(t: int, n: int) -> bytes:
        mvs.clear()
        return bytes(n)

    movers[0] = (*movers[0][:4], steal, False)
    with pytest.raises(RuntimeError, match=r"^take_moves: item 0's memory is gone from mvs"):
        native.core.take_moves(100, movers, _never, Dmac._sched_store)
    assert port is not None


@needs_core
def test_a_buffer_shorter_than_its_item_is_the_python_paths() -> None:
    native, w, movers = _one_lane(tx=True)
    ch = w.chans[0]
    ch.mvs = [memoryview(bytearray(4)), memoryview(bytearray(16))]
    movers = _movers(w, ["valid"])
    calls: list[int] = []
    dm = _dmac()

    def move(pos: int, n: int, last: int) -> None:
        calls.append(n)
        Dmac._sched_move(dm, ch, n, last)

    assert native.core.take_moves(100, movers, move, Dmac._sched_store) == 9
    assert calls == [72]
    assert w.log[0][:3] == ("write", 91, "bytes") and len(w.log[0][3]) == 4 + 16 + 4 + 16 + 4  # as Python slices


def _py_due(s: BusSchedule, now: int, irqs: int, dones: int) -> int:
    """What ``BusCore.due`` computes, as ``Dmac._sched_wake``'s Python path reads it."""
    ends, pends = s.item_ends, s.program_ends
    k = 0
    while irqs + k < len(ends) and ends[irqs + k][0] == now:
        k += 1
    return k * 2 + (dones < len(pends) and pends[dones][0] == now)


def _py_arm(s: BusSchedule, now: int, irqs: int, dones: int, ahead: int, chunk: int) -> int | None:
    """What ``BusCore.arm`` computes, as ``Dmac._sched_wake``'s tail (``now`` >= 0) and ``Dmac._sched_arm`` do it
    in Python (None: settle; NEVER: no event)."""
    if now >= 0 and now + 1 >= s.computed_ns:
        if s.computed_ns >= s.stop_ns:
            return None
        s.extend(chunk)
    ends, pends = s.item_ends, s.program_ends
    for _ in range(ahead):
        if irqs < len(ends) or dones < len(pends) or s.computed_ns >= s.stop_ns:
            break
        s.extend(chunk)
    t = s.computed_ns - 1 if s.computed_ns < NEVER else NEVER
    if irqs < len(ends) and ends[irqs][0] < t:
        t = ends[irqs][0]
    if dones < len(pends) and pends[dones][0] < t:
        t = pends[dones][0]
    return t


@needs_core
@settings(max_examples=EXAMPLES, deadline=None)
@given(schedules(), st.lists(st.tuples(st.integers(-1, 3000), st.integers(0, 6), st.integers(0, 3),
                                       st.integers(0, 5), st.integers(1, 200)), min_size=1, max_size=8))
def test_the_compiled_wake_arithmetic_is_the_python_one(case: tuple[Callable[[], BusSchedule], list[Any]],
                                                        wakes: list[tuple[int, int, int, int, int]]) -> None:
    make, _ = case
    saved = _native.core
    try:
        _native.core = None
        built = _outcome(make)
    finally:
        _native.core = saved
    if built[0] == "raised":
        return
    pure, native = _both(make)
    for now, irqs, dones, ahead, chunk in wakes:
        now = -1 if now < 0 else pure.start_ns + now
        for at in (now, *(e[0] for e in pure.item_ends[:3]), *(e[0] for e in pure.program_ends[:2])):
            assert native.core.due(at, irqs, dones) == _py_due(pure, at, irqs, dones)
        a = _outcome(_py_arm, pure, now, irqs, dones, ahead, chunk)
        b = _outcome(native.core.arm, native, now, irqs, dones, ahead, chunk)
        assert a == b
        if a[0] == "raised":  # a malformed lane (e.g. no items) raised mid-extend: the schedule is spent, and how
            break             # much of it each way changed before the raise is not part of the contract
        assert _seen(native) == _seen(pure)


@needs_core
def test_the_compiled_wake_arithmetic_refuses_hostile_input() -> None:
    native, _, _ = _one_lane()
    c = native.core
    with pytest.raises(ValueError, match=r"^due: interrupts and program ends raised must be >= 0, not -1 and 0"):
        c.due(0, -1, 0)
    with pytest.raises(ValueError, match=r"^arm: interrupts and program ends raised must be >= 0, not 0 and -2"):
        c.arm(native, 0, 0, -2, 1, 1)
    with pytest.raises(OverflowError):
        c.due(1 << 70, 0, 0)
    with pytest.raises(TypeError):
        c.arm(native, 0, 0, 0, 1)
    native.item_ends.append("nonsense")
    with pytest.raises(TypeError, match=r"^BusCore: an item or program end must be a \(time_ns, pos, \.\.\.\) tuple, "
                                        r"not 'nonsense'"):
        c.due(0, len(native.item_ends) - 1, 0)
    native.item_ends[-1] = (1 << 70, 0)
    with pytest.raises(OverflowError):
        c.arm(native, -1, len(native.item_ends) - 1, 0, 1, 1)
    del native.item_ends[-1]
    assert c.due(0, 0, 0) == 0
    assert c.arm(native, -1, 0, 0, 4, 1) == STOP_NS - 1  # computed up to its stop: the last instant before it
    assert c.arm(native, STOP_NS, 0, 0, 4, 1) is None  # at its stop: settle
