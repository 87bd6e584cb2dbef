"""The controller's start and schedule-building path for copies (issue 14, memcpy8), each piece against what it
stands for: ``AddressSpace.can_copy`` against ``check`` of both spans, ``AddressSpace.copy``'s inlined lookups
against ``_find`` (the same faults, messages and bytes, no pin left), a copy's lane against the one built from
``Dmac._skeleton`` and ``burst_ns``, and copies that start while others fetch, run, fault or stream, fast against
``Soc(fast=False)`` (callback instants, results, residues and bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine.provider import DmaFault
from dmaengine.sim import Soc
from dmaengine.sim._bus import Lane
from dmaengine.sim._dmac import M2M, Item, Program, _HwChannel

LANE_FIELDS = Lane.__slots__


def _space() -> tuple[Any, list[Any]]:
    """A SoC's address space with mappings of each direction, a guard page between each."""
    soc = Soc()
    bufs = [np.zeros(n, dtype=np.uint8) for n in (100, 5000, 20_000, 64)]
    dirs = [DataDirection.BIDIRECTIONAL, DataDirection.TO_DEVICE, DataDirection.FROM_DEVICE,
            DataDirection.BIDIRECTIONAL]
    maps = [soc.map(b, d) for b, d in zip(bufs, dirs)]
    return soc.address_space, maps


def _fault_of(fn: Any, *args: Any) -> str | None:
    try:
        fn(*args)
    except DmaFault as e:
        return str(e)
    return None


SPACE, MAPS = _space()
BASE = MAPS[0].addr
END = MAPS[-1].addr + MAPS[-1].length + 4096
addrs = st.integers(BASE - 64, END)


@settings(max_examples=600, deadline=None)
@given(dst=addrs, src=st.one_of(st.none(), addrs), length=st.integers(1, 24_000))
def test_can_copy_is_check_of_both_spans(dst: int, src: int | None, length: int) -> None:
    expect = (src is None or _fault_of(SPACE.check, src, length, False) is None) \
        and _fault_of(SPACE.check, dst, length, True) is None
    assert SPACE.can_copy(dst, src, length) is expect


def _find_copy_fault(space: Any, dst: int, src: int, length: int) -> str | None:
    """What the copy raised before its lookups were inlined: ``_find`` of the source, then of the destination."""
    with space._lock:
        for addr, write in ((src, False), (dst, True)):
            try:
                space._find(addr, length, write)
            except DmaFault as e:
                return str(e)
    return None


def test_can_copy_whole_mappings_and_one_past() -> None:
    """Each mapping whole (its last byte is the span's), and one byte more, both ways round."""
    for m in MAPS:
        for ms in MAPS:
            for extra in (0, 1):
                n = min(m.length, ms.length) + extra
                expect = _fault_of(SPACE.check, ms.addr, n, False) is None \
                    and _fault_of(SPACE.check, m.addr + m.length - n, n, True) is None
                assert SPACE.can_copy(m.addr + m.length - n, ms.addr, n) is expect
                assert SPACE.can_copy(m.addr, None, m.length + extra) is (extra == 0 and m._writable)


@settings(max_examples=600, deadline=None)
@given(dst=addrs, src=addrs, length=st.integers(1, 24_000))
def test_copy_faults_as_find_did_and_leaves_no_pin(dst: int, src: int, length: int) -> None:
    assert _fault_of(SPACE.copy, dst, src, length) == _find_copy_fault(SPACE, dst, src, length)
    assert all(m._pins == 0 for m in MAPS)


@pytest.mark.parametrize("length", [1, 100, 16 * 1024, 16 * 1024 + 1, 20_000])
def test_copy_moves_the_bytes_small_and_big(length: int) -> None:
    soc = Soc()
    src = (np.arange(20_000) * 7 % 251).astype(np.uint8)
    dst = np.zeros(20_000 + 8, dtype=np.uint8)
    ms, md = soc.map(src, DataDirection.TO_DEVICE), soc.map(dst, DataDirection.FROM_DEVICE)
    soc.address_space.copy(md.addr + 8, ms.addr, length)
    assert dst[8:8 + length].tobytes() == src[:length].tobytes()
    assert not dst[:8].any() and not dst[8 + length:].any()
    assert ms._pins == md._pins == 0
    md.unmap()  # no pin left: the unmap does not wait
    with pytest.raises(DmaFault, match=r"^DMA write of 1 bytes at .*: no mapping$"):
        soc.address_space.copy(md.addr, ms.addr, 1)


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 5000), off=st.integers(0, 4999), width=st.sampled_from([1, 2, 4, 8]),
       burst=st.integers(1, 32), bps=st.integers(1_000_000, 2_000_000_000), src_at=st.integers(-6000, 6000),
       items=st.integers(1, 3), cyclic=st.booleans(), memset=st.booleans())
