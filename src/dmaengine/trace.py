"""Record what the DMA engines do and look at it in Perfetto.

Wrap any code in :func:`record`; every channel's prep, submit, issue, start, complete, callback and terminate
(and period, pause, resume) is kept and written as Chrome trace-event JSON (``{"traceEvents": [...]}``), which
https://ui.perfetto.dev and chrome://tracing open. Each device is a process, each channel a thread; every
transfer is a slice from the moment it starts moving to its completion. Timestamps come from the platform clock,
so a simulated SoC's trace is in virtual time. Tracing off costs one global test per hook.

.. code-block:: python

    import numpy as np
    import dmaengine.trace
    from dmaengine import Cap

    src = np.arange(4096, dtype=np.uint8)
    dst = np.zeros_like(src)
    with dmaengine.trace.record("copy-trace.json") as tr:
        with dmaengine.request_channel(Cap.MEMCPY) as chan, dmaengine.map(src) as s, dmaengine.map(dst) as d:
            chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 4096).submit())
    assert "complete" in tr.kinds()
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import _trace

__all__ = ["Event", "Trace", "record"]

#: The event kinds the core and the drivers emit.
KINDS = ("prep", "submit", "issue", "start", "complete", "period", "callback", "terminate", "pause", "resume")


class Event(NamedTuple):
    """One recorded event: ``ts`` in seconds on the channel's platform clock."""

    kind: str
    chan: Any
    cookie: int
    ts: float
    args: dict[str, Any] | None


class Trace:
    """A trace recorder. :meth:`start` installs it (replacing any other), :meth:`stop` puts the previous back.

    It is a context manager; with a ``path`` the trace is saved there on exit.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = path
        self._raw: list[tuple[str, Any, int, float, dict[str, Any] | None]] = []
        self._append = self._raw.append
        self._prev: _trace.Recorder | None = None
        self._active = False
        self._lock = threading.Lock()

    # --- the recorder protocol (called from any thread, on the hot path) ----------------------------------
    def event(self, kind: str, chan: Any, cookie: int, ts: float, args: dict[str, Any] | None) -> None:
        """Keep one event: a bare tuple (list.append is atomic, so no lock on the hot path)."""
        self._append((kind, chan, cookie, ts, args))

    # --- control ------------------------------------------------------------------------------------------
    def start(self) -> Trace:
        """Begin recording."""
        with self._lock:
            if self._active:
                raise RuntimeError("this trace is already recording")
            self._prev = _trace.install(self)
            self._active = True
        return self

    def stop(self) -> None:
        """Stop recording (the previously installed recorder, if any, is restored)."""
        with self._lock:
            if self._active:
                _trace.install(self._prev)
                self._prev = None
                self._active = False

    def __enter__(self) -> Trace:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.path is not None:
            self.save(self.path)

    # --- reading ------------------------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """The recorded events, in recording order."""
        return [Event._make(r) for r in list(self._raw)]

    def kinds(self) -> list[str]:
        """The kinds of the recorded events, in order."""
        return [r[0] for r in list(self._raw)]

    def to_chrome(self) -> dict[str, Any]:
        """The trace as a Chrome trace-event object: metadata names, instant events, and one "X" slice per
        transfer (from its "start", or from when it was issued for a driver that emits no start, to its
        "complete"). ``ts`` and ``dur`` are in microseconds."""
        out: list[dict[str, Any]] = []
        pids: dict[int, int] = {}
        tids: dict[int, int] = {}
        began: dict[tuple[int, int], float] = {}  # (tid, cookie) -> start ts
        queued: dict[int, list[int]] = {}  # tid -> cookies submitted and not yet issued
        for e in list(self.events):  # recording order is causal order (a start always follows its issue)
            chan = e.chan
            dev = getattr(chan, "device", None)
            pid = pids.get(id(dev))
            if pid is None:
                pid = pids[id(dev)] = len(pids) + 1
                dev_label = f"{getattr(dev, 'name', '?')} ({getattr(dev, 'dev_name', '?')})"
                out.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": dev_label}})
            tid = tids.get(id(chan))
            if tid is None:
                tid = tids[id(chan)] = len(tids) + 1
                out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                            "args": {"name": getattr(chan, "name", "?")}})
                out.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                            "args": {"sort_index": getattr(chan, "chan_id", tid)}})
            us = e.ts * 1e6
            args: dict[str, Any] = {"cookie": e.cookie}
            if e.args:
                args.update(e.args)
            out.append({"name": e.kind, "cat": "dmaengine", "ph": "i", "s": "t", "ts": us, "pid": pid, "tid": tid,
                        "args": args})
            key = (tid, e.cookie)
            if e.kind == "submit":
                queued.setdefault(tid, []).append(e.cookie)
            elif e.kind == "issue":
                for c in queued.pop(tid, []):
                    began.setdefault((tid, c), us)
            elif e.kind == "start":
                began[key] = us
            elif e.kind == "complete":
                t0 = began.pop(key, None)
                if t0 is not None:
                    out.append({"name": f"cookie {e.cookie}", "cat": "dmaengine", "ph": "X", "ts": t0,
                                "dur": us - t0, "pid": pid, "tid": tid, "args": args})
            elif e.kind == "terminate":
                queued.pop(tid, None)
                for k in [k for k in began if k[0] == tid]:
                    del began[k]
        return {"traceEvents": out, "displayTimeUnit": "ns"}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the Chrome trace-event JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_chrome(), f)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw)


def record(path: str | os.PathLike[str] | None = None) -> Trace:
    """Record a trace around a block: ``with dmaengine.trace.record("out.json") as tr: ...``."""
    return Trace(path)
