"""The memory engine's ``sync_wait`` short cuts and the bottom-half mark (issue 8): each short cut gives the
answer, the errors and the side effects (issuing) of the generic wait, and is left to it while a trace records."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from dmaengine import Cap, ConfigError, DataDirection, Platform, StateError, Status, trace
from dmaengine._context import bottom_half, in_bottom_half
from dmaengine.drivers.memcpy import MemcpyEngine


@pytest.fixture
def plat() -> Iterator[Platform]:
    with Platform() as p:
        p.register_device(MemcpyEngine(channels=1))
        yield p


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
