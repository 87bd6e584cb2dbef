"""The interrupt and wake path of a busy SoC (issue 14, sim-irq): the schedule's wake reads the compiled core's
state back straight into its slots (``BusCore.arm``), and the period interrupt does ``vchan_cyclic_callback``
itself; each fast path against what it stands for, and each guard that makes it fall back."""

from __future__ import annotations

import contextlib
import heapq
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, SlaveConfig, TransferDirection, _native, _trace
from dmaengine._context import BottomHalf, in_bottom_half
from dmaengine.sim import Soc, _dmac
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._driver import SimChannel
from dmaengine.sim._kernel import Kernel

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")
M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM
STATE = ("waiting", "busy_until_ns", "stop_ns", "computed_ns", "events", "jumps", "last_grant", "last_grant_ns",
         "last_event_ns", "granted", "landed", "since_ns", "_nheap")


def _lanes() -> list[Lane]:
    return [Lane(0, NEVER, 8, 10, 8, 1), Lane(1, NEVER, 16, 20, 16, 2)]


def _sched(cls: type[BusSchedule] = BusSchedule) -> BusSchedule:
    """Two copies contending for the bus, computed 2 events ahead: ``arm`` computes more."""
    s = cls(_lanes(), 0, 10**6, 0, -1, -1, pending=((0, 1, 1), (1, 2, 2)), max_events=2)
    assert s.core is not None and s.computed_ns < s.stop_ns
    return s


@needs_core
def test_arm_reads_the_state_back_into_the_schedules_slots() -> None:
    s = _sched()
    before = tuple(getattr(s, n) for n in STATE)
    assert s.core.arm(s, -1, 10**6, 0, 3, 5) < NEVER  # (no interrupt to stop at: 3 chunks of 5 events)
    after = tuple(getattr(s, n) for n in STATE)
    assert after == s.core.state() and after != before
    assert s.events == before[4] + 15


@needs_core
def test_arm_reads_the_state_back_with_setattr_where_the_names_are_no_slots() -> None:
    s = _sched()
    ns = types.SimpleNamespace()  # (an instance dict: no member to store into)
    s.core.arm(ns, -1, 10**6, 0, 1, 4)
    assert tuple(getattr(ns, n) for n in STATE) == s.core.state()
    seen: list[int] = []

    class Watched(BusSchedule):
        """``events`` is a property here: the core must call its setter, not write the slot under it."""

        @property
        def events(self) -> int:
            return int(self.__dict__.get("_events_seen", 0))

        @events.setter
        def events(self, v: int) -> None:
            seen.append(v)
            self.__dict__["_events_seen"] = v

    w = _sched(Watched)
    seen.clear()
    w.core.arm(w, -1, 10**6, 0, 1, 4)
    assert seen == [w.core.state()[4]] and w.events == seen[0]
    assert tuple(getattr(w, n) for n in STATE if n != "events") == tuple(
        v for n, v in zip(STATE, w.core.state(), strict=True) if n != "events")
    s2 = _sched()  # the plain class again, after the subclass: its own slots (the cached offsets are per class)
    s2.core.arm(s2, -1, 10**6, 0, 1, 4)
    assert tuple(getattr(s2, n) for n in STATE) == s2.core.state()


@needs_core
def test_arm_raises_what_a_setattr_raises() -> None:
    s = _sched()

    class Refusing:
        events: int

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "jumps":
                raise RuntimeError(f"no {name}")
            object.__setattr__(self, name, value)

    r = Refusing()
    with pytest.raises(RuntimeError, match="^no jumps$"):
        s.core.arm(r, -1, 10**6, 0, 1, 4)
    assert r.events == s.core.state()[4] and not hasattr(r, "last_grant")  # (it stops at the one that raised)


@needs_core
def test_due_and_arm_read_their_ints_as_the_argument_parser_did() -> None:
    s = _sched()
    c = s.core
    assert c.due(np.int64(0), np.int64(0), True) == c.due(0, 0, 1) == 0  # (an __index__ is an int here)
    with pytest.raises(TypeError, match=r"^due\(\) takes exactly 3 arguments \(2 given\)$"):
        c.due(0, 0)
    with pytest.raises(TypeError, match=r"^'float' object cannot be interpreted as an integer$"):
        c.due(0.0, 0, 0)
    with pytest.raises(TypeError, match=r"^'str' object cannot be interpreted as an integer$"):
        c.arm(s, -1, "0", 0, 1, 1)
    with pytest.raises(OverflowError):
        c.due(0, 1 << 70, 0)
    with pytest.raises(OverflowError):
        c.arm(s, -1, 0, 0, 1, 1 << 70)
    with pytest.raises(ValueError, match=r"^arm: interrupts and program ends raised must be >= 0, not -1 and 0$"):
        c.arm(s, -1, -1, 0, 1, 1)


