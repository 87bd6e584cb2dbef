"""The shared-bus schedule's compiled loop (``BusCore`` in src/native/sim.c) against its pure-Python specification
(sim/_bus.py): the same random schedules, built and driven the same way, both ways, must give identical segments,
landings, item ends, program ends, stop instants, pending instants, state, takes and replays (issue 14).

Without the compiled core these tests are skipped; the rest of the suite runs every schedule both ways
(``make test``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, SlaveConfig, TransferDirection, _native
from dmaengine.sim import Soc, _bus
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._kernel import TickClock
from dmaengine.sim._periph import Flow

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")


class _OddFlow(Flow):
    """A flow whose ``time_of`` is not the plain form: the compiled loop calls it back."""

    __slots__ = ()

    def time_of(self, m: int) -> int | None:
        r = super().time_of(m)
        return None if r is None else r + m % 3


class _OddClock(TickClock):
    """A TickClock subclass: not inlined either."""

    __slots__ = ()


def _both(make: Callable[[], BusSchedule]) -> tuple[BusSchedule, BusSchedule]:
    """The schedule built in pure Python and with the compiled core."""
    saved = _native.core
    try:
        _native.core = None
        pure = make()
    finally:
        _native.core = saved
    native = make()
    assert pure.core is None and native.core is not None
    return pure, native


def _seen(s: BusSchedule) -> tuple[Any, ...]:
    n = len(s.lanes)
    return (s.waiting, s.busy_until_ns, s.stop_ns, s.computed_ns, s.events, s.jumps, s.last_grant, s.last_grant_ns,
            s.last_event_ns, list(s.granted), list(s.landed), list(s.since_ns), s.finished, s.pending(),
            list(s.item_ends), list(s.program_ends), [s.lane_segments(p) for p in range(n)])


def _outcome(f: Callable[..., Any], *args: Any) -> Any:
    try:
        return ("ok", f(*args))
    except Exception as exc:  # both ways must raise the same
        return ("raised", type(exc).__name__, str(exc))


class _Make:
    """Builds the schedule (its repr says how, for Hypothesis's report)."""

    def __init__(self, lanes: list[Lane], args: tuple[int, ...], kw: dict[str, Any]) -> None:
        self.lanes, self.args, self.kw = lanes, args, kw

    def __call__(self) -> BusSchedule:
        return BusSchedule(self.lanes, *self.args, **self.kw)

    def __repr__(self) -> str:
        def lane(ln: Lane) -> str:
            f = ln.flow
            flow = "None" if f is None else (f"{type(f).__name__}({type(f.clock).__name__}({f.clock.epoch_ns}, "
                                             f"{f.clock.num}, {f.clock.den}, {f.clock.offset}), {f.ref_tick}, "
                                             f"{f.ref_count}, {f.unit}, {f.limit})")
            return (f"Lane({ln.idx}, {ln.bursts}, {ln.burst_bytes}, {ln.burst_ns}, {ln.last_bytes}, "
                    f"{ln.last_burst_ns}, {flow}, {ln.request_bytes}, {ln.limit_bytes}, {ln.item_bursts}, "
                    f"{ln.item_irq}, {ln.next_items}, ends_program={ln.ends_program})")
        return f"BusSchedule([{', '.join(lane(ln) for ln in self.lanes)}], *{self.args}, **{self.kw})"


def _draw_lane(draw: st.DrawFn, idx: int, shared_ns: int) -> Lane:
    """A random lane of channel ``idx``: memory to memory, or a peripheral's (plain and odd flows)."""
    if draw(st.booleans()):  # memory to memory
        bb = draw(st.sampled_from([16, 32, 64]))
        bns = shared_ns if draw(st.integers(0, 3)) else draw(st.integers(1, 200))
        bursts = draw(st.integers(1, 300))
        last = draw(st.integers(1, bb))
        return Lane(idx, bursts, bb, bns, last, max(1, bns * last // bb), ends_program=draw(st.booleans()))
    clock_type = _OddClock if draw(st.integers(0, 5)) == 0 else TickClock
    clock = clock_type(draw(st.integers(-500, 2000)), draw(st.integers(20, 3000)), draw(st.integers(1, 3)),
                       draw(st.integers(0, 5)))
    flow_type = _OddFlow if draw(st.integers(0, 5)) == 0 else Flow
    ref_count = draw(st.integers(0, 100))
    flow = flow_type(clock, draw(st.integers(0, 10)), ref_count, draw(st.integers(1, 4)),
                     draw(st.one_of(st.none(), st.integers(ref_count, ref_count + 20_000))))
    bb = draw(st.sampled_from([1, 4, 8, 16, 32]))
    bns = draw(st.integers(1, 120))
    limit_bytes = ref_count + draw(st.integers(0, 256))
    request_bytes = limit_bytes - draw(st.integers(0, 128))
    item_bursts = draw(st.integers(1, 40))
    nxt = tuple(draw(st.lists(st.tuples(st.integers(1, 40), st.booleans()), max_size=4)))
    cyclic = bool(nxt) and draw(st.booleans())
    bursts = NEVER if cyclic else item_bursts + sum(b for b, _ in nxt)
    if not nxt and draw(st.booleans()):
        bursts = draw(st.integers(1, 60))  # an item end that cannot come, or one past the program
    return Lane(idx, bursts, bb, bns, bb, bns, flow, request_bytes, limit_bytes, item_bursts, draw(st.booleans()),
                nxt)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[_Make, list[tuple[Any, ...]]]:
    """A random schedule (up to 8 lanes, memory to memory and peripheral, plain and odd flows, a start state) and
    a random sequence of operations on it."""
    n = draw(st.integers(1, 8))
    idxs = sorted(draw(st.lists(st.integers(0, 31), min_size=n, max_size=n, unique=True)))
    shared_ns = draw(st.sampled_from([40, 80, 160]))
    lanes = [_draw_lane(draw, idx, shared_ns) for idx in idxs]
    start = draw(st.integers(0, 1000))
    stop = draw(st.one_of(st.just(NEVER), st.integers(start + 1, start + 200_000)))
    roles = [draw(st.sampled_from(["idle", "wait", "pend"])) for _ in lanes]
    holder = draw(st.integers(-1, n - 1))
    seqs = iter(draw(st.permutations(range(1, 2 * n + 2))))
    waiting = tuple((p, start - draw(st.integers(0, 50))) for p in range(n) if roles[p] == "wait" and p != holder)
    pending = tuple((p, start + draw(st.integers(0, 400)), next(seqs)) for p in range(n)
                    if roles[p] == "pend" and p != holder)
    kw: dict[str, Any] = dict(waiting=waiting, pending=pending, max_events=draw(st.integers(1, 300)))
    busy = start
    if holder >= 0:
        ln = lanes[holder]
        dur = ln.burst_ns if ln.bursts > 1 else ln.last_burst_ns
        grant = start - draw(st.integers(0, dur - 1)) if dur > 1 else start
        busy = grant + dur
        kw.update(holder=holder, holder_end_ns=busy, holder_seq=next(seqs), holder_grant_ns=grant,
                  holder_request_ns=grant - draw(st.integers(0, 30)))
    last_grant = draw(st.sampled_from([-1, *idxs]))

    make = _Make(lanes, (start, stop, busy, last_grant, start - 1), kw)

    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["extend", "take", "take_all", "replay"]))
        if kind == "extend":
            ops.append(("extend", draw(st.integers(1, 400))))
        elif kind == "take":
            ops.append(("take", draw(st.integers(0, n - 1)), draw(st.integers(start, start + 100_000)),
                        draw(st.booleans())))
        elif kind == "take_all":
            ops.append(("take_all", draw(st.integers(start, start + 100_000)), draw(st.booleans())))
        else:
            ops.append(("replay", draw(st.integers(0, 1 << 16))))
    return make, ops


def _apply(s: BusSchedule, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "extend":
        s.extend(op[1])
        return _seen(s)
    if kind == "take":
        bursts: list[tuple[int, int, int]] = []
        got = s.take(op[1], op[2], bursts if op[3] else None)
        return got, bursts
    if kind == "take_all":
        return s.take_all(op[1], op[2])
    # A replay up to an instant no later than what is computed: its whole state, and its segments taken.
    stop = s.start_ns + op[1] % max(1, min(s.computed_ns, s.start_ns + (1 << 20)) - s.start_ns + 1)
    r = s.replay(stop)
    return _seen(r), r.take_all(NEVER, True)


@needs_core
@settings(max_examples=int(os.environ.get("BUS_NATIVE_EXAMPLES", "300")), deadline=None)
@given(schedules())
def test_the_compiled_loop_and_the_python_loop_agree(case: tuple[Callable[[], BusSchedule], list[Any]]) -> None:
    make, ops = case
    saved = _native.core
    try:
        _native.core = None
        built = _outcome(make)
    finally:
        _native.core = saved
    if built[0] == "raised":  # an inconsistent lane: both ways raise the same at the start
        assert _outcome(make) == built
        return
    pure, native = _both(make)
    assert _seen(native) == _seen(pure)
    for op in ops:
        got = _outcome(_apply, native, op)
        assert got == _outcome(_apply, pure, op), op
        if got[0] == "raised":
            break  # an inconsistent lane raised (both ways alike): what the schedule holds after it is unspecified


@st.composite
def relane_cases(draw: st.DrawFn) -> tuple[_Make, list[tuple[Any, ...]]]:
    """A random schedule and operations on it, among them lanes replaced in place (:meth:`BusSchedule.relane`:
    a new lane for one channel at a random instant, with or without a request ahead, up to a random stop)."""
    make, _ = draw(schedules())
    n = len(make.lanes)
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["relane", "relane", "extend", "take_all", "replay"]))
        if kind == "relane":
            pos = draw(st.integers(0, n - 1))
            lane = _draw_lane(draw, make.lanes[pos].idx, draw(st.sampled_from([40, 80, 160])))
            req = draw(st.one_of(st.none(), st.integers(0, 3000)))
            stop = draw(st.one_of(st.none(), st.integers(0, 100_000)))
            ops.append(("relane", draw(st.integers(0, 1 << 16)), pos, lane, req, stop))
        elif kind == "extend":
            ops.append(("extend", draw(st.integers(1, 400))))
        elif kind == "take_all":
            ops.append(("take_all", make.args[0] + draw(st.integers(0, 100_000)), draw(st.booleans())))
        else:
            ops.append(("replay", draw(st.integers(0, 1 << 16))))
    return make, ops


