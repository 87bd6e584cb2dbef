"""The memory engine never dies and never loses a callback (issue 7 items 2 and 8, the engine's half), and the
bottom half is one object (issue 8 item 5). Each test failed on the code before these fixes."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import numpy as np
import pytest

from dmaengine import Cap, Platform, Result, Status, TxResult
from dmaengine._context import WaitQueue

BIG = 3 * 1024 * 1024 + 5  # more than a waiter does itself: the worker runs it



def pattern(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def test_a_descriptor_holding_a_float_size_ends_aborted_and_the_worker_goes_on(
        plat: Platform, caplog: pytest.LogCaptureFixture) -> None:
    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    got: list[tuple[int, TxResult]] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        bad = chan.prep_dma_memcpy(d.addr, s.addr, BIG)
        bad.segs = ((d.addr, s.addr, 1.5),)  # type: ignore[attr-defined]  # what no prep accepts
        bad.callback_result = lambda p, r: got.append((p, r))
        bad.callback_param = 1
        c_bad = bad.submit()
        good = chan.prep_dma_memcpy(d.addr, s.addr, BIG)
        good.callback_result = lambda p, r: got.append((p, r))
        good.callback_param = 2
        c_good = good.submit()
        assert chan.sync_wait(c_good, timeout=30) == Status.COMPLETE
        chan.synchronize()
        assert chan.tx_status(c_bad)[0] == Status.ERROR
        assert chan.stats.errors == 1
    assert got == [(1, TxResult(Result.ABORTED, BIG)), (2, TxResult(Result.NOERROR, 0))]
    assert np.array_equal(dst, src)
    assert any("ended ABORTED" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("field", ["src", "dst", "length"])
def test_a_small_copy_holding_garbage_ends_aborted_and_the_rest_of_its_run_copies(plat: Platform,
                                                                                  field: str) -> None:
    src, dst = pattern(256), np.zeros(256, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        txs = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64) for i in range(4)]
        setattr(txs[1], field, "x")
        cookies = [tx.submit() for tx in txs]
        chan.sync_wait(cookies[-1], timeout=30)
        assert [chan.tx_status(c)[0] for c in cookies] == [Status.COMPLETE, Status.ERROR, Status.COMPLETE,
                                                            Status.COMPLETE]
        # The engine still runs later work.
        assert chan.sync_wait(chan.prep_dma_memcpy(d.addr + 64, s.addr + 64, 64).submit()) == Status.COMPLETE
    assert np.array_equal(dst, src)


def test_a_callback_raising_baseexception_drops_no_other_callback_of_its_batch(
        plat: Platform, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def cb(i: int) -> None:
        calls.append(i)
        if i == 1:
            raise SystemExit(3)
        if i == 2:
            raise KeyboardInterrupt

    src, dst = pattern(64 * 5), np.zeros(64 * 5, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()  # the five complete as one batch: one bottom-half run calls them all
        cookie = 0
        for i in range(5):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = cb
            tx.callback_param = i
            cookie = tx.submit()
        chan.issue_pending()
        chan.resume()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        chan.synchronize()
        assert calls == [0, 1, 2, 3, 4]
        assert chan.stats.callback_errors == 2
    assert sum("callback of" in r.getMessage() for r in caplog.records) == 2


class _NowTasklet:
    """A tasklet that runs when asked to (``run_now``), for BottomHalf alone."""

    def __init__(self, fn: Callable[[], None], name: str) -> None:
        self.fn, self.name, self.scheduled = fn, name, 0

    def schedule(self) -> None:
        self.scheduled += 1

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def in_context(self) -> bool:
        return False

    def kill(self) -> None:
        pass


class _Chan:
    def __init__(self, name: str, fn: Callable[[], None]) -> None:
        self.name, self.bottom_half = name, fn


def test_bottom_half_owns_its_queue_and_flags_and_survives_a_raising_channel(
        caplog: pytest.LogCaptureFixture) -> None:
    from dmaengine._context import BottomHalf

    ran: list[str] = []

    def boom() -> None:
        ran.append("a")
        raise SystemExit(1)

    a, b = _Chan("a", boom), _Chan("b", lambda: ran.append("b"))
    bh = BottomHalf(_NowTasklet, "dma9-bh")
    tasklet = bh.tasklet
    assert isinstance(tasklet, _NowTasklet) and tasklet.name == "dma9-bh"
    bh.schedule(a)
    bh.schedule(b)
    bh.schedule(a)  # already queued: once
    assert bh.pending(a) and bh.pending(b) and tasklet.scheduled == 2
    tasklet.fn()
    assert ran == ["a", "b"] and bh.failures == 1 and not bh.pending(a) and not bh.pending(b)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == ["bottom half of a failed"]
    bh.schedule(a)  # a channel may ask again after a failed run
    assert bh.pending(a)


def test_wait_async_counts_its_waiter_under_the_wait_queue_lock(plat: Platform) -> None:
    calls: list[tuple[str, int, bool]] = []

    class Spy(WaitQueue):
        __slots__ = ()

        def add_async(self, waker: Callable[[], None]) -> None:
            super().add_async(waker)
            calls.append(("add", self.waiters, waker in self.async_waiters))

        def remove_async(self, waker: Callable[[], None]) -> None:
            super().remove_async(waker)
            calls.append(("remove", self.waiters, waker in self.async_waiters))

    src, dst = pattern(BIG), np.zeros(BIG, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.waitq = Spy()
        dev = chan.device
        dev.device_pause(chan)  # the engine holds the work; the client sees IN_PROGRESS, not PAUSED
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, BIG).submit()
        resumed = threading.Thread(target=dev.device_resume, args=(chan,))

        async def wait() -> Status:
            task = asyncio.ensure_future(chan.wait_async(cookie, timeout=30))
            while not calls and not task.done():
                await asyncio.sleep(0)
            resumed.start()  # from another thread, once the waiter is registered
            return await task

        assert asyncio.run(wait()) == Status.COMPLETE
        resumed.join()
    assert calls == [("add", 1, True), ("remove", 0, False)]
