"""Fixtures shared by the simulator's tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from dmaengine._native import core

T = TypeVar("T")


@pytest.fixture
def memo_restored() -> Iterator[None]:
    """The compiled period runner's memo on for the test, and as it was after it (nothing without the core)."""
    if core is None or not hasattr(core, "period_memo"):
        yield
        return
    was = core.period_memo(True)
    yield
    core.period_memo(was)


@pytest.fixture
def in_thread() -> Callable[[Callable[[], None]], Callable[[], None]]:
    """``in_thread(fn)``: an event body that runs ``fn`` in another thread and joins it, so ``fn`` meets the SoC
    while the calling thread holds it (the single-thread checks)."""

    def make(fn: Callable[[], None]) -> Callable[[], None]:
        def app() -> None:
            th = threading.Thread(target=fn)
            th.start()
            th.join()

        return app

    return make


@pytest.fixture
def in_pure_python() -> Callable[[Callable[[], T]], T]:
    """``in_pure_python(fn)``: ``fn()`` with the compiled core switched off (what it builds runs in Python), and
    the core as it was after it."""
    from dmaengine import _native

    def call(fn: Callable[[], T]) -> T:
        saved = _native.core
        try:
            _native.core = None
            return fn()
        finally:
            _native.core = saved

    return call
