"""The interrupt and wake path of a busy SoC (issue 14, sim-irq): the schedule's wake reads the compiled core's
state back straight into its slots (``BusCore.arm``), and the period interrupt does ``vchan_cyclic_callback``
itself; each fast path against what it stands for, and each guard that makes it fall back."""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

from dmaengine import _native
from dmaengine.sim._bus import NEVER, BusSchedule, Lane

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")
STATE = ("waiting", "busy_until_ns", "stop_ns", "computed_ns", "events", "jumps", "last_grant", "last_grant_ns",
         "last_event_ns", "granted", "landed", "since_ns", "_nheap")


def _lanes() -> list[Lane]:
    return [Lane(0, NEVER, 8, 10, 8, 1), Lane(1, NEVER, 16, 20, 16, 2)]


def _sched(cls: type[BusSchedule] = BusSchedule) -> BusSchedule:
    """Two copies contending for the bus, computed 2 events ahead: ``arm`` computes more."""
    s = cls(_lanes(), 0, 10**6, 0, -1, -1, pending=((0, 1, 1), (1, 2, 2)), max_events=2)
    assert s.core is not None and s.computed_ns < s.stop_ns
    return s


@needs_core
def test_arm_reads_the_state_back_into_the_schedules_slots() -> None:
    s = _sched()
    before = tuple(getattr(s, n) for n in STATE)
    assert s.core.arm(s, -1, 10**6, 0, 3, 5) < NEVER  # (no interrupt to stop at: 3 chunks of 5 events)
    after = tuple(getattr(s, n) for n in STATE)
    assert after == s.core.state() and after != before
    assert s.events == before[4] + 15


@needs_core
def test_arm_reads_the_state_back_with_setattr_where_the_names_are_no_slots() -> None:
    s = _sched()
    ns = types.SimpleNamespace()  # (an instance dict: no member to store into)
    s.core.arm(ns, -1, 10**6, 0, 1, 4)
    assert tuple(getattr(ns, n) for n in STATE) == s.core.state()
    seen: list[int] = []

    class Watched(BusSchedule):
        """``events`` is a property here: the core must call its setter, not write the slot under it."""

        @property
        def events(self) -> int:
            return int(self.__dict__.get("_events_seen", 0))

        @events.setter
        def events(self, v: int) -> None:
            seen.append(v)
            self.__dict__["_events_seen"] = v

    w = _sched(Watched)
    seen.clear()
    w.core.arm(w, -1, 10**6, 0, 1, 4)
    assert seen == [w.core.state()[4]] and w.events == seen[0]
    assert tuple(getattr(w, n) for n in STATE if n != "events") == tuple(
        v for n, v in zip(STATE, w.core.state(), strict=True) if n != "events")
    s2 = _sched()  # the plain class again, after the subclass: its own slots (the cached offsets are per class)
    s2.core.arm(s2, -1, 10**6, 0, 1, 4)
    assert tuple(getattr(s2, n) for n in STATE) == s2.core.state()


@needs_core
def test_arm_raises_what_a_setattr_raises() -> None:
    s = _sched()

    class Refusing:
        events: int

        def __setattr__(self, name: str, value: Any) -> None:
            if name == "jumps":
                raise RuntimeError(f"no {name}")
            object.__setattr__(self, name, value)

    r = Refusing()
    with pytest.raises(RuntimeError, match="^no jumps$"):
        s.core.arm(r, -1, 10**6, 0, 1, 4)
    assert r.events == s.core.state()[4] and not hasattr(r, "last_grant")  # (it stops at the one that raised)


@needs_core
def test_due_and_arm_read_their_ints_as_the_argument_parser_did() -> None:
    s = _sched()
    c = s.core
    assert c.due(np.int64(0), np.int64(0), True) == c.due(0, 0, 1) == 0  # (an __index__ is an int here)
    with pytest.raises(TypeError, match=r"^due\(\) takes exactly 3 arguments \(2 given\)$"):
        c.due(0, 0)
    with pytest.raises(TypeError, match=r"^due\(\) argument 1 must be int, not float$"):
        c.due(0.0, 0, 0)
    with pytest.raises(TypeError, match=r"^arm\(\) argument 3 must be int, not str$"):
        c.arm(s, -1, "0", 0, 1, 1)
    with pytest.raises(OverflowError):
        c.due(0, 1 << 70, 0)
    with pytest.raises(OverflowError):
        c.arm(s, -1, 0, 0, 1, 1 << 70)
    with pytest.raises(ValueError, match=r"^arm: interrupts and program ends raised must be >= 0, not -1 and 0$"):
        c.arm(s, -1, -1, 0, 1, 1)