def _relane(s: BusSchedule, op: tuple[Any, ...]) -> BusSchedule | None:
    """Relane at an instant up to one past what is computed (that one: None), the request and stop after it."""
    _, at, pos, lane, req, stop = op
    now = s.start_ns - 1 + at % max(1, min(s.computed_ns, s.start_ns + (1 << 20)) - s.start_ns + 2)
    return s.relane(now, pos, lane, None if req is None else now + req, NEVER if stop is None else now + stop)


@needs_core
@settings(max_examples=int(os.environ.get("BUS_NATIVE_EXAMPLES", "300")), deadline=None)
@given(relane_cases())
def test_a_lane_replaced_in_place_is_the_same_compiled_and_in_python(
        case: tuple[Callable[[], BusSchedule], list[Any]]) -> None:
    make, ops = case
    saved = _native.core
    try:
        _native.core = None
        built = _outcome(make)
    finally:
        _native.core = saved
    if built[0] == "raised":
        return
    pure, native = _both(make)
    for op in ops:
        if op[0] == "relane":
            got = _outcome(_relane, native, op)
            want = _outcome(_relane, pure, op)
            if got[0] == "ok" and want[0] == "ok":
                assert (got[1] is None) == (want[1] is None), op
                if got[1] is None:
                    continue
                native, pure = got[1], want[1]
                assert native.core is not None and pure.core is None
                assert _seen(native) == _seen(pure), op
                continue
            assert got == want, op
            break
        got = _outcome(_apply, native, op)
        assert got == _outcome(_apply, pure, op), op
        if got[0] == "raised":
            break


