"""The sim driver's start of a descriptor (sim-m8h): the "start" trace event comes from a test of the recorder
inlined in ``_start_next`` (no ``tracing()`` call): sent once, with the cookie, while a recorder is installed, and
``trace_event`` never called without one (both ways)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dmaengine import Cap, Status, _trace
from dmaengine.sim import Soc, _driver


class _Rec:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any, int]] = []

    def event(self, kind: str, chan: Any, cookie: int, ts: float, args: dict[str, Any] | None) -> None:
        self.events.append((kind, chan, cookie))


def _run(soc: Soc, n: int = 4096) -> tuple[Any, int, np.ndarray]:
    ch = soc.request_channel(Cap.MEMCPY)
    src = np.arange(n, dtype=np.uint32).view(np.uint8)[:n].copy()
    dst = np.zeros(n, dtype=np.uint8)
    cookie = ch.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, n).submit()
    ch.issue_pending()
    assert ch.sync_wait(cookie) is Status.COMPLETE
    assert (dst == src).all()
    return ch, cookie, dst


@pytest.mark.parametrize("fast", [True, False])
def test_start_event_once_with_a_recorder(fast: bool) -> None:
    rec = _Rec()
    prev = _trace.install(rec)
    try:
        ch, cookie, _ = _run(Soc(fast=fast))
    finally:
        _trace.install(prev)
    starts = [e for e in rec.events if e[0] == "start"]
    assert starts == [("start", ch, cookie)]
    assert cookie == 2  # (the channel's first cookie)


@pytest.mark.parametrize("fast", [True, False])
def test_no_trace_event_without_a_recorder(fast: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    def called(*_: object) -> None:
        raise AssertionError("trace_event called with no recorder installed")

    monkeypatch.setattr(_driver, "trace_event", called)
    assert _trace.recorder is None
    _run(Soc(fast=fast))
