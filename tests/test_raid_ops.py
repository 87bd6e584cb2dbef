"""The XOR / XOR_VAL / PQ / PQ_VAL / MEMSET_SG ops: client checks (each names the bad value), registration,
and the memory engine doing them, with faults reported like copies."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from dmaengine import (
    Cap,
    Channel,
    ConfigError,
    DataDirection,
    NotSupportedError,
    Platform,
    PrepFlags,
    Result,
    SgEntry,
    Status,
    SumCheckFlags,
    SumCheckResult,
    TxResult,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.provider import DmaDevice
from dmaengine.raid6 import EXP, gen_syndrome

P_RES = SumCheckFlags.SUM_CHECK_P_RESULT
Q_RES = SumCheckFlags.SUM_CHECK_Q_RESULT
L = 4096



@pytest.fixture
def chan(plat: Platform) -> Iterator[Channel]:
    with plat.request_channel(Cap.XOR | Cap.PQ | Cap.XOR_VAL | Cap.PQ_VAL) as c:
        yield c


def blocks(n: int, seed: int = 1, length: int = L) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, length, dtype=np.uint8) for _ in range(n)]


def run(chan: Channel, tx: object) -> TxResult:
    got: list[TxResult] = []
    tx.callback_result = lambda _p, r: got.append(r)  # type: ignore[attr-defined]
    cookie = tx.submit()  # type: ignore[attr-defined]
    chan.sync_wait(cookie)
    chan.synchronize()
    return got[0]


def test_the_engine_offers_the_ops() -> None:
    assert MemcpyEngine.cap_mask & (Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL | Cap.MEMSET_SG) == (
        Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL | Cap.MEMSET_SG)
    assert (MemcpyEngine.max_xor, MemcpyEngine.max_pq, MemcpyEngine.pq_continue) == (16, 16, True)


def test_xor_and_xor_val(plat: Platform, chan: Channel) -> None:
    srcs = blocks(5)
    dst = np.zeros(L, np.uint8)
    maps = [plat.map(s, DataDirection.TO_DEVICE) for s in srcs]
    d = plat.map(dst)
    assert run(chan, chan.prep_dma_xor(d.addr, [m.addr for m in maps], L)) == TxResult(Result.NOERROR, 0)
    assert (dst == srcs[0] ^ srcs[1] ^ srcs[2] ^ srcs[3] ^ srcs[4]).all()
    res = SumCheckResult()
    run(chan, chan.prep_dma_xor_val([d.addr] + [m.addr for m in maps], L, res))
    assert res.flags == SumCheckFlags(0)
    dst[100] ^= 4
    run(chan, chan.prep_dma_xor_val([d.addr] + [m.addr for m in maps], L, res))
    assert res.flags == P_RES
    # dst as its own first source: continue an xor
    before = dst.copy()
    run(chan, chan.prep_dma_xor(d.addr, [d.addr, maps[0].addr], L))
    assert (dst == before ^ srcs[0]).all()


@pytest.mark.parametrize("ndata", [1, 3, 16])
def test_pq_is_md_syndrome(plat: Platform, chan: Channel, ndata: int) -> None:
    data = blocks(ndata, seed=ndata)
    p, q = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    wp, wq = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    gen_syndrome(data, wp, wq)
    maps = [plat.map(x) for x in data]
    pm, qm = plat.map(p), plat.map(q)
    coefs = bytes(int(EXP[i]) for i in range(ndata))
    run(chan, chan.prep_dma_pq((pm.addr, qm.addr), [m.addr for m in maps], coefs, L))
    assert (p == wp).all() and (q == wq).all()
    res = SumCheckResult()
    run(chan, chan.prep_dma_pq_val((pm.addr, qm.addr), [m.addr for m in maps], coefs, L, res))
    assert res.flags == SumCheckFlags(0)
    for flip, want in ((p, P_RES), (q, Q_RES)):
        flip[L - 1] ^= 0x10
        run(chan, chan.prep_dma_pq_val((pm.addr, qm.addr), [m.addr for m in maps], coefs, L, res))
        assert res.flags == want
        flip[L - 1] ^= 0x10
    p[0] ^= 1
    q[0] ^= 1
    run(chan, chan.prep_dma_pq_val((pm.addr, qm.addr), [m.addr for m in maps], coefs, L, res))
    assert res.flags == P_RES | Q_RES
    run(chan, chan.prep_dma_pq_val((pm.addr, qm.addr), [m.addr for m in maps], coefs, L, res,
                                   PrepFlags.PREP_PQ_DISABLE_P))
    assert res.flags == Q_RES


def test_pq_disable_and_continue(plat: Platform, chan: Channel) -> None:
    data = blocks(4, seed=9)
    p, q = np.full(L, 7, np.uint8), np.full(L, 9, np.uint8)
    maps = [plat.map(x) for x in data]
    pm, qm = plat.map(p), plat.map(q)
    coefs = bytes(int(EXP[i]) for i in range(4))
    run(chan, chan.prep_dma_pq((pm.addr, qm.addr), [m.addr for m in maps[:2]], coefs[:2], L,
                               PrepFlags.PREP_PQ_DISABLE_Q))
    assert (q == 9).all() and (p == data[0] ^ data[1]).all()
    run(chan, chan.prep_dma_pq((0, qm.addr), [m.addr for m in maps[:2]], coefs[:2], L,
                               PrepFlags.PREP_PQ_DISABLE_P))
    run(chan, chan.prep_dma_pq((pm.addr, qm.addr), [m.addr for m in maps[2:]], coefs[2:], L,
                               PrepFlags.PREP_CONTINUE))
    wp, wq = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    gen_syndrome(data, wp, wq)
    assert (p == wp).all() and (q == wq).all()


def test_memset_sg(plat: Platform) -> None:
    a, b = np.zeros(100, np.uint8), np.zeros(50, np.uint8)
    with plat.request_channel(Cap.MEMSET_SG) as chan, plat.map_sg([a, b]) as sg:
        run(chan, chan.prep_dma_memset_sg(list(sg), 0xA5))
    assert (a == 0xA5).all() and (b == 0xA5).all()


def test_faults_are_results(plat: Platform, chan: Channel) -> None:
    src = np.ones(L, np.uint8)
    dst = np.zeros(L, np.uint8)
    s = plat.map(src, DataDirection.TO_DEVICE)
    d = plat.map(dst)
    assert run(chan, chan.prep_dma_xor(d.addr, [s.addr, 0x10], L)) == TxResult(Result.READ_FAILED, L)
    assert run(chan, chan.prep_dma_xor(s.addr + L * 4, [d.addr], L)) == TxResult(Result.WRITE_FAILED, L)
    assert run(chan, chan.prep_dma_pq((d.addr, s.addr), [d.addr], b"\x01", L)) == TxResult(Result.WRITE_FAILED, L)
    assert not dst.any()  # nothing written before the fault
    cookie = chan.prep_dma_xor(d.addr, [s.addr, 0x10], L).submit()
    assert chan.sync_wait(cookie) == Status.ERROR
    assert run(chan, chan.prep_dma_xor(d.addr, [s.addr], L)) == TxResult(Result.NOERROR, 0)  # the engine lives on
    assert (dst == 1).all()


def test_bad_arguments_name_the_value(plat: Platform, chan: Channel) -> None:
    with pytest.raises(ConfigError, match=r"^srcs holds 17 sources, more than max_xor 16 of dma0$"):
        chan.prep_dma_xor(0x1000, [0x2000] * 17, 64)
    with pytest.raises(ConfigError, match=r"^srcs holds 17 sources, more than max_pq 16 of dma0$"):
        chan.prep_dma_pq((0x1000, 0x2000), [0x3000] * 17, bytes(17), 64)
    with pytest.raises(ConfigError, match=r"^srcs\[1\] 0x1010 overlaps dst 0x1000 \(64 bytes each\)$"):
        chan.prep_dma_xor(0x1000, [0x4000, 0x1010], 64)
    with pytest.raises(ConfigError, match=r"^srcs\[0\] 0x2020 overlaps Q 0x2000 \(64 bytes each\)$"):
        chan.prep_dma_pq((0x1000, 0x2000), [0x2020], b"\x01", 64)
    with pytest.raises(ConfigError, match=r"^dst\[0\] \(P\) 0x1000 overlaps dst\[1\] \(Q\) 0x1020"):
        chan.prep_dma_pq((0x1000, 0x1020), [0x3000], b"\x01", 64)
    with pytest.raises(ConfigError, match=r"^coefs must be 2 bytes \(one per source\), not b'\\x01'$"):
        chan.prep_dma_pq((0x1000, 0x2000), [0x3000, 0x4000], b"\x01", 64)
    with pytest.raises(ConfigError, match=r"^flags disable both P and Q"):
        chan.prep_dma_pq((0x1000, 0x2000), [0x3000], b"\x01", 64,
                         PrepFlags.PREP_PQ_DISABLE_P | PrepFlags.PREP_PQ_DISABLE_Q)
    with pytest.raises(ConfigError, match=r"^length must be a positive int, not 0$"):
        chan.prep_dma_xor(0x1000, [0x2000], 0)
    with pytest.raises(ConfigError, match=r"^srcs\[1\] must be a DMA address \(int >= 0\), not -5$"):
        chan.prep_dma_xor(0x1000, [0x2000, -5], 64)
    with pytest.raises(ConfigError, match=r"^srcs must hold at least 2 sources, not 1$"):
        chan.prep_dma_xor_val([0x2000], 64, SumCheckResult())
    with pytest.raises(ConfigError, match=r"^result must be a SumCheckResult, not None$"):
        chan.prep_dma_xor_val([0x2000, 0x3000], 64, None)  # type: ignore[arg-type]


def test_alignment_is_checked() -> None:
    class Aligned(MemcpyEngine):
        xor_align = 3
        pq_align = 6

    plat = Platform()
    plat.register_device(Aligned())
    try:
        with plat.request_channel(Cap.XOR) as chan:
            with pytest.raises(ConfigError, match=r"^address or length 12 is not aligned to 8 bytes for dma0chan0$"):
                chan.prep_dma_xor(0x1000, [0x2000], 12)
            with pytest.raises(ConfigError, match=r"^address or length 4100 is not aligned to 64 bytes"):
                chan.prep_dma_pq((0x1000, 0x2000), [0x3000, 4100], b"\x01\x02", 64)
    finally:
        plat.close()


def test_dma_maxpq_follows_the_kernel() -> None:
    class NoContinue(DmaDevice):
        max_pq = 8

    dev = NoContinue()
    assert dev.dma_maxpq(0) == 8
    assert dev.dma_maxpq(PrepFlags.PREP_CONTINUE) == 5
    assert dev.dma_maxpq(PrepFlags.PREP_CONTINUE | PrepFlags.PREP_PQ_DISABLE_P) == 7


def test_registration_names_the_missing_op() -> None:
    class Claims(MemcpyEngine):
        cap_mask = Cap.MEMCPY | Cap.PQ_VAL
        device_prep_dma_pq_val = DmaDevice.device_prep_dma_pq_val

    with pytest.raises(ConfigError, match=r"^Claims claims PQ_VAL but does not implement device_prep_dma_pq_val$"):
        Platform().register_device(Claims())


def test_a_device_without_the_capability_refuses() -> None:
    class CopyOnly(MemcpyEngine):
        cap_mask = Cap.MEMCPY

    plat = Platform()
    plat.register_device(CopyOnly())
    try:
        with plat.request_channel(Cap.MEMCPY) as chan, pytest.raises(NotSupportedError,
                                                                      match=r"^dma0 does not support XOR$"):
            chan.prep_dma_xor(0x1000, [0x2000], 64)
    finally:
        plat.close()


def test_memset_sg_checks() -> None:
    plat = Platform()
    plat.register_device(MemcpyEngine())
    try:
        with plat.request_channel(Cap.MEMSET_SG) as chan:
            with pytest.raises(ConfigError, match=r"^value must be a byte 0..255, not 256$"):
                chan.prep_dma_memset_sg([SgEntry(0x1000, 4)], 256)
            with pytest.raises(ConfigError, match=r"^sgl must hold at least one SgEntry, not \[\]$"):
                chan.prep_dma_memset_sg([], 1)
    finally:
        plat.close()


def test_pause_holds_xor_work_and_resume_finishes_it(plat: Platform, chan: Channel) -> None:
    srcs = blocks(2, seed=5)
    dst = np.zeros(L, np.uint8)
    maps = [plat.map(s) for s in srcs]
    d = plat.map(dst)
    chan.pause()
    cookie = chan.prep_dma_xor(d.addr, [m.addr for m in maps], L).submit()
    chan.issue_pending()
    status, state = chan.tx_status(cookie)
    assert (status, state.residue) == (Status.PAUSED, L)
    assert not dst.any()
    chan.resume()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    assert (dst == srcs[0] ^ srcs[1]).all()


def test_work_longer_than_a_step_is_done_step_by_step(plat: Platform, chan: Channel) -> None:
    from dmaengine.drivers._raid_ops import STEP

    n = 3 * STEP + 5
    data = blocks(3, seed=6, length=n)
    p, q = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    wp, wq = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    gen_syndrome(data, wp, wq)
    maps = [plat.map(x) for x in data]
    pm, qm = plat.map(p), plat.map(q)
    got = run(chan, chan.prep_dma_pq((pm.addr, qm.addr), [m.addr for m in maps], bytes([1, 2, 4]), n))
    assert got == TxResult(Result.NOERROR, 0)
    assert (p == wp).all() and (q == wq).all()


@pytest.mark.parametrize("run_bytes", [None, 3 * L])
def test_a_batch_of_small_work_runs_in_order_with_faults_as_results(
        plat: Platform, chan: Channel, monkeypatch: pytest.MonkeyPatch, run_bytes: int | None) -> None:
    """Small xor / pq descriptors issued together go through the engine in runs (one release of the GIL for a
    run): in submission order (a later one reads what an earlier one wrote), a bad address ends only its own
    descriptor, a copy between them splits the run, and a run of at most RUN_BYTES of sources splits too."""
    from dmaengine.drivers import _raid_ops

    if run_bytes is not None:
        monkeypatch.setattr(_raid_ops, "RUN_BYTES", run_bytes)
    s = blocks(3, seed=7)
    x1, x2, p, q, c = (np.zeros(L, np.uint8) for _ in range(5))
    sm = [plat.map(b, DataDirection.TO_DEVICE) for b in s]
    x1m, x2m, pm, qm, cm = (plat.map(b) for b in (x1, x2, p, q, c))
    got: list[tuple[int, TxResult]] = []
    chan.pause()
    txs = [
        chan.prep_dma_xor(x1m.addr, [sm[0].addr, sm[1].addr], L),
        chan.prep_dma_pq((pm.addr, qm.addr), [x1m.addr, sm[2].addr], bytes([1, 2]), L),
        chan.prep_dma_xor(x2m.addr, [sm[0].addr, 0x10], L),  # no mapping at 0x10
        chan.prep_dma_memcpy(cm.addr, x1m.addr, L),
        chan.prep_dma_xor(x2m.addr, [x1m.addr, sm[1].addr], L),  # x1 ^ s1 == s0
        chan.prep_dma_xor(x1m.addr, [x1m.addr, sm[2].addr], L),  # into one of its sources
    ]
    for i, tx in enumerate(txs):
        tx.callback_result = lambda i, r: got.append((i, r))
        tx.callback_param = i
        last = tx.submit()
    chan.issue_pending()
    chan.resume()
    assert chan.sync_wait(last) == Status.COMPLETE
    chan.synchronize()
    ok = TxResult(Result.NOERROR, 0)
    assert got == [(0, ok), (1, ok), (2, TxResult(Result.READ_FAILED, L)), (3, ok), (4, ok), (5, ok)]
    wp, wq = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    gen_syndrome([s[0] ^ s[1], s[2]], wp, wq)
    assert (p == wp).all() and (q == wq).all()
    assert (c == s[0] ^ s[1]).all()
    assert (x2 == s[0]).all()
    assert (x1 == s[0] ^ s[1] ^ s[2]).all()
