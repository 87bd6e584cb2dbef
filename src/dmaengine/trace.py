"""Record what the DMA engines do and look at it in Perfetto.

Wrap any code in :func:`record`; every channel's prep, submit, issue, start, end, complete, callback and
terminate (and period, pause, resume) is kept and written as Chrome trace-event JSON (``{"traceEvents": [...]}``),
which https://ui.perfetto.dev and chrome://tracing open (gzipped when the file name ends in ``.gz``). Each device
is a process, each channel a thread track; every transfer is a slice named by its operation (``memcpy``,
``memset``, ``memcpy_sg``, ``interleaved``, ``slave_sg``, ``cyclic period``, ``interrupt``) from the moment it
starts moving to the moment its bytes have moved, with its cookie, length, direction and result in ``args``. The
slices of one track never overlap (they nest or follow each other: :func:`overlaps` checks a document), a cyclic
transfer gets one slice per period, a pause is a span on the channel's ``paused`` track, and a counter track per
channel shows the bytes in flight (issued, not yet ended); on the simulated SoC a counter track per peripheral FIFO
shows its level at each interrupt of the channel serving it. Timestamps come from the platform clock, so a
simulated SoC's trace is in virtual time. Tracing off costs one global test per hook.

The recorder is bounded: it keeps the last ``limit`` events (:data:`DEFAULT_LIMIT`) and counts the ones it
dropped; :meth:`Trace.save` warns when it dropped any.

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

import gzip
import itertools
import json
import math
import os
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from . import _trace

__all__ = ["DEFAULT_LIMIT", "Event", "Trace", "load", "overlaps", "record"]

#: The event kinds the core and the drivers emit. ``end``: a descriptor's bytes have moved (a driver that
#: completes in batches emits it per descriptor, so that its slice ends there and not at the batch's end).
KINDS = ("prep", "submit", "issue", "start", "end", "complete", "period", "callback", "terminate", "pause",
         "resume", "fifo")

#: Events a recorder keeps by default (the last ones): a trace of that size opens in Perfetto in seconds.
DEFAULT_LIMIT = 1_000_000


class Event(NamedTuple):
    """One recorded event: ``ts`` in seconds on the channel's platform clock."""

    kind: str
    chan: Any
    cookie: int
    ts: float
    args: dict[str, Any] | None


def _json_args(args: dict[str, Any] | None) -> dict[str, Any]:
    """Event args as JSON values (the prep and submit events carry their descriptor, for the converter only)."""
    if not args:
        return {}
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
            for k, v in args.items() if k != "desc"}


def _dur(t0: float, t1: float) -> float:
    """``t1 - t0``, made small enough (by an ulp or two) that ``t0 + dur`` does not pass ``t1`` when rounded: a
    slice that ends where the next begins must not seem to overlap it (a viewer adds ``ts + dur``)."""
    dur = t1 - t0
    while dur > 0.0 and t0 + dur > t1:
        dur = math.nextafter(dur, 0.0)
    return dur


class _Track:
    """What the converter knows about one channel while it walks the events."""

    __slots__ = ("began", "cyclic", "in_flight", "last_end", "lengths", "pause_tid", "paused", "pid", "queued",
                 "tid")

    def __init__(self, pid: int, tid: int) -> None:
        self.pid = pid
        self.tid = tid
        self.queued: list[int] = []  # cookies submitted and not yet issued
        self.began: dict[int, float] = {}  # cookie -> when its slice begins
        self.lengths: dict[int, int] = {}  # cookie -> bytes counted in flight
        self.in_flight = 0
        self.last_end = float("-inf")  # end of the last slice: the next one begins no earlier
        self.cyclic: dict[int, int] = {}  # cookie of a running cyclic transfer -> periods ended
        self.paused: float | None = None
        self.pause_tid = 0  # the channel's "paused" track, made at its first pause


