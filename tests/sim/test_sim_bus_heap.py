"""The compiled grant loop's deferred pop: a ``time_of`` called back mid-loop sees the heap the Python loop has."""

from __future__ import annotations

from typing import Any

import pytest

from dmaengine import _native
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._kernel import TickClock
from dmaengine.sim._periph import Flow

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")


class _PeekFlow(Flow):
    """A flow whose ``time_of`` (called back by the compiled loop: not the plain form) records the schedule's
    pending instants each time it is asked, once a schedule is set to watch."""

    __slots__ = ("sched", "seen")

    def time_of(self, m: int) -> int | None:
        sched = getattr(self, "sched", None)
        if sched is not None:
            self.seen.append((m, sched.pending()))
        return super().time_of(m)


def _run() -> tuple[Any, ...]:
    peek = _PeekFlow(TickClock(0, 1_000, 1, 0), 0, 0, 4, None)
    plain = Flow(TickClock(0, 700, 1, 0), 0, 0, 4, None)
    lanes = [Lane(0, 60, 16, 40, 16, 40, peek, 16, 16, 20, True, ((20, False), (20, True))),
             Lane(3, 200, 64, 40, 64, 40, ends_program=True),
             Lane(5, NEVER, 8, 40, 8, 40, plain, 8, 8, 10, True, ((10, True),))]
    s = BusSchedule(lanes, 0, NEVER, 0, -1, -1, waiting=((1, 0),), pending=((0, 3_000, 1), (2, 700, 2)),
                    max_events=1)
    peek.seen = []
    peek.sched = s
    s.extend(2_000)
    peek.sched = None
    return peek.seen, s.pending(), list(s.item_ends), list(s.program_ends), s.events, s.computed_ns


@needs_core
def test_a_time_of_called_back_mid_loop_sees_the_python_loop_s_heap(in_pure_python: Any) -> None:
    assert in_pure_python(lambda: _native.core) is None and _native.core is not None
    pure = in_pure_python(_run)
    native = _run()
    assert len(pure[0]) > 20  # the callback ran often, with other lanes' instants pending
    assert any(len(p) >= 2 for _, p in pure[0])
    assert native == pure