def test_a_copys_lane_is_the_skeletons(length: int, off: int, width: int, burst: int, bps: int, src_at: int,
                                       items: int, cyclic: bool, memset: bool) -> None:
    """The copy's lane, built inline, against the one of ``_skeleton``'s memory-to-memory case and
    ``burst_ns`` (what ``_lane`` built before), overlapping source and destination included."""
    off %= length
    soc = Soc(fast=True)
    hw = soc.dmac.hw
    hw.bus_width_bytes, hw.mem_burst, hw.bus_bytes_per_s = width, burst, bps
    dst = 100_000
    prog = Program([Item(None if memset else dst + src_at, dst, length, True) for _ in range(items)], M2M,
                   cyclic=cyclic)
    ch = _HwChannel(3)
    ch.prog, ch.item_idx, ch.item_off = prog, items - 1, off
    lane = hw._lane(ch, 0)
    sk = hw._skeleton(prog, items - 1)
    if sk is False:
        assert lane is None
        return
    bb, burst_ns, ends_program = sk
    rem = length - off
    bursts = -(-rem // bb)
    last = rem - (bursts - 1) * bb
    ref = Lane(3, bursts, bb, burst_ns, last, hw.burst_ns(-(-last // width)), ends_program=ends_program)
    assert lane is not None
    assert [getattr(lane, f) for f in LANE_FIELDS] == [getattr(ref, f) for f in LANE_FIELDS]


def _copies_run(fast: bool, case: str) -> tuple[Any, ...]:
    """Seven copies issued at once (as bench_sim's memcpy8, smaller; the eighth channel may play), with ``case``:
    ``plain``; ``unmapped`` (one source unmapped before the issue: a fault as a result); ``overlap`` (one copy
    within one buffer, overlapping: burst by burst); ``playing`` (a cyclic I2S flow STEADY on the bus when they
    start); ``staggered`` (the second half issued 1 us after the first, while those run)."""
    soc = Soc(fast=fast)
    n = 8192
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(7)]
    srcs = [(np.arange(n) * (i + 3) % 251).astype(np.uint8) for i in range(7)]
    dsts = [np.zeros(n, dtype=np.uint8) for _ in range(7)]
    smaps = [soc.map(s) for s in srcs]
    dmaps = [soc.map(d) for d in dsts]
    calls: list[tuple[int, int, int]] = []
    played: list[int] = []
    if case == "playing":
        codec = soc.peripheral("i2s0")
        ring = np.arange(4096, dtype=np.uint8)
        tx = soc.request_chan("i2s0", "tx")
        tx.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                    dst_maxburst=8))
        cyc = tx.prep_dma_cyclic(soc.map(ring, DataDirection.TO_DEVICE).addr, 4096, 1024,
                                 TransferDirection.MEM_TO_DEV)
        cyc.callback = lambda _: played.append(soc.now_ns)
        cyc.submit()
        tx.issue_pending()
        soc.run(until=0.000_3)
    cookies = []
    for i, c in enumerate(chans):
        dst, src = dmaps[i].addr, smaps[i].addr
        if case == "overlap" and i == 2:
            dst = src + 64  # within the source's own (bidirectional) buffer
        desc = c.prep_dma_memcpy(dst, src, n - 64 if case == "overlap" and i == 2 else n)
        desc.callback_result = lambda _, r, i=i: calls.append((i, soc.now_ns, int(r.result)))
        cookies.append(desc.submit())
    if case == "unmapped":
        smaps[5].unmap()
    for i, c in enumerate(chans):
        if case == "staggered" and i == 4:
            soc.run(until=soc.now_ns / 1e9 + 0.000_001)
        c.issue_pending()
    looks = []
    for q in (150, 1_000, 7_777):
        soc.run(until=max(soc.now_ns, q) / 1e9 + 0.000_3)
        looks.append((soc.now_ns, [c.tx_status(ck) for c, ck in zip(chans, cookies)]))
    statuses = [c.sync_wait(ck, timeout=None) for c, ck in zip(chans, cookies)]
    return calls, looks, statuses, [d.tobytes() for d in dsts], [s.tobytes() for s in srcs], played


@pytest.mark.parametrize("case", ["plain", "unmapped", "overlap", "playing", "staggered"])
def test_copies_issued_together_are_exact(case: str) -> None:
    fast, ref = _copies_run(True, case), _copies_run(False, case)
    assert fast == ref
    assert len(fast[0]) == 7