def _two_rings(soc: Soc | None = None) -> tuple[Soc, list[Any], list[tuple[str, int]]]:
    """The codec's playback and capture rings, which share the bus (a schedule: its wakes raise their period
    interrupts); each period callback notes its ring and instant."""
    soc = Soc() if soc is None else soc
    codec = soc.peripheral("i2s0")
    seen: list[tuple[str, int]] = []
    chans: list[Any] = []
    for kind in ("tx", "rx"):
        chan = soc.request_chan("i2s0", kind)
        if kind == "tx":
            chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                          dst_maxburst=8))
        else:
            chan.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth.BYTES_4,
                                          src_maxburst=8))
        ring = np.zeros(480 * 4 * 4, dtype=np.uint8)
        d = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, ring.nbytes // 4, M2D if kind == "tx" else D2M)
        d.callback = lambda _, kind=kind: seen.append((kind, soc.now_ns))
        d.submit()
        chans.append(chan)
    for chan in chans:
        chan.issue_pending()
    return soc, chans, seen


RUN_S = 0.05


def _reference() -> list[tuple[str, int]]:
    soc, _, seen = _two_rings()
    soc.run(RUN_S)
    assert soc.dmac.hw._sched is not None or soc.dmac.hw.relanes  # (the rings ran as lanes of a schedule)
    assert len(seen) >= 8
    return seen


def test_a_channel_class_with_its_own_cyclic_callback_is_called_by_the_period_interrupt() -> None:
    want = _reference()
    calls: list[int] = []

    class Counting(SimChannel):
        __slots__ = ()

        def vchan_cyclic_callback(self, vd: Any) -> None:
            calls.append(self.kernel_now())
            super().vchan_cyclic_callback(vd)

        def kernel_now(self) -> int:
            return int(self.device.platform.now_ns)

    soc, chans, seen = _two_rings()
    for chan in chans:
        assert type(chan) is SimChannel
        chan.__class__ = Counting
    soc.run(RUN_S)
    assert seen == want  # the same callbacks at the same instants, and each period went through the override
    assert len(calls) >= len(seen) and sorted(set(calls)) == sorted({t - soc.bh_latency_ns for _, t in seen})


def test_a_trace_recorder_sees_each_period_interrupt() -> None:
    want = _reference()
    events: list[tuple[str, int]] = []

    class Rec:
        def event(self, kind: str, chan: Any, cookie: int, ts: float, args: dict[str, Any] | None) -> None:
            if kind == "period":
                events.append((chan.name, round(ts * 1e9)))

    soc, chans, seen = _two_rings()
    prev = _trace.install(Rec())
    try:
        soc.run(RUN_S)
    finally:
        _trace.install(prev)
    assert seen == want
    assert {t for _, t in events} == {t - soc.bh_latency_ns for _, t in seen}
    assert {n for n, _ in events} == {c.name for c in chans}


def test_a_soc_class_with_its_own_sync_is_synced_by_each_bottom_half() -> None:
    want = _reference()
    synced: list[int] = []

    class Watched(Soc):
        def sync(self) -> None:
            synced.append(self.now_ns)
            super().sync()

    soc, _, seen = _two_rings(Watched())
    soc.run(RUN_S)
    assert seen == want
    assert {t for _, t in seen} <= set(synced)  # (each bottom half's instant among them)


def test_the_bottom_half_runs_marked_and_unmarks_after_a_raising_callback() -> None:
    soc, chans, seen = _two_rings()
    marks: list[bool] = []

    def boom(_: object) -> None:
        marks.append(in_bottom_half())
        raise RuntimeError("callback fails")

    chans[0].running.callback = boom
    soc.run(RUN_S)
    assert marks and all(marks) and not in_bottom_half()
    assert seen and all(k == "rx" for k, _ in seen)  # the other ring still calls back: the engine runs on


# --- the kernel's event loop, compiled (src/native/wake.c) against Kernel.run_until in Python ---------------------


