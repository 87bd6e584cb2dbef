"""The period interrupt's path and the ports' steady calls, with their inner calls inlined (issue 14, the busy row),
against the calls they stand for: each inlined step is compared with the plain sequence of the methods it replaces
on the same inputs, including the cases that must still go the general way (an underrun, a bounded capture, a
subclass's method, a clock that is not a TickClock, a watcher, a bad latency, a driver's own bottom-half request).
The whole-SoC behaviour is pinned by the equivalence and exact-timing tests; these pin each shortcut alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, Status, TransferDirection
from dmaengine.sim import Adc, I2s, Soc, Uart
from dmaengine.sim._i2s import _BlockSource, _I2sTx, sine_frames
from dmaengine.sim._kernel import PRIO_BH, TickClock
from dmaengine.sim._periph import Port, RxPort, TxPort
from dmaengine.sim._soc import SimTasklet
from dmaengine.virt import VirtChannel

M2D = TransferDirection.MEM_TO_DEV


class _CountingClock(TickClock):
    """A clock that is not exactly a TickClock: the inlined count must ask it."""

    __slots__ = ("asked",)

    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        self.asked = 0

    def count(self, t: int) -> int:
        self.asked += 1
        return super().count(t)


def _spec_write(port: TxPort, t: int, data: bytes) -> None:
    """TxPort.steady_write as specified: append, then Port.advance."""
    port.fifo += data
    port.written += len(data)
    Port.advance(port, t)


def _spec_read(port: RxPort, t: int, n: int) -> bytes:
    """RxPort.steady_read as specified: advance unbounded, then pop."""
    Port.advance(port, t, unbounded=True)
    return port._pop(n)


def _codec_tx_state(codec: I2s) -> tuple[Any, ...]:
    tx = codec.tx
    assert tx is not None
    cap = codec._played
    return (bytes(tx.fifo), tx.written, tx.drained, tx.ticks_done, cap.data(), cap.total, cap.dropped,
            codec._underruns)


writes = st.lists(st.tuples(st.integers(0, 120_000), st.integers(0, 96)), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(writes, st.sampled_from([None, 64, 200]), st.booleans())
def test_codec_steady_write_is_append_then_advance(steps: list[tuple[int, int]], capture: int | None,
                                                   counting: bool) -> None:
    fast, spec = I2s("i2s0", capture=capture), I2s("i2s0", capture=capture)
    for codec in (fast, spec):
        assert codec.tx is not None
        codec.tx.fifo += bytes(8)
        codec.tx._start(1_000)
        if counting:
            codec.tx.clock = _CountingClock(1_000, 10**9, 48_000)
    t, k = 1_000, 0
    for dt, n in steps:
        t += dt
        data = bytes((k + i) & 0xFF for i in range(n))
        k += n
        assert fast.tx is not None and spec.tx is not None
        fast.tx.steady_write(t, data)
        _spec_write(spec.tx, t, data)
        assert _codec_tx_state(fast) == _codec_tx_state(spec)


@settings(max_examples=100, deadline=None)
@given(writes, st.booleans())
def test_uart_steady_write_is_append_then_advance(steps: list[tuple[int, int]], counting: bool) -> None:
    fast, spec = Uart("uart0", baud=1_000_000, fifo_depth=64), Uart("uart0", baud=1_000_000, fifo_depth=64)
    for u in (fast, spec):
        assert u.tx is not None
        u.tx.fifo += b"ab"
        u.tx._start(0)
        if counting:
            u.tx.clock = _CountingClock(0, 10 * 10**9, 1_000_000)
    t, k = 0, 0
    for dt, n in steps:
        t += dt // 8
        data = bytes((k + i) & 0xFF for i in range(n % 9))
        k += n
        assert fast.tx is not None and spec.tx is not None
        fast.tx.steady_write(t, data)
        _spec_write(spec.tx, t, data)
        got = [(bytes(u.tx.fifo), u.tx.written, u.tx.drained, u.tx.ticks_done, u.tx.clock is None, u._out.data(),
                u._out_ns.times(0, u._out.total)) for u in (fast, spec) if u.tx is not None]
        assert got[0] == got[1]
        if fast.tx.clock is None:  # the line went idle: both start again on the next byte
            for u in (fast, spec):
                assert u.tx is not None
                u.tx.fifo += b"c"
                u.tx._start(t)
                if counting:
                    u.tx.clock = _CountingClock(t, 10 * 10**9, 1_000_000)
    if counting:
        assert isinstance(fast.tx.clock, (_CountingClock, type(None)))


def test_codec_steady_write_calls_a_subclass_ticks_and_an_idle_codec_only_appends() -> None:
    calls: list[tuple[int, bool]] = []

    class Tx(_I2sTx):
        __slots__ = ()

        def _ticks(self, n: int, unbounded: bool) -> None:
            calls.append((n, unbounded))
            super()._ticks(n, unbounded)

    codec = I2s("i2s0", capture=None)
    tx = Tx(codec, 64, 8, 4)
    tx.steady_write(0, bytes(4))  # no clock yet: the bytes wait, nothing plays
    assert (bytes(tx.fifo), tx.written, calls) == (bytes(4), 4, [])
    tx._start(0)
    tx.steady_write(20_834, bytes(range(8)))  # two frames due: the subclass's _ticks plays them
    assert calls == [(2, False)] and tx.ticks_done == 2 and tx.drained == 8


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300_000), st.integers(0, 6), st.binary(max_size=5)), min_size=1,
                max_size=25), st.booleans())
def test_uart_steady_read_is_advance_then_pop(steps: list[tuple[int, int, bytes]], counting: bool) -> None:
    fast, spec = Uart("uart0", baud=115_200), Uart("uart0", baud=115_200)
    t = 0
    for dt, n, fed in steps:
        t += dt
        for u in (fast, spec):
            rx = u.rx
            assert rx is not None
            if fed:
                rx.feed(t, fed)
                if counting and type(rx.clock) is TickClock:
                    c = rx.clock
                    rx.clock = _CountingClock(c.epoch_ns, c.num, c.den, c.offset)
        assert fast.rx is not None and spec.rx is not None
        Port.advance(spec.rx, t, unbounded=True)  # how much there is to read (the fast one advances itself)
        take = min(n, len(spec.rx.fifo))
        assert fast.rx.steady_read(t, take) == _spec_read(spec.rx, t, take)
        state = [(bytes(u.rx.fifo), bytes(u.rx.pending), u.rx.entered, u.rx.popped, u.rx.overruns,
                  u.rx.ticks_done, u.rx.clock is None) for u in (fast, spec) if u.rx is not None]
        assert state[0] == state[1]


def test_uart_rx_ticks_bounded_still_count_overruns() -> None:
    u = Uart("uart0", fifo_depth=4)
    rx = u.rx
    assert rx is not None
    rx.feed(0, b"abcdefg")
    rx.advance(10**9)  # bounded: four fit, three are lost
    assert (bytes(rx.fifo), rx.entered, rx.overruns, rx.clock) == (b"abcd", 4, 3, None)


def _frames(first: int, count: int) -> bytes:
    return b"".join((f * 7 & 0xFFFF).to_bytes(2, "little") * 2 for f in range(first, first + count))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 3_000_000), min_size=1, max_size=25))
def test_codec_rx_block_source_slices_as_it_is_called(dts: list[int]) -> None:
    """SampledRx.steady_read slices a _BlockSource's block itself: the same bytes as calling it, and as a plain
    function source (block boundaries crossed, a read that takes the FIFO whole or in part)."""
    block, plain = I2s("i2s0", rx_source=_frames), I2s("i2s0", rx_source=_frames)
    assert block.rx is not None and plain.rx is not None
    block.rx.source = _BlockSource(_frames, 4)
    for codec in (block, plain):
        assert codec.rx is not None
        codec.rx.dma_enable(0)
    t = 0
    for i, dt in enumerate(dts):
        t += dt
        got = []
        for codec in (block, plain):
            rx = codec.rx
            assert rx is not None
            if i % 3 == 0:
                Port.advance(rx, t, unbounded=True)
            have = len(rx.fifo) + 4 * max(0, rx.clock.count(t) - rx.ticks_done)  # type: ignore[union-attr]
            got.append((rx.steady_read(t, have - (have // 8 // 4 * 4 if i % 2 else 0)), rx.entered, rx.popped,
                        rx.ticks_done, bytes(rx.fifo)))
        assert got[0] == got[1]


def test_adc_default_source_slices_its_blocks_as_they_compute() -> None:
    adc = Adc("adc0", rate_hz=8_000)
    spans = [(0, 1), (1, 4), (5, 4090), (4095, 2), (4097, 4096), (8193, 1), (3, 5), (100_000, 9)]
    for first, count in spans:
        assert adc._source(first, count) == adc.expected(first, count).tobytes()
    adc.freq_hz = 75.0  # the parameters change: the blocks are computed again
    assert adc._source(8194, 3) == adc.expected(8194, 3).tobytes()


def test_uart_tx_output_at_and_past_its_capture_bound() -> None:
    """_UartTx._ticks keeps its line bytes as ByteCapture.append does: inside the bound, and past it."""
    outs = []
    for capture in (None, 10):
        soc = Soc(peripherals=[Uart("uart0", baud=1_000_000, capture=capture)])
        uart = soc.peripheral("uart0")
        chan = soc.request_chan("uart0", "tx")
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1,
                                      dst_maxburst=4))
        data = bytes(range(40))
        chan.prep_slave_single(soc.map(data, DataDirection.TO_DEVICE).addr, len(data), M2D).submit()
        chan.issue_pending()
        soc.run_for(1e-3)
        outs.append((uart.output, uart.output_ns, uart.output_dropped))  # type: ignore[attr-defined]
    (full, full_ns, d0), (kept, kept_ns, d1) = outs
    assert (full, d0) == (bytes(range(40)), 0)
    assert (kept, d1) == (bytes(range(30, 40)), 30) and kept_ns == full_ns[30:]


def _tasklet_pair(latency: int) -> tuple[Soc, SimTasklet, list[int]]:
    soc = Soc()
    ran: list[int] = []
    tl = SimTasklet(soc, lambda: ran.append(soc.kernel.now_ns), "bh-test", latency)
    return soc, tl, ran


def test_tasklet_schedule_queues_as_kernel_at_would() -> None:
    soc, tl, ran = _tasklet_pair(250)
    k = soc.kernel
    k.run_until(1_000)
    seq_before = k._seq
    expected_seq = k.reserve_seq() + 1
    tl.schedule()
    tl.schedule()  # coalesced: one run
    ev = tl._ev
    assert ev is not None and (ev.time_ns, ev.priority, ev.label, ev.cancelled) == (1_250, PRIO_BH, "bh-test", False)
    assert ev.seq == expected_seq and k._heap[0][:3] == (1_250, PRIO_BH, ev.seq) and k._heap[0][3] is ev
    assert k._seq is seq_before and tl._scheduled == 1
    k.run_until(1_249)
    assert ran == []
    k.run_until(2_000)
    assert ran == [1_250] and tl._ev is None


def test_tasklet_schedule_tells_the_watchers_and_refuses_a_bad_latency() -> None:
    soc, tl, _ = _tasklet_pair(100)
    k = soc.kernel
    told: list[int] = []

    def watcher(t: int) -> int:
        told.append(t)
        return -1

    k.watchers.append(watcher)
    k.watch(500)
    tl.schedule()
    assert told == [100] and k.watch_ns == -1
    k.run_until(1_000)
    tl.latency_ns = -5_000
    with pytest.raises(ValueError, match=r"^time_ns -4000 is in the past \(now 1000\)$"):
        tl.schedule()


def _playback(soc: Soc) -> tuple[Any, list[int]]:
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.zeros(4 * 64 * 4, dtype=np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, ring.nbytes // 4, M2D)
    at: list[int] = []
    tx.callback = lambda _: at.append(soc.now_ns)
    tx.submit()
    chan.issue_pending()
    return chan, at


def test_a_drivers_own_bottom_half_request_is_still_called() -> None:
    soc = Soc()
    chan, at = _playback(soc)
    device = chan.device
    asked: list[str] = []
    base = type(device)

    class Own(base):  # type: ignore[valid-type, misc]
        def schedule_bottom_half(self, c: Any) -> None:
            asked.append(c.name)
            super().schedule_bottom_half(c)

    device.__class__ = Own
    try:
        soc.run(until=0.01)
    finally:
        device.__class__ = base
    ref_soc = Soc(fast=False)
    _, ref_at = _playback(ref_soc)
    ref_soc.run(until=0.01)
    assert at == ref_at and len(at) >= 5 and asked == [chan.name] * len(at)


def test_a_drivers_own_bottom_half_request_is_called_for_a_completion() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    device = chan.device
    asked: list[str] = []
    base = type(device)

    class Own(base):  # type: ignore[valid-type, misc]
        def schedule_bottom_half(self, c: Any) -> None:
            asked.append(c.name)
            super().schedule_bottom_half(c)

    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros_like(src)
    done: list[int] = []
    device.__class__ = Own
    try:
        tx = chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, src.nbytes)
        tx.callback = lambda _: done.append(soc.now_ns)
        cookie = tx.submit()
        chan.issue_pending()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        soc.run_for(1e-5)
    finally:
        device.__class__ = base
    assert asked == [chan.name] and len(done) == 1 and (dst == src).all()


def test_a_period_callback_wakes_the_wait_queue_with_and_without_waiters() -> None:
    soc = Soc()
    chan, at = _playback(soc)
    wq = chan.waitq
    seq = wq._seq
    soc.run(until=0.003)
    n = len(at)
    assert n >= 2 and wq._seq - seq >= n
    woken: list[int] = []

    def waker() -> None:
        woken.append(soc.now_ns)

    wq.add_async(waker)
    try:
        seq = wq._seq
        soc.run(until=0.006)
    finally:
        wq.remove_async(waker)
    assert len(at) > n and wq._seq - seq >= len(at) - n and woken[-1] == at[-1]


def test_cyclic_callback_uses_the_subclass_method_when_one_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    orig = VirtChannel.vchan_cyclic_callback

    def patched(self: VirtChannel, vd: Any) -> None:
        seen.append(vd.cookie)
        orig(self, vd)

    monkeypatch.setattr(VirtChannel, "vchan_cyclic_callback", patched)
    soc = Soc()
    _, at = _playback(soc)
    soc.run(until=0.005)
    assert len(seen) >= len(at) >= 3


def test_sine_frames_block_source_is_what_steady_read_sees() -> None:
    src = sine_frames(440.0, 48_000, 2, 2)
    assert isinstance(src, _BlockSource)
    whole = src.compute(0, 9_000)
    assert src(10, 5) == whole[40:60] and src(4_090, 20) == whole[4_090 * 4 : 4_110 * 4]


def test_a_completion_bottom_half_wakes_the_wait_queue_with_and_without_waiters() -> None:
    """A memcpy's end wakes its channel's queue twice, at the completion and after its bottom half's callbacks
    (the bottom half's wake inlined where nobody waits: one more ``_seq``, as ``WaitQueue.wake`` would)."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src, dst = soc.map(np.arange(64, dtype=np.uint8)), soc.map(np.zeros(64, dtype=np.uint8))
    wq = chan.waitq
    called: list[int] = []
    for waiting in (False, True):
        woken: list[int] = []

        def waker(woken: list[int] = woken) -> None:
            woken.append(soc.now_ns)

        if waiting:
            wq.add_async(waker)
        try:
            seq = wq._seq
            tx = chan.prep_dma_memcpy(dst.addr, src.addr, 64)
            tx.callback = lambda _p: called.append(soc.now_ns)
            cookie = tx.submit()
            chan.issue_pending()
            soc.run_until_idle()
        finally:
            if waiting:
                wq.remove_async(waker)
        assert chan.cookie_status(cookie) is Status.COMPLETE
        assert wq._seq - seq == 2  # (the completion's wake, then the bottom half's)
        assert woken == ([called[-1] - soc.bh_latency_ns, called[-1]] if waiting else [])
