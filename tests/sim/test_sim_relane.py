"""A running shared-bus schedule takes a changed lane in place (``Dmac._sched_relane``, ``BusSchedule.relane``):
new RX data on a UART whose ring ran dry (``port_changed``), and a copy started on a channel whose last copy ended
in the schedule (``Dmac.start``), without settling the other lanes into kernel events and building them again.
Everything must be as burst by burst: every callback instant with a digest of every buffer as it sees them,
``tx_status`` at odd instants, the bytes, the codec's and the UART's counters, against ``Soc(fast=False)``; looks,
pauses, terminations and a second copy around the in-place changes included.

Bounded in CI; ``DMAENGINE_SOAK_SCALE=N`` runs N times more examples (see tests/test_soak.py)."""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, SlaveConfig, TransferDirection
from dmaengine.sim import Soc

SCALE = max(1, int(os.environ.get("DMAENGINE_SOAK_SCALE", "1")))
M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM

pytestmark = pytest.mark.timeout(120 * SCALE)

END_NS = 7_000_000


def _digest(bufs: list[np.ndarray]) -> int:
    return zlib.crc32(b"".join(b.tobytes() for b in bufs))


def busy(fast: bool, events: list[tuple[int, str, int]], nbytes: int = 8 * 1024,
         rx_ends: list[int] | None = None) -> tuple[Any, ...]:
    """Full-duplex I2S and UART RX in cyclic DMA (a 256-byte ring, 16-byte periods), and ``events`` at their
    instants (ns): ``feed`` (that many bytes to the UART's RX line), ``copy`` (a copy of ``nbytes`` on the memcpy
    channel), ``copy2`` (one on a second channel), ``look`` (``tx_status`` of the RX ring and the last copy),
    ``describe`` (the debugfs line: settles the model), ``pause`` (the memcpy channel, resumed 300 ns later),
    ``terminate`` (it).
    Returns every callback instant with a digest of every buffer, the looks, the buffers, the counters, and the
    memcpy controller's count of lanes taken in place. ``rx_ends``: a list to note the landing instant of every
    UART RX burst in (a burst probe)."""
    soc = Soc(fast=fast)
    calls: list[tuple[str, int, int]] = []
    bufs: list[np.ndarray] = []
    codec, uart = soc.peripheral("i2s0"), soc.peripheral("uart0")
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
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ring_rx = np.zeros(256, dtype=np.uint8)
    bufs.append(ring_rx)
    d = rx.prep_dma_cyclic(soc.map(ring_rx).addr, ring_rx.nbytes, 16, D2M)
    d.callback = lambda _: calls.append(("uart", soc.now_ns, _digest(bufs)))
    rx_cookie = d.submit()
    rx.issue_pending()
    if rx_ends is not None:
        hw = soc.dmac.hw
        rx_idx = next(c.idx for c in hw.chans if c.prog is not None and c.prog.port is uart.rx)  # type: ignore[attr-defined]
        hw.burst_probe = lambda idx, _req, _grant, end: rx_ends.append(end) if idx == rx_idx else None
    mc, mc2 = soc.request_channel(Cap.MEMCPY), soc.request_channel(Cap.MEMCPY)
    src = (np.arange(nbytes) % 241).astype(np.uint8)
    dst = np.zeros_like(src)
    dst2 = np.zeros(nbytes // 2, dtype=np.uint8)
    bufs += [dst, dst2]
    ms, md, md2 = soc.map(src), soc.map(dst), soc.map(dst2)
    looks: list[tuple[Any, ...]] = []
    cookie = None
    byte = 0
    for t, kind, arg in sorted(events, key=lambda e: e[0]):
        soc.run(until=max(t, soc.now_ns) / 1e9)
        if kind == "feed":
            uart.feed(bytes((byte + i) % 256 for i in range(arg)))  # type: ignore[attr-defined]
            byte += arg
        elif kind in ("copy", "copy2"):
            chan, dest, n = (mc, md, nbytes) if kind == "copy" else (mc2, md2, nbytes // 2)
            d = chan.prep_dma_memcpy(dest.addr, ms.addr, n)
            d.callback = lambda _, kind=kind: calls.append((kind, soc.now_ns, _digest(bufs)))
            ck = d.submit()
            if kind == "copy":
                cookie = ck
            chan.issue_pending()
        elif kind == "look":
            looks.append((soc.now_ns, rx.tx_status(rx_cookie), None if cookie is None else mc.tx_status(cookie)))
        elif kind == "describe":
            looks.append((soc.now_ns, [soc.dmac.hw.describe(i) for i in range(8)]))
        elif kind == "pause":
            mc.pause()
            soc.run(until=(soc.now_ns + 300) / 1e9)
            looks.append((soc.now_ns, None if cookie is None else mc.tx_status(cookie)))
            mc.resume()
        elif kind == "terminate":
            mc.terminate_sync()
    soc.run(until=END_NS / 1e9)
    if cookie is not None:
        looks.append((soc.now_ns, mc.tx_status(cookie)))
    return (calls, looks, [b.tobytes() for b in bufs], codec.played, codec.underruns,  # type: ignore[attr-defined]
            codec.rx_overruns, uart.overruns, soc.dmac.hw.relanes)  # type: ignore[attr-defined]


def _same(events: list[tuple[int, str, int]]) -> tuple[Any, ...]:
    fast = busy(True, events)
    ref = busy(False, events)
    assert fast[0] == ref[0]  # callbacks: instants and what they saw
    assert fast[1] == ref[1]  # tx_status, describe lines
    assert fast[2:7] == ref[2:7]
    assert ref[7] == 0
    return fast


def _cycles(offset_ns: int = 0, feed: int = 13) -> list[tuple[int, str, int]]:
    """The busy benchmark's cycle, 1 ms long here: new RX data, then a copy, at each cycle's start."""
    out: list[tuple[int, str, int]] = []
    for k in range(1, 6):
        t = k * 1_000_000 + offset_ns
        out += [(t, "feed", feed), (t, "copy", 0)]
        out += [(t + q, "look", 0) for q in (1, 86_806, 86_807, 90_001, 173_613, 173_614, 400_003)]
    return out


def test_the_busy_cycle_takes_its_lanes_in_place_and_is_exact() -> None:
    fast = _same(_cycles())
    assert fast[7] >= 8  # the feeds and the copies after the first: no settle, no rebuild


@pytest.mark.parametrize("feed", [13, 70])
def test_the_rx_bursts_after_a_feed_taken_in_place_land_as_burst_by_burst(feed: int) -> None:
    """Looks at every UART RX burst's landing and 1 ns before it (found burst by burst with a probe)."""
    ends: list[int] = []
    busy(False, _cycles(feed=feed), rx_ends=ends)
    assert len(ends) >= 40
    fast = _same([*_cycles(feed=feed), *((t + d, "look", 0) for t in ends for d in (-1, 0))])
    assert fast[7] >= 8


@pytest.mark.parametrize("action", ["look", "describe", "pause", "terminate", "copy2", "feed"])
@pytest.mark.parametrize("offset_ns", [0, 1, 99, 100, 101, 160, 5_000])
def test_a_look_or_a_change_around_a_lane_taken_in_place_is_exact(action: str, offset_ns: int) -> None:
    """The copy of the third cycle is taken in place; ``offset_ns`` after it, ``action``."""
    events = [*_cycles(), (3_000_000 + offset_ns, action, 5)]
    fast = _same(events)
    assert fast[7] >= 2


@pytest.mark.parametrize("offset_ns", [7, 333, 10_007, 200_003])
def test_feeds_and_copies_at_other_instants_are_exact(offset_ns: int) -> None:
    _same(_cycles(offset_ns, feed=70))


@settings(max_examples=12 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(500_000, END_NS - 500_000),
                          st.sampled_from(["feed", "feed", "copy", "copy", "copy2", "look", "describe", "pause",
                                           "terminate"]),
                          st.integers(1, 90)), min_size=1, max_size=14))
