"""dmaengine.trace: the recorder, the Chrome trace-event JSON, nesting, and tracing off."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import vplat

import dmaengine
import dmaengine.trace
from dmaengine import Cap, _trace


def copy_once(plat: dmaengine.Platform, n: int = 1024) -> None:
    src = np.arange(n, dtype=np.uint64).astype(np.uint8)
    dst = np.zeros_like(src)
    called = threading.Event()
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, n)
        tx.callback = lambda _: called.set()
        assert chan.sync_wait(tx.submit()) == dmaengine.Status.COMPLETE
        plat.wait_for(called.is_set, 5.0, chan.waitq) if not plat.realtime else called.wait(5.0)
    assert (dst == src).all()


def test_records_every_kind_on_the_threaded_engine(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    with dmaengine.trace.record(path) as tr:
        copy_once(dmaengine.default_platform())
    assert _trace.recorder is None
    assert tr.kinds() == ["prep", "submit", "issue", "start", "end", "complete", "callback", "terminate"]
    ev = list(tr)
    assert ev[1].cookie == ev[3].cookie == ev[4].cookie == ev[5].cookie > 0
    assert ev[4].args == {"result": "NOERROR"}
    assert ev[5].args == {"result": "NOERROR", "bytes": 1024}
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(ev))
    doc = json.loads(path.read_text())
    assert set(doc) == {"traceEvents", "displayTimeUnit"}
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    assert [(m["name"], m["args"]) for m in meta] == [
        ("process_name", {"name": "dma0 (memcpy)"}),
        ("thread_name", {"name": "dma0chan0"}),
        ("thread_sort_index", {"sort_index": 0}),
    ]
    inst = [e for e in doc["traceEvents"] if e["ph"] == "i"]
    assert [e["name"] for e in inst] == [*tr.kinds()[:-1], "terminate (idle)"]  # the release found nothing
    assert all(e["s"] == "t" and e["cat"] == "dmaengine" and e["pid"] == 1 and e["tid"] == 1 for e in inst)
    (x,) = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    start = next(e for e in inst if e["name"] == "start")
    end = next(e for e in inst if e["name"] == "end")
    assert x["name"] == "memcpy"
    assert x["ts"] == start["ts"] and x["dur"] == pytest.approx(end["ts"] - start["ts"])
    assert x["args"] == {"cookie": ev[1].cookie, "length": 1024, "direction": "MEM_TO_MEM", "result": "NOERROR"}
    counters = [(e["name"], e["args"]["bytes"]) for e in doc["traceEvents"] if e["ph"] == "C"]
    assert counters == [("dma0chan0 bytes in flight", 1024), ("dma0chan0 bytes in flight", 0)]


def test_virtual_time_stamps_are_exact() -> None:
    plat = vplat.make_two()
    plat.wait_for(lambda: False, 1e-6, None)  # start at t = 1 us
    with dmaengine.trace.Trace() as tr:
        copy_once(plat, 24)  # 976 + 24 ns
    doc = tr.to_chrome()
    assert [(e["name"], e["ts"]) for e in doc["traceEvents"] if e["ph"] == "i"] == [
        ("prep", 1.0), ("submit", 1.0), ("issue", 1.0), ("complete", 2.0), ("callback", 2.0),
        ("terminate (idle)", 2.0)]
    (x,) = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert (x["ts"], x["dur"]) == (1.0, 1.0)  # no start event from this driver: from issue to complete


def test_channels_get_tracks_and_devices_get_processes() -> None:
    a, b = vplat.make_two(), vplat.make()
    with dmaengine.trace.record() as tr:
        with a.request_channel(Cap.MEMCPY):  # holds dma0chan0 of a: the copy runs on dma0chan1
            copy_once(a)
        copy_once(b)
    meta = [(e["name"], e["pid"], e["tid"], e["args"]) for e in tr.to_chrome()["traceEvents"] if e["ph"] == "M"]
    procs = {(pid, args["name"]) for name, pid, _, args in meta if name == "process_name"}
    tracks = {(pid, tid, args["name"]) for name, pid, tid, args in meta if name == "thread_name"}
    assert procs == {(1, "dma0 (timed)"), (2, "dma0 (timed)")}
    assert tracks == {(1, 1, "dma0chan1"), (1, 2, "dma0chan0"), (2, 3, "dma0chan0")}
    sort = {(pid, tid): args["sort_index"] for name, pid, tid, args in meta if name == "thread_sort_index"}
    assert sort == {(1, 1): 1, (1, 2): 0, (2, 3): 0}


def test_nesting_restores_the_outer_recorder_and_double_start_is_refused() -> None:
    outer = dmaengine.trace.Trace().start()
    try:
        with dmaengine.trace.record() as inner:
            assert _trace.recorder is inner
            with pytest.raises(RuntimeError, match=r"^this trace is already recording$"):
                inner.start()
        assert _trace.recorder is outer
    finally:
        outer.stop()
    assert _trace.recorder is None
    copy_once(vplat.make())
    assert len(outer) == 0 and len(inner) == 0


def test_terminate_drops_open_slices() -> None:
    plat = vplat.make_dropping()
    with dmaengine.trace.record() as tr, plat.request_channel(Cap.MEMCPY) as chan, plat.map(bytearray(64)) as m:
        chan.prep_dma_memcpy(m.addr, m.addr, 32).submit()
        chan.issue_pending()
    doc = tr.to_chrome()
    assert [e["name"] for e in doc["traceEvents"] if e["ph"] == "i"] == ["prep", "submit", "issue", "terminate"]
    assert [e for e in doc["traceEvents"] if e["ph"] == "X"] == []


def test_simulated_soc_trace_is_in_virtual_time() -> None:
    from dmaengine import sim
    soc = sim.Soc()
    with dmaengine.trace.record() as tr:
        copy_once(soc, 4096)
    kinds = tr.kinds()
    for kind in ("prep", "submit", "issue", "complete", "callback", "terminate"):
        assert kind in kinds
    assert all(0 <= e.ts <= soc.now for e in tr)
    assert len([e for e in tr.to_chrome()["traceEvents"] if e["ph"] == "X"]) == 1
