"""Semantics of the threaded memory engine that its fast paths must keep (issue 2).

Exact bytes, cookies and statuses; no timing assertions. Big copies (several CHUNKs) give pause and terminate
a window; the tests that need one stop the engine with pause() first, so they never race the worker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, DataDirection, Platform, Result, SgEntry, StateError, Status, TxResult
from dmaengine.drivers import memcpy as memcpy_mod
from dmaengine.drivers.memcpy import MemcpyEngine

CHUNK = 1024 * 1024  # the engine's chunk in these tests (the default is big: tests would need GBs)
BIG = 6 * CHUNK + 123  # several chunks, not a multiple of one


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memcpy_mod, "CHUNK", CHUNK)


@pytest.fixture
def plat() -> Iterator[Platform]:
    with Platform() as p:
        p.register_device(MemcpyEngine(channels=2))
        yield p


def pattern(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def test_small_copies_complete_in_order_with_exact_bytes_and_cookies(plat: Platform) -> None:
    n = 1000
    src, dst = pattern(n * 64), np.zeros(n * 64, np.uint8)
    order: list[int] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        cookies = []
        for i in range(n):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = order.append
            tx.callback_param = i
            cookies.append(tx.submit())
            if i % 256 == 255:
                chan.issue_pending()
        assert cookies == list(range(2, n + 2))  # MIN_COOKIE is 1: the first submit gets 2
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        chan.synchronize()  # callbacks of completed work have run
        st_, state = chan.tx_status(cookies[0])
        assert st_ == Status.COMPLETE and state.last == cookies[-1] and state.used == cookies[-1]
    assert order == list(range(n))
    assert np.array_equal(dst, src)


def test_callbacks_run_in_bottom_half_without_channel_lock(plat: Platform) -> None:
    seen: list[tuple[str, bool]] = []
    src, dst = pattern(4096), np.zeros(4096, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        lock = chan.lock  # type: ignore[attr-defined]

        def cb(_: object) -> None:
            free = lock.acquire(blocking=False)
            if free:
                lock.release()
            seen.append((threading.current_thread().name, free))

        for _ in range(3):
            tx = chan.prep_dma_memcpy(d.addr, s.addr, 4096)
            tx.callback = cb
            cookie = tx.submit()
        chan.sync_wait(cookie)
        chan.synchronize()
    assert seen == [(f"{chan.device.name}-bh", True)] * 3


def test_callback_result_wins_and_reports_fault(plat: Platform) -> None:
    src = pattern(256)
    ro = np.zeros(256, np.uint8)
    got: list[object] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, \
            plat.map(ro, DataDirection.TO_DEVICE) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 256)
        tx.callback = lambda p: got.append(("callback", p))
        tx.callback_result = lambda p, r: got.append(("result", p, r))
        tx.callback_param = "x"
        cookie = tx.submit()
        assert chan.sync_wait(cookie) == Status.ERROR
        chan.synchronize()
        assert chan.stats.errors == 1
    assert got == [("result", "x", TxResult(Result.WRITE_FAILED, 256))]
    assert not ro.any()  # no stray write


@pytest.mark.parametrize(("size", "write"), [(64, False), (64, True), (BIG, False), (BIG, True)])
def test_fault_ends_descriptor_without_stray_write_and_later_work_runs(
    plat: Platform, size: int, write: bool
) -> None:
    src, dst, ok = pattern(size), np.zeros(size, np.uint8), np.zeros(size, np.uint8)
    results: list[TxResult] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d, plat.map(ok) as o:
        # One byte past the end of a mapping: the last chunk's read (src) or write (dst) faults.
        if write:
            bad = chan.prep_dma_memcpy(d.addr + 1, s.addr, size)
        else:
            bad = chan.prep_dma_memcpy(d.addr, s.addr + 1, size)
        bad.callback_result = lambda _p, r: results.append(r)
        c1 = bad.submit()
        c2 = chan.prep_dma_memcpy(o.addr, s.addr, size).submit()
        assert chan.sync_wait(c2) == Status.COMPLETE
        assert chan.tx_status(c1)[0] == Status.ERROR
        chan.synchronize()
    # Chunks before the faulting one were inside the mappings and have moved; nothing of the faulting chunk.
    moved = size // CHUNK * CHUNK if size > CHUNK else 0
    want = Result.WRITE_FAILED if write else Result.READ_FAILED
    assert results == [TxResult(want, size - moved)]
    expect = np.zeros(size, np.uint8)
    if write:
        expect[1 : 1 + moved] = src[:moved]
    else:
        expect[:moved] = src[1 : 1 + moved]
    assert np.array_equal(dst, expect)
    assert np.array_equal(ok, src)


def test_pause_stops_bytes_and_resume_continues(plat: Platform) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()  # paused before issue: nothing may move
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, BIG).submit()
        assert chan.sync_wait(cookie) == Status.PAUSED  # sync_wait issues, and a paused channel is not waited on
        status, state = chan.tx_status(cookie)
        assert status == chan.cookie_status(cookie) == Status.PAUSED and state.residue == BIG
        assert not dst.any()
        chan.resume()
        assert chan.sync_wait(cookie) == Status.COMPLETE
    assert np.array_equal(dst, src)


def test_pause_mid_transfer_then_resume_gives_exact_bytes(plat: Platform) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        cookies = [chan.prep_dma_memcpy(d.addr, s.addr, BIG).submit() for _ in range(3)]
        chan.issue_pending()
        chan.pause()
        status, state = chan.tx_status(cookies[-1])
        frozen = dst.copy()
        assert status in (Status.PAUSED, Status.COMPLETE)
        assert state.residue % CHUNK in (0, BIG % CHUNK)  # stopped on a chunk boundary
        assert np.array_equal(dst, frozen)  # no byte moves after pause() returned
        chan.resume()
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        assert [chan.tx_status(c)[0] for c in cookies] == [Status.COMPLETE] * 3
    assert np.array_equal(dst, src)


def test_terminate_async_drops_unfinished_work_without_callbacks(plat: Platform) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    called: list[int] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()
        cookies = []
        for i in range(4):
            tx = chan.prep_dma_memcpy(d.addr, s.addr, BIG)
            tx.callback = called.append
            tx.callback_param = i
            cookies.append(tx.submit())
        chan.issue_pending()
        chan.terminate_async()
        chan.synchronize()
        assert [chan.tx_status(c)[0] for c in cookies] == [Status.ERROR] * 4
        # The channel works afterwards; its cookies carry on.
        c = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
        assert c == cookies[-1] + 1
        assert chan.sync_wait(c) == Status.COMPLETE
    assert called == []
    assert np.array_equal(dst[:64], src[:64]) and not dst[64:].any()


def test_synchronize_waits_for_running_callback(plat: Platform) -> None:
    entered, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow(_: object) -> None:
        entered.set()
        release.wait(10)
        finished.append(True)

    src, dst = pattern(64), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = slow
        chan.sync_wait(tx.submit())
        assert entered.wait(10)
        done = threading.Event()

        def sync() -> None:
            chan.synchronize()
            done.set()

        t = threading.Thread(target=sync)
        t.start()
        assert not done.wait(0.05)  # still inside the callback
        release.set()
        t.join(10)
        assert finished == [True] and done.is_set()


def test_unmap_during_transfer_never_writes_unmapped_memory(plat: Platform) -> None:
    src = pattern(BIG)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s:
        for _ in range(5):
            dst = np.zeros(BIG, np.uint8)
            d = plat.map(dst)
            cookies = [chan.prep_dma_memcpy(d.addr, s.addr, BIG).submit() for _ in range(3)]
            chan.issue_pending()
            d.unmap()  # waits for a copy in progress, after which no byte may land
            after = dst.copy()
            chan.sync_wait(cookies[-1])
            assert np.array_equal(dst, after)
            assert all(chan.tx_status(c)[0] in (Status.COMPLETE, Status.ERROR) for c in cookies)


def test_reused_descriptor_copies_again(plat: Platform) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, BIG)
        tx.set_reuse()
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        dst[:] = 0
        c2 = tx.submit()
        assert chan.sync_wait(c2) == Status.COMPLETE
        assert np.array_equal(dst, src)
        small = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        small.set_reuse()
        chan.sync_wait(small.submit())
        dst[:64] = 0
        chan.sync_wait(small.submit())
    assert np.array_equal(dst, src)


def test_memset_and_memcpy_sg(plat: Platform) -> None:
    a, b = pattern(3000, 2), pattern(5000, 3)
    out = np.zeros(8100, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map_sg([a, b]) as src, plat.map(out) as d:
        fill = chan.prep_dma_memset(d.addr, 0xA5, 8100)
        c0 = fill.submit()
        tx = chan.prep_dma_memcpy_sg([SgEntry(d.addr + 100, 4000), SgEntry(d.addr + 4100, 4000)], list(src))
        c1 = tx.submit()
        assert chan.sync_wait(c1) == Status.COMPLETE and chan.tx_status(c0)[0] == Status.COMPLETE
    want = np.full(8100, 0xA5, np.uint8)
    want[100:8100] = np.concatenate([a, b])
    assert np.array_equal(out, want)


def test_two_channels_copy_at_once_with_exact_bytes(plat: Platform) -> None:
    bufs = [(pattern(BIG, i), np.zeros(BIG, np.uint8)) for i in range(2)]
    with plat.request_channel(Cap.MEMCPY) as c0, plat.request_channel(Cap.MEMCPY) as c1:
        maps = [(plat.map(s), plat.map(d)) for s, d in bufs]
        cookies = [(c, c.prep_dma_memcpy(d.addr, s.addr, BIG).submit()) for c, (s, d) in zip((c0, c1), maps)]
        for c, _ in cookies:
            c.issue_pending()
        assert [c.sync_wait(k) for c, k in cookies] == [Status.COMPLETE] * 2
        for s, d in maps:
            s.unmap()
            d.unmap()
    for s, d in bufs:
        assert np.array_equal(s, d)


def test_stats_count_batches_exactly(plat: Platform) -> None:
    src, dst = pattern(64 * 300), np.zeros(64 * 300, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for i in range(300):
            c = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64).submit()
        bad = chan.prep_dma_memcpy(d.addr, s.addr + 64 * 300, 64).submit()
        chan.sync_wait(bad)
        st_ = chan.stats
        assert (st_.submitted, st_.completed, st_.memcpy_count, st_.bytes_transferred, st_.errors) == (
            301, 301, 300, 300 * 64, 1)
        assert c + 1 == bad


def test_raising_callback_is_counted_and_later_callbacks_run(plat: Platform) -> None:
    got: list[int] = []

    def bad(_: object) -> None:
        raise RuntimeError("boom")

    src, dst = pattern(64), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = bad
        tx.submit()
        tx2 = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx2.callback = got.append
        tx2.callback_param = 7
        chan.sync_wait(tx2.submit())
        chan.synchronize()
        assert chan.stats.callback_errors == 1
    assert got == [7]


def test_prep_flags_fast_path_matches_slow_path(plat: Platform) -> None:
    from dmaengine import ConfigError, PrepFlags

    src = pattern(64)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s:
        tx = chan.prep_dma_memcpy(s.addr, s.addr, 64, PrepFlags.PREP_INTERRUPT | PrepFlags.CTRL_ACK)
        assert tx.flags == 3 and isinstance(tx.flags, PrepFlags)
        assert chan.prep_dma_memcpy(s.addr, s.addr, 64, 2).flags is PrepFlags.CTRL_ACK
        with pytest.raises(ConfigError, match=r"^length must be a positive int, not 0"):
            chan.prep_dma_memcpy(s.addr, s.addr, 0)
        with pytest.raises(ConfigError, match=r"^dst must be a DMA address"):
            chan.prep_dma_memcpy(-1, s.addr, 1)
        with pytest.raises(ConfigError, match=r"^src must be a DMA address"):
            chan.prep_dma_memcpy(s.addr, 1.5, 1)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="not allocated"):
        chan.prep_dma_memcpy(s.addr, s.addr, 64)


def test_worker_blocks_when_idle_and_threads_stop_at_unregister() -> None:
    before = set(threading.enumerate())
    plat = Platform()
    dev = plat.register_device(MemcpyEngine(channels=2))
    mine = [t for t in threading.enumerate() if t not in before]
    assert len(mine) == 3 and all(t.daemon for t in mine)
    src = pattern(64)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s:
        chan.sync_wait(chan.prep_dma_memcpy(s.addr, s.addr, 64).submit())
        # After the bounded poll the worker sleeps on its kick lock (it is not spinning).
        for c in dev.channels:
            deadline = threading.Event()
            for _ in range(200):
                if c._sleeping:  # type: ignore[attr-defined]
                    break
                deadline.wait(0.005)
            assert c._sleeping  # type: ignore[attr-defined]
    plat.close()
    assert not any(t.is_alive() for t in mine)


def test_no_poll_configuration_still_works(plat: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memcpy_mod, "IDLE_POLL_S", 0.0)
    from dmaengine import _context

    monkeypatch.setattr(_context, "POLL_S", 0.0)
    src, dst = pattern(4096), np.zeros(4096, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for i in range(20):
            dst[:] = 0
            assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 4096 - i).submit()) == Status.COMPLETE
            assert np.array_equal(dst[: 4096 - i], src[: 4096 - i]) and not dst[4096 - i :].any()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 4000), st.integers(1, 96)), min_size=1,
                max_size=40), st.integers(1, 40))
def test_random_small_copies_match_sequential_memmove(ops: list[tuple[int, int, int]], issue_every: int) -> None:
    buf = pattern(4096 + 96, 5)
    want = buf.copy()
    for dst, src, n in ops:  # one buffer, overlapping copies: order and memmove semantics both show
        want[dst : dst + n] = want[src : src + n].copy()
    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=1))
        with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
            last = 0
            for i, (dst, src, n) in enumerate(ops):
                last = chan.prep_dma_memcpy(m.addr + dst, m.addr + src, n).submit()
                if i % issue_every == 0:
                    chan.issue_pending()
            assert chan.sync_wait(last) == Status.COMPLETE
    assert np.array_equal(buf, want)


def test_small_copy_constructor_sets_what_init_sets(plat: Platform) -> None:
    from dmaengine import PrepFlags
    from dmaengine.drivers.memcpy import MemcpyDescriptor

    with plat.request_channel(Cap.MEMCPY) as chan:
        fast = MemcpyDescriptor.small_copy(chan, 1, 2, 3, PrepFlags.CTRL_ACK)  # type: ignore[arg-type]
        slow = MemcpyDescriptor(chan, (), 3, 0, PrepFlags.CTRL_ACK)  # type: ignore[arg-type]
        slow.dst, slow.src = 1, 2
        slots = [n for c in type(fast).__mro__ for n in getattr(c, "__slots__", ())]
        assert len(slots) == 17
        # (``_metadata_mode`` is set by the first metadata call only: unset in both.)
        assert {n: getattr(fast, n, None) for n in slots} == {n: getattr(slow, n, None) for n in slots}


def test_cookies_wrap_from_max_to_min_and_complete(plat: Platform) -> None:
    from dmaengine._cookie import MAX_COOKIE, MIN_COOKIE

    src, dst = pattern(64 * 3), np.zeros(64 * 3, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        vc = chan
        vc.cookie = vc.completed_cookie = MAX_COOKIE - 1  # type: ignore[attr-defined]
        cookies = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64).submit() for i in range(3)]
        assert cookies == [MAX_COOKIE, MIN_COOKIE, MIN_COOKIE + 1]
        assert chan.cookie_status(cookies[0]) == Status.IN_PROGRESS  # submitted, not issued
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        assert [chan.tx_status(c)[0] for c in cookies] == [Status.COMPLETE] * 3
        assert [chan.cookie_status(c) for c in cookies] == [Status.COMPLETE] * 3
    assert np.array_equal(dst, src)


def test_sync_wait_times_out(plat: Platform) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for _ in range(8):
            cookie = chan.prep_dma_memcpy(d.addr, s.addr, BIG).submit()
        with pytest.raises(TimeoutError, match=r"not complete after 0 s"):
            chan.sync_wait(cookie, timeout=0)
        assert chan.sync_wait(cookie) == Status.COMPLETE


def test_callback_may_submit_and_issue_on_its_channel(plat: Platform) -> None:
    n = 50
    src, dst = pattern(64 * n), np.zeros(64 * n, np.uint8)
    done = threading.Event()
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:

        def chain(i: int) -> None:
            if i == n:
                done.set()
                return
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = chain
            tx.callback_param = i + 1
            tx.submit()
            chan.issue_pending()

        chain(0)
        assert done.wait(10)
    assert np.array_equal(dst, src)


def test_wait_async_returns_status(plat: Platform) -> None:
    import asyncio

    src, dst = pattern(4096), np.zeros(4096, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 4096).submit()
        assert asyncio.run(chan.wait_async(cookie, timeout=10)) == Status.COMPLETE
    assert np.array_equal(dst, src)


def test_copy_many_reports_each_fault_and_runs_the_rest() -> None:
    from dmaengine.provider import AddressSpace

    class Op:
        def __init__(self, dst: int, src: int, length: int) -> None:
            self.dst, self.src, self.length = dst, src, length

    space = AddressSpace()
    a, b = pattern(1000), np.zeros(1000, np.uint8)
    ma, mb = space.map(a, DataDirection.TO_DEVICE), space.map(b)
    ops = [Op(mb.addr, ma.addr, 10), Op(ma.addr, mb.addr, 10), Op(mb.addr + 995, ma.addr, 10),
           Op(mb.addr + 10, ma.addr + 10, 990)]
    faults = space.copy_many(ops)
    assert faults is not None and faults[0] is None and faults[3] is None
    assert faults[1] is not None and faults[1].write and "TO_DEVICE" in faults[1].reason
    assert faults[2] is not None and faults[2].write and "past the end" in faults[2].reason
    assert np.array_equal(b, a)
    mb.unmap()
    faults = space.copy_many([Op(mb.addr, ma.addr, 10)])  # the remembered mapping is gone with the unmap
    assert faults is not None and faults[0] is not None and faults[0].reason == "no mapping"
