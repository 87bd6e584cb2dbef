from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# CI runs a bounded version of the long randomized (soak) runs.
settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_report_header(config: object) -> str:
    from dmaengine import _native

    if _native.forced_pure:
        return f"dmaengine compiled core: off ({_native.PURE_PYTHON_ENV} is set): pure Python"
    return "dmaengine compiled core: " + ("loaded" if _native.core is not None else "absent: pure Python")


@pytest.fixture
def plat() -> Iterator[object]:
    """A platform with a one-channel memory engine, closed after the test (close joins the worker, so it must
    return). A test module that needs another platform defines its own ``plat``."""
    from dmaengine import Platform
    from dmaengine.drivers.memcpy import MemcpyEngine

    with Platform() as p:
        p.register_device(MemcpyEngine(channels=1))
        yield p


@pytest.fixture(autouse=True)
def _every_trace_nests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Walk every trace the test records (each :class:`dmaengine.trace.Trace` started, and every trace file the
    ``dmaengine`` command writes in this process) and fail on slices of one track that partly overlap."""
    import dmaengine.trace as trace

    started: list[trace.Trace] = []
    orig_start = trace.Trace.start

    def start(self: trace.Trace) -> trace.Trace:
        started.append(self)
        return orig_start(self)

    monkeypatch.setattr(trace.Trace, "start", start)
    yield
    for tr in started:
        bad = trace.overlaps(tr.to_chrome())
        assert not bad, f"trace slices overlap on one track: {bad[:3]}"