@needs_core
def test_the_compiled_relane_refuses_hostile_input() -> None:
    """Malformed arguments raise (naming the bad value) and leave the schedule as it was; nothing crashes."""
    lanes = [Lane(0, 40, 64, 160, 64, 160), Lane(3, 1, 64, 160, 64, 160, ends_program=True)]
    sched = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1,
                        pending=((1, 50, 2),), max_events=30)
    c = sched.core
    assert c is not None and sched.computed_ns > 1000 and sched.program_ends == [(320, 1, NEVER + 1)]
    before = _seen(sched)
    spec = (3, 10, 64, 160, 64, 160, True, None, None, ())
    state = (0, 0, 10, False)
    with pytest.raises(IndexError, match=r"^BusCore: no lane 2"):
        c.relane(100, 2, spec, state, 200, NEVER, [], [])
    with pytest.raises(IndexError, match=r"^BusCore: no lane -1"):
        c.relane(100, -1, spec, state, 200, NEVER, [], [])
    with pytest.raises(TypeError, match=r"^BusCore: idx must be an int, not 'x'"):
        c.relane(100, 1, ("x", *spec[1:]), state, 200, NEVER, [], [])
    with pytest.raises(ValueError, match=r"^BusCore: a lane must have 10 items, not 3"):
        c.relane(100, 1, spec[:3], state, 200, NEVER, [], [])
    with pytest.raises(ValueError, match=r"^BusCore: a lane's state must have 4 items, not 1"):
        c.relane(100, 1, spec, (0,), 200, NEVER, [], [])
    with pytest.raises(TypeError, match=r"^BusCore: request_ns must be an int, not 2.5"):
        c.relane(100, 1, spec, state, 2.5, NEVER, [], [])
    with pytest.raises(TypeError, match=r"^BusCore: time_of must be callable or None, not 3"):
        c.relane(100, 1, (*spec[:8], 3, ()), state, 200, NEVER, [], [])
    with pytest.raises(OverflowError, match=r"^BusCore: relane at"):
        c.relane(NEVER, 1, spec, state, None, NEVER, [], [])
    with pytest.raises(OverflowError, match=r"^BusCore: request_ns \d+ is out of range"):
        c.relane(100, 1, spec, state, NEVER + 1, NEVER, [], [])
    with pytest.raises(TypeError):
        c.relane(100, 1, spec, state, 200, NEVER, (), [])
    assert c.relane(100, 1, spec, state, 100, NEVER, [], []) is None  # a request not after now
    assert c.relane(sched.computed_ns, 1, spec, state, None, NEVER, [], []) is None  # not computed past now
    assert c.relane(100, 0, spec, state, None, NEVER, [], []) is None  # lane 0 is on the bus then
    assert _seen(sched) == before
    assert sched.relane(400, 1, Lane(3, 10, 64, 160, 64, 160, ends_program=True), 500, NEVER) is not None
    assert sched.relane(400, 1, Lane(3, 10, (1 << 62) + 1, 160, 64, 160), 500, NEVER) is None  # past 64 bits
    assert _seen(sched) == before


