"""XOR and P+Q on the simulated controller: each source read over the bus, each result written, in virtual
time, to the nanosecond; validates; faults; terminate; the planner agrees with the burst-by-burst reference."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import Cap, DataDirection, Result, Status, SumCheckFlags, SumCheckResult, TxResult
from dmaengine.raid6 import EXP, gen_syndrome
from dmaengine.sim import Soc

L = 1024
#: 400 MB/s: a 1024-byte transfer holds the bus 2560 ns; fetching the descriptor takes 100 ns.
XFER_NS = 2560
FETCH_NS = 100


def blocks(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, L, dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("fast", [True, False])
def test_xor_takes_a_bus_transfer_per_source_and_per_result(fast: bool) -> None:
    soc = Soc(fast=fast)
    srcs = blocks(3, 1)
    dst = np.zeros(L, np.uint8)
    with soc.request_channel(Cap.XOR) as chan:
        maps = [soc.map(s, DataDirection.TO_DEVICE) for s in srcs]
        d = soc.map(dst)
        got: list[tuple[int, TxResult]] = []
        tx = chan.prep_dma_xor(d.addr, [m.addr for m in maps], L)
        tx.callback_result = lambda _p, r: got.append((soc.now_ns, r))
        t0 = soc.now_ns
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        assert soc.now_ns - t0 == FETCH_NS + 4 * XFER_NS
        chan.synchronize()
    assert got == [(t0 + FETCH_NS + 4 * XFER_NS + 1000, TxResult(Result.NOERROR, 0))]  # the bottom half, 1 µs on
    assert (dst == srcs[0] ^ srcs[1] ^ srcs[2]).all()
    soc.close()


@pytest.mark.parametrize("fast", [True, False])
def test_pq_and_pq_val_in_virtual_time(fast: bool) -> None:
    soc = Soc(fast=fast)
    data = blocks(4, 2)
    p, q = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    wp, wq = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    gen_syndrome(data, wp, wq)
    coefs = bytes(int(EXP[i]) for i in range(4))
    with soc.request_channel(Cap.PQ | Cap.PQ_VAL) as chan:
        maps = [soc.map(x, DataDirection.TO_DEVICE) for x in data]
        pm, qm = soc.map(p), soc.map(q)
        t0 = soc.now_ns
        chan.sync_wait(chan.prep_dma_pq((pm.addr, qm.addr), [m.addr for m in maps], coefs, L).submit())
        assert soc.now_ns - t0 == FETCH_NS + 6 * XFER_NS  # 4 sources read, P and Q written
        assert (p == wp).all() and (q == wq).all()
        q[7] ^= 0x40
        res = SumCheckResult()
        t0 = soc.now_ns
        chan.sync_wait(chan.prep_dma_pq_val((pm.addr, qm.addr), [m.addr for m in maps], coefs, L, res).submit())
        assert soc.now_ns - t0 == FETCH_NS + 6 * XFER_NS  # 4 sources, P and Q read; nothing written
        assert res.flags == SumCheckFlags.SUM_CHECK_Q_RESULT
        res2 = SumCheckResult()
        chan.sync_wait(chan.prep_dma_xor_val([pm.addr, *(m.addr for m in maps)], L, res2).submit())
        assert res2.flags == SumCheckFlags(0)
    soc.close()


def test_faults_and_terminate_leave_no_scratch_mapped() -> None:
    soc = Soc()
    srcs = blocks(2, 3)
    dst = np.zeros(L, np.uint8)
    before = len(soc.address_space.mappings())
    with soc.request_channel(Cap.XOR) as chan:
        s = soc.map(srcs[0], DataDirection.TO_DEVICE)
        ro = soc.map(srcs[1], DataDirection.TO_DEVICE)
        d = soc.map(dst)
        got: list[TxResult] = []
        for dst_addr, src_addrs in ((d.addr, [s.addr, 0x10]), (ro.addr, [s.addr])):
            tx = chan.prep_dma_xor(dst_addr, src_addrs, L)
            tx.callback_result = lambda _p, r: got.append(r)
            chan.sync_wait(tx.submit())
            chan.synchronize()
        assert got == [TxResult(Result.READ_FAILED, 2 * L), TxResult(Result.WRITE_FAILED, L)]
        assert not dst.any()
        tx = chan.prep_dma_xor(d.addr, [s.addr, s.addr], L)
        tx.submit()
        chan.issue_pending()
        soc.run_for(3e-6)  # part-way through the sources
        chan.terminate_sync()
        assert len(soc.address_space.mappings()) == before + 3  # only the client's three mappings
    soc.close()


@pytest.mark.parametrize("fast", [True, False])
def test_scratch_is_mapped_only_while_the_program_runs(fast: bool) -> None:
    """xor / pq descriptors prepared and never submitted, prepared and freed, or terminated before they ran hold
    no scratch mapping: the address space holds the client's mappings only, before and after. A submitted one maps
    its scratch while it runs and gives it back when it ends."""
    soc = Soc(fast=fast)
    srcs = blocks(3, 5)
    p, q = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
    with soc.request_channel(Cap.XOR | Cap.PQ) as chan:
        maps = [soc.map(s, DataDirection.TO_DEVICE) for s in srcs]
        pm, qm = soc.map(p), soc.map(q)
        client = len(soc.address_space.mappings())
        addrs = [m.addr for m in maps]
        coefs = bytes(EXP[:3].tolist())
        never = [chan.prep_dma_xor(pm.addr, addrs, L), chan.prep_dma_pq((pm.addr, qm.addr), addrs, coefs, L)]
        assert len(soc.address_space.mappings()) == client
        queued = chan.prep_dma_pq((pm.addr, qm.addr), addrs, coefs, L)
        queued.submit()  # submitted, never issued, then terminated
        chan.terminate_sync()
        assert len(soc.address_space.mappings()) == client
        tx = chan.prep_dma_pq((pm.addr, qm.addr), addrs, coefs, L)
        cookie = tx.submit()
        chan.issue_pending()
        soc.run_for(FETCH_NS * 1e-9 + 1e-9)  # loaded: reading its first source into the scratch
        assert len(soc.address_space.mappings()) == client + 5  # three sources read in, P and Q out
        assert chan.sync_wait(cookie) == Status.COMPLETE
        assert len(soc.address_space.mappings()) == client
        wp, wq = np.zeros(L, np.uint8), np.zeros(L, np.uint8)
        gen_syndrome(srcs, wp, wq)
        assert (p == wp).all() and (q == wq).all()
        del never
    soc.close()