def _script(k: Kernel, log: list[Any], seed: int) -> None:
    """Events at a few instants and priorities; some cancel others, some schedule more (at now too), one cancels
    itself late; each logs what it sees."""
    import random

    rnd = random.Random(seed)
    evs: list[Any] = []

    def fn(i: int) -> Callable[[], None]:
        def run() -> None:
            log.append((i, k.now_ns, k.events_run, k.dispatching, k.back_to_back))
            if rnd.random() < 0.3 and evs:
                rnd.choice(evs).cancel()
            if rnd.random() < 0.3 and i < 200:
                evs.append(k.at(k.now_ns + rnd.choice((0, 0, 5, 50)), fn(i + 1000), f"e{i}", rnd.randrange(3)))
        return run

    for i in range(40):
        evs.append(k.at(rnd.randrange(0, 300, 10), fn(i), f"e{i}", rnd.randrange(3)))
    evs[3].cancel()


def _run_both(seed: int, until: list[int], **kw: Any) -> tuple[list[Any], list[Any]]:
    out = []
    for pure in (True, False):
        k = Kernel(**kw)
        log: list[Any] = []
        _script(k, log, seed)
        saved = _native.core
        try:
            if pure:
                _native.core = None
            for t in until:
                k.run_until(t)
                log.append(("clock", k.now_ns, k.events_run, k.dispatching, k.back_to_back, len(k._heap)))
        finally:
            _native.core = saved
        out.append(log if not kw.get("trace") else [*log, k.trace])
    return out[0], out[1]


@pytest.mark.parametrize("seed", range(12))
def test_the_compiled_event_loop_runs_what_the_python_one_runs(seed: int) -> None:
    pure, native = _run_both(seed, [0, 95, 95, 180, 1000, 5000])
    assert pure == native and len(pure) > 40
    pure, native = _run_both(seed, [120, 2000], trace=True)  # (a trace: each event through step)
    assert pure == native


@needs_core
def test_the_compiled_event_loop_is_taken_and_refuses_what_it_does_not_assume() -> None:
    assert _native.core is not None
    run = _native.core.kernel_run_until
    k = Kernel()
    seen: list[int] = []
    k.at(7, lambda: seen.append(k.now_ns))
    assert run(k, 10) is None and seen == [7] and k.now_ns == 10 and k.events_run == 1
    assert run(k, 1 << 70) is NotImplemented and k.now_ns == 10  # (no int64 instant: nothing done)
    assert run(k, 10.0) is NotImplemented
    assert run(types.SimpleNamespace(), 10) is NotImplemented  # (no Kernel's slots)

    class Sub(Kernel):
        """An instance dict: its class is not the layout the loop assumes (Kernel.run_until runs in Python)."""

    s = Sub()
    s.at(3, lambda: seen.append(-s.now_ns))
    s.run_until(5)
    assert seen == [7, -3] and s.now_ns == 5
    k._heap = [("not an entry",)]  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^Kernel: a heap entry must be a \(time_ns, priority, seq, event\) tuple"):
        run(k, 20)
    assert not k.back_to_back and not k.dispatching
    with pytest.raises(TypeError, match=r"^kernel_run_until\(\) takes exactly 2 arguments \(1 given\)$"):
        run(k)


@contextlib.contextmanager
def _core(pure: bool) -> Iterator[None]:
    """The compiled core off while ``pure``."""
    saved = _native.core
    if pure:
        _native.core = None
    try:
        yield
    finally:
        _native.core = saved


@pytest.mark.parametrize("pure", [True, False])
def test_an_event_that_raises_stops_the_loop_as_in_python(pure: bool) -> None:
    k = Kernel()
    seen: list[int] = []

    def boom() -> None:
        raise KeyError("boom")

    k.at(5, lambda: seen.append(5))
    k.at(6, boom)
    k.at(7, lambda: seen.append(7))
    with _core(pure):
        with pytest.raises(KeyError, match="boom"):
            k.run_until(10)
        assert (seen, k.now_ns, k.events_run, k.dispatching, k.back_to_back) == ([5], 6, 2, False, False)
        k.run_until(10)
    assert (seen, k.now_ns, k.events_run) == ([5, 7], 10, 3)


@pytest.mark.parametrize("pure", [True, False])
def test_the_period_runner_is_asked_while_an_event_is_postponed(pure: bool) -> None:
    k = Kernel()
    asked: list[tuple[int, int]] = []
    seen: list[int] = []
    k.at(4, lambda: seen.append(4))
    ev = k.at(8, lambda: seen.append(8))

    def runner(kern: Kernel, limit: int) -> bool:
        asked.append((kern._heap[0][0], limit))
        if kern._heap[0][3] is ev:  # it "runs" the postponed event itself
            heapq.heappop(kern._heap)
            kern.now_ns = 8
            kern.postponed = None
            return True
        return False

    k.period_runner = runner
    k.postponed = object()
    with _core(pure):
        k.run_until(20)
    assert (asked, seen, k.now_ns, k.events_run) == ([(4, 20), (8, 20)], [4], 20, 1)