def test_random_feeds_copies_and_looks_are_exact(events: list[tuple[int, str, int]]) -> None:
    _same(events)


def copies_together(fast: bool, action: str, offset_ns: int, count: int = 5, nbytes: int = 4096) -> tuple[Any, ...]:
    """``count`` copies started at one instant on their own channels (their first fetch makes one schedule of
    them all); ``offset_ns`` after the start, ``action`` on the second channel (``look``, ``describe``, ``pause``
    and resume 300 ns later, ``terminate``), then looks at odd instants."""
    soc = Soc(fast=fast)
    hw = soc.dmac.hw
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(count)]
    srcs = [(np.arange(nbytes) * (i + 3) % 251).astype(np.uint8) for i in range(count)]
    dsts = [np.zeros(nbytes, dtype=np.uint8) for _ in range(count)]
    calls: list[tuple[int, int, int]] = []
    soc.run(until=0.000_05)
    cookies = []
    for i, (c, s, d) in enumerate(zip(chans, srcs, dsts)):
        desc = c.prep_dma_memcpy(soc.map(d).addr, soc.map(s).addr, nbytes)
        desc.callback = lambda _, i=i: calls.append((i, soc.now_ns, _digest(dsts)))
        cookies.append(desc.submit())
    start = soc.now_ns
    for c in chans:
        c.issue_pending()
    looks: list[tuple[Any, ...]] = []
    soc.run(until=(start + offset_ns) / 1e9)
    c1 = chans[1]
    if action == "look":
        looks.append((soc.now_ns, c1.tx_status(cookies[1])))
    elif action == "describe":
        looks.append((soc.now_ns, [hw.describe(i) for i in range(count)]))
    elif action == "pause":
        c1.pause()
        soc.run(until=(soc.now_ns + 300) / 1e9)
        looks.append((soc.now_ns, c1.tx_status(cookies[1])))
        c1.resume()
    elif action == "terminate":
        c1.terminate_sync()
    for q in (1, 99, 100, 101, 161, 2_003, 20_011):
        soc.run(until=max(soc.now_ns, start + offset_ns + 300 + q) / 1e9)
        looks.append((soc.now_ns, [c.tx_status(ck) for c, ck in zip(chans, cookies)]))
    soc.run(until=0.001)
    return calls, looks, [d.tobytes() for d in dsts], soc.kernel.events_run


@pytest.mark.parametrize("action", ["look", "describe", "pause", "terminate"])
@pytest.mark.parametrize("offset_ns", [0, 99, 100, 101, 5_000])
def test_copies_started_together_are_one_schedule_from_their_fetches_and_exact(action: str, offset_ns: int) -> None:
    fast = copies_together(True, action, offset_ns)
    ref = copies_together(False, action, offset_ns)
    assert fast[:3] == ref[:3]
    assert fast[3] < ref[3]


def test_copies_started_together_fetch_once() -> None:
    """Eight copies at one instant: one fetch event (the first; the other seven are its schedule's first
    requests), one event per program end, and the bottom halves (the callbacks of ends close together run in
    one)."""
    fast = copies_together(True, "none", 0, count=8)
    ref = copies_together(False, "none", 0, count=8)
    assert fast[:3] == ref[:3]
    assert fast[3] == 11  # 18 before: seven more fetch events
