"""The conformance suite: the semantics of the DMA Engine API, checked through the public API only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from .._channel import Channel
from .._context import in_bottom_half
from .._enums import Cap, DataDirection, Result, Status
from .._errors import NoChannelError, NotSupportedError, StateError
from .._platform import Platform
from .._records import DataChunk, InterleavedTemplate, TxResult

__all__ = ["ConformanceSuite", "poll"]


def poll(plat: Platform, pred: Callable[[], bool], timeout: float = 10.0, step: float = 0.001) -> bool:
    """Let ``plat`` run in steps of ``step`` seconds until ``pred()`` or ``timeout`` (its own clock) passes."""
    waited = 0.0
    while not pred():
        if waited >= timeout:
            return False
        plat.run_for(step)
        waited += step
    return True


def pattern(n: int, seed: int = 1) -> np.ndarray:
    """``n`` bytes of a repeatable, non-trivial pattern."""
    return ((np.arange(n, dtype=np.uint64) * 131 + seed * 7) % 251).astype(np.uint8)


class ConformanceSuite:
    """Subclass in a ``Test*`` class and provide a ``dma_platform`` fixture; every test uses MEMCPY channels,
    and tests of other capabilities skip when the device lacks them."""

    #: bytes of the big copy used by pause and timeout tests; a driver may lower it.
    big_copy = 8 * 1024 * 1024

    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:  # pragma: no cover - overridden
        raise NotImplementedError("give your subclass a dma_platform fixture")

    @pytest.fixture
    def chan(self, dma_platform: Platform) -> Iterator[Channel]:
        ch = dma_platform.request_channel(Cap.MEMCPY)
        yield ch
        if ch.client_count:
            ch.release()

    # --- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def copy_pair(plat: Platform, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        src = pattern(n, seed)
        dst = np.zeros(n, dtype=np.uint8)
        return src, dst, plat.map(src, DataDirection.TO_DEVICE), plat.map(dst, DataDirection.FROM_DEVICE)

    # --- channels -----------------------------------------------------------------------------------------
    def test_names_follow_dma_n_chan_m(self, dma_platform: Platform) -> None:
        for i, dev in enumerate(dma_platform.devices):
            assert dev.name == f"dma{dev.dev_id}"
            assert dev.dev_id == i
            for j, c in enumerate(dev.channels):
                assert (c.chan_id, c.name) == (j, f"{dev.name}chan{j}")

    def test_request_is_exclusive_until_release(self, dma_platform: Platform) -> None:
        total = sum(len(d.channels) for d in dma_platform.devices if d.cap_mask & Cap.MEMCPY)
        got = [dma_platform.request_channel(Cap.MEMCPY) for _ in range(total)]
        assert len({id(c) for c in got}) == total
        assert all(c.stats.in_use for c in got)
        with pytest.raises(NoChannelError, match="no free channel"):
            dma_platform.request_channel(Cap.MEMCPY)
        got[0].release()
        assert not got[0].stats.in_use
        again = dma_platform.request_channel(Cap.MEMCPY)
        assert again is got[0]
        for c in got:
            c.release()

    def test_filter_chooses_and_receives_param(self, dma_platform: Platform) -> None:
        seen: list[Any] = []
        names = [c.name for c in dma_platform.channels() if c.device.cap_mask & Cap.MEMCPY]
        want = names[-1]

        def by_name(c: Channel, param: Any) -> bool:
            seen.append(param)
            return c.name == param

        with dma_platform.request_channel(Cap.MEMCPY, by_name, want) as c:
            assert c.name == want
        assert set(seen) == {want}
        with pytest.raises(NoChannelError):
            dma_platform.request_channel(Cap.MEMCPY, lambda c, p: False)

    def test_released_channel_refuses_work(self, dma_platform: Platform) -> None:
        c = dma_platform.request_channel(Cap.MEMCPY)
        c.release()
        with pytest.raises(StateError, match="not allocated"):
            c.prep_dma_memcpy(0x1000, 0x2000, 16)
        with pytest.raises(StateError):
            c.release()

    # --- cookies and queueing -----------------------------------------------------------------------------
    def test_first_cookie_is_2_then_increments_and_done_reads_0(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 3 * 256)
        txs = [chan.prep_dma_memcpy(d.addr + 256 * i, s.addr + 256 * i, 256) for i in range(3)]
        assert [tx.cookie for tx in txs] == [0, 0, 0]
        cookies = [tx.submit() for tx in txs]
        assert cookies == [2, 3, 4]
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        assert [tx.cookie for tx in txs] == [0, 0, 0]
        st, state = chan.tx_status(3)
        assert st == Status.COMPLETE and (state.last, state.used, state.residue) == (4, 4, 0)
        assert np.array_equal(dst, src)

    def test_submit_only_queues(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 4096)
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 4096).submit()
        dma_platform.run_for(0.02)
        assert not dst.any()
        st, state = chan.tx_status(cookie)
        assert st == Status.IN_PROGRESS and state.residue == 4096
        assert chan.sync_wait(cookie) == Status.COMPLETE
        assert np.array_equal(dst, src)

    def test_descriptors_complete_in_order(self, dma_platform: Platform, chan: Channel) -> None:
        n = 64
        src, dst, s, d = self.copy_pair(dma_platform, n * 512)
        order: list[int] = []
        last = 0
        for i in range(n):
            tx = chan.prep_dma_memcpy(d.addr + 512 * i, s.addr + 512 * i, 512 * (1 + i % 2) if i < n - 1 else 512)
            tx.callback = order.append
            tx.callback_param = i
            last = tx.submit()
        assert chan.sync_wait(last) == Status.COMPLETE
        chan.synchronize()
        assert order == list(range(n))
        assert np.array_equal(dst, src)

    def test_double_submit_raises(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 64)
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        cookie = tx.submit()
        with pytest.raises(StateError, match="already submitted"):
            tx.submit()
        chan.sync_wait(cookie)
        with pytest.raises(StateError, match="not reusable"):
            tx.submit()

    # --- callbacks ----------------------------------------------------------------------------------------
    def test_callback_runs_in_bottom_half_unlocked(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 1024)
        seen: list[tuple[bool, bool, bool]] = []
        me = threading.get_ident()

        def cb(param: Any) -> None:
            lock = getattr(chan, "lock", None)
            free = True
            if lock is not None:
                free = lock.acquire(blocking=False)
                if free:
                    lock.release()
            other_thread = threading.get_ident() != me or not dma_platform.realtime
            seen.append((in_bottom_half(), other_thread, free))

        tx = chan.prep_dma_memcpy(d.addr, s.addr, 1024)
        tx.callback = cb
        chan.sync_wait(tx.submit())
        chan.synchronize()
        assert seen == [(True, True, True)]

    def test_callback_result_wins_over_callback(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 256)
        calls: list[Any] = []
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 256)
        tx.callback = lambda p: calls.append(("callback", p))
        tx.callback_result = lambda p, r: calls.append(("result", p, r))
        tx.callback_param = "P"
        chan.sync_wait(tx.submit())
        chan.synchronize()
        assert calls == [("result", "P", TxResult(Result.NOERROR, 0))]

    def test_chain_1000_deep_from_callbacks(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 64)
        count = [0]

        def step(param: Any) -> None:
            count[0] += 1
            if count[0] < 1000:
                tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
                tx.callback = step
                tx.submit()
                chan.issue_pending()

        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = step
        tx.submit()
        chan.issue_pending()
        assert poll(dma_platform, lambda: count[0] >= 1000, timeout=60.0)
        chan.synchronize()
        assert count[0] == 1000
        assert chan.stats.completed == 1000

    def test_raising_callback_does_not_stop_engine(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 512)
        ran: list[int] = []

        def bad(param: Any) -> None:
            ran.append(param)
            raise RuntimeError("callback failure on purpose")

        for i in range(2):
            tx = chan.prep_dma_memcpy(d.addr + 256 * i, s.addr + 256 * i, 256)
            tx.callback = bad if i == 0 else ran.append
            tx.callback_param = i
            last = tx.submit()
        chan.sync_wait(last)
        chan.synchronize()
        assert ran == [0, 1]
        assert chan.stats.callback_errors == 1
        assert np.array_equal(dst, src)

    # --- terminate and synchronize ------------------------------------------------------------------------
    def test_terminate_drops_unfinished_without_callbacks(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 64 * 100)
        calls: list[int] = []
        cookies = []
        for i in range(100):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = calls.append
            tx.callback_param = i
            cookies.append(tx.submit())
        chan.terminate_async()
        chan.issue_pending()
        dma_platform.run_for(0.02)
        chan.synchronize()
        assert calls == []
        assert not dst.any()
        assert all(chan.tx_status(c)[0] != Status.IN_PROGRESS for c in cookies)
        # The channel works afterwards.
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        assert np.array_equal(dst[:64], src[:64])

    def test_terminate_idle_is_a_noop_twice(self, dma_platform: Platform, chan: Channel) -> None:
        chan.terminate_sync()
        chan.terminate_sync()
        chan.terminate_async()
        chan.synchronize()
        src, dst, s, d = self.copy_pair(dma_platform, 128)
        assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 128).submit()) == Status.COMPLETE
        assert np.array_equal(dst, src)

    def test_synchronize_waits_for_the_running_callback(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 128)
        state: list[str] = []

        def slow(param: Any) -> None:
            state.append("start")
            if dma_platform.realtime:
                time.sleep(0.1)
            state.append("end")

        tx = chan.prep_dma_memcpy(d.addr, s.addr, 128)
        tx.callback = slow
        chan.sync_wait(tx.submit())
        chan.terminate_sync()
        assert state == ["start", "end"]

    def test_blocking_calls_from_a_callback_raise(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 128)
        errors: list[str] = []

        def cb(param: Any) -> None:
            for call in (chan.synchronize, chan.terminate_sync):
                try:
                    call()
                except StateError as e:
                    errors.append(str(e))

        tx = chan.prep_dma_memcpy(d.addr, s.addr, 128)
        tx.callback = cb
        chan.sync_wait(tx.submit())
        chan.synchronize()
        assert len(errors) == 2
        assert "synchronize from a callback" in errors[0]
        assert "terminate_sync from a callback" in errors[1]

    def test_terminate_async_from_a_callback(self, dma_platform: Platform, chan: Channel) -> None:
        """The first descriptor's callback terminates the channel while 49 more are submitted (not issued): they
        are dropped with no callback and read ERROR, untouched; the channel then works. A terminate that did
        nothing would call them back once issued."""
        src, dst, s, d = self.copy_pair(dma_platform, 64 * 50)
        calls: list[int] = []
        gate = threading.Event()  # the 49 are submitted before the first callback terminates

        def first(param: Any) -> None:
            gate.wait(10)
            calls.append(param)
            chan.terminate_async()

        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = first
        tx.callback_param = 0
        cookies = [tx.submit()]
        chan.issue_pending()
        for i in range(1, 50):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = calls.append
            tx.callback_param = i
            cookies.append(tx.submit())
        gate.set()
        assert poll(dma_platform, lambda: bool(calls))
        chan.synchronize()
        chan.issue_pending()  # nothing is left to issue
        dma_platform.run_for(0.01)
        chan.synchronize()
        assert calls == [0]
        assert chan.tx_status(cookies[0])[0] == Status.COMPLETE
        assert [chan.tx_status(c)[0] for c in cookies[1:]] == [Status.ERROR] * 49
        assert bytes(dst[:64]) == bytes(src[:64]) and not dst[64:].any()
        assert chan.sync_wait(chan.prep_dma_memcpy(d.addr + 64, s.addr + 64, 64).submit()) == Status.COMPLETE

    # --- pause and resume ---------------------------------------------------------------------------------
    def test_pause_freezes_and_resume_continues(self, dma_platform: Platform, chan: Channel) -> None:
        if not chan.get_slave_caps().cmd_pause:
            pytest.skip("the device cannot pause")
        piece = self.big_copy // 8
        src, dst, s, d = self.copy_pair(dma_platform, self.big_copy)
        cookies = [chan.prep_dma_memcpy(d.addr + piece * i, s.addr + piece * i, piece).submit() for i in range(8)]
        chan.issue_pending()
        chan.pause()
        st, state = chan.tx_status(cookies[-1])
        assert st == Status.PAUSED
        frozen = dst.copy()
        dma_platform.run_for(0.05)
        assert np.array_equal(dst, frozen)
        assert chan.tx_status(cookies[-1])[1].residue == state.residue
        chan.resume()
        with pytest.raises(StateError, match="not paused"):
            chan.resume()
        assert chan.sync_wait(cookies[-1], timeout=30.0) == Status.COMPLETE
        assert np.array_equal(dst, src)

    def test_resume_when_not_paused_raises(self, chan: Channel) -> None:
        if not chan.get_slave_caps().cmd_resume:
            pytest.skip("the device cannot resume")
        with pytest.raises(StateError, match="is not paused"):
            chan.resume()

    # --- status -------------------------------------------------------------------------------------------
    def test_residue_is_length_before_and_0_after(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 3000)
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 3000).submit()
        st, state = chan.tx_status(cookie)
        assert (st, state.residue) == (Status.IN_PROGRESS, 3000)
        chan.sync_wait(cookie)
        st, state = chan.tx_status(cookie)
        assert (st, state.residue) == (Status.COMPLETE, 0)

    def test_sync_wait_times_out(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, self.big_copy)
        cookies = [chan.prep_dma_memcpy(d.addr, s.addr, self.big_copy).submit() for _ in range(4)]
        with pytest.raises(TimeoutError, match=f"cookie {cookies[-1]} not complete"):
            chan.sync_wait(cookies[-1], timeout=1e-6)
        assert chan.sync_wait(cookies[-1], timeout=60.0) == Status.COMPLETE

    def test_stats_count_work(self, dma_platform: Platform, chan: Channel) -> None:
        _src, _dst, s, d = self.copy_pair(dma_platform, 1000)
        last = 0
        for i in range(10):
            last = chan.prep_dma_memcpy(d.addr + 100 * i, s.addr + 100 * i, 100).submit()
        chan.sync_wait(last)
        st = chan.stats
        assert (st.submitted, st.completed, st.memcpy_count, st.bytes_transferred, st.errors) == (10, 10, 10, 1000, 0)

    # --- faults -------------------------------------------------------------------------------------------
    def _run_one(self, chan: Channel, dst: int, src: int, n: int) -> tuple[int, list[TxResult]]:
        results: list[TxResult] = []
        tx = chan.prep_dma_memcpy(dst, src, n)
        tx.callback_result = lambda p, r: results.append(r)
        cookie = tx.submit()
        chan.sync_wait(cookie)
        chan.synchronize()
        return cookie, results

    def test_unmapped_source_is_read_failed(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 256)
        stale = s.addr
        s.unmap()
        cookie, results = self._run_one(chan, d.addr, stale, 256)
        assert [r.result for r in results] == [Result.READ_FAILED]
        assert chan.tx_status(cookie)[0] == Status.ERROR
        assert not dst.any()
        assert chan.stats.errors == 1
        s2 = dma_platform.map(src, DataDirection.TO_DEVICE)
        cookie, results = self._run_one(chan, d.addr, s2.addr, 256)
        assert [r.result for r in results] == [Result.NOERROR]
        assert chan.tx_status(cookie)[0] == Status.COMPLETE
        assert np.array_equal(dst, src)

    def test_write_against_direction_is_write_failed(self, dma_platform: Platform, chan: Channel) -> None:
        src = pattern(256)
        ro = np.zeros(256, dtype=np.uint8)
        s = dma_platform.map(src, DataDirection.TO_DEVICE)
        d = dma_platform.map(ro, DataDirection.TO_DEVICE)
        cookie, results = self._run_one(chan, d.addr, s.addr, 256)
        assert [r.result for r in results] == [Result.WRITE_FAILED]
        assert chan.tx_status(cookie)[0] == Status.ERROR
        assert not ro.any()

    def test_read_against_direction_is_read_failed(self, dma_platform: Platform, chan: Channel) -> None:
        src = pattern(256)
        dst = np.zeros(256, dtype=np.uint8)
        s = dma_platform.map(src, DataDirection.FROM_DEVICE)
        d = dma_platform.map(dst, DataDirection.FROM_DEVICE)
        _cookie, results = self._run_one(chan, d.addr, s.addr, 256)
        assert [r.result for r in results] == [Result.READ_FAILED]
        assert not dst.any()

    def test_past_the_end_faults_and_writes_nothing(self, dma_platform: Platform, chan: Channel) -> None:
        src = pattern(8192)
        whole = np.zeros(8192, dtype=np.uint8)
        s = dma_platform.map(src, DataDirection.TO_DEVICE)
        d = dma_platform.map(whole[:4096], DataDirection.FROM_DEVICE)  # the rest of ``whole`` is not mapped
        cookie, results = self._run_one(chan, d.addr + 4000, s.addr, 200)
        assert [r.result for r in results] == [Result.WRITE_FAILED]
        assert not whole[:4000].any() and not whole[4096:].any()  # nothing outside the mapping or the request
        # Hardware may have written the bursts before the one that faulted: a prefix of the source, no more.
        head = whole[4000:4096]
        differ = np.flatnonzero(head != src[:96])
        moved = int(differ[0]) if differ.size else 96
        assert not head[moved:].any()
        # The following descriptor still runs.
        _cookie, results = self._run_one(chan, d.addr, s.addr, 4096)
        assert [r.result for r in results] == [Result.NOERROR]
        assert np.array_equal(whole[:4096], src[:4096]) and not whole[4096:].any()

    # --- other capabilities -------------------------------------------------------------------------------
    def test_descriptor_reuse(self, dma_platform: Platform, chan: Channel) -> None:
        src, dst, s, d = self.copy_pair(dma_platform, 512)
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 512)
        if not chan.device.descriptor_reuse:
            with pytest.raises(NotSupportedError):
                tx.set_reuse()
            return
        with pytest.raises(StateError, match="not reusable"):
            tx.free()
        tx.set_reuse()
        assert tx.test_reuse()
        cookies = []
        for k in range(3):
            src[:] = pattern(512, seed=k + 5)
            cookie = tx.submit()
            cookies.append(cookie)
            assert chan.sync_wait(cookie) == Status.COMPLETE
            assert np.array_equal(dst, src)
        assert cookies == [cookies[0], cookies[0] + 1, cookies[0] + 2]
        tx.free()
        with pytest.raises(StateError, match="freed"):
            tx.submit()

    def test_memset(self, dma_platform: Platform, chan: Channel) -> None:
        if not chan.device.cap_mask & Cap.MEMSET:
            pytest.skip("no MEMSET")
        buf = np.zeros(1000, dtype=np.uint8)
        with dma_platform.map(buf, DataDirection.FROM_DEVICE) as m:
            assert chan.sync_wait(chan.prep_dma_memset(m.addr + 100, 0xA5, 800).submit()) == Status.COMPLETE
        assert not buf[:100].any() and (buf[100:900] == 0xA5).all() and not buf[900:].any()

    def test_interleaved(self, dma_platform: Platform, chan: Channel) -> None:
        if not chan.device.cap_mask & Cap.INTERLEAVE:
            pytest.skip("no INTERLEAVE")
        src = pattern(64 * 16)
        dst = np.zeros(32 * 16, dtype=np.uint8)
        # Take the first half of every 64-byte row: a 2-D gather.
        with dma_platform.map(src) as s, dma_platform.map(dst) as d:
            xt = InterleavedTemplate(src_start=s.addr, dst_start=d.addr, src_inc=True, dst_inc=True, src_sgl=True,
                                     dst_sgl=False, numf=16, sgl=(DataChunk(32, icg=32),))
            assert chan.sync_wait(chan.prep_interleaved_dma(xt).submit()) == Status.COMPLETE
        assert np.array_equal(dst, src.reshape(16, 64)[:, :32].reshape(-1))

    def test_memcpy_sg(self, dma_platform: Platform, chan: Channel) -> None:
        if not chan.device.cap_mask & Cap.MEMCPY_SG:
            pytest.skip("no MEMCPY_SG")
        srcs = [pattern(n, seed=n) for n in (100, 300, 50)]
        dsts = [np.zeros(n, dtype=np.uint8) for n in (200, 250)]
        with dma_platform.map_sg(srcs, DataDirection.TO_DEVICE) as ss, \
                dma_platform.map_sg(dsts, DataDirection.FROM_DEVICE) as ds:
            assert chan.sync_wait(chan.prep_dma_memcpy_sg(ds, ss).submit()) == Status.COMPLETE
        assert np.array_equal(np.concatenate(dsts), np.concatenate(srcs))