@needs_core
def test_a_value_past_64_bits_runs_the_schedule_in_python() -> None:
    lane = Lane(0, 4, 64, 160, 64, 160)
    pure, native = _both(lambda: BusSchedule([lane], 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160,
                                             holder_seq=1, waiting=()))
    assert _seen(native) == _seen(pure)
    huge = BusSchedule([lane], 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1 << 70)
    assert huge.core is None  # the sequence number does not fit: Python
    big = Lane(0, 4, 64, (1 << 62) + 1, 64, 160)
    assert BusSchedule([big], 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1).core is None
    assert (huge.events, huge.jumps, huge.stop_ns) == (pure.events, pure.jumps, pure.stop_ns) == (3, 1, 640)


@needs_core
def test_an_item_end_past_the_next_items_raises_as_python_does() -> None:
    """A peripheral lane whose current item ends before its program but with no next item (an inconsistent
    lane): both ways raise the same IndexError, nothing crashes."""
    flow = Flow(TickClock(0, 1000, 1), 0, 0, 4, None)
    lane = Lane(0, 10, 8, 50, 8, 50, flow, request_bytes=8, limit_bytes=1 << 30, item_bursts=2)
    outs = []
    for core in (None, _native.core):
        saved = _native.core
        _native.core = core
        try:
            outs.append(_outcome(lambda: _seen(BusSchedule([lane], 0, NEVER, 0, -1, 0, pending=((0, 1000, 5),)))))
        finally:
            _native.core = saved
    assert outs[0] == outs[1] == ("raised", "IndexError", "tuple index out of range")


