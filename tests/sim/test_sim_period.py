"""The lean period end of a lone cyclic flow (``Dmac._period_end``): the next period's plan is carried over, the
ring's memory is resolved once per program, and a look at the model before the next planned landing costs one
comparison. Each case is checked against the burst-by-burst reference (``Soc(fast=False)``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine.sim import Soc

M2D = TransferDirection.MEM_TO_DEV
PERIOD = 1024  # 256 frames of 48 kHz stereo 16-bit: 5.33 ms


def _ring_then_another(fast: bool) -> tuple[Any, ...]:
    """Ring A plays alone (its memory resolved for the lone path), is terminated; ring B (same shape, other
    bytes) starts while a copy shares the bus (a shared-bus schedule checks its memory), then, paused and resumed
    once the copy is done, goes on alone."""
    soc = Soc(fast=fast)
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring_a = np.full(4 * PERIOD, 0x11, dtype=np.uint8)
    ring_b = (np.arange(4 * PERIOD) % 251).astype(np.uint8)
    ma = soc.map(ring_a, DataDirection.TO_DEVICE)
    mb = soc.map(ring_b, DataDirection.TO_DEVICE)
    calls: list[int] = []
    tx = chan.prep_dma_cyclic(ma.addr, ring_a.nbytes, PERIOD, M2D)
    tx.callback = lambda _: calls.append(soc.now_ns)
    tx.submit()
    chan.issue_pending()
    soc.run(until=0.030)
    chan.terminate_sync()
    copier = soc.request_channel(Cap.MEMCPY)
    src = np.arange(1 << 16, dtype=np.uint8)
    dst = np.zeros_like(src)
    copy = copier.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, src.nbytes)
    tx = chan.prep_dma_cyclic(mb.addr, ring_b.nbytes, PERIOD, M2D)
    tx.callback = lambda _: calls.append(soc.now_ns)
    cookie = tx.submit()
    chan.issue_pending()
    copy.submit()
    copier.issue_pending()
    residues = []
    for k in range(1, 40):
        soc.run(until=0.030 + k * 0.0011)
        residues.append(chan.tx_status(cookie)[1].residue)
        if k == 10:  # the copy is done: a pause and resume leave the schedule, and ring B goes on alone
            chan.pause()
            chan.resume()
    soc.run(until=0.1)
    assert (dst == src).all()
    return calls, residues, codec.played, codec.underruns


def test_a_ring_started_in_a_shared_schedule_then_alone_plays_its_own_bytes() -> None:
    fast, ref = _ring_then_another(True), _ring_then_another(False)
    assert fast == ref
    calls, _, played, underruns = fast
    assert underruns == 0 and len(calls) > 10
    assert played.count(bytes(range(251))) > 0  # ring B's bytes came out after ring A's


@pytest.mark.parametrize("stop_ns", [3_000, 5_333_000, 5_333_333, 5_334_333, 5_336_000, 5_500_000, 10_667_000])
def test_a_look_between_planned_landings_sees_the_reference(stop_ns: int) -> None:
    """Runs that stop around period ends and between bursts: residue, played bytes and the FIFO agree."""
    seen = []
    for fast in (True, False):
        soc = Soc(fast=fast)
        codec = soc.peripheral("i2s0")
        chan = soc.request_chan("i2s0", "tx")
        chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                      dst_maxburst=8))
        ring = (np.arange(4 * PERIOD) * 7 % 253).astype(np.uint8)
        tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, PERIOD, M2D)
        cookie = tx.submit()
        chan.issue_pending()
        out = []
        for k in range(6):
            soc.run(until=(stop_ns + k * 1_777_777) / 1e9)
            out.append((soc.now_ns, chan.tx_status(cookie)[1].residue, len(codec.played), codec.tx.level))
        seen.append(out)
    assert seen[0] == seen[1]
