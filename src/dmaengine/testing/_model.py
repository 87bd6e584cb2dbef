"""A Hypothesis state machine: random prep/submit/issue/pause/resume/terminate/sync sequences on one MEMCPY
channel, checked against a simple reference model.

What it checks: cookies are assigned in sequence from 2; no completion is lost or doubled; callbacks come in
cookie order; a descriptor that called back moved exactly its bytes; nothing not yet issued moves; no byte
outside the asked-for destinations ever changes; every wait ends (timeouts, no deadlock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .._cookie import next_cookie
from .._enums import Cap, DataDirection, Status
from .._errors import StateError
from .._platform import Platform

__all__ = ["ReferenceModelMachine", "run_reference_model"]

SLOT = 4096  # destination bytes per descriptor, guard bytes included
GUARD = 64
MAX_DESCS = 48


@dataclass
class _Desc:
    index: int
    length: int
    tx: Any
    cookie: int = 0
    seq: int = 0  # submission order
    state: str = "prepared"  # prepared, submitted, issued, dropped
    calls: list[Any] = field(default_factory=list)


class ReferenceModelMachine(RuleBasedStateMachine):
    """Subclass with ``make_platform`` set (see :func:`run_reference_model`)."""

    make_platform: Callable[[], Platform]
    descs = Bundle("descs")

    def __init__(self) -> None:
        super().__init__()
        self.plat = type(self).make_platform()
        self.chan = self.plat.request_channel(Cap.MEMCPY)
        self.caps = self.chan.device.slave_caps(self.chan)  # the caps, also of a memory-only engine
        self.src = (np.arange(SLOT * MAX_DESCS, dtype=np.uint64) % 255 + 1).astype(np.uint8)  # never 0
        self.dst = np.zeros(SLOT * MAX_DESCS, dtype=np.uint8)
        self.s = self.plat.map(self.src, DataDirection.TO_DEVICE)
        self.d = self.plat.map(self.dst, DataDirection.FROM_DEVICE)
        self.all: list[_Desc] = []
        self.last_cookie = 1
        self.paused = False
        self.order: list[int] = []  # submission numbers, in callback order
        self.submits = 0

    @initialize()
    def start(self) -> None:
        pass

    # --- rules --------------------------------------------------------------------------------------------
    @precondition(lambda self: len(self.all) < MAX_DESCS)
    @rule(target=descs, length=st.integers(1, SLOT - 2 * GUARD), use_result=st.booleans())
    def prep(self, length: int, use_result: bool) -> _Desc:
        i = len(self.all)
        off = i * SLOT + GUARD
        tx = self.chan.prep_dma_memcpy(self.d.addr + off, self.s.addr + off, length)
        desc = _Desc(i, length, tx)

        def on_done(param: Any, *result: Any) -> None:
            desc.calls.append(result[0] if result else None)
            self.order.append(desc.seq)

        if use_result:
            tx.callback_result = on_done
        else:
            tx.callback = on_done
        self.all.append(desc)
        return desc

    @precondition(lambda self: len(self.all) < MAX_DESCS - 4)
    @rule(lengths=st.lists(st.integers(1, SLOT - 2 * GUARD), min_size=1, max_size=4), use_result=st.booleans())
    def prep_and_submit(self, lengths: list[int], use_result: bool) -> None:
        """The common case: a few descriptors prepared and submitted at once."""
        for length in lengths:
            self.submit(self.prep(length, use_result))

    @rule(desc=descs)
    def submit(self, desc: _Desc) -> None:
        if desc.state != "prepared":
            try:
                desc.tx.submit()
            except StateError:
                return
            raise AssertionError(f"a second submit of descriptor {desc.index} was accepted")
        cookie = desc.tx.submit()
        assert cookie == next_cookie(self.last_cookie), (cookie, self.last_cookie)
        self.last_cookie = cookie
        desc.cookie = cookie
        self.submits += 1
        desc.seq = self.submits
        desc.state = "submitted"

    @rule()
    def issue(self) -> None:
        self.chan.issue_pending()
        for desc in self.all:
            if desc.state == "submitted":
                desc.state = "issued"

    @precondition(lambda self: not self.paused)
    @rule()
    def pause(self) -> None:
        if self.caps.cmd_pause:
            self.chan.pause()
            self.paused = True

    @precondition(lambda self: self.paused)
    @rule()
    def resume(self) -> None:
        self.chan.resume()
        self.paused = False

    @rule()
    def terminate(self) -> None:
        self.chan.terminate_sync()
        self.paused = False
        for desc in self.all:
            if desc.state in ("submitted", "issued"):
                desc.state = "dropped"

    @precondition(lambda self: not self.paused)
    @rule()
    def sync(self) -> None:
        self.issue()  # sync_wait issues pending first, like dma_sync_wait
        issued = sorted((d for d in self.all if d.state == "issued"), key=lambda d: d.seq)
        if issued:
            assert self.chan.sync_wait(issued[-1].cookie, timeout=30.0) in (Status.COMPLETE, Status.ERROR)
            self.chan.synchronize()
            for d in issued:
                assert len(d.calls) == 1, f"descriptor {d.index} (cookie {d.cookie}) called back {len(d.calls)}x"

    @rule(seconds=st.sampled_from([0.0, 0.0005, 0.002]))
    def let_time_pass(self, seconds: float) -> None:
        self.plat.run_for(seconds)

    # --- invariants ---------------------------------------------------------------------------------------
    @invariant()
    def bytes_only_where_asked(self) -> None:
        for desc in self.all:
            called = bool(desc.calls)  # read before the bytes: the engine runs on while we look
            off = desc.index * SLOT + GUARD
            region = self.dst[off : off + desc.length]
            if desc.state in ("prepared", "submitted"):
                assert not region.any(), f"descriptor {desc.index} moved bytes before issue_pending"
            # Every byte is either untouched or its source byte (a copy in flight may be seen half done).
            want = self.src[off : off + desc.length]
            region = region.copy()
            assert np.all((region == 0) | (region == want)), f"descriptor {desc.index} wrote wrong bytes"
            moved = int(np.count_nonzero(region))
            if called:
                assert moved == desc.length, (
                    f"descriptor {desc.index} called back {desc.calls} after {moved}/{desc.length} bytes")
        mask = np.ones(self.dst.size, dtype=bool)
        for desc in self.all:
            off = desc.index * SLOT + GUARD
            mask[off : off + desc.length] = False
        assert not self.dst[mask].any(), "a byte outside every destination changed"

    @invariant()
    def callbacks_once_and_in_order(self) -> None:
        for desc in self.all:
            assert len(desc.calls) <= 1
            if desc.state == "prepared":
                assert not desc.calls
        assert self.order == sorted(self.order)

    def teardown(self) -> None:
        try:
            if self.paused:
                self.chan.resume()
            self.issue()
            self.sync()
            self.chan.terminate_sync()
            for desc in self.all:
                if desc.state == "issued":
                    assert desc.calls, f"descriptor {desc.index} (cookie {desc.cookie}) never completed"
            self.bytes_only_where_asked()
        finally:
            self.chan.release()
            self.s.unmap()
            self.d.unmap()
            self.plat.close()


def run_reference_model(make_platform: Callable[[], Platform], max_examples: int = 50,
                        stateful_step_count: int = 30) -> None:
    """Run :class:`ReferenceModelMachine` against platforms made by ``make_platform``."""
    machine = type("ReferenceModel", (ReferenceModelMachine,), {"make_platform": staticmethod(make_platform)})
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=max_examples, stateful_step_count=stateful_step_count, deadline=None),
    )
