"""The scatter-gather round trip of the memory engine (issue 8, sg256): the one-call ``prep_dma_memcpy_sg``,
the fused pairing (``sg_pair``), the one-call burst copy inside the hot mappings (``copy_in``), the inline
small moves, and the lone burst a waiter runs itself.

Each compiled helper is compared with the pure-Python code it replaces (its specification) on the same inputs;
the behaviour tests run both ways (``make test`` runs the suite with and without the compiled core).
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import (
    Cap,
    ConfigError,
    DataDirection,
    Platform,
    Result,
    SgEntry,
    StateError,
    Status,
    TxResult,
    _burst,
    _native,
    trace,
)
from dmaengine.drivers import memcpy as memcpy_mod
from dmaengine.drivers.memcpy import BurstDescriptor
from dmaengine.provider import AddressSpace, Channel, pair_sg

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")

_FIELDS = ("chan", "cookie", "flags", "callback", "callback_param", "callback_result", "state", "length", "result",
           "residue", "done_cookie", "segs", "value", "done", "dst", "src", "one_transfer")
_ARRAYS = ("dst_addrs", "src_addrs", "lengths", "op_status")



def pattern(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert [getattr(a, f) for f in _FIELDS] == [getattr(b, f) for f in _FIELDS]
    for f in _ARRAYS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.tolist() == y.tolist(), f


def test_the_driver_keeps_the_fast_segment_bound_of_the_framework() -> None:
    assert memcpy_mod.SG_FAST_SEGMENT == _burst.SG_FAST_SEGMENT
    assert memcpy_mod._MAX_ADDR == _burst.MAX_ADDR


# --- sg_pair: the pairing and its total in one pass, against _burst.sg_pieces ---------------------------------

def _pair(dsl: object, ssl: object) -> tuple[list[list[int]], int] | None:
    core = _native.core
    assert core is not None
    n = len(dsl) + len(ssl)  # type: ignore[arg-type]
    out = np.full((3, n), -7, np.int64)
    got = core.sg_pair(dsl, ssl, _burst._ADDR_SLOT, _burst._LENGTH_SLOT, out, _burst.SG_FAST_SEGMENT, _burst.MAX_ADDR)
    if got is None:
        assert core.sg_pieces(dsl, ssl, _burst._ADDR_SLOT, _burst._LENGTH_SLOT, out, _burst.SG_FAST_SEGMENT,
                              _burst.MAX_ADDR) == -1
        return None
    k, total = got
    return [out[i, :k].tolist() for i in range(3)], total


def _pure(dsl: list[SgEntry], ssl: list[SgEntry]) -> tuple[list[list[int]], int] | None:
    saved = _native.core
    _native.core = None
    try:
        got = _burst.sg_pieces(dsl, ssl)
    finally:
        _native.core = saved
    return None if got is None else ([a.tolist() for a in got], int(got[2].sum()))


addr = st.one_of(st.integers(0, 1 << 12), st.integers(0, (1 << 60) - 1), st.integers(0, (1 << 62) - 1),
                 st.just((1 << 62) - 1))
length = st.one_of(st.integers(1, 64), st.integers(1, 20_000), st.integers(1, 1 << 40))
entries = st.lists(st.tuples(addr, length), min_size=1, max_size=10)


@needs_core
@settings(max_examples=400, deadline=None)
@given(entries, entries, st.sampled_from(["same", "equal-total", "any"]))
def test_sg_pair_is_sg_pieces_and_its_total(d: list[tuple[int, int]], s: list[tuple[int, int]], how: str) -> None:
    if how == "same":  # one to one: the short loop
        s = [(a, n) for (a, _), (_, n) in zip(s * len(d), d)][: len(d)]
    elif how == "equal-total":
        s = [(a, n) for (a, _), (_, n) in zip(s * len(d), d)]
    dsl = [SgEntry(a, n) for a, n in d]
    ssl = [SgEntry(a, n) for a, n in s]
    got = _pair(dsl, ssl)
    assert got == _pure(dsl, ssl)
    assert _pair(tuple(dsl), tuple(ssl)) == got
    if got is not None:
        assert [tuple(p) for p in zip(*got[0])] == list(pair_sg(dsl, ssl))  # type: ignore[call-overload]


@needs_core
def test_sg_pair_refuses_what_the_pure_path_refuses() -> None:
    ok = SgEntry(64, 8)

    class Sub(SgEntry):
        pass

    unset = SgEntry.__new__(SgEntry)  # slots never set: read as NULL
    odd = SgEntry(64, 8)
    object.__setattr__(odd, "length", 8.0)
    big = SgEntry(64, 8)
    object.__setattr__(big, "addr", 1 << 62)
    neg = SgEntry(64, 8)
    object.__setattr__(neg, "addr", -64)
    for bad in ([unset], [Sub(64, 8)], [odd], [big], [neg], [SgEntry(64, 4), SgEntry(68, 5)], [],
                [SgEntry(64, _burst.SG_FAST_SEGMENT + 1)]):
        assert _pair(bad, [ok]) is None, bad
        assert _pair([ok], bad) is None, bad
    assert _pair([ok] * 3, [ok] * 3) == ([[64] * 3, [64] * 3, [8] * 3], 24)
    with pytest.raises(ValueError, match=r"^sg_pair: out must hold"):
        _native.core.sg_pair([ok], [ok], _burst._ADDR_SLOT, _burst._LENGTH_SLOT,  # type: ignore[union-attr]
                             np.empty((3, 1), np.int64), 16, 1 << 62)
    with pytest.raises(TypeError):
        _native.core.sg_pair([ok], [ok], "addr", _burst._LENGTH_SLOT,  # type: ignore[union-attr]
                             np.empty((3, 2), np.int64), 16, 1 << 62)
    with pytest.raises(TypeError, match="int64"):
        _native.core.sg_pair([ok], [ok], _burst._ADDR_SLOT, _burst._LENGTH_SLOT,  # type: ignore[union-attr]
                             np.empty((3, 2), np.int32), 16, 1 << 62)
    assert _native.core.sg_pair({ok}, [ok], _burst._ADDR_SLOT, _burst._LENGTH_SLOT,  # type: ignore[union-attr]
                                np.empty((3, 2), np.int64), 16, 1 << 62) is None


# --- copy_in and the inline small moves, against copy_ops / memmove ---------------------------------------------

@needs_core
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(1, 90)), min_size=1, max_size=12))
def test_small_moves_overlap_as_memmove_does(ops: list[tuple[int, int, int]]) -> None:
    buf = pattern(300, 3)
    want = buf.copy()
    base = want.ctypes.data
    for d, s, n in ops:  # the specification: memmove, in order, on one buffer (sources and destinations overlap)
        ctypes.memmove(base + d, base + s, n)
    a = np.array(ops, np.int64)
    core = _native.core
    assert core is not None
    core.copy_ops(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), buf.ctypes.data, buf.ctypes.data)
    assert buf.tolist() == want.tolist()
    again = pattern(300, 3)
    lo, hi = again.ctypes.data, again.ctypes.data + 300
    assert core.copy_in(a[:, 0].copy() + lo, a[:, 1].copy() + lo, a[:, 2].copy(), lo, hi, lo, hi, 0, 0) is None
    assert again.tolist() == want.tolist()


@needs_core
def test_copy_in_copies_only_inside_the_bounds_it_is_given() -> None:
    core = _native.core
    assert core is not None
    src, dst = pattern(256), np.zeros(256, np.uint8)
    d = np.array([0, 64, 128], np.int64)
    s = np.array([192, 0, 64], np.int64)
    n = np.array([64, 64, 64], np.int64)
    sp, dp = src.ctypes.data, dst.ctypes.data
    # Outside (one byte short on either side, or the cold (0, 0) bounds): nothing copied, the span comes back.
    span = (0, 256, 0, 192)
    assert core.copy_in(d, s, n, 0, 256, 0, 191, dp, sp) == span
    assert core.copy_in(d, s, n, 1, 256, 0, 256, dp, sp) == span
    assert core.copy_in(d, s, n, 0, 0, 0, 0, dp, sp) == span
    assert not dst.any()
    assert core.span(d, s, n) == span
    assert core.copy_in(d, s, n, 0, 256, 0, 192, dp, sp) is None
    assert dst[:192].tolist() == np.concatenate([src[192:], src[:128]]).tolist() and not dst[192:].any()
    # Hostile arrays: a non-positive length or an end past 2**63 is never copied here.
    for bad_n, bad_s in ((np.array([64, 0, 64]), s), (np.array([64, -1, 64]), s),
                         (n, np.array([192, (1 << 63) - 8, 64]))):
        got = core.copy_in(d, bad_s.astype(np.int64), bad_n.astype(np.int64), 0, 1 << 62, 0, 1 << 62, dp, sp)
        assert got is not None
    got = core.copy_in(d, np.array([192, (1 << 63) - 8, 64], np.int64), n, 0, 1 << 62, 0, 1 << 62, dp, sp)
    assert got is not None and got[1] == (1 << 63) - 1
    # The bounds and shifts are read as ints of any size the C long long holds (digits inline, or __index__).
    dst[:] = 0
    assert core.copy_in(d, s, n, np.int64(0), 256, -(1 << 62) - 5, (1 << 63) - 1, dp, sp) is None
    assert dst[:192].tolist() == np.concatenate([src[192:], src[:128]]).tolist()
    for bad in (1 << 63, -(1 << 63) - 1, 1 << 90):
        with pytest.raises(OverflowError):
            core.copy_in(d, s, n, 0, bad, 0, 256, dp, sp)
    with pytest.raises(TypeError, match="an int is required"):
        core.copy_in(d, s, n, 0, 256.0, 0, 256, dp, sp)
    with pytest.raises(TypeError, match="exactly 9 arguments"):
        core.copy_in(d, s, n, 0, 256, 0, 256, dp)
    with pytest.raises(ValueError, match="one non-zero length"):
        core.copy_in(d[:0], s[:0], n[:0], 0, 256, 0, 256, dp, sp)
    with pytest.raises(ValueError, match="one non-zero length"):
        core.copy_in(d, s[:2], n, 0, 256, 0, 256, dp, sp)
    with pytest.raises(TypeError, match="int64"):
        core.copy_in(d.astype(np.int32), s, n, 0, 256, 0, 256, dp, sp)


def test_copy_burst_through_the_remembered_mappings_forgets_them_at_unmap() -> None:
    space = AddressSpace()
    a, b = pattern(4096, 1), np.zeros(4096, np.uint8)
    ma, mb = space.map(a, DataDirection.TO_DEVICE), space.map(b, DataDirection.FROM_DEVICE)
    d = mb.addr + np.arange(0, 4096, 64, dtype=np.int64)
    s = ma.addr + np.arange(4096 - 64, -1, -64, dtype=np.int64)
    n = np.full(64, 64, np.int64)
    for _ in range(2):  # the second burst goes through the mappings the first one remembered
        b[:] = 0
        assert space.copy_burst(d, s, n) is None
        assert b.reshape(64, 64).tolist() == a.reshape(64, 64)[::-1].tolist()
    # The wrong direction is never taken from what is remembered.
    assert space.copy_burst(s, d, n).tolist() == [1] * 64  # type: ignore[union-attr]
    ma.unmap()
    b[:] = 0
    status = space.copy_burst(d, s, n, True)
    assert status is not None and status.tolist() == [Result.READ_FAILED] * 64 and not b.any()
    mc = space.map(bytearray(8192))
    assert space.copy_burst(d, mc.addr + np.arange(0, 4096, 64, dtype=np.int64), n) is None


# --- the one-call prep and the round trip, both ways ----------------------------------------------------------

def _lists(d_base: int, s_base: int, shape: str) -> tuple[list[SgEntry], list[SgEntry]]:
    if shape == "one-to-one":
        return ([SgEntry(d_base + 64 * i, 64) for i in range(16)],
                [SgEntry(s_base + 64 * (15 - i), 64) for i in range(16)])
    if shape == "uneven":
        return ([SgEntry(d_base, 100), SgEntry(d_base + 200, 28), SgEntry(d_base + 300, 1)],
                [SgEntry(s_base + 7, 1), SgEntry(s_base + 20, 120), SgEntry(s_base + 500, 8)])
    return [SgEntry(d_base + 1, 3)], [SgEntry(s_base + 2, 3)]


@pytest.mark.parametrize("shape", ["one-to-one", "uneven", "single"])
@pytest.mark.parametrize("flags", [0, 1, 3])
def test_the_one_call_sg_prep_builds_what_the_checked_prep_builds(plat: Platform, shape: str, flags: int) -> None:
    src, dst = pattern(1024), np.zeros(1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY_SG) as chan, plat.map(src) as s, plat.map(dst) as d:
        dsl, ssl = _lists(d.addr, s.addr, shape)
        slow = Channel.prep_dma_memcpy_sg.__get__(chan)
        assert (chan.__dict__.get("prep_dma_memcpy_sg") is not None) == (_native.core is not None)
        for args in ((dsl, ssl), (tuple(dsl), tuple(ssl))):
            a, b = slow(*args, flags), chan.prep_dma_memcpy_sg(*args, flags)
            assert type(a) is BurstDescriptor
            _same(a, b)
            assert a.dst_addrs.tolist() == [p[0] for p in pair_sg(dsl, ssl)]
        want = src.copy()
        for de, se in zip(dsl, ssl) if shape == "one-to-one" else ():
            dst[de.addr - d.addr : de.addr - d.addr + 64] = want[se.addr - s.addr : se.addr - s.addr + 64]
        dst[:] = 0
        assert chan.sync_wait(chan.prep_dma_memcpy_sg(dsl, ssl, flags).submit()) == Status.COMPLETE
        for dd, ss, n in pair_sg(dsl, ssl):
            assert dst[dd - d.addr : dd - d.addr + n].tolist() == src[ss - s.addr : ss - s.addr + n].tolist()


def test_the_one_call_sg_prep_leaves_everything_else_to_the_checked_prep(plat: Platform) -> None:
    src, dst = pattern(1 << 16), np.zeros(1 << 16, np.uint8)
    chan = plat.request_channel(Cap.MEMCPY_SG)
    with plat.map(src) as s, plat.map(dst) as d:
        ok_d, ok_s = [SgEntry(d.addr, 64)], [SgEntry(s.addr, 64)]
        with pytest.raises(ConfigError, match=r"^flags must be PrepFlags bits"):
            chan.prep_dma_memcpy_sg(ok_d, ok_s, 1 << 20)
        with pytest.raises(ConfigError, match=r"dst_sgl holds 64 bytes but src_sgl holds 65"):
            chan.prep_dma_memcpy_sg(ok_d, [SgEntry(s.addr, 65)])
        with pytest.raises(ConfigError, match=r"^dst_sgl"):
            chan.prep_dma_memcpy_sg([(d.addr, 64)], ok_s)  # type: ignore[list-item]
        big = chan.prep_dma_memcpy_sg([SgEntry(d.addr, 1 << 15)], [SgEntry(s.addr, 1 << 15)])
        assert type(big) is memcpy_mod.MemcpyDescriptor  # a piece past SG_FAST_SEGMENT: the segment path
        slow = Channel.prep_dma_memcpy_sg.__get__(chan)
        for make in (iter, lambda x: (e for e in x), list):  # what the checked path makes of anything else
            got = chan.prep_dma_memcpy_sg(make(ok_d), ok_s)
            want = slow(make(ok_d), ok_s)
            assert type(got) is type(want) and got.length == want.length == 64
        dev = chan.device
        dev.copy_align = 3  # an alignment rule from now on: no burst path, the checked path decides
        try:
            got = chan.prep_dma_memcpy_sg(ok_d, ok_s)
            assert type(got) is type(slow(ok_d, ok_s)) is memcpy_mod.MemcpyDescriptor
        finally:
            del dev.copy_align
        dev.cap_mask = Cap.MEMCPY  # a capability taken away: refused as the checked prep refuses it
        try:
            with pytest.raises(Exception, match="MEMCPY_SG"):
                chan.prep_dma_memcpy_sg(ok_d, ok_s)
        finally:
            del dev.cap_mask
        assert type(chan.prep_dma_memcpy_sg(ok_d, ok_s)) is BurstDescriptor
    chan.release()
    with pytest.raises(StateError, match="not allocated"):
        chan.prep_dma_memcpy_sg(ok_d, ok_s)


def test_a_trace_takes_the_checked_sg_prep_and_names_the_transfer(plat: Platform) -> None:
    src, dst = pattern(1024), np.zeros(1024, np.uint8)
    with plat.request_channel(Cap.MEMCPY_SG) as chan, plat.map(src) as s, plat.map(dst) as d:
        dsl, ssl = _lists(d.addr, s.addr, "uneven")
        fast = chan.__dict__.get("prep_dma_memcpy_sg")
        with trace.record() as rec:
            assert "prep_dma_memcpy_sg" not in chan.__dict__
            assert chan.sync_wait(chan.prep_dma_memcpy_sg(dsl, ssl).submit()) == Status.COMPLETE
        assert chan.__dict__.get("prep_dma_memcpy_sg") is fast
        preps = [e for e in rec.events if e.kind == "prep"]
        assert len(preps) == 1 and preps[0].args is not None and preps[0].args["length"] == 129
        assert rec.kinds().count("end") == 1
        for dd, ss, n in pair_sg(dsl, ssl):
            assert dst[dd - d.addr : dd - d.addr + n].tolist() == src[ss - s.addr : ss - s.addr + n].tolist()


@pytest.mark.parametrize("where", ["src", "dst"])
def test_a_waiter_run_scatterlist_stops_at_its_first_fault_with_the_residue(plat: Platform, where: str) -> None:
    src, dst = pattern(64 * 8), np.zeros(64 * 8, np.uint8)
    with plat.request_channel(Cap.MEMCPY_SG) as chan, plat.map(src) as s, plat.map(dst) as d:
        gone = plat.map(np.zeros(64, np.uint8))
        bad = gone.addr
        gone.unmap()
        dsl = [SgEntry(d.addr + 64 * i, 64) for i in range(8)]
        ssl = [SgEntry(s.addr + 64 * i, 64) for i in range(8)]
        if where == "src":
            ssl[5] = SgEntry(bad, 64)
        else:
            dsl[5] = SgEntry(bad, 64)
        got: list[TxResult] = []
        tx = chan.prep_dma_memcpy_sg(dsl, ssl)
        tx.callback_result = lambda _p, r: got.append(r)
        cookie = tx.submit()
        assert chan.sync_wait(cookie) == Status.ERROR
        want = Result.READ_FAILED if where == "src" else Result.WRITE_FAILED
        chan.synchronize()
        assert got == [TxResult(want, 3 * 64)]
        assert tx.op_status.tolist() == [0] * 5 + [want] + [0] * 2  # the ops after it did not run
        assert dst[: 5 * 64].tolist() == src[: 5 * 64].tolist() and not dst[5 * 64 :].any()
        # Reused (descriptor_reuse), it runs again from a clean state once the lists are good.
        dst[:] = 0
        assert chan.sync_wait(chan.prep_dma_memcpy_sg(dsl[:5], ssl[:5]).submit()) == Status.COMPLETE
        assert dst[: 5 * 64].tolist() == src[: 5 * 64].tolist()


def test_a_paused_channel_keeps_a_scatterlist_until_resume(plat: Platform) -> None:
    src, dst = pattern(64 * 16), np.zeros(64 * 16, np.uint8)
    with plat.request_channel(Cap.MEMCPY_SG) as chan, plat.map(src) as s, plat.map(dst) as d:
        dsl, ssl = _lists(d.addr, s.addr, "one-to-one")
        chan.pause()
        cookie = chan.prep_dma_memcpy_sg(dsl, ssl).submit()
        chan.issue_pending()
        assert chan.tx_status(cookie)[0] == Status.PAUSED
        assert chan.sync_wait(cookie, timeout=0.0) == Status.PAUSED  # the waiter does not run it either
        assert not dst.any()
        chan.resume()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        for dd, ss, n in pair_sg(dsl, ssl):
            assert dst[dd - d.addr : dd - d.addr + n].tolist() == src[ss - s.addr : ss - s.addr + n].tolist()
        # Terminated while paused: it ends without moving a byte, and the channel goes on.
        dst[:] = 0
        chan.pause()
        cookie = chan.prep_dma_memcpy_sg(dsl, ssl).submit()
        chan.issue_pending()
        chan.terminate_sync()
        assert chan.tx_status(cookie)[0] == Status.ERROR
        assert not dst.any()
        assert chan.sync_wait(chan.prep_dma_memcpy_sg(dsl, ssl).submit()) == Status.COMPLETE  # unpaused by it
        assert dst.any()
