"""The memory engine's compiled pieces against their pure-Python specification (issue 8).

Each compiled helper is compared with the pure-Python code it replaces on the same inputs (Hypothesis where the
input space is wide); the rest of the suite runs the engine both ways (``make test``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, DataDirection, Platform, Result, SgEntry, Status, _burst, _native
from dmaengine.provider import AddressSpace, DmaFault, pair_sg

MIB = 1024 * 1024

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")



def _pieces_both(dsl: list[SgEntry], ssl: list[SgEntry]) -> list[object]:
    out = []
    saved = _native.core
    for core in (None, saved):
        _native.core = core
        try:
            got = _burst.sg_pieces(dsl, ssl)
        finally:
            _native.core = saved
        out.append(None if got is None else [a.tolist() for a in got])
    return out


sg_lists = st.lists(st.tuples(st.integers(0, 1 << 40), st.integers(1, 20_000)), min_size=1, max_size=12)


@needs_core
@settings(max_examples=200, deadline=None)
@given(sg_lists, sg_lists, st.booleans())
def test_sg_pieces_compiled_and_pure_agree(d: list[tuple[int, int]], s: list[tuple[int, int]], same: bool) -> None:
    if same:  # equal totals, so that most cases pair
        s = [(a, n) for (a, _), (_, n) in zip(s * len(d), d)]
    dsl = [SgEntry(a, n) for a, n in d]
    ssl = [SgEntry(a, n) for a, n in s]
    pure, compiled = _pieces_both(dsl, ssl)
    assert pure == compiled
    if compiled is not None:
        assert [tuple(p) for p in zip(*compiled)] == list(pair_sg(dsl, ssl))  # type: ignore[call-overload]


@needs_core
def test_sg_pieces_compiled_refuses_what_the_pure_path_refuses() -> None:
    big = SgEntry(1 << 62, 5)
    assert _pieces_both([big], [SgEntry(0, 5)]) == [None, None]  # an address past MAX_ADDR
    assert _pieces_both([SgEntry(0, 5)], [SgEntry(0, 6)]) == [None, None]  # totals differ
    assert _pieces_both([SgEntry(0, 20_000)], [SgEntry(0, 20_000)]) == [None, None]  # a piece too big
    odd = SgEntry(0, 5)
    object.__setattr__(odd, "length", 0)  # bypasses SgEntry's checks
    assert _pieces_both([odd], [SgEntry(0, 5)]) == [None, None]
    assert _native.core is not None
    assert _native.core.sg_pieces([1], [SgEntry(0, 1)], _burst._ADDR_SLOT, _burst._LENGTH_SLOT,
                                  np.empty((3, 2), np.int64), 16, 1 << 62) == -1  # not an SgEntry
    with pytest.raises(ValueError, match="out must hold"):
        _native.core.sg_pieces([SgEntry(0, 1)], [SgEntry(0, 1)], _burst._ADDR_SLOT, _burst._LENGTH_SLOT,
                               np.empty((3, 1), np.int64), 16, 1 << 62)
    with pytest.raises(TypeError, match="member descriptor"):
        _native.core.sg_pieces([], [], "addr", _burst._LENGTH_SLOT, np.empty((3, 0), np.int64), 16, 1 << 62)


@needs_core
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.integers(1, 1 << 20)),
                min_size=1, max_size=20))
def test_span_is_the_extents_of_a_burst(ops: list[tuple[int, int, int]]) -> None:
    a = np.array(ops, dtype=np.int64)
    d, s, n = a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy()
    assert _native.core is not None
    assert _native.core.span(d, s, n) == (int(s.min()), int((s + n).max()), int(d.min()), int((d + n).max()))
    with pytest.raises(ValueError, match="one non-zero length"):
        _native.core.span(d[:0], s[:0], n[:0])


def test_copy_large_runs_in_order_reports_each_fault_and_unpins() -> None:
    space = AddressSpace()
    buf = np.arange(16 * 1024, dtype=np.uint32).view(np.uint8).copy()
    want = buf.copy()
    ro = np.full(32 * 1024, 9, np.uint8)
    m = space.map(buf)
    r = space.map(ro, DataDirection.TO_DEVICE)
    half = 32 * 1024
    ops = [
        (m.addr + half, m.addr, half),  # first half onto the second
        (m.addr, m.addr + half + 4, half - 4),  # ... and back: sees the first op's bytes (order kept)
        (r.addr, m.addr, 100),  # writes a TO_DEVICE mapping: WRITE_FAILED, nothing moves
        (m.addr, 12, 100),  # reads no mapping: READ_FAILED
        (m.addr + 100, r.addr, 50),
    ]
    faults = space.copy_large(ops)
    assert faults is not None and faults[:2] == [None, None] and faults[4] is None
    assert isinstance(faults[2], DmaFault) and faults[2].write
    assert isinstance(faults[3], DmaFault) and not faults[3].write
    first = want[:half].copy()
    want[half:] = first
    want[: half - 4] = first[4:]
    want[100:150] = 9
    assert np.array_equal(buf, want)
    assert space.copy_large([(m.addr, m.addr + half, half)]) is None
    m.unmap()  # waits for pins: none are left
    r.unmap()


def test_a_run_of_large_copies_ends_each_descriptor_with_its_own_result(plat: Platform) -> None:
    n = 64 * 1024
    src, dst = np.full(4 * n, 5, np.uint8), np.zeros(4 * n, np.uint8)
    results = []
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src, DataDirection.TO_DEVICE) as s, plat.map(dst) as d:
        txs = [chan.prep_dma_memcpy(d.addr, s.addr, n), chan.prep_dma_memcpy(s.addr, d.addr, n),
               chan.prep_dma_memcpy(d.addr + n, s.addr + 3 * n + 1, n),
               chan.prep_dma_memcpy(d.addr + 2 * n, s.addr + n, 2 * n)]
        for tx in txs:
            tx.callback_result = lambda _p, r: results.append(r)
        cookies = [tx.submit() for tx in txs]
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        chan.synchronize()
        assert [chan.tx_status(c)[0] for c in cookies] == [Status.COMPLETE, Status.ERROR, Status.ERROR,
                                                           Status.COMPLETE]
    assert [(r.result, r.residue) for r in results] == [(Result.NOERROR, 0), (Result.WRITE_FAILED, n),
                                                       (Result.READ_FAILED, n), (Result.NOERROR, 0)]
    assert dst[:n].tolist() == [5] * n and not dst[n:2 * n].any() and (dst[2 * n:] == 5).all()


def test_a_long_run_of_small_copies_ends_each_with_its_own_result(plat: Platform) -> None:
    """64 small copies issued at once (C's copy_many with the core, the array run without): the faulting ops end
    READ_FAILED / WRITE_FAILED and move nothing, the others copy, in order."""
    n = 64
    src, dst = np.arange(64 * n, dtype=np.uint32).view(np.uint8)[: 64 * n].copy(), np.zeros(64 * n, np.uint8)
    ro = np.zeros(64, np.uint8)
    got: dict[int, tuple[Result, int]] = {}
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d, \
            plat.map(ro, DataDirection.TO_DEVICE) as r:
        cookies = []
        for i in range(n):
            to = r.addr if i == 9 else d.addr + 64 * i
            frm = 12 if i == 5 else s.addr + 64 * (n - 1 - i)
            tx = chan.prep_dma_memcpy(to, frm, 64)
            tx.callback_result = lambda k, res: got.__setitem__(k, (res.result, res.residue))
            tx.callback_param = i
            cookies.append(tx.submit())
        chan.issue_pending()
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        chan.synchronize()
        statuses = [chan.tx_status(c)[0] for c in cookies]
    want = src.reshape(n, 64)[::-1].copy()
    want[5] = 0
    want[9] = 0
    assert np.array_equal(dst.reshape(n, 64), want) and not ro.any()
    assert got[5] == (Result.READ_FAILED, 64) and got[9] == (Result.WRITE_FAILED, 64)
    assert all(got[i] == (Result.NOERROR, 0) for i in range(n) if i not in (5, 9))
    assert [i for i, st in enumerate(statuses) if st != Status.COMPLETE] == [5, 9]


def test_a_trace_recorder_swaps_the_traced_prep_and_submit_in_and_out(plat: Platform) -> None:
    from dmaengine import trace
    from dmaengine.drivers import memcpy as memcpy_mod
    from dmaengine.provider import Descriptor

    fast_submit = memcpy_mod.MemcpyDescriptor.submit
    assert fast_submit is not Descriptor.submit
    buf = np.zeros(256, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
        fast_prep = chan.prep_dma_memcpy
        assert vars(chan)["prep_dma_memcpy"] is fast_prep
        with trace.record() as rec:
            assert "prep_dma_memcpy" not in vars(chan)  # Channel.prep_dma_memcpy: it emits "prep"
            assert memcpy_mod.MemcpyDescriptor.submit is Descriptor.submit  # it emits "submit"
            cookie = chan.prep_dma_memcpy(m.addr + 64, m.addr, 64).submit()
            assert chan.sync_wait(cookie) == Status.COMPLETE
            chan.synchronize()
        assert chan.prep_dma_memcpy is fast_prep and memcpy_mod.MemcpyDescriptor.submit is fast_submit
        assert chan.sync_wait(chan.prep_dma_memcpy(m.addr + 128, m.addr, 64).submit()) == Status.COMPLETE
    kinds = rec.kinds()
    assert kinds[:3] == ["prep", "submit", "issue"] and "complete" in kinds
    assert [e.cookie for e in rec.events if e.kind == "submit"] == [cookie]


_DESC_FIELDS = ("chan", "cookie", "flags", "callback", "callback_param", "callback_result", "state", "length",
                "result", "residue", "done_cookie", "segs", "value", "done", "dst", "src")


@pytest.mark.parametrize("args", [(4096, 0, 64), (1 << 40, 8, 16 * 1024), (0, 4096, 16 * 1024 + 1),
                                  (64, 128, 1 << 30, 0), (64, 128, 32, 3), ((1 << 63) + 5, 7, 8)])
def test_the_one_call_prep_builds_what_the_checked_prep_builds(plat: Platform, args: tuple[int, ...]) -> None:
    from dmaengine.drivers import memcpy as memcpy_mod
    from dmaengine.provider import Channel

    with plat.request_channel(Cap.MEMCPY) as chan:
        slow = Channel.prep_dma_memcpy.__get__(chan)
        slow(1, 2, 3)  # the device checks pass once: the fast paths take over from here
        preps = [slow, chan.prep_dma_memcpy, memcpy_mod._fast_prep(chan, slow)]  # type: ignore[arg-type]
        descs = [p(*args) for p in preps]
        want = [getattr(descs[0], f) for f in _DESC_FIELDS]
        for vd in descs[1:]:
            assert type(vd) is type(descs[0])
            assert [getattr(vd, f) for f in _DESC_FIELDS] == want
        assert want[_DESC_FIELDS.index("flags")].__class__.__name__ == "PrepFlags"


def test_the_one_call_prep_leaves_bad_arguments_to_the_checked_prep(plat: Platform) -> None:
    from dmaengine import ConfigError, StateError

    chan = plat.request_channel(Cap.MEMCPY)
    chan.prep_dma_memcpy(1, 2, 3)
    with pytest.raises(ConfigError, match=r"^length must be"):
        chan.prep_dma_memcpy(1, 2, 0)
    with pytest.raises(ConfigError, match=r"^dst must be"):
        chan.prep_dma_memcpy(-1, 2, 3)
    with pytest.raises(ConfigError, match=r"^flags must be PrepFlags bits"):
        chan.prep_dma_memcpy(1, 2, 3, 1 << 20)
    tx = chan.prep_dma_memcpy(1, 2, 3, flags=0)
    assert tx.length == 3
    chan.release()
    with pytest.raises(StateError, match="not allocated"):
        chan.prep_dma_memcpy(1, 2, 3)
    with pytest.raises(StateError):
        tx.submit()


@needs_core
def test_sg_pieces_reads_ints_of_every_size_as_the_pure_path_does() -> None:
    # One, two and three 30-bit digits (the compiled reader takes up to two inline, the rest the generic way).
    for base in (0, 5, (1 << 30) - 1, 1 << 30, (1 << 60) - 64, 1 << 60, (1 << 62) - 200):
        dsl = [SgEntry(base, 40), SgEntry(base + 100, 24)]
        ssl = [SgEntry(7, 64)]
        pure, compiled = _pieces_both(dsl, ssl)
        assert pure == compiled == [[base, base + 100], [7, 47], [40, 24]]
    assert _pieces_both([SgEntry(1 << 62, 20)], [SgEntry(0, 20)]) == [None, None]  # starts at MAX_ADDR


@needs_core
def test_total_is_the_sum_of_a_burst_and_copy_ops_takes_shifts() -> None:
    assert _native.core is not None
    n = np.array([3, 1 << 40, 5], np.int64)
    assert _native.core.total(n) == 3 + (1 << 40) + 5
    assert _native.core.total(n[:0]) == 0
    with pytest.raises(OverflowError, match="int64"):
        _native.core.total(np.array([1 << 62, 1 << 62], np.int64))
    with pytest.raises(TypeError, match="int64 array"):
        _native.core.total(np.zeros(2, np.int32))
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, np.uint8)
    sp, dp = src.ctypes.data, dst.ctypes.data
    # Offsets into the two buffers, shifted by each buffer's address: op i copies src[4i+1 : 4i+3] to dst[8i].
    offs = np.arange(8, dtype=np.int64)
    _native.core.copy_ops(8 * offs, 4 * offs + 1, np.full(8, 2, np.int64), dp, sp)
    want = np.zeros(64, np.uint8)
    for i in range(8):
        want[8 * i : 8 * i + 2] = src[4 * i + 1 : 4 * i + 3]
    assert np.array_equal(dst, want)


@pytest.mark.parametrize("one_transfer", [False, True])
def test_a_burst_of_pieces_is_built_as_init_builds_it(plat: Platform, one_transfer: bool) -> None:
    from dmaengine import PrepFlags
    from dmaengine.drivers.memcpy import BurstDescriptor

    with plat.request_channel(Cap.MEMCPY) as chan:
        d = np.array([4096, 8192, 64], np.int64)
        s = np.array([0, 64, 1 << 40], np.int64)
        n = np.array([64, 100, 7], np.int64)
        flags = PrepFlags.PREP_INTERRUPT
        a = BurstDescriptor(chan, d, s, n, flags, one_transfer)  # type: ignore[arg-type]
        b = BurstDescriptor.pieces(chan, d, s, n, flags, one_transfer)  # type: ignore[arg-type]
        fields = [*_DESC_FIELDS, "one_transfer"]
        assert [getattr(b, f) for f in fields] == [getattr(a, f) for f in fields]
        assert b.length == 171 and b.length.__class__ is int
        for f in ("dst_addrs", "src_addrs", "lengths", "op_status"):
            x, y = getattr(a, f), getattr(b, f)
            assert x.dtype == y.dtype and x.tolist() == y.tolist()


def test_copy_large_looks_up_each_change_of_mapping_and_pins_each_once() -> None:
    space = AddressSpace()
    bufs = [np.full(4096, i + 1, np.uint8) for i in range(3)]
    maps = [space.map(b) for b in bufs]
    a, b, c = (m.addr for m in maps)
    ops = [
        (b, a, 100),  # a -> b
        (b + 100, a + 100, 100),  # the same two mappings
        (c, a, 50),  # a new destination
        (b + 200, 1, 10),  # reads no mapping: READ_FAILED
        (b + 300, a + 4000, 200),  # runs past the end of a: READ_FAILED (not taken from the last mappings)
        (a, c + 10, 20),  # c -> a
    ]
    faults = space.copy_large(ops)
    assert faults is not None and [f is None for f in faults] == [True, True, True, False, False, True]
    assert all(m._pins == 0 for m in maps)
    want_b = np.full(4096, 2, np.uint8)
    want_b[:200] = 1
    want_c = np.full(4096, 3, np.uint8)
    want_c[:50] = 1
    want_a = np.full(4096, 1, np.uint8)
    want_a[:20] = 1  # c[10:30] is a's byte (1) after the third op
    assert np.array_equal(bufs[1], want_b) and np.array_equal(bufs[2], want_c) and np.array_equal(bufs[0], want_a)
    for m in maps:
        m.unmap()