class Trace:
    """A trace recorder. :meth:`start` installs it (replacing any other), :meth:`stop` puts the previous back.

    It keeps the last ``limit`` events (None: no bound; take care, a long run makes millions). It is a context
    manager; with a ``path`` the trace is saved there on exit.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, limit: int | None = DEFAULT_LIMIT) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"limit must be an int >= 1 or None, not {limit!r}")
        self.path = path
        self.limit = limit
        self._raw: deque[tuple[str, Any, int, float, dict[str, Any] | None]] = deque(maxlen=limit)
        self._append = self._raw.append
        self._count = itertools.count()
        self._reads = 0
        self._prev: _trace.Recorder | None = None
        self._active = False
        self._lock = threading.Lock()

    # --- the recorder protocol (called from any thread, on the hot path) ----------------------------------
    def event(self, kind: str, chan: Any, cookie: int, ts: float, args: dict[str, Any] | None) -> None:
        """Keep one event: a bare tuple (deque.append and next() are atomic, so no lock on the hot path)."""
        self._append((kind, chan, cookie, ts, args))
        next(self._count)

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
    def recorded(self) -> int:
        """Events recorded since the trace was made, kept or dropped."""
        with self._lock:  # reading the count advances it: take the reads off
            n = next(self._count) - self._reads
            self._reads += 1
        return n

    @property
    def dropped(self) -> int:
        """The oldest events dropped to keep the last ``limit``."""
        return max(0, self.recorded - len(self._raw))

    @property
    def events(self) -> list[Event]:
        """The kept events, in recording order."""
        return [Event._make(r) for r in list(self._raw)]

    def kinds(self) -> list[str]:
        """The kinds of the kept events, in order."""
        return [r[0] for r in list(self._raw)]

    def to_chrome(self) -> dict[str, Any]:
        """The trace as a Chrome trace-event object: metadata names, instant events, slices ("X") and counters
        ("C"). ``ts`` and ``dur`` are in microseconds.

        A transfer's slice runs from its "start" (or, for a driver that emits none, from when it was issued, but
        not before the previous slice of its channel ended) to its "end" (else its "complete"); a cyclic
        transfer has one "cyclic period" slice per period. A "terminate" drops the slices still open.
        """
        out: list[dict[str, Any]] = []
        pids: dict[int, int] = {}
        tracks: dict[int, _Track] = {}
        ops: dict[int, dict[str, Any]] = {}  # id(descriptor) -> what its prep said
        info: dict[tuple[int, int], dict[str, Any]] = {}  # (tid, cookie) -> op, length, direction
        ntids = itertools.count(1)
        for kind, chan, cookie, ts, eargs in list(self._raw):  # recording order is causal order
            tr = tracks.get(id(chan))
            if tr is None:
                dev = getattr(chan, "device", None)
                pid = pids.get(id(dev))
                if pid is None:
                    pid = pids[id(dev)] = len(pids) + 1
                    dev_label = f"{getattr(dev, 'name', '?')} ({getattr(dev, 'dev_name', '?')})"
                    out.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                                "args": {"name": dev_label}})
                tr = tracks[id(chan)] = _Track(pid, next(ntids))
                out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tr.tid,
                            "args": {"name": getattr(chan, "name", "?")}})
                out.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tr.tid,
                            "args": {"sort_index": getattr(chan, "chan_id", tr.tid)}})
            pid, tid = tr.pid, tr.tid
            us = ts * 1e6
            args: dict[str, Any] = {"cookie": cookie}
            args.update(_json_args(eargs))
            name = kind
            key = (tid, cookie)
            if kind == "prep":
                if eargs and "desc" in eargs:
                    ops[id(eargs["desc"])] = _json_args(eargs)
            elif kind == "submit":
                tr.queued.append(cookie)
                desc = eargs.get("desc") if eargs else None
                info[key] = ops.get(id(desc), {}) if desc is not None else {}
            elif kind == "issue":
                for c in tr.queued:
                    tr.began.setdefault(c, us)
                    n = info.get((tid, c), {}).get("length")
                    if isinstance(n, int):
                        tr.lengths[c] = n
                        tr.in_flight += n
                tr.queued.clear()
                self._counter(out, tr, chan, us)
            elif kind == "start":
                tr.began[cookie] = us
                if info.get(key, {}).get("op") == "cyclic":
                    tr.cyclic[cookie] = 0
            elif kind == "period":
                t0 = tr.began.get(cookie)
                if t0 is not None:
                    n = tr.cyclic.get(cookie, 0)
                    tr.cyclic[cookie] = n + 1
                    d = info.get(key, {})
                    self._slice(out, tr, "cyclic period", t0, us,
                                {"cookie": cookie, "period": n, "length": d.get("period_len"),
                                 "direction": d.get("direction")})
                    tr.began[cookie] = us
            elif kind in ("end", "complete"):
                t0 = tr.began.pop(cookie, None)
                d = info.pop(key, {}) if kind == "complete" else info.get(key, {})
                if t0 is not None:
                    sargs = {"cookie": cookie, "length": d.get("length"), "direction": d.get("direction")}
                    sargs.update(_json_args(eargs))
                    self._slice(out, tr, str(d.get("op") or "transfer"), t0, us, sargs)
                if kind == "complete":
                    n = tr.lengths.pop(cookie, None)
                    if n is not None:
                        tr.in_flight -= n
                        self._counter(out, tr, chan, us)
            elif kind == "terminate":
                if not (tr.queued or tr.began or tr.lengths):
                    name = "terminate (idle)"  # a release of an idle channel: nothing was dropped
                tr.queued.clear()
                tr.began.clear()
                tr.cyclic.clear()
                if tr.lengths:
                    tr.lengths.clear()
                    tr.in_flight = 0
                    self._counter(out, tr, chan, us)
                if tr.paused is not None:
                    self._pause_span(out, tr, us)
            elif kind == "pause":
                if not tr.pause_tid:
                    tr.pause_tid = next(ntids)
                    out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tr.pause_tid,
                                "args": {"name": f"{getattr(chan, 'name', '?')} paused"}})
                if tr.paused is None:
                    tr.paused = us
            elif kind == "resume" and tr.paused is not None:
                self._pause_span(out, tr, us)
            elif kind == "fifo" and eargs:  # a peripheral FIFO's level (the simulated SoC): a counter, no instant
                out.append({"name": f"{eargs.get('port')} FIFO level", "ph": "C", "ts": us, "pid": pid,
                            "args": {"bytes": eargs.get("level")}})
                continue
            out.append({"name": name, "cat": "dmaengine", "ph": "i", "s": "t", "ts": us, "pid": pid, "tid": tid,
                        "args": args})
        return {"traceEvents": out, "displayTimeUnit": "ns"}

    @staticmethod
    def _slice(out: list[dict[str, Any]], tr: _Track, name: str, t0: float, t1: float, args: dict[str, Any]) -> None:
        t0 = max(t0, tr.last_end)  # a channel runs its descriptors one after the other
        t1 = max(t1, t0)
        tr.last_end = t1
        out.append({"name": name, "cat": "dmaengine", "ph": "X", "ts": t0, "dur": _dur(t0, t1), "pid": tr.pid,
                    "tid": tr.tid, "args": {k: v for k, v in args.items() if v is not None}})

    @staticmethod
    def _counter(out: list[dict[str, Any]], tr: _Track, chan: Any, us: float) -> None:
        out.append({"name": f"{getattr(chan, 'name', '?')} bytes in flight", "ph": "C", "ts": us, "pid": tr.pid,
                    "args": {"bytes": tr.in_flight}})

    @staticmethod
    def _pause_span(out: list[dict[str, Any]], tr: _Track, us: float) -> None:
        assert tr.paused is not None
        out.append({"name": "paused", "cat": "dmaengine", "ph": "X", "ts": tr.paused, "dur": _dur(tr.paused, us),
                    "pid": tr.pid, "tid": tr.pause_tid, "args": {}})
        tr.paused = None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the Chrome trace-event JSON to ``path`` (gzipped when it ends in ``.gz``); warns
        (RuntimeWarning) when the oldest events were dropped."""
        doc = self.to_chrome()
        if os.fspath(path).endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as f:
                json.dump(doc, f)
        else:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(doc, f)
        if self.dropped:
            warnings.warn(f"trace {os.fspath(path)}: kept the last {len(self._raw)} of {self.recorded} events "
                          f"({self.dropped} dropped; raise the limit to keep more)", RuntimeWarning, stacklevel=2)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._raw)