@needs_core
def test_the_compiled_core_refuses_malformed_state() -> None:
    core = _native.core
    assert core is not None
    lane = (0, 4, 64, 160, 64, 160, False, None, None, ())
    state = [0, NEVER, [], -1, 0, 1, 0, -1, 0, 0, 0, 0, [0], [0], [0], [0], [0], [0], [False], [0]]
    core.BusCore([lane], state, [[]], -1, [], [])  # well formed
    with pytest.raises(ValueError, match=r"^BusCore: heap entry kind 0 / pos 3 out of range"):
        core.BusCore([lane], [*state[:2], [(5, 1, 0, 3)], *state[3:]], [[]], -1, [], [])
    with pytest.raises(ValueError, match=r"^BusCore: waiting 2 names a lane past 1"):
        core.BusCore([lane], [*state[:9], 2, *state[10:]], [[]], -1, [], [])
    with pytest.raises(ValueError, match=r"^BusCore: a per-lane state list must have 1 items, not 2"):
        core.BusCore([lane], [*state[:12], [0, 0], *state[13:]], [[]], -1, [], [])
    with pytest.raises(TypeError, match=r"^BusCore: idx must be an int, not 'x'"):
        core.BusCore([("x", *lane[1:])], state, [[]], -1, [], [])
    with pytest.raises(TypeError, match=r"^BusCore: time_of must be callable or None, not 3"):
        core.BusCore([(*lane[:8], 3, ())], state, [[]], -1, [], [])
    with pytest.raises(ValueError, match=r"^BusCore: at most 64 lanes, not 65"):
        core.BusCore([lane] * 65, state, [[]], -1, [], [])
    with pytest.raises(OverflowError):
        core.BusCore([(1 << 64, *lane[1:])], state, [[]], -1, [], [])
    with pytest.raises(OverflowError, match=r"^BusCore: burst_ns 4611686018427387905 is out of range"):
        core.BusCore([(*lane[:3], (1 << 62) + 1, *lane[4:])], state, [[]], -1, [], [])
    core.BusCore([lane], [*state[:5], (1 << 62) + (1 << 61), *state[6:]], [[]], -1, [], [])  # a seq may be above
    with pytest.raises(OverflowError, match=r"^BusCore: a state value \d+ is out of range"):
        core.BusCore([lane], [*state[:5], (1 << 62) + (1 << 61) + 1, *state[6:]], [[]], -1, [], [])
    c = core.BusCore([lane], state, [[]], -1, [], [])
    with pytest.raises(IndexError, match=r"^BusCore: no lane 1"):
        c.take(1, 0)
    with pytest.raises(IndexError, match=r"^BusCore: no lane -1"):
        c.segments(-1)
    with pytest.raises(TypeError, match=r"^BusCore: bursts must be a list or None"):
        c.take(0, 0, ())


def _busy_soc(fast: bool = True) -> tuple[Any, ...]:
    """A small busy SoC for 30 ms (full-duplex I2S, the ADC and UART RX in cyclic DMA, a UART TX stream, two
    copies of 64 KiB every 5 ms): every landing, callback instant, byte, residue, and the schedules that ran."""
    built: list[BusSchedule] = []
    real_init = _bus.BusSchedule.__init__

    def init(self: BusSchedule, *args: Any, **kw: Any) -> None:
        real_init(self, *args, **kw)
        built.append(self)

    m2d, d2m = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM
    soc = Soc(fast=fast)
    landings: list[tuple[int, int, int, int]] = []
    soc.dmac.hw.burst_probe = lambda *a: landings.append(a)
    calls: list[tuple[str, int]] = []
    codec, adc, uart = soc.peripheral("i2s0"), soc.peripheral("adc0"), soc.peripheral("uart0")
    rings = []
    for periph, kind, width, burst, frames in ((codec, "tx", 4, 8, 480), (codec, "rx", 4, 8, 480),
                                               (adc, "rx", 2, 4, 80)):
        chan = soc.request_chan(periph.name, kind)
        ring = (np.arange(frames * width * 4) % 251).astype(np.uint8)
        if kind == "tx":
            chan.slave_config(SlaveConfig(dst_addr=periph.tx_fifo_addr, dst_addr_width=BusWidth(width),
                                          dst_maxburst=burst))
        else:
            chan.slave_config(SlaveConfig(src_addr=periph.rx_fifo_addr, src_addr_width=BusWidth(width),
                                          src_maxburst=burst))
        d = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, ring.nbytes // 4, m2d if kind == "tx" else d2m)
        d.callback = lambda _, name=f"{periph.name}.{kind}": calls.append((name, soc.now_ns))
        d.submit()
        chan.issue_pending()
        rings.append(ring)
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ring_rx = np.zeros(256, dtype=np.uint8)
    d = rx.prep_dma_cyclic(soc.map(ring_rx).addr, ring_rx.nbytes, 64, d2m)
    d.callback = lambda _: calls.append(("uart0.rx", soc.now_ns))
    d.submit()
    rx.issue_pending()
    rings.append(ring_rx)
    tx = soc.request_chan("uart0", "tx")
    tx.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    log = np.frombuffer(bytes(range(32, 127)) * 20, dtype=np.uint8)[:1896].copy()  # whole bursts: planned
    tx.prep_slave_single(soc.map(log).addr, log.nbytes, m2d).submit()
    tx.issue_pending()
    copiers = [soc.request_channel(Cap.MEMCPY) for _ in range(2)]
    src = (np.arange(64 * 1024) % 253).astype(np.uint8)
    dsts = [np.zeros_like(src) for _ in copiers]
    ms = soc.map(src)
    mds = [soc.map(d) for d in dsts]
    status = []
    _bus.BusSchedule.__init__ = init  # type: ignore[method-assign]
    try:
        for k in range(6):
            soc.run(until=k * 0.005)
            uart.feed(b"hello, world\n")
            for c, md in zip(copiers, mds):
                ck = c.prep_dma_memcpy(md.addr, ms.addr, src.nbytes).submit()
                c.issue_pending()
            soc.run(until=k * 0.005 + 0.0013)
            status.append([tuple(c.tx_status(ck)) for c in copiers])
        soc.run(until=0.03)
    finally:
        _bus.BusSchedule.__init__ = real_init  # type: ignore[method-assign]
    seen = (landings, calls, [r.tobytes() for r in rings], [d.tobytes() for d in dsts], uart.output, status,
            soc.now_ns)
    return seen, built


