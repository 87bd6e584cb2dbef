"""Bursts, the small-segment scatterlist path, whole large copies and waiter-run round trips (issue 8).

Exact bytes, statuses and results; the suite runs with and without the compiled core (``make test``), and
``test_copy_burst_compiled_and_pure_agree`` compares the two directly.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, ConfigError, DataDirection, Platform, Result, SgEntry, Status, TxResult, _native
from dmaengine.drivers import memcpy as memcpy_mod
from dmaengine.drivers.memcpy import BurstDescriptor
from dmaengine.provider import AddressSpace, pair_sg

MIB = 1024 * 1024



def pattern(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def test_a_burst_is_one_cookie_one_callback_and_exact_bytes(plat: Platform) -> None:
    n = 256
    src, dst = pattern(64 * n), np.zeros(64 * n, np.uint8)
    got: list[TxResult] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        perm = np.random.default_rng(2).permutation(n)
        tx = chan.prep_dma_memcpy_burst(d.addr + 64 * np.arange(n), s.addr + 64 * perm, 64)
        assert isinstance(tx, BurstDescriptor) and tx.count == n and tx.length == 64 * n
        tx.callback_result = lambda _p, r: got.append(r)
        cookie = tx.submit()
        assert cookie == 2
        assert chan.sync_wait(cookie) == Status.COMPLETE
        chan.synchronize()
        assert chan.stats.completed == 1 and chan.stats.bytes_transferred == 64 * n
    assert got == [TxResult(Result.NOERROR, 0)]
    assert tx.op_status.tolist() == [0] * n
    assert np.array_equal(dst.reshape(n, 64), src.reshape(n, 64)[perm])


def test_a_burst_reports_each_faulting_op_and_runs_the_others(plat: Platform) -> None:
    src, dst = pattern(1000), np.zeros(1000, np.uint8)
    ro = pattern(100, 3)
    got: list[TxResult] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d, \
            plat.map(ro, DataDirection.TO_DEVICE) as r:
        dsts = [d.addr, r.addr, d.addr + 10, d.addr + 995, d.addr + 20]
        srcs = [s.addr, s.addr, s.addr + 10 ** 9, s.addr, s.addr + 20]
        lens = [10, 10, 10, 10, 30]
        tx = chan.prep_dma_memcpy_burst(dsts, srcs, lens)
        tx.callback_result = lambda _p, res: got.append(res)
        cookie = tx.submit()
        assert chan.sync_wait(cookie) == Status.ERROR
        chan.synchronize()
        assert chan.stats.errors == 1
    assert tx.op_status.tolist() == [Result.NOERROR, Result.WRITE_FAILED, Result.READ_FAILED, Result.WRITE_FAILED,
                                     Result.NOERROR]
    assert got == [TxResult(Result.WRITE_FAILED, 30)]
    want = np.zeros(1000, np.uint8)
    want[:10] = src[:10]
    want[20:50] = src[20:50]
    assert np.array_equal(dst, want)


def test_burst_ops_run_in_order_like_a_memmove_loop(plat: Platform) -> None:
    buf = pattern(256)
    want = buf.copy()
    ops = [(10, 0, 20), (40, 15, 20), (0, 45, 30), (100, 100, 5)]
    for dd, ss, n in ops:
        want[dd : dd + n] = want[ss : ss + n].copy()
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
        a = np.array(ops)
        tx = chan.prep_dma_memcpy_burst(m.addr + a[:, 0], m.addr + a[:, 1], a[:, 2].astype(np.uint32))
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
    assert np.array_equal(buf, want)


def test_a_reused_burst_runs_again_with_fresh_statuses(plat: Platform) -> None:
    src, dst = pattern(128), np.zeros(128, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy_burst([d.addr, d.addr + 64], [s.addr, s.addr + 64], [64, 64])
        tx.set_reuse()
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        dst[:] = 0
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        assert tx.op_status.tolist() == [0, 0]
    assert np.array_equal(dst, src)


@pytest.mark.parametrize(("args", "message"), [
    (([1.5], [0], 1), r"^dst\[0\] must be a DMA address \(int >= 0\), not 1.5$"),
    (([0, True], [0, 0], 1), r"^dst\[1\] must be a DMA address \(int >= 0\), not True$"),
    ((np.array([0.0]), [0], 1), r"^dst must hold ints, not float64 values such as 0.0$"),
    (([0, -5], [0, 0], 1), r"^dst\[1\] must be a DMA address \(int >= 0\), not -5$"),
    (([0], [0, 1], 1), r"^dst holds 1 addresses but src holds 2$"),
    (([], [], 1), r"^a burst must hold at least one op, not 0$"),
    (([0], [0], 0), r"^length must be a positive int, not 0$"),
    (([0], [0], True), r"^length must be a positive int, not True$"),
    (([0, 1], [0, 1], [4, 0]), r"^length\[1\] must be a positive int, not 0$"),
    (([0, 1], [0, 1], [4]), r"^length holds 1 values but dst holds 2$"),
    (([2 ** 64], [0], 1), r"^dst value 18446744073709551616 is out of range \(0..2\*\*62-1\)$"),
    ((5, [0], 1), r"^dst must be a sequence or numpy array of ints, not 5$"),
    ((np.zeros((2, 2), np.int64), [0, 0], 1), r"^dst must be 1-D, not an array of shape \(2, 2\)$"),
])
def test_burst_arguments_are_checked_at_prep(plat: Platform, args: tuple[object, object, object],
                                             message: str) -> None:
    with plat.request_channel(Cap.MEMCPY) as chan, pytest.raises(ConfigError, match=message):
        chan.prep_dma_memcpy_burst(*args)


def test_burst_accepts_numpy_ints_and_index_objects(plat: Platform) -> None:
    src, dst = pattern(64), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy_burst([np.uint64(d.addr)], (np.int64(s.addr),), np.int32(64))
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
    assert np.array_equal(dst, src)


def test_memcpy_sg_of_small_segments_runs_as_one_burst_and_pairs_like_pair_sg(plat: Platform) -> None:
    src, dst = pattern(1000), np.zeros(1000, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        dsl = [SgEntry(d.addr + 500, 300), SgEntry(d.addr, 200)]
        ssl = [SgEntry(s.addr + 100, 50), SgEntry(s.addr, 100), SgEntry(s.addr + 600, 350)]
        tx = chan.prep_dma_memcpy_sg(dsl, ssl)
        assert isinstance(tx, BurstDescriptor) and tx.one_transfer
        assert list(zip(tx.dst_addrs.tolist(), tx.src_addrs.tolist(), tx.lengths.tolist())) == list(
            pair_sg(dsl, ssl))
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
    want = np.zeros(1000, np.uint8)
    flat = np.concatenate([src[100:150], src[0:100], src[600:950]])
    want[500:800], want[0:200] = flat[:300], flat[300:]
    assert np.array_equal(dst, want)


def test_memcpy_sg_stops_at_its_first_fault_like_one_transfer(plat: Platform) -> None:
    src, dst = pattern(300), np.zeros(300, np.uint8)
    got: list[TxResult] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        dsl = [SgEntry(d.addr, 100), SgEntry(d.addr + 10 ** 6, 100), SgEntry(d.addr + 200, 100)]
        ssl = [SgEntry(s.addr, 100), SgEntry(s.addr + 100, 100), SgEntry(s.addr + 200, 100)]
        tx = chan.prep_dma_memcpy_sg(dsl, ssl)
        tx.callback_result = lambda _p, r: got.append(r)
        assert chan.sync_wait(tx.submit()) == Status.ERROR
        chan.synchronize()
    assert got == [TxResult(Result.WRITE_FAILED, 200)]
    assert np.array_equal(dst[:100], src[:100]) and not dst[100:].any()


def test_memcpy_sg_of_large_segments_keeps_the_segment_path(plat: Platform) -> None:
    src, dst = pattern(2 * 64 * 1024), np.zeros(2 * 64 * 1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy_sg([SgEntry(d.addr, len(dst))], [SgEntry(s.addr, len(src))])
        assert not isinstance(tx, BurstDescriptor)
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
    assert np.array_equal(dst, src)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 900), st.integers(0, 900), st.integers(1, 100)), min_size=1, max_size=30),
       st.booleans())
def test_copy_burst_compiled_and_pure_agree(ops: list[tuple[int, int, int]], fault: bool) -> None:
    results = []
    for core in (None, _native.core):
        space = AddressSpace()
        buf = pattern(1000, 7)
        other = pattern(1000, 8)
        m, o = space.map(buf), space.map(other, DataDirection.TO_DEVICE)
        a = np.array(ops, dtype=np.int64)
        dst, src = m.addr + a[:, 0], np.where(a[:, 0] % 2 == 0, o.addr, m.addr) + a[:, 1]
        if fault:
            src[len(src) // 2] = 12
        saved = _native.core
        _native.core = core
        try:
            status = space.copy_burst(dst, src, a[:, 2].copy())
        finally:
            _native.core = saved
        results.append((None if status is None else status.tolist(), buf.tobytes()))
        m.unmap()
        o.unmap()
    assert results[0] == results[1]


def test_a_large_copy_is_one_memmove(plat: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 40 * MIB  # more than the 32 MiB pieces of old
    calls: list[int] = []
    space = plat.address_space
    real, real_large = space.copy, space.copy_large

    def copy(dst: int, src: int, length: int) -> None:
        calls.append(length)
        real(dst, src, length)

    def copy_large(ops: list[tuple[int, int, int]]) -> list[Exception | None] | None:
        calls.extend(n for _d, _s, n in ops)
        return real_large(ops)

    monkeypatch.setattr(space, "copy", copy)
    monkeypatch.setattr(space, "copy_large", copy_large)
    src, dst = np.full(n, 3, np.uint8), np.zeros(n, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, n).submit()) == Status.COMPLETE
    assert calls == [n] and memcpy_mod.CHUNK >= 1024 * MIB
    assert np.array_equal(dst, src)


def test_a_waiter_does_small_issued_work_itself_in_order_and_callbacks_stay_in_the_bottom_half(
        plat: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = pattern(4096)
    want = buf.copy()
    want[100:200] = want[0:100].copy()
    want[300:400] = want[100:200].copy()  # needs the first copy done first
    threads: list[int] = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
        dev = chan.device
        dev.device_pause(chan)  # the worker takes nothing from here on (it is not woken either)
        monkeypatch.setattr(chan, "wake_worker", lambda: None)
        monkeypatch.setattr(chan, "_hw_paused", False)  # but a waiter may run the work: the channel is idle
        txs = [chan.prep_dma_memcpy(m.addr + 100, m.addr, 100), chan.prep_dma_memcpy(m.addr + 300, m.addr + 100, 100)]
        for tx in txs:
            tx.callback = lambda _p: threads.append(threading.get_ident())
        cookies = [tx.submit() for tx in txs]
        assert chan.sync_wait(cookies[1], timeout=30) == Status.COMPLETE
        chan.synchronize()
        assert chan.tx_status(cookies[0])[0] == Status.COMPLETE
        monkeypatch.undo()
    assert np.array_equal(buf, want)
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_memcpy_sg_fast_path_leaves_odd_scatterlists_to_the_checked_path(plat: Platform) -> None:
    src, dst = pattern(128), np.zeros(128, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        gen = (e for e in [SgEntry(d.addr, 64), SgEntry(d.addr + 64, 64)])  # an iterable, read once
        tx = chan.prep_dma_memcpy_sg(gen, [SgEntry(s.addr, 128)])  # type: ignore[arg-type]
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        with pytest.raises(ConfigError, match=r"^dst_sgl must hold at least one entry"):
            chan.prep_dma_memcpy_sg([], [SgEntry(s.addr, 128)])
    assert np.array_equal(dst, src)
