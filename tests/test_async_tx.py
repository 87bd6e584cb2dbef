"""dmaengine.async_tx: every operation on a channel with the capability, across channels, on the simulated SoC
and on the CPU; recovery of every pair of failed blocks; validation; dependency chains; the submit flags."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, ConfigError, DmaError, Platform, PrepFlags, StateError, SumCheckFlags, SumCheckResult
from dmaengine.async_tx import (
    ASYNC_TX_ACK,
    ASYNC_TX_FENCE,
    ASYNC_TX_PQ_XOR_DST,
    ASYNC_TX_XOR_DROP_DST,
    ASYNC_TX_XOR_ZERO_DST,
    AsyncTx,
    ChannelTable,
    async_gen_syndrome,
    async_memcpy,
    async_raid6_2data_recov,
    async_raid6_datap_recov,
    async_syndrome_val,
    async_trigger_callback,
    async_tx_issue_pending_all,
    async_tx_quiesce,
    async_xor,
    async_xor_val,
    init_async_submit,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.raid6 import gen_syndrome
from dmaengine.sim import Soc

P_RES = SumCheckFlags.SUM_CHECK_P_RESULT
Q_RES = SumCheckFlags.SUM_CHECK_Q_RESULT


class CopyOnly(MemcpyEngine):
    """Only memcpy and interrupts: xor and pq must go to another device."""

    cap_mask = Cap.MEMCPY | Cap.INTERRUPT


class RaidOnly(MemcpyEngine):
    """Only xor and pq (and their validates): memcpy must go to another device."""

    cap_mask = Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL


class NoContinue(MemcpyEngine):
    """A PQ engine without native continue and few sources: dma_maxpq(PREP_CONTINUE) is max_pq - 3."""

    max_pq = 6
    max_xor = 3
    pq_continue = False


def make_platform(kind: str) -> Platform:
    if kind == "sim":
        return Soc()
    plat = Platform()
    if kind == "engine":
        plat.register_device(MemcpyEngine(channels=2))
    elif kind == "split":
        plat.register_device(CopyOnly(channels=1))
        plat.register_device(RaidOnly(channels=1))
    elif kind == "small":
        plat.register_device(NoContinue(channels=1))
    return plat  # "cpu": no device at all


KINDS = ["engine", "split", "small", "cpu", "sim"]


@pytest.fixture(params=KINDS)
def chans(request: pytest.FixtureRequest) -> Iterator[ChannelTable]:
    plat = make_platform(request.param)
    table = ChannelTable(plat)
    yield table
    table.close()
    plat.close()


def rand_blocks(n: int, length: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, length, dtype=np.uint8) for _ in range(n)]


def reference(data: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.zeros_like(data[0]), np.zeros_like(data[0])
    gen_syndrome(data, p, q)
    return p, q


def test_channel_choice_and_who_did_the_work(chans: ChannelTable) -> None:
    data = rand_blocks(4, 512, 1)
    p, q = np.zeros(512, np.uint8), np.zeros(512, np.uint8)
    tx = async_gen_syndrome([*data, p, q], init_async_submit(chans=chans))
    async_tx_quiesce(tx)
    wp, wq = reference(data)
    assert (p == wp).all() and (q == wq).all()
    pq_caps = any(c.device.cap_mask & Cap.PQ for c in chans.channels)
    assert (tx is not None) == pq_caps
    assert (chans.dma_ops, chans.cpu_ops) == (({"pq": 1}, {}) if pq_caps else ({}, {"pq": 1}))


@settings(max_examples=4, deadline=None)
@given(kind=st.sampled_from(KINDS), ndata=st.integers(2, 7), seed=st.integers(0, 2**32 - 1),
       length=st.sampled_from([64, 4096]))
def test_every_pair_of_failed_blocks_recovers_bit_identical(kind: str, ndata: int, seed: int, length: int) -> None:
    """data+data and data+P through the recovery calls, data+Q by xor then syndrome, P+Q by syndrome."""
    data = rand_blocks(ndata, length, seed)
    good = [*data, *reference(data)]
    plat = make_platform(kind)
    try:
        with ChannelTable(plat) as chans:
            for a, b in itertools.combinations(range(ndata + 2), 2):
                blocks = [x.copy() for x in good]
                blocks[a][:] = 0xDE
                blocks[b][:] = 0xAD
                sub = init_async_submit(chans=chans)
                if b < ndata:
                    tx = async_raid6_2data_recov(blocks, a, b, sub)
                elif b == ndata:
                    tx = async_raid6_datap_recov(blocks, a, sub)
                elif a < ndata:  # data + Q: the data from P like RAID-5, then Q
                    tx = async_xor(blocks[a], [x for i, x in enumerate(blocks[:ndata + 1]) if i != a],
                                   init_async_submit(ASYNC_TX_XOR_ZERO_DST, chans=chans))
                    tx = async_gen_syndrome([*blocks[:ndata], None, blocks[ndata + 1]],
                                            init_async_submit(ASYNC_TX_FENCE, tx, chans=chans))
                else:  # P + Q
                    tx = async_gen_syndrome(blocks, sub)
                async_tx_quiesce(tx)
                for i, (got, want) in enumerate(zip(blocks, good)):
                    assert (got == want).all(), (kind, a, b, i)
    finally:
        plat.close()


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(KINDS), which=st.sampled_from(["P", "Q", "none"]), byte=st.integers(0, 1023),
       bit=st.integers(0, 7), seed=st.integers(0, 2**32 - 1))
def test_syndrome_val_finds_a_flipped_bit_and_says_where(kind: str, which: str, byte: int, bit: int,
                                                         seed: int) -> None:
    data = rand_blocks(5, 1024, seed)
    p, q = reference(data)
    if which != "none":
        (p if which == "P" else q)[byte] ^= 1 << bit
    plat = make_platform(kind)
    try:
        with ChannelTable(plat) as chans:
            res = SumCheckResult()
            async_tx_quiesce(async_syndrome_val([*data, p, q], res, None, init_async_submit(chans=chans)))
            assert res.flags == {"P": P_RES, "Q": Q_RES, "none": SumCheckFlags(0)}[which]
            res2 = SumCheckResult()
            async_tx_quiesce(async_xor_val(p, [p, *data], res2, init_async_submit(chans=chans)))
            assert res2.flags == (P_RES if which == "P" else SumCheckFlags(0))
    finally:
        plat.close()


def test_syndrome_val_skips_a_none_p_or_q(chans: ChannelTable) -> None:
    data = rand_blocks(3, 256, 2)
    p, q = reference(data)
    q[3] ^= 1
    res = SumCheckResult()
    async_tx_quiesce(async_syndrome_val([*data, p, None], res, None, init_async_submit(chans=chans)))
    assert res.flags == SumCheckFlags(0)
    async_tx_quiesce(async_syndrome_val([*data, None, q], res, None, init_async_submit(chans=chans)))
    assert res.flags == Q_RES


@pytest.mark.parametrize("nsrc", [1, 2, 20])
def test_xor_flags_mean_the_same_on_dma_and_cpu(chans: ChannelTable, nsrc: int) -> None:
    srcs = rand_blocks(nsrc, 128, nsrc)
    want = np.bitwise_xor.reduce(np.array(srcs), axis=0)
    dest = np.full(128, 0x5A, np.uint8)
    async_tx_quiesce(async_xor(dest, srcs, init_async_submit(ASYNC_TX_XOR_ZERO_DST, chans=chans)))
    assert (dest == want).all()
    dest = np.full(128, 0x5A, np.uint8)
    async_tx_quiesce(async_xor(dest, srcs, init_async_submit(0, chans=chans)))  # dest is an implied source
    assert (dest == want ^ 0x5A).all()
    dest = np.full(128, 0x5A, np.uint8)
    async_tx_quiesce(async_xor(dest, [dest, *srcs], init_async_submit(ASYNC_TX_XOR_DROP_DST, chans=chans)))
    assert (dest == want ^ 0x5A).all()


@pytest.mark.parametrize("ndata", [1, 6, 20, 40])
def test_syndromes_wider_than_max_pq_chain_descriptors(chans: ChannelTable, ndata: int) -> None:
    data = rand_blocks(ndata, 256, ndata)
    wp, wq = reference(data)
    p, q = np.zeros(256, np.uint8), np.zeros(256, np.uint8)
    async_tx_quiesce(async_gen_syndrome([*data, p, q], init_async_submit(chans=chans)))
    assert (p == wp).all() and (q == wq).all()
    # ASYNC_TX_PQ_XOR_DST adds the syndrome of new data into the old P and Q (a read-modify-write)
    more = rand_blocks(ndata, 256, ndata + 100)
    async_tx_quiesce(async_gen_syndrome([*more, p, q], init_async_submit(ASYNC_TX_PQ_XOR_DST, chans=chans)))
    mp, mq = reference(more)
    assert (p == wp ^ mp).all() and (q == wq ^ mq).all()


def test_none_data_blocks_and_a_disabled_q(chans: ChannelTable) -> None:
    data = rand_blocks(4, 64, 8)
    p, q = np.zeros(64, np.uint8), np.full(64, 7, np.uint8)
    async_tx_quiesce(async_gen_syndrome([data[0], None, data[2], None, p, None], init_async_submit(chans=chans)))
    zero = np.zeros(64, np.uint8)
    assert (p == reference([data[0], zero, data[2], zero])[0]).all() and (q == 7).all()


def test_memcpy_and_callbacks(chans: ChannelTable) -> None:
    src = np.arange(1000, dtype=np.uint16)
    dst = np.zeros_like(src)
    seen: list[str] = []
    tx = async_memcpy(dst, src, init_async_submit(0, None, seen.append, "copied", chans=chans))
    async_tx_quiesce(tx)
    assert (dst == src).all() and seen == ["copied"]


def test_cpu_fallback_calls_back_before_returning() -> None:
    seen: list[int] = []
    a, b = np.ones(16, np.uint8), np.zeros(16, np.uint8)
    assert async_memcpy(b, a, init_async_submit(0, None, seen.append, 1)) is None
    assert seen == [1] and (b == 1).all()
    assert async_trigger_callback(init_async_submit(0, None, seen.append, 2)) is None
    assert seen == [1, 2]


def test_a_chain_runs_in_order_with_one_callback_each(chans: ChannelTable) -> None:
    """memcpy, xor, syndrome, validate: each reads what the one before wrote, wherever each runs."""
    order: list[str] = []
    a = np.full(256, 3, np.uint8)
    b = np.zeros(256, np.uint8)
    c = np.full(256, 5, np.uint8)
    p, q = np.zeros(256, np.uint8), np.zeros(256, np.uint8)
    res = SumCheckResult()
    tx = async_memcpy(b, a, init_async_submit(0, None, order.append, "memcpy", chans=chans))
    tx = async_xor(c, [c, b], init_async_submit(ASYNC_TX_FENCE | ASYNC_TX_XOR_DROP_DST, tx, order.append, "xor"))
    tx = async_gen_syndrome([b, c, p, q], init_async_submit(ASYNC_TX_FENCE, tx, order.append, "pq"))
    tx = async_syndrome_val([b, c, p, q], res, None, init_async_submit(ASYNC_TX_FENCE, tx, order.append, "val"))
    tx = async_trigger_callback(init_async_submit(ASYNC_TX_FENCE, tx, order.append, "done"))
    async_tx_issue_pending_all(chans)
    async_tx_quiesce(tx)
    assert order == ["memcpy", "xor", "pq", "val", "done"]
    assert (c == 6).all() and res.flags == SumCheckFlags(0)
    assert (p == 5).all()
    chans.wait_idle()
    assert chans.outstanding == 0


@pytest.mark.parametrize("kind", ["split", "sim"])
def test_a_chain_1000_deep_across_channels_without_recursion(kind: str) -> None:
    """Alternate copy (one device) and xor (another, or the CPU on the sim) 1000 times, each on the one
    before; the callbacks run in order and at a stack depth that does not grow with the chain."""
    plat = make_platform(kind)
    depths: list[int] = []
    order: list[int] = []

    def cb(i: int) -> None:
        order.append(i)
        f, d = sys._getframe(), 0
        while f is not None:
            f, d = f.f_back, d + 1  # type: ignore[assignment]
        depths.append(d)

    try:
        with ChannelTable(plat) as chans:
            x, y = np.zeros(64, np.uint8), np.zeros(64, np.uint8)
            x[:] = 1
            tx: AsyncTx | None = None
            for i in range(1000):
                if i % 2:
                    tx = async_memcpy(y, x, init_async_submit(ASYNC_TX_FENCE, tx, cb, i, chans=chans))
                else:
                    tx = async_xor(x, [x, y], init_async_submit(ASYNC_TX_FENCE | ASYNC_TX_XOR_DROP_DST, tx, cb, i,
                                                                chans=chans))
            async_tx_quiesce(tx, timeout=60)  # ~1000 thread hand-offs: seconds on a loaded machine
            assert plat.address_space.mappings() == []  # x and y were mapped once each at a time, then unmapped
            assert order == list(range(1000))
            assert max(depths) - min(depths) < 30
            # x: 1, y: 1, x: 0, y: 0, x: 0 ... (x ^= y, then y = x)
            assert not x.any() and not y.any()
            if kind == "split":
                assert chans.dma_ops == {"xor": 500, "memcpy": 500}
    finally:
        plat.close()


def test_a_failed_transaction_fails_its_dependents() -> None:
    class BadXor(MemcpyEngine):
        cap_mask = Cap.XOR | Cap.MEMCPY

        def device_prep_dma_xor(self, chan, dst, srcs, length, flags):  # type: ignore[no-untyped-def]
            return super().device_prep_dma_xor(chan, dst, [0x10], length, flags)  # an unmapped source

    plat = Platform()
    plat.register_device(BadXor())
    try:
        with ChannelTable(plat) as chans:
            a, b = np.ones(64, np.uint8), np.zeros(64, np.uint8)
            tx1 = async_xor(b, [a], init_async_submit(ASYNC_TX_XOR_ZERO_DST, chans=chans))
            tx2 = async_memcpy(a, b, init_async_submit(ASYNC_TX_FENCE, tx1))
            with pytest.raises(DmaError, match=r"^<AsyncTx memcpy on dma0chan0 done> depended on a transaction "
                                               r"that ended with READ_FAILED$"):
                async_tx_quiesce(tx2)
            assert tx1 is not None and tx1.error is not None and tx1.result == tx1.error
    finally:
        plat.close()


def test_ack_rules() -> None:
    plat = make_platform("engine")
    try:
        with ChannelTable(plat) as chans:
            a, b = np.ones(64, np.uint8), np.zeros(64, np.uint8)
            tx = async_memcpy(b, a, init_async_submit(ASYNC_TX_ACK, chans=chans))
            assert tx is not None
            with pytest.raises(StateError, match=r"^depend_tx <AsyncTx memcpy on dma0chan\d \w+> is acked"):
                async_memcpy(a, b, init_async_submit(0, tx))
            tx = async_memcpy(b, a, init_async_submit(0, chans=chans))
            tx2 = async_memcpy(a, b, init_async_submit(0, tx))
            with pytest.raises(StateError, match=r"^depend_tx .* is acked: it was a dependency already"):
                async_memcpy(a, b, init_async_submit(0, tx))  # dependencies are 1:1
            async_tx_quiesce(tx2)
    finally:
        plat.close()


def test_bad_input_names_the_value() -> None:
    a, b, c = np.zeros(64, np.uint8), np.zeros(64, np.uint8), np.zeros(32, np.uint8)
    with pytest.raises(ConfigError, match=r"^srcs\[1\] holds 32 bytes, not 64 like dest$"):
        async_xor(a, [b, c], init_async_submit(ASYNC_TX_XOR_ZERO_DST))
    with pytest.raises(ConfigError, match=r"^srcs\[0\] overlaps dest \(destination and source must be apart\)$"):
        async_xor(a, [a, b], init_async_submit(ASYNC_TX_XOR_ZERO_DST))
    with pytest.raises(ConfigError, match=r"^ASYNC_TX_XOR_DROP_DST: srcs\[0\] must be dest itself$"):
        async_xor(a, [b], init_async_submit(ASYNC_TX_XOR_DROP_DST))
    with pytest.raises(ConfigError, match=r"^blocks\[1\] holds 32 bytes, not 64 like blocks\[3\] \(P\)$"):
        async_gen_syndrome([a, c, b, np.zeros(64, np.uint8), np.zeros(64, np.uint8)], init_async_submit())
    with pytest.raises(ConfigError, match=r"^blocks\[2\] \(P\) overlaps blocks\[3\] \(Q\)$"):
        big = np.zeros(100, np.uint8)
        async_gen_syndrome([a, b, big[:64], big[30:94]], init_async_submit())
    with pytest.raises(ConfigError, match=r"^dest is read-only; a destination must be writable$"):
        async_memcpy(bytes(64), a, init_async_submit())
    with pytest.raises(ConfigError, match=r"^src must be a buffer \(numpy array, bytearray\), not int$"):
        async_memcpy(a, 5, init_async_submit())
    with pytest.raises(ConfigError, match=r"^faila must be a data block index 0..1, not 2$"):
        async_raid6_datap_recov([a, b, c, c], 2, init_async_submit())
    with pytest.raises(ConfigError, match=r"^flags must be AsyncTxFlags, not 64$"):
        init_async_submit(64)
    with pytest.raises(ConfigError, match=r"^per_device must be an int >= 1 or None, not 0$"):
        ChannelTable(Platform(), per_device=0)
    with pytest.raises(ConfigError, match=r"^submit must be an AsyncSubmitCtl \(from init_async_submit\), not None$"):
        async_memcpy(a, b, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^platform must be a Platform or None \(the default one\), not 'sim'$"):
        ChannelTable("sim")  # type: ignore[arg-type]


def test_prep_flags_carry_the_fence() -> None:
    plat = make_platform("engine")
    try:
        with ChannelTable(plat, per_device=1) as chans:
            assert len(chans.channels) == 1 and chans.channels[0].client_name == "async_tx"
            a, b = np.ones(64, np.uint8), np.zeros(64, np.uint8)
            tx = async_memcpy(b, a, init_async_submit(chans=chans))
            tx2 = async_memcpy(a, b, init_async_submit(ASYNC_TX_FENCE, tx))
            assert tx is not None and tx2 is not None
            assert tx.desc.flags == PrepFlags.PREP_INTERRUPT
            assert tx2.desc.flags == PrepFlags.PREP_INTERRUPT | PrepFlags.PREP_FENCE
            async_tx_quiesce(tx2)
        assert not any(c.client_count for c in plat.channels())  # the table released its channels
        assert plat.address_space.mappings() == []  # and every buffer it mapped
    finally:
        plat.close()


def test_rebuild_on_the_sim_takes_virtual_time() -> None:
    soc = Soc()
    try:
        with ChannelTable(soc, per_device=2) as chans:
            src = np.arange(4096, dtype=np.uint8)
            dst = np.zeros_like(src)
            t0 = soc.now_ns
            async_tx_quiesce(async_memcpy(dst, src, init_async_submit(chans=chans)))
            assert (dst == src).all() and soc.now_ns > t0
            assert chans.dma_ops == {"memcpy": 1}
    finally:
        soc.close()
