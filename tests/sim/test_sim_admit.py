"""A copy started while other channels share the bus joins their schedule at once (``Dmac.start``): its descriptor
fetch is its lane's first request, with no kernel event and no stretch burst by burst before a new schedule. A
look or a change between the start and the end of the fetch settles the schedule and gives the channel back its
fetch (state and event), so everything is as burst by burst; checked here against ``Soc(fast=False)``. Also: a
schedule arms kernel events only at its interrupts (it computes ahead when it arms, not at every chunk's end).

Bounded in CI; ``DMAENGINE_SOAK_SCALE=N`` runs N times more examples (see tests/test_soak.py)."""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, SlaveConfig, Status, TransferDirection
from dmaengine.sim import Soc
from dmaengine.sim._dmac import _State

SCALE = max(1, int(os.environ.get("DMAENGINE_SOAK_SCALE", "1")))
M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM

pytestmark = pytest.mark.timeout(120 * SCALE)

START_NS = 2_000_123  # the copy's start: in the middle of the audio flows' schedule


def _duplex(soc: Soc, calls: list[tuple[str, int, int]], bufs: list[np.ndarray]) -> None:
    """Full-duplex I2S in cyclic DMA on ``soc`` (480-frame periods), each callback noting its instant and a digest
    of every buffer in ``bufs`` as it sees them."""
    codec = soc.peripheral("i2s0")
    for kind in ("tx", "rx"):
        chan = soc.request_chan("i2s0", kind)
        if kind == "tx":
            chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                          dst_maxburst=8))
            ring = (np.arange(480 * 16) * 7 % 251).astype(np.uint8)
        else:
            chan.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth.BYTES_4,
                                          src_maxburst=8))
            ring = np.zeros(480 * 16, dtype=np.uint8)
        d = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, ring.nbytes // 4, M2D if kind == "tx" else D2M)
        d.callback = lambda _, kind=kind: calls.append((kind, soc.now_ns, _digest(bufs)))
        d.submit()
        chan.issue_pending()
        bufs.append(ring)


def _digest(bufs: list[np.ndarray]) -> int:
    return zlib.crc32(b"".join(b.tobytes() for b in bufs))