# --- the schedule's wake in one compiled call (BusCore.wake) against Dmac._sched_wake in Python ------------------


def _busy(pure: bool, wrap: Callable[[Any], None] | None = None) -> tuple[Any, ...]:
    """The two rings, the UART's RX ring fed, and copies: a schedule whose wakes raise period interrupts and end
    programs; what the clients see, and the controller's counters."""
    with _core(pure):
        soc, chans, seen = _two_rings()
        hw = soc.dmac.hw
        if wrap is not None:
            wrap(hw)
        uart = soc.peripheral("uart0")
        rx = soc.request_chan("uart0", "rx")
        rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
        ring = np.zeros(64, dtype=np.uint8)
        d = rx.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 16, D2M)
        d.callback = lambda _: seen.append(("uart", soc.now_ns))
        d.submit()
        rx.issue_pending()
        mc = soc.request_channel(Cap.MEMCPY)
        src = np.arange(4096, dtype=np.uint8)
        dst = np.zeros_like(src)
        ms, md = soc.map(src), soc.map(dst)
        for k in range(6):
            soc.run(k / 200)
            uart.feed(b"hello, world\n")  # type: ignore[attr-defined]
            tx = mc.prep_dma_memcpy(md.addr, ms.addr, src.nbytes)
            tx.callback = lambda _: seen.append(("copy", soc.now_ns))
            tx.submit()
            mc.issue_pending()
        soc.run(0.04)
        return (seen, bytes(ring), bytes(dst), hw.bursts, hw.plans, soc.kernel.events_run, soc.now_ns)


@needs_core
def test_the_compiled_wake_is_the_python_one_and_is_taken() -> None:
    lone: list[int] = []

    def count_lone_takes(hw: Any) -> None:
        take = hw._sched_take_lane

        def take_lane(pos: int, t: int) -> None:  # (what Python's wake calls)
            lone.append(t)
            take(pos, t)

        hw._sched_take_lane = take_lane

    pure = _busy(True, count_lone_takes)
    assert lone and len(pure[0]) > 12 and {k for k, _ in pure[0]} == {"tx", "rx", "uart", "copy"}
    n = len(lone)
    assert _busy(False, count_lone_takes) == pure
    taken_by_program_ends = len(lone) - n  # (the compiled wake takes the lone lane itself: only program ends ask)
    assert 0 < taken_by_program_ends < n


@needs_core
def test_the_compiled_wake_calls_the_controllers_own_methods() -> None:
    want = _busy(True)
    calls: dict[str, int] = {"take": 0, "end": 0, "irq": 0}

    def wrap(hw: Any) -> None:
        take, end = hw._sched_take, hw._sched_program_end
        irq = hw.irq

        def take_(t: int) -> None:
            calls["take"] += 1
            take(t)

        def end_(sched: Any, now: int) -> bool:
            calls["end"] += 1
            return bool(end(sched, now))

        def irq_(*a: Any) -> None:
            calls["irq"] += 1
            irq(*a)

        hw._sched_take, hw._sched_program_end, hw.irq = take_, end_, irq_

    assert _busy(False, wrap) == want
    assert calls["end"] and calls["irq"]  # (no two interrupts at one instant here: every lane's take is not asked)


@pytest.mark.parametrize("pure", [True, False])
def test_a_raising_interrupt_handler_stops_the_run_with_the_controller_consistent(pure: bool) -> None:
    with _core(pure):
        soc, chans, seen = _two_rings()
        hw = soc.dmac.hw
        irq: Any = hw.irq
        raised: list[int] = []

        def irq_(idx: int, kind: Any, result: Any, residue: int) -> None:
            if hw._sched is not None and not raised:
                raised.append(soc.now_ns)
                raise RuntimeError("handler fails")
            irq(idx, kind, result, residue)

        hw.irq = irq_
        with pytest.raises(RuntimeError, match="^handler fails$"):
            soc.run(RUN_S)
        assert hw._raising == 0 and soc.now_ns == raised[0] and not soc.kernel.dispatching


