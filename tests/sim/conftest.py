"""Fixtures shared by the simulator's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmaengine._native import core


@pytest.fixture
def memo_restored() -> Iterator[None]:
    """The compiled period runner's memo on for the test, and as it was after it (nothing without the core)."""
    if core is None or not hasattr(core, "period_memo"):
        yield
        return
    was = core.period_memo(True)
    yield
    core.period_memo(was)
