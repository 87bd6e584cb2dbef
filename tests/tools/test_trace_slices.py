"""dmaengine.trace: slices named by operation that nest or follow on every track, cyclic periods, pause spans,
counters, the bounded ring, gzip, and the overlap checker itself."""

from __future__ import annotations

import gzip
import itertools
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import dmaengine
import dmaengine.trace
from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine.drivers.memcpy import MemcpyEngine


def x_slices(doc: dict, tid: int | None = None) -> list[dict]:
    return [e for e in doc["traceEvents"] if e["ph"] == "X" and (tid is None or e["tid"] == tid)]


def test_overlaps_finds_slices_that_partly_overlap_and_accepts_nesting() -> None:
    def doc(*spans: tuple[float, float]) -> dict:
        return {"traceEvents": [{"ph": "X", "name": "s", "pid": 1, "tid": 1, "ts": a, "dur": b - a}
                                for a, b in spans]}

    assert dmaengine.trace.overlaps(doc((0, 10), (2, 4), (4, 6), (10, 12), (12, 12))) == []
    bad = dmaengine.trace.overlaps(doc((0, 10), (5, 15)))
    assert [(a["ts"], b["ts"]) for a, b in bad] == [(0, 5)]
    other_track = doc((0, 10))["traceEvents"] + [{"ph": "X", "pid": 1, "tid": 2, "ts": 5, "dur": 10}]
    assert dmaengine.trace.overlaps({"traceEvents": other_track}) == []
    # Back to back in µs floats: 30.18 + (103.48 - 30.18) is 103.48000000000002, one ulp past the next slice's
    # start; Perfetto reads whole ns, and so does the check (a random dmatest run on the SoC once tripped on it).
    assert 30.18 + (103.48 - 30.18) > 103.48
    assert dmaengine.trace.overlaps(doc((30.18, 103.48), (103.48, 164.98))) == []
    assert len(dmaengine.trace.overlaps(doc((30.18, 103.481), (103.48, 164.98)))) == 1


def test_a_batch_of_queued_copies_makes_slices_that_follow_each_other() -> None:
    """The memory engine takes issued descriptors in batches; each slice still ends when its own bytes moved."""
    plat = dmaengine.Platform()
    plat.register_device(MemcpyEngine(1))
    n, size = 300, 256
    src = np.arange(n * size, dtype=np.uint32).astype(np.uint8)
    dst = np.zeros_like(src)
    with dmaengine.trace.Trace() as tr:
        with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
            cookies = [chan.prep_dma_memcpy(d.addr + i * size, s.addr + i * size, size).submit() for i in range(n)]
            chan.prep_dma_memset(d.addr, 7, 100_000 % (n * size)).submit()
            last = chan.prep_dma_memcpy(d.addr + size, s.addr + size, 64 * 1024).submit()
            chan.issue_pending()
            assert chan.sync_wait(last) == dmaengine.Status.COMPLETE
    plat.close()
    doc = tr.to_chrome()
    assert dmaengine.trace.overlaps(doc) == []
    slices = x_slices(doc)
    assert [e["name"] for e in slices] == ["memcpy"] * n + ["memset", "memcpy"]
    assert [e["args"]["cookie"] for e in slices] == [*cookies, cookies[-1] + 1, last]
    assert [e["args"]["length"] for e in slices] == [size] * n + [100_000 % (n * size), 64 * 1024]
    assert all(a["ts"] + a["dur"] <= b["ts"] for a, b in itertools.pairwise(slices))