@needs_core
def test_a_busy_soc_is_the_same_with_the_compiled_loop_and_without() -> None:
    saved = _native.core
    try:
        _native.core = None
        pure, pure_built = _busy_soc()
    finally:
        _native.core = saved
    native, native_built = _busy_soc()
    assert native == pure
    assert len(native_built) == len(pure_built) > 0
    assert all(s.core is not None for s in native_built) and all(s.core is None for s in pure_built)
    assert sum(s.jumps for s in native_built) > 0 and any(s.item_ends for s in native_built)
    reference, _ = _busy_soc(fast=False)
    assert reference[1:] == pure[1:]  # the burst-by-burst model: the same callbacks, bytes, residues


@needs_core
@settings(max_examples=int(os.environ.get("BUS_NATIVE_EXAMPLES", "300")), deadline=None)
@example(epoch=-5, num=1 << 42, den=(1 << 36) + 3, offset=1, ref_tick=1 << 24, ref_count=7, unit=4, burst_bytes=8,
         burst_ns=50)  # ticks * num past 2**63: 128 bits
@example(epoch=0, num=10_000_000_000, den=115_200, offset=1, ref_tick=0, ref_count=0, unit=1, burst_bytes=1,
         burst_ns=20)  # a UART's clock: 64 bits
@given(epoch=st.integers(-(1 << 40), 1 << 40), num=st.integers(1, 1 << 42), den=st.integers(1, 1 << 42),
       offset=st.integers(-3, 3), ref_tick=st.integers(0, 1 << 24), ref_count=st.integers(0, 1 << 30),
       unit=st.integers(1, 64), burst_bytes=st.integers(1, 64), burst_ns=st.integers(1, 2_000))
def test_flow_instants_in_64_bits_and_past_them_agree_with_python(epoch: int, num: int, den: int, offset: int,
                                                                   ref_tick: int, ref_count: int, unit: int,
                                                                   burst_bytes: int, burst_ns: int) -> None:
    """The compiled loop's request instants (``flow_time``: 64-bit arithmetic when nothing overflows, else 128-bit):
    a peripheral lane on flows whose products need 64 bits or more (a tick count times ``num`` past 2**63 falls back
    to 128 bits), against Python's integers."""
    flow = Flow(TickClock(epoch, num, den, offset), ref_tick, ref_count, unit, None)
    first = flow.time_of(ref_count + burst_bytes)
    assert first is not None
    limit = ref_count + 4096
    late = flow.time_of(limit + 41 * burst_bytes + 1)  # the furthest instant the loop computes (the steady bound)
    assume(late is not None and first - 2 > -(1 << 62) and late < 1 << 62)  # past 64 bits the compiled loop raises
    other = Lane(9, 40, 64, 160, 64, 160)  # a copy contending with it
    lane = Lane(2, 40, burst_bytes, burst_ns, burst_bytes, burst_ns, flow, ref_count + burst_bytes, limit)
    make = _Make([lane, other], (first - 1, NEVER, first - 1, -1, first - 2),
                 {"pending": ((0, first, 1),), "waiting": ((1, first - 1),)})
    saved = _native.core
    try:
        _native.core = None
        pure = _outcome(lambda: _seen(make()))
    finally:
        _native.core = saved
    assert _outcome(lambda: _seen(make())) == pure
