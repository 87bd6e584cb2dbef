"""The memory engine's ``sync_wait`` short cuts and the bottom-half mark (issue 8): each short cut gives the
answer, the errors and the side effects (issuing) of the generic wait, and is left to it while a trace records."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from dmaengine import Cap, ConfigError, DataDirection, Platform, StateError, Status, trace
from dmaengine._context import bottom_half, in_bottom_half


def test_the_bottom_half_mark_starts_at_zero_on_every_thread_and_nests() -> None:
    seen: list[bool] = []
    th = threading.Thread(target=lambda: seen.append(in_bottom_half()))
    th.start()
    th.join()
    assert seen == [False]
    assert not in_bottom_half()
    with bottom_half():
        with bottom_half():
            assert in_bottom_half()
        assert in_bottom_half()
    assert not in_bottom_half()


def test_a_wait_on_an_ended_cookie_answers_at_once_with_its_status(plat: Platform) -> None:
    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros(256, np.uint8)
    ro = np.zeros(256, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d, \
            plat.map(ro, DataDirection.TO_DEVICE) as r:
        ok = chan.prep_dma_memcpy(d.addr, s.addr, 256).submit()
        bad = chan.prep_dma_memcpy(r.addr, s.addr, 256).submit()
        assert chan.sync_wait(bad) == Status.ERROR
        for _ in range(3):  # again and again, with nothing left to issue: the same answers
            assert chan.sync_wait(ok) == Status.COMPLETE
            assert chan.sync_wait(bad, timeout=0.0) == Status.ERROR
            assert chan.sync_wait(ok, timeout=None) == Status.COMPLETE
        assert np.array_equal(dst, src)
        assert not ro.any()


def test_a_wait_on_an_ended_cookie_still_issues_what_was_submitted(plat: Platform) -> None:
    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros(256, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        first = chan.prep_dma_memcpy(d.addr, s.addr, 128).submit()
        assert chan.sync_wait(first) == Status.COMPLETE
        done = threading.Event()
        tx = chan.prep_dma_memcpy(d.addr + 128, s.addr + 128, 128)
        tx.callback = lambda _: done.set()
        second = tx.submit()
        assert chan.sync_wait(first) == Status.COMPLETE  # issues `second` on the way
        assert done.wait(5.0)  # nobody else issued it
        assert chan.tx_status(second)[0] == Status.COMPLETE
        assert np.array_equal(dst, src)


def test_the_short_cuts_keep_the_generic_errors(plat: Platform) -> None:
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, np.uint8)
    with plat.map(src) as s, plat.map(dst) as d:
        chan = plat.request_channel(Cap.MEMCPY)
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        for bad in (-1.0, math.nan, True, "1"):
            with pytest.raises(ConfigError, match=r"^timeout must be"):
                chan.sync_wait(cookie, timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match=r"^cookie must be"):
            chan.sync_wait(1.5)  # type: ignore[arg-type]
        raised: list[BaseException] = []
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)

        def cb(_: object) -> None:
            try:
                chan.sync_wait(cookie)  # ended long ago: still refused from a callback
            except StateError as e:
                raised.append(e)

        tx.callback = cb
        chan.sync_wait(tx.submit())
        chan.synchronize()
        assert [str(e) for e in raised] == [f"{chan.name}: sync_wait from a callback would block the bottom half"]
        chan.release()
        with pytest.raises(StateError, match="not allocated"):
            chan.sync_wait(cookie)


def test_small_work_waited_on_is_done_and_each_cookie_ends_in_order(plat: Platform) -> None:
    src = np.arange(64 * 1024, dtype=np.uint32).view(np.uint8)[: 64 * 1024].copy()
    dst = np.zeros(64 * 1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        order: list[int] = []
        cookies = []
        for i in range(16):
            tx = chan.prep_dma_memcpy(d.addr + 4096 * i, s.addr + 4096 * i, 4096)
            tx.callback = order.append
            tx.callback_param = i
            cookies.append(tx.submit())
        assert chan.sync_wait(cookies[7]) == Status.COMPLETE
        assert all(chan.tx_status(c)[0] == Status.COMPLETE for c in cookies[:8])
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        chan.synchronize()
        assert order == list(range(16))
        assert np.array_equal(dst, src)


def test_while_a_trace_records_the_wait_is_the_generic_one(plat: Platform) -> None:
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        with trace.record() as rec:
            cookie = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
            assert chan.sync_wait(cookie) == Status.COMPLETE
        kinds = [e.kind for e in rec.events if e.chan is chan]
        assert kinds[:3] == ["prep", "submit", "issue"] and "complete" in kinds
        assert np.array_equal(dst, src)


def _copy_threads(plat: Platform) -> list[str]:
    """Record the thread that moves each run of large copies (AddressSpace.copy_large)."""
    space = plat.address_space
    real = space.copy_large
    seen: list[str] = []

    def copy_large(ops: object) -> object:
        seen.append(threading.current_thread().name)
        return real(ops)  # type: ignore[arg-type]

    space.copy_large = copy_large  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("timeout", [None, math.inf, 60.0])
def test_a_waiter_with_time_to_spare_does_its_own_large_copy_itself(plat: Platform, timeout: float | None) -> None:
    n = 1 << 20
    src, dst = np.arange(2 * n, dtype=np.uint32).view(np.uint8)[: 2 * n].copy(), np.zeros(2 * n, np.uint8)
    seen = _copy_threads(plat)
    done: list[tuple[str, int]] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for i in range(2):  # each the last issued descriptor when its waiter comes
            tx = chan.prep_dma_memcpy(d.addr + i * n, s.addr + i * n, n)
            tx.callback = lambda i: done.append((threading.current_thread().name, i))
            tx.callback_param = i
            assert chan.sync_wait(tx.submit(), timeout) == Status.COMPLETE
        assert seen == [threading.current_thread().name] * 2  # on the waiter's thread
        chan.synchronize()
    assert np.array_equal(dst, src)
    assert [i for _, i in done] == [0, 1]  # callbacks in order, in the bottom half, never on the waiter
    assert all(name != threading.current_thread().name for name, _ in done)


def test_a_waiter_whose_timeout_is_short_leaves_large_work_to_the_worker(plat: Platform) -> None:
    n = 1 << 20  # more than the 100 kB that 100 µs leaves at WAIT_INLINE_BYTES_PER_S (1 GB/s)
    src, dst = np.full(n, 7, np.uint8), np.zeros(n, np.uint8)
    seen = _copy_threads(plat)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        ended = threading.Event()
        tx = chan.prep_dma_memcpy(d.addr, s.addr, n)
        tx.callback = lambda _: ended.set()
        cookie = tx.submit()
        try:
            chan.sync_wait(cookie, 1e-4)
        except TimeoutError:
            pass
        assert ended.wait(5.0)  # not a second sync_wait: with time to spare, it could take the copy itself
        assert chan.tx_status(cookie)[0] == Status.COMPLETE
        assert seen == [f"{chan.name}-worker"]
    assert (dst == 7).all()


@pytest.mark.parametrize("wait_for", [0, 1])
def test_large_work_with_other_large_work_around_it_is_the_workers(plat: Platform, wait_for: int) -> None:
    """Behind large work (1) or with work queued behind it (0), a waiter leaves large work to the worker: a
    waiter that ran would keep the worker off the rest."""
    n = 1 << 20
    src, dst = np.arange(2 * n, dtype=np.uint32).view(np.uint8)[: 2 * n].copy(), np.zeros(2 * n, np.uint8)
    seen = _copy_threads(plat)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        cookies = [chan.prep_dma_memcpy(d.addr + i * n, s.addr + i * n, n).submit() for i in range(2)]
        assert chan.sync_wait(cookies[wait_for], None) == Status.COMPLETE
        assert chan.sync_wait(cookies[1], 1e-9 if wait_for else 5.0) == Status.COMPLETE
        assert seen[0] == f"{chan.name}-worker"
    assert np.array_equal(dst, src)