def cyclic_on_i2s(fast: bool) -> tuple[dict, int]:
    sim = pytest.importorskip("dmaengine.sim")
    soc = sim.Soc(fast=fast)
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.zeros(4096, dtype=np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    with dmaengine.trace.Trace() as tr:
        cookie = chan.prep_dma_cyclic(m.addr, 4096, 1024, TransferDirection.MEM_TO_DEV).submit()
        chan.issue_pending()
        soc.run(until=0.012)
        chan.pause()
        soc.run(until=0.015)
        chan.resume()
        soc.run(until=0.030)
        chan.terminate_sync()
    return tr.to_chrome(), cookie


@pytest.mark.parametrize("fast", [True, False])
def test_cyclic_transfer_gets_one_slice_per_period_and_pause_a_span(fast: bool) -> None:
    doc, cookie = cyclic_on_i2s(fast)
    assert dmaengine.trace.overlaps(doc) == []
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    chan_tid = next(t for t, n in names.items() if not n.endswith(" paused"))
    periods = x_slices(doc, chan_tid)
    period_us = 256 / 48_000 * 1e6  # 1024 bytes of 16-bit stereo at 48 kHz
    # 12 ms, a 3 ms pause (the FIFO runs dry, no period ends), 15 ms: 27 ms of audio, 5 whole periods
    assert [e["name"] for e in periods] == ["cyclic period"] * 5
    assert [e["args"]["period"] for e in periods] == [0, 1, 2, 3, 4]
    assert all(e["args"]["cookie"] == cookie and e["args"]["length"] == 1024 for e in periods)
    assert all(e["args"]["direction"] == "MEM_TO_DEV" for e in periods)
    assert all(a["ts"] + a["dur"] == b["ts"] for a, b in itertools.pairwise(periods))  # back to back
    # The first period ends early (the FIFO takes 64 bytes at once); the paused one lasts 3 ms longer.
    assert [round(e["dur"], 3) for e in periods] == [4979.426, 5333.334, 8000.0, 5333.333, 5333.333]
    assert periods[3]["dur"] == pytest.approx(period_us, abs=1e-3)
    (paused,) = x_slices(doc, next(t for t, n in names.items() if n.endswith(" paused")))
    assert (paused["name"], paused["ts"], paused["dur"]) == ("paused", 12_000.0, 3_000.0)
    counters = [(e["name"], e["ts"], e["args"]["bytes"]) for e in doc["traceEvents"] if e["ph"] == "C"]
    in_flight = [(t, n) for name, t, n in counters if name == "dma0chan0 bytes in flight"]
    assert in_flight == [(0.0, 4096), (30_000.0, 0)]  # the ring is in flight until the terminate
    # the codec's 64-byte FIFO at each period's last burst: full (the DMA keeps ahead of the codec)
    fifo = [(t, n) for name, t, n in counters if name == "i2s0.tx FIFO level"]
    assert fifo == [(e["ts"] + e["dur"], 64) for e in periods]
    inst = [e["name"] for e in doc["traceEvents"] if e["ph"] == "i"]
    assert inst.count("terminate") == 1 and "terminate (idle)" not in inst


def test_fast_planner_and_reference_give_the_same_trace() -> None:
    fast, _ = cyclic_on_i2s(True)
    ref, _ = cyclic_on_i2s(False)
    strip = lambda d: [{k: v for k, v in e.items()} for e in d["traceEvents"]]  # noqa: E731
    assert strip(fast) == strip(ref)


def test_the_ring_keeps_the_last_events_and_warns_when_it_dropped(tmp_path: Path) -> None:
    plat = dmaengine.Platform()
    plat.register_device(MemcpyEngine(1))
    buf = np.zeros(64, dtype=np.uint8)
    tr = dmaengine.trace.Trace(limit=10)
    with tr, plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
        for _ in range(5):
            chan.sync_wait(chan.prep_dma_memcpy(m.addr, m.addr + 32, 32).submit())
    plat.close()
    assert len(tr) == 10 and tr.recorded == 5 * 6 + 1 and tr.dropped == 21
    assert tr.recorded == 31  # reading the count does not move it
    path = tmp_path / "t.json.gz"
    with pytest.warns(RuntimeWarning, match=r"^trace .*t\.json\.gz: kept the last 10 of 31 events \(21 dropped;"):
        tr.save(path)
    with gzip.open(path, "rt") as f:
        doc = json.load(f)
    assert doc == dmaengine.trace.load(path) == tr.to_chrome()
    assert dmaengine.trace.overlaps(doc) == []
    plain = tmp_path / "t.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr.save(plain)
    assert json.loads(plain.read_text()) == doc


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_a_bad_limit_is_refused(limit: object) -> None:
    with pytest.raises(ValueError, match=r"^limit must be an int >= 1 or None, not "):
        dmaengine.trace.Trace(limit=limit)  # type: ignore[arg-type]


def test_back_to_back_slices_never_seem_to_overlap_by_rounding() -> None:
    """A slice that ends where the next begins: ``ts + dur`` of the first must not pass the second's ``ts``
    once rounded (31.520000000000003 + 67.02000000000001 is 98.54000000000002, past 98.54)."""
    from dmaengine.trace import _dur

    t0, t1 = 31.520000000000003, 98.54
    assert t0 + (t1 - t0) > t1  # the rounding that made slices overlap
    d = _dur(t0, t1)
    assert t0 + d <= t1 and t1 - t0 - d < 1e-12
    assert _dur(5.0, 5.0) == 0.0 and _dur(1.0, 3.0) == 2.0
    doc = {"traceEvents": [{"ph": "X", "name": "s", "pid": 1, "tid": 1, "ts": t0, "dur": d},
                           {"ph": "X", "name": "s", "pid": 1, "tid": 1, "ts": t1, "dur": 1.0}]}
    assert dmaengine.trace.overlaps(doc) == []
