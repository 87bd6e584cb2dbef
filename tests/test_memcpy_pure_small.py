"""Pure Python's path for streams of small copies (issue 8, small64 in pure Python): runs copied as one gather
(``AddressSpace.copy_uniform``), completion in few passes (``MemcpyChannel._complete_batch``) and the pool of
descriptors that the bottom half refills for the one-call prep.

``copy_uniform`` is checked against a loop of sequential memmoves (the reference) both ways; the pool and the
completion are pure Python's own (the compiled core has its own prep and completion) and run only without it.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, DataDirection, Platform, Result, Status, _native
from dmaengine.drivers import memcpy
from dmaengine.drivers.memcpy import MemcpyDescriptor, MemcpyEngine
from dmaengine.provider import AddressSpace

pure_only = pytest.mark.skipif(_native.core is not None, reason="pure Python's prep, completion and pool")

SLOTS = ("chan", "cookie", "flags", "callback", "callback_param", "callback_result", "state", "length", "result",
         "residue", "done_cookie", "segs", "value", "done", "dst", "src")



def _reference(bufs: list[bytearray], ops: list[tuple[int, int, int, int]], n: int) -> None:
    """Sequential memmoves: op (dst_buf, dst_off, src_buf, src_off), each of ``n`` bytes, in order."""
    for db, do, sb, so in ops:
        bufs[db][do : do + n] = bytes(bufs[sb][so : so + n])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 96), st.lists(st.tuples(st.integers(0, 2), st.integers(0, 400), st.integers(0, 2),
                                              st.integers(0, 400)), min_size=1, max_size=60),
       st.booleans())
def test_copy_uniform_is_sequential_memmoves(n: int, raw: list[tuple[int, int, int, int]], compiled: bool) -> None:
    """Overlapping ops, ops within one buffer, a buffer mapped twice (same memory, two addresses), ops across
    buffers: the bytes are those of memmoves one after the other, both ways."""
    if compiled and _native.core is None:
        compiled = False
    size = 512
    mem = [bytearray(np.random.default_rng(i).integers(0, 256, size, dtype=np.uint8).tobytes()) for i in range(2)]
    arrays = [np.frombuffer(b, np.uint8) for b in mem]
    space = AddressSpace()
    maps = [space.map(arrays[0]), space.map(arrays[1]), space.map(arrays[0])]  # map 2 aliases map 0
    which = [0, 1, 0]
    ops = [(d % 3, min(do, size - n), s % 3, min(so, size - n)) for d, do, s, so in raw]
    want = [bytearray(b) for b in mem]
    _reference(want, [(which[d], do, which[s], so) for d, do, s, so in ops], n)
    dst = np.array([maps[d].addr + do for d, do, _, _ in ops], np.int64)
    src = np.array([maps[s].addr + so for _, _, s, so in ops], np.int64)
    saved = _native.core
    _native.core = saved if compiled else None
    try:
        status = space.copy_uniform(dst, src, n)
    finally:
        _native.core = saved
    assert status is None
    assert [bytes(b) for b in mem] == [bytes(b) for b in want]


def test_copy_uniform_reports_faults_per_op_as_copy_burst_does() -> None:
    space = AddressSpace()
    a = np.arange(256, dtype=np.uint8)
    b = np.zeros(256, np.uint8)
    ma, mb = space.map(a, DataDirection.TO_DEVICE), space.map(b, DataDirection.FROM_DEVICE)
    dst = np.array([mb.addr, ma.addr, mb.addr + 64, mb.addr + 250], np.int64)  # 1: to a TO_DEVICE; 3: past the end
    src = np.array([ma.addr, ma.addr, mb.addr, ma.addr], np.int64)  # 2: from a FROM_DEVICE mapping
    status = space.copy_uniform(dst, src, 16)
    assert status is not None
    assert status.tolist() == [Result.NOERROR, Result.WRITE_FAILED, Result.READ_FAILED, Result.WRITE_FAILED]
    assert b[:16].tolist() == list(range(16)) and not b[16:].any()


@pytest.mark.parametrize(("length", "addr", "match"), [
    (0, 0, r"^copy_uniform: length must be an int in 1\.\.16384, not 0$"),
    (16385, 0, r"^copy_uniform: length must be"),
    (True, 0, r"^copy_uniform: length must be"),
    (8, -1, r"^copy_uniform: addresses must lie in \[0, 2\*\*62\)"),
    (8, 1 << 62, r"^copy_uniform: addresses must lie in \[0, 2\*\*62\)"),
])
def test_copy_uniform_refuses_a_length_or_address_out_of_range(length: int, addr: int, match: str) -> None:
    space = AddressSpace()
    with pytest.raises(ValueError, match=match):
        space.copy_uniform(np.array([addr], np.int64), np.array([0], np.int64), length)


@pytest.mark.parametrize("bad", ["x", 64.0, None, 1 << 70])
@pytest.mark.parametrize("field", ["src", "dst", "length"])
def test_a_run_of_small_copies_with_one_bad_field_ends_that_one_aborted(plat: Platform, field: str,
                                                                        bad: object) -> None:
    """A run long enough for the array path (ARRAY_RUN or more): the bad descriptor ends ERROR, the rest copy.
    (A ``src`` of None is no error: it is what a fill or a descriptor with segments holds.)"""
    if field == "src" and bad is None:
        pytest.skip("src None: not a small copy, the generic path's")
    count = 2 * memcpy.ARRAY_RUN
    src = np.random.default_rng(3).integers(0, 256, 64 * count, dtype=np.uint8)
    dst = np.zeros(64 * count, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()
        txs = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64) for i in range(count)]
        setattr(txs[5], field, bad)
        cookies = [tx.submit() for tx in txs]
        chan.issue_pending()
        chan.resume()
        assert chan.sync_wait(cookies[-1], timeout=30) == Status.COMPLETE
        got = [chan.tx_status(c)[0] for c in cookies]
    assert got == [Status.ERROR if i == 5 else Status.COMPLETE for i in range(count)]
    want = src.copy()
    want[5 * 64 : 6 * 64] = dst[5 * 64 : 6 * 64]  # whatever the bad one did not do
    assert np.array_equal(dst, want)
    assert not dst[5 * 64 : 6 * 64].any()


def _run(chan: object, d: int, s: int, count: int, keep: list[MemcpyDescriptor] | None = None,
         every: int = 7) -> list[MemcpyDescriptor]:
    done = threading.Event()
    left = [count]

    def cb(_: object) -> None:
        left[0] -= 1
        if not left[0]:
            done.set()

    prep = chan.prep_dma_memcpy  # type: ignore[attr-defined]
    seen = []
    for i in range(count):
        tx = prep(d + 64 * (i % 16), s + 64 * (i % 16), 64)
        seen.append(id(tx))
        tx.callback = cb
        tx.callback_param = i
        tx.submit()
        if keep is not None and i % every == 0:
            keep.append(tx)
    chan.issue_pending()  # type: ignore[attr-defined]
    assert done.wait(30)
    chan.synchronize()  # type: ignore[attr-defined]
    return seen  # type: ignore[return-value]


@pure_only
def test_the_bottom_half_pools_only_descriptors_that_nobody_else_holds(plat: Platform) -> None:
    src = np.arange(1024, dtype=np.uint8)
    dst = np.zeros(1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        pool = chan._pool  # type: ignore[attr-defined]
        assert pool == []
        kept: list[MemcpyDescriptor] = []
        _run(chan, d.addr, s.addr, 300, kept)
        assert 0 < len(pool) <= 300 - len(kept)
        assert not any(p is k for p in pool for k in kept)
        # What the client still holds is as completion left it: its callback and parameter are still there.
        assert all(k.callback is not None and k.callback_param == 7 * i for i, k in enumerate(kept))
        assert all(k.state.name == "DONE" and k.cookie == 0 for k in kept)
        # The next preps take pooled descriptors (never a held one), each exactly as a fresh one.
        n = len(pool)
        pooled = set(map(id, pool))
        fresh = [chan.prep_dma_memcpy(d.addr + 64, s.addr + 128, 64) for _ in range(n)]
        assert {id(t) for t in fresh} == pooled and not pool
        want = MemcpyDescriptor.small_copy(chan, d.addr + 64, s.addr + 128, 64,  # type: ignore[arg-type]
                                           fresh[0].flags)
        for t in fresh:
            assert [getattr(t, f) for f in SLOTS] == [getattr(want, f) for f in SLOTS]
            assert not hasattr(t, "_metadata_mode")
        del fresh, t
        assert np.array_equal(dst, src)
    assert not pool  # released with the channel


@pure_only
def test_the_pool_is_bounded_and_its_descriptors_hold_no_callback(plat: Platform, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    monkeypatch.setattr(memcpy, "DESC_POOL", 40)
    src = np.arange(1024, dtype=np.uint8)
    dst = np.zeros(1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        _run(chan, d.addr, s.addr, 500)
        pool = chan._pool  # type: ignore[attr-defined]
        assert len(pool) == 40
        assert all(p.callback is None and p.callback_param is None and p.callback_result is None for p in pool)
        assert all(p.chan is chan for p in pool)


@pure_only
def test_a_descriptor_in_a_reference_cycle_is_not_pooled_and_is_still_collected(plat: Platform) -> None:
    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros(256, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        got = threading.Event()
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = lambda p: got.set()
        tx.callback_param = tx  # a cycle through the descriptor itself
        chan.sync_wait(tx.submit())
        assert got.wait(10)
        chan.synchronize()
        ident = id(tx)
        del tx
        assert all(id(p) != ident for p in chan._pool)  # type: ignore[attr-defined]
        assert gc.collect() >= 1


@pure_only
def test_pure_batch_completion_matches_the_virt_spec(plat: Platform) -> None:
    """``_complete_batch`` (pure Python's completion) against ``vchan_cookie_complete_batch`` (virt-dma's): the
    same descriptor states, cookies, counters and error records, with and without a failed descriptor and with
    descriptors without a callback."""
    src = np.arange(1024, dtype=np.uint8)
    dst = np.zeros(1024, np.uint8)
    with Platform() as p2:
        p2.register_device(MemcpyEngine(channels=1))
        with plat.request_channel(Cap.MEMCPY) as a, p2.request_channel(Cap.MEMCPY) as b, \
                plat.map(src) as s, plat.map(dst) as d:
            for fail in (None, 3):
                outs = []
                for chan, how in ((a, "pure"), (b, "virt")):
                    chan.pause()  # the worker takes nothing: the batch is completed by hand below
                    txs = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64) for i in range(8)]
                    for i, tx in enumerate(txs):
                        if i % 2:
                            tx.callback = lambda _: None
                        tx.submit()
                    chan.issue_pending()
                    if fail is not None:
                        txs[fail].result = Result.READ_FAILED
                        txs[fail].residue = 64
                    with chan.lock:  # type: ignore[attr-defined]
                        issued = chan.desc_issued  # type: ignore[attr-defined]
                        if how == "pure":
                            chan._complete_batch(txs, issued)  # type: ignore[attr-defined]
                        else:
                            for _ in txs:
                                issued.popleft()
                            chan.vchan_cookie_complete_batch(txs)  # type: ignore[attr-defined]
                        completed = [txs.index(t) for t in chan.desc_completed]  # type: ignore[attr-defined]
                    chan.resume()
                    chan.synchronize()
                    st_ = chan.stats
                    outs.append(([(t.state, t.cookie, t.result, t.residue) for t in txs], completed,
                                 chan.completed_cookie - chan.cookie,  # type: ignore[attr-defined]
                                 sorted(chan._errors.values()),  # type: ignore[attr-defined]
                                 (st_.completed, st_.errors, st_.bytes_transferred, st_.memcpy_count)))
                assert outs[0] == outs[1]
