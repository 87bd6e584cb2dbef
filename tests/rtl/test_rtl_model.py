"""The model checked against the silicon: the simulated SoC with the RTL's timing profile completes the same
200 random descriptors at the same nanoseconds as the RTL controller. docs/rtl.md says where they part."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import Cap, DataDirection, Platform

rtl = pytest.importorskip("dmaengine.rtl")
sim = pytest.importorskip("dmaengine.sim")

Desc = tuple[int, int, int]


def rtl_profile() -> Platform:
    """A Soc whose timing model matches RtlSoc(): a beat every 2 cycles of 10 ns (a burst reads, then writes, on
    one port), 6 cycles from a start to the first beat (5 register writes and the grant)."""
    return sim.Soc(bus_bytes_per_s=200_000_000, fetch_latency_ns=60, bh_latency_ns=0)


def completions(plat: Platform, descs: list[Desc], channels: int = 1) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Submit ``descs`` round-robin on ``channels`` channels, issue, run until idle: ``(index, ns)`` of each
    completion (callbacks run at the interrupt's instant: no bottom-half latency), and the destination."""
    src = (np.arange(1 << 16) % 251).astype(np.uint8)
    dst = np.zeros(1 << 16, dtype=np.uint8)
    s = plat.map(src, DataDirection.TO_DEVICE).addr
    d = plat.map(dst, DataDirection.FROM_DEVICE).addr
    chans = [plat.request_channel(Cap.MEMCPY) for _ in range(channels)]
    done: list[tuple[int, int]] = []
    for i, (so, do, n) in enumerate(descs):
        tx = chans[i % channels].prep_dma_memcpy(d + do, s + so, n)
        tx.callback = lambda p: done.append((p, plat.now_ns))
        tx.callback_param = i
        tx.submit()
    for c in chans:
        c.issue_pending()
    plat.run_until_idle()  # type: ignore[attr-defined]
    for c in chans:
        c.release()
    plat.close()
    return sorted(done), dst


def random_descs(seed: int, align: int) -> list[Desc]:
    rng = np.random.default_rng(seed)
    return [(align * int(rng.integers(0, 32000 // align)), align * int(rng.integers(0, 32000 // align)),
             align * int(rng.integers(1, 800 // align))) for _ in range(200)]


def test_200_word_aligned_descriptors_complete_at_the_same_instants() -> None:
    descs = random_descs(1, 4)
    got, got_dst = completions(rtl.RtlSoc(bh_latency_ns=0), descs)
    want, want_dst = completions(rtl_profile(), descs)
    assert got == want
    assert got[:3] == [(0, 3080), (1, 3720), (2, 4780)]
    assert np.array_equal(got_dst, want_dst)


def test_where_they_part_two_channels_share_one_register_port() -> None:
    # Two channels restarting at nearby instants queue their register writes on one register port (one CPU):
    # the RTL starts the second a few cycles late, which the model (whose driver programs in no time) does not.
    descs = random_descs(2, 4)
    got, _ = completions(rtl.RtlSoc(bh_latency_ns=0), descs, channels=2)
    want, _ = completions(rtl_profile(), descs, channels=2)
    late = [(i, t - w) for (i, t), (_, w) in zip(got, want) if t != w]
    assert [i for i, _ in got] == [i for i, _ in want]
    assert 0 < len(late) <= 10 and all(0 < delta <= 50 for _, delta in late), late


def test_where_they_part_unaligned_bursts() -> None:
    # Unaligned, the RTL's bursts are the words each side spans (one more on each side, often) and its chunks
    # stop short of 64 bytes by the larger misalignment; the model counts ceil(bytes / 4) beats.
    descs = random_descs(3, 1)
    got, got_dst = completions(rtl.RtlSoc(bh_latency_ns=0), descs)
    want, want_dst = completions(rtl_profile(), descs)
    assert np.array_equal(got_dst, want_dst)
    assert all(t >= w for (_, t), (_, w) in zip(got, want))
    assert got[-1][1] > want[-1][1]