@needs_core
def test_the_compiled_wake_refuses_hostile_input() -> None:
    soc, _, _ = _two_rings()
    soc.run(0.001)
    hw = soc.dmac.hw
    sched = hw._sched
    assert sched is not None and sched.core is not None
    with pytest.raises(TypeError, match=r"^wake\(dmac, sched, now, consts\): consts must be a tuple of 7$"):
        sched.core.wake(hw, sched, soc.now_ns, ())
    consts = list(_dmac._WAKE_CONSTS)
    consts[3] = "four"
    with pytest.raises(TypeError, match=r"^'str' object cannot be interpreted as an integer$"):
        sched.core.wake(hw, sched, soc.now_ns, tuple(consts))
    with pytest.raises(OverflowError):
        sched.core.wake(hw, sched, 1 << 70, _dmac._WAKE_CONSTS)
    with pytest.raises(AttributeError):
        sched.core.wake(object(), sched, soc.now_ns, _dmac._WAKE_CONSTS)


@needs_core
def test_the_compiled_wake_takes_every_lane_while_a_probe_draws_bursts() -> None:
    takes: list[list[int]] = []

    def probe_and_count(hw: Any) -> None:
        bursts: list[tuple[int, ...]] = []
        hw.burst_probe = lambda *a: bursts.append(a)
        take = hw._sched_take
        n: list[int] = []
        takes.append(n)

        def take_(t: int) -> None:
            n.append(t)
            take(t)

        hw._sched_take = take_

    pure = _busy(True, probe_and_count)
    assert _busy(False, probe_and_count) == pure
    assert takes[0] and takes[0] == takes[1]


# --- the bottom half's queue served by the SoC's tasklet (SimTasklet._run calls BottomHalf.run, marked) -----------


class _Chan:
    """A channel for a bottom half: notes each run (and whether it ran marked), raises when told."""

    def __init__(self, name: str, log: list[Any], fail: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail = fail

    def bottom_half(self) -> None:
        self.log.append((self.name, in_bottom_half()))
        if self.fail:
            raise SystemExit(f"{self.name} fails")


def test_the_tasklet_serves_the_bottom_halfs_queue_as_its_run_does(caplog: pytest.LogCaptureFixture) -> None:
    soc = Soc()
    log: list[Any] = []
    bh = BottomHalf(soc.create_tasklet, "test-bh")
    a, b, c = _Chan("a", log, fail=True), _Chan("b", log), _Chan("c", log)
    for ch in (a, b, a, c):
        bh.schedule(ch)
    soc.run(0.001)
    assert log == [("a", True), ("b", True), ("c", True)] and bh.failures == 1 and not bh.pending(a)
    assert "bottom half of a failed" in caplog.text
    bh.schedule(b)
    soc.run(0.002)
    assert log[-1] == ("b", True) and not in_bottom_half()


def test_a_bottom_half_class_with_its_own_run_and_a_plain_function_are_called() -> None:
    soc = Soc()
    runs: list[str] = []

    class Own(BottomHalf):
        __slots__ = ()

        def run(self) -> None:
            runs.append("own")
            super().run()

    log: list[Any] = []
    bh = Own(soc.create_tasklet, "own-bh")
    bh.schedule(_Chan("x", log))
    t = soc.create_tasklet(lambda: runs.append(f"plain {in_bottom_half()}"), "plain")
    t.schedule()
    soc.run(0.001)
    assert runs == ["own", "plain True"] and log == [("x", True)]


@needs_core
def test_the_compiled_wake_refuses_a_lane_it_does_not_have() -> None:
    s = _sched()
    now = 5

    def never(*_: Any) -> None:
        raise AssertionError("not called")

    chans = [None, None]
    dmac = types.SimpleNamespace(_sched_irqs=0, _sched_dones=0, burst_probe=None, _sched_lone_ports=True,
                                 _took_ns=-1, _took=None, _sched_movers_of=chans, _sched_chans=chans,
                                 _sched_movers=[None, None], bursts=7, _sched_move_at=never, _sched_store=never)
    s.item_ends.insert(0, (now, -1))
    with pytest.raises(IndexError, match=r"^BusCore: no lane -1$"):
        s.core.wake(dmac, s, now, _dmac._WAKE_CONSTS)
    s.item_ends[0] = (now, 2)
    with pytest.raises(IndexError, match=r"^BusCore: no lane 2$"):
        s.core.wake(dmac, s, now, _dmac._WAKE_CONSTS)
    s.item_ends[0] = (now, 0)
    dmac._sched_movers = (None, None)  # (no list: refused before any burst is taken)
    with pytest.raises(TypeError, match=r"^wake: movers must be a list of 2 movers"):
        s.core.wake(dmac, s, now, _dmac._WAKE_CONSTS)
    assert dmac.bursts == 7 and dmac._sched_irqs == 0