def copy_among_flows(fast: bool, action: str, offset_ns: int, nbytes: int = 16 * 1024,
                     fetch_ns: int = 100) -> tuple[Any, ...]:
    """Full-duplex audio; at ``START_NS`` a copy of ``nbytes`` starts; ``offset_ns`` later, ``action``
    (``look``: tx_status; ``describe``: the debugfs line, which settles the model; ``pause`` and resume 300 ns
    later; ``terminate``; ``second``: another copy on another channel). Returns every callback instant,
    ``tx_status`` at odd instants, the bytes, and whether the copy's channel joined the schedule as it started."""
    soc = Soc(fast=fast, fetch_latency_ns=fetch_ns)
    hw = soc.dmac.hw
    calls: list[tuple[str, int, int]] = []
    bufs: list[np.ndarray] = []
    _duplex(soc, calls, bufs)
    mc = soc.request_channel(Cap.MEMCPY)
    src = (np.arange(nbytes) % 241).astype(np.uint8)
    dst = np.zeros_like(src)
    bufs.append(dst)
    ms, md = soc.map(src), soc.map(dst)
    soc.run(until=START_NS / 1e9)
    d = mc.prep_dma_memcpy(md.addr, ms.addr, nbytes)
    d.callback = lambda _: calls.append(("memcpy", soc.now_ns, _digest(bufs)))
    cookie = d.submit()
    mc.issue_pending()
    idx = next(i for i, c in enumerate(hw.chans) if c.prog is not None and c.prog.direction is
               TransferDirection.MEM_TO_MEM)
    joined = hw.chans[idx].state is _State.SCHED
    looks: list[tuple[int, Any]] = []
    soc.run(until=(START_NS + offset_ns) / 1e9)
    looks.append((soc.now_ns, mc.tx_status(cookie)))
    more = None
    if action == "describe":  # settles: the channel's state as burst by burst has it
        looks.append((soc.now_ns, hw.describe(idx), hw.chans[idx].state.name))
    elif action == "pause":
        mc.pause()
        soc.run(until=(START_NS + offset_ns + 300) / 1e9)
        looks.append((soc.now_ns, mc.tx_status(cookie), hw.describe(idx)))
        mc.resume()
    elif action == "terminate":
        mc.terminate_sync()
    elif action == "second":
        mc2 = soc.request_channel(Cap.MEMCPY)
        dst2 = np.zeros(max(1, nbytes // 2), dtype=np.uint8)
        bufs.append(dst2)
        d2 = mc2.prep_dma_memcpy(soc.map(dst2).addr, ms.addr, dst2.nbytes)
        d2.callback = lambda _: calls.append(("memcpy2", soc.now_ns, _digest(bufs)))
        more = (mc2, d2.submit())
        mc2.issue_pending()
    for q in (1, 99, 100, 101, 163, 2_001, 40_009):
        soc.run(until=max(soc.now_ns, START_NS + offset_ns + 300 + q) / 1e9)  # (terminate_sync runs the SoC)
        looks.append((soc.now_ns, mc.tx_status(cookie)))
        if more is not None:
            looks.append((soc.now_ns, more[0].tx_status(more[1])))
    soc.run(until=0.012)
    codec = soc.peripheral("i2s0")
    return calls, looks, dst.tobytes(), codec.played, codec.underruns, codec.rx_overruns, joined  # type: ignore[attr-defined]


def _same(fast: tuple[Any, ...], ref: tuple[Any, ...]) -> None:
    assert fast[0] == ref[0]  # callbacks: instants and what they saw
    assert fast[1] == ref[1]  # tx_status (and the channel's state where a look settles the model)
    assert fast[2:6] == ref[2:6]


@pytest.mark.parametrize("action", ["look", "describe", "pause", "terminate", "second"])
@pytest.mark.parametrize("offset_ns", [0, 1, 99, 100, 101, 5_000])
def test_a_look_or_a_change_around_the_fetch_of_a_copy_that_joined_is_exact(action: str, offset_ns: int) -> None:
    fast = copy_among_flows(True, action, offset_ns)
    ref = copy_among_flows(False, action, offset_ns)
    _same(fast, ref)
    assert fast[6] and not ref[6]  # it joined the schedule as it started (the reference steps every burst)
    done = [c for c in fast[0] if c[0] == "memcpy"]
    assert len(done) == (0 if action == "terminate" else 1)


def test_the_channel_is_fetching_again_after_a_settle_before_its_fetch() -> None:
    fast = copy_among_flows(True, "describe", 50)
    # The look at +50 ns settled the schedule: the copy's channel waits for its fetch, as burst by burst.
    assert fast[1][1][1:] == ("fetch MEM_TO_MEM 0/16384 B", "FETCH")
    assert fast[1][0][1][0] is Status.IN_PROGRESS


@pytest.mark.parametrize("fetch_ns", [0, 1, 160])
def test_fetch_latencies(fetch_ns: int) -> None:
    fast = copy_among_flows(True, "look", 7, fetch_ns=fetch_ns)
    ref = copy_among_flows(False, "look", 7, fetch_ns=fetch_ns)
    _same(fast, ref)
    assert fast[6] == (fetch_ns > 0)  # a fetch of 0 ns is not folded in (it would be due at the start instant)


@settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(action=st.sampled_from(["look", "describe", "pause", "terminate", "second"]), offset_ns=st.integers(0, 3_000),
       nbytes=st.integers(1, 6_000), fetch_ns=st.integers(1, 400))
def test_random_copies_joining_the_audio_schedule(action: str, offset_ns: int, nbytes: int, fetch_ns: int) -> None:
    _same(copy_among_flows(True, action, offset_ns, nbytes, fetch_ns),
          copy_among_flows(False, action, offset_ns, nbytes, fetch_ns))


def test_a_copy_alone_is_not_folded_and_concurrent_starts_keep_their_fetch_events() -> None:
    """With no other channel on the bus the fetch stays a kernel event (then a plan of its own); copies started
    together wait for their fetches, and the first fetch makes one schedule of them all (the others' fetches its
    first requests)."""
    soc = Soc()
    hw = soc.dmac.hw
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(3)]
    bufs = [np.zeros(4096, dtype=np.uint8) for _ in range(6)]
    maps = [soc.map(b).addr for b in bufs]
    for k, c in enumerate(chans):
        c.prep_dma_memcpy(maps[2 * k], maps[2 * k + 1], 4096).submit()
        c.issue_pending()
    assert [c.state for c in hw.chans[:3]] == [_State.FETCH] * 3
    soc.run(until=0.001)
    assert all(not hw.busy(i) for i in range(3))


def test_a_schedule_wakes_only_for_its_interrupts() -> None:
    """Full-duplex audio alone for 50 ms: every kernel event the schedule arms raises an interrupt (480-frame
    periods at 48 kHz: one every 10 ms per direction), none at the end of a computed chunk."""
    soc = Soc(trace=True)
    calls: list[tuple[str, int, int]] = []
    _duplex(soc, calls, [])
    soc.run(until=0.05)
    trace = soc.kernel.trace
    assert trace is not None
    bus = [t for t, label in trace if label == "bus"]
    assert len(calls) == 9
    assert [t + soc.bh_latency_ns for t in bus] == [t for _, t, _ in calls]  # each callback 1 us after its wake