def record(path: str | os.PathLike[str] | None = None, limit: int | None = DEFAULT_LIMIT) -> Trace:
    """Record a trace around a block: ``with dmaengine.trace.record("out.json") as tr: ...``."""
    return Trace(path, limit)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a trace file written by :meth:`Trace.save` (plain or gzipped JSON)."""
    if os.fspath(path).endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)  # type: ignore[no-any-return,unused-ignore]
    with open(path, encoding="utf-8") as f:
        return json.load(f)  # type: ignore[no-any-return,unused-ignore]


def overlaps(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The pairs of slices ("X" events) of one track that partly overlap (neither nests in the other nor follows
    it): what Perfetto cannot draw. Empty for every trace this module writes."""
    by_track: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for e in doc.get("traceEvents", []):
        if e.get("ph") == "X":
            by_track.setdefault((e["pid"], e["tid"]), []).append(e)
    bad: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def end_ns(e: dict[str, Any]) -> int:  # in whole ns, as Perfetto reads µs: ts + dur may be 1 ulp past t1
        return round((e["ts"] + e["dur"]) * 1000)

    for slices in by_track.values():
        slices.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[dict[str, Any]] = []  # the open slices, outermost first
        for e in slices:
            t0, t1 = round(e["ts"] * 1000), end_ns(e)
            while stack and end_ns(stack[-1]) <= t0:
                stack.pop()
            if stack and t1 > end_ns(stack[-1]):
                bad.append((stack[-1], e))
                continue
            stack.append(e)
    return bad
