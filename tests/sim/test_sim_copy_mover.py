"""A schedule's copy lanes moved by the compiled core (src/native/copy.c, issue 14, memcpy8): the mapping lookup
``AddressSpace.copy_maps`` against ``can_copy``, the mover a copy lane gets, the bytes and instants against
``Soc(fast=False)`` with the Python move never called, and each guard that hands the move back to Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, DataDirection
from dmaengine._native import core
from dmaengine.sim import Soc
from dmaengine.sim._dmac import Dmac

needs_core = pytest.mark.skipif(core is None, reason="the compiled core is not built (or is switched off)")


def _space() -> tuple[Any, list[Any]]:
    soc = Soc()
    bufs = [np.zeros(n, dtype=np.uint8) for n in (100, 5000, 20_000, 64)]
    dirs = [DataDirection.BIDIRECTIONAL, DataDirection.TO_DEVICE, DataDirection.FROM_DEVICE,
            DataDirection.BIDIRECTIONAL]
    return soc.address_space, [soc.map(b, d) for b, d in zip(bufs, dirs)]


SPACE, MAPS = _space()
addrs = st.integers(MAPS[0].addr - 64, MAPS[-1].addr + MAPS[-1].length + 4096)


@settings(max_examples=400, deadline=None)
@given(dst=addrs, src=addrs, length=st.integers(1, 24_000))
def test_copy_maps_is_can_copy_and_where(dst: int, src: int, length: int) -> None:
    got = SPACE.copy_maps(dst, src, length)
    assert (got is not None) is SPACE.can_copy(dst, src, length)
    if got is not None:
        dm, sm = got
        assert dm.addr <= dst and dst + length <= dm.addr + dm.length and dm._writable
        assert sm.addr <= src and src + length <= sm.addr + sm.length and sm._readable


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls of the Python move of a lane (``Dmac._sched_move_at``), counted."""
    calls: list[int] = []
    orig = Dmac._sched_move_at

    def move_at(self: Dmac, pos: int, n: int, last: int) -> None:
        calls.append(pos)
        orig(self, pos, n, last)

    monkeypatch.setattr(Dmac, "_sched_move_at", move_at)
    return calls


def _copies(fast: bool, tweak: Callable[[Soc, list[Any]], None] | None = None,
            at_first_event: Callable[[Soc], None] | None = None) -> tuple[Any, ...]:
    """Eight copies issued at once (bench_sim's memcpy8, smaller), some sources and destinations at an offset in
    their buffers: the callback instants, the statuses and every destination's bytes."""
    soc = Soc(fast=fast)
    n = 20_000
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(8)]
    srcs = [(np.arange(n + 64) * (i + 3) % 251).astype(np.uint8) for i in range(8)]
    dsts = [np.zeros(n + 64, dtype=np.uint8) for _ in range(8)]
    maps = [(soc.map(s), soc.map(d)) for s, d in zip(srcs, dsts)]
    if tweak is not None:
        tweak(soc, maps)
    seen: list[tuple[int, int]] = []
    cookies = []
    for i, (c, (ms, md)) in enumerate(zip(chans, maps)):
        tx = c.prep_dma_memcpy(md.addr + 8 * (i % 3), ms.addr + 16 * (i % 2), n - 100 * i)
        tx.callback = lambda _, i=i: seen.append((i, soc.now_ns))
        cookies.append(tx.submit())
    for c in chans:
        c.issue_pending()
    if at_first_event is not None:
        soc.kernel.at(soc.now_ns + 100, lambda: at_first_event(soc), "look")
    status = [c.sync_wait(ck, timeout=None) for c, ck in zip(chans, cookies)]
    soc.run_until_idle()
    return seen, status, [d.tobytes() for d in dsts], soc.now_ns


@needs_core
def test_copy_lanes_move_in_the_compiled_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies' bytes all move without the Python move, and everything is what burst by burst gives."""
    ref = _copies(False)
    calls = _counting(monkeypatch)
    got = _copies(True)
    assert got == ref
    assert calls == []


@needs_core
def test_a_copy_lanes_mover() -> None:
    """What ``_sched_mover`` gives a copy lane: its channel, program, item and the mappings of its memory with the
    item's offsets in them; None for a channel holding another program since."""
    out: list[Any] = []

    def look(soc: Soc) -> None:
        hw = soc.dmac.hw
        assert hw._sched is not None
        out.extend((ch, Dmac._sched_mover(ch)) for ch in hw._sched_chans)

    _copies(True, at_first_event=look)
    assert len(out) == 8
    for ch, mover in out:
        assert mover is not None and len(mover) == 8
        c, prog, idx, dm, dst_off, sm, src_off, length = mover
        item = prog.items[idx]
        assert c is ch and idx == 0 and length == item.length
        assert dm.addr + dst_off == item.dst and sm.addr + src_off == item.src
    ch = out[0][0]
    assert ch.prog is None and Dmac._sched_mover(ch) is None  # (ended: no program)


@needs_core
def test_a_replaced_copy_moves_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address space whose ``copy`` is not AddressSpace's own: every lane moves through it, in Python."""
    ref = _copies(False)
    calls = _counting(monkeypatch)
    copied: list[int] = []

    def tweak(soc: Soc, maps: list[Any]) -> None:
        space = soc.address_space
        orig = space.copy

        def copy(dst: int, src: int, length: int) -> None:
            copied.append(length)
            orig(dst, src, length)

        space.copy = copy  # type: ignore[method-assign]

    assert _copies(True, tweak) == ref
    assert calls and sum(copied) == sum(20_000 - 100 * i for i in range(8))


@needs_core
def test_a_mapping_not_live_moves_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane whose mapping says it is not live (an unmap settles first: here only the flag is forced) is moved by
    the Python move: the same bytes and instants."""
    ref = _copies(False)
    calls = _counting(monkeypatch)

    def tweak(soc: Soc, maps: list[Any]) -> None:
        maps[2][1]._live = False  # the third copy's destination

    got = _copies(True, tweak)
    assert got == ref
    assert calls and set(calls) == {2}  # (taken at each look: every take of that lane)


@needs_core
def test_a_malformed_copy_mover_is_refused() -> None:
    """An 8-tuple mover that is not a copy mover: TypeError naming it, before any burst is taken."""
    out: list[Any] = []

    def look(soc: Soc) -> None:
        hw = soc.dmac.hw
        sched = hw._sched
        assert sched is not None
        movers = [None] * len(hw._sched_chans)
        movers[0] = (1, 2, "idx", 4, 5, 6, 7, 8)
        with pytest.raises(TypeError, match=r"^take_moves: a copy mover must be"):
            sched.core.take_moves(soc.now_ns + 10**9, movers, hw._sched_move_at, hw._sched_store)
        out.append(hw.bursts)

    _copies(True, at_first_event=look)
    assert out == [0]


def test_pure_python_keeps_no_maps(in_pure_python: Callable[[Callable[[], Any]], Any]) -> None:
    """Without the compiled core a copy's memory is checked by ``can_copy`` (nothing kept for a mover)."""
    import dmaengine.sim._dmac as dmac

    def run() -> Any:
        saved = dmac._copy_core
        dmac._copy_core = False
        try:
            hws: list[Any] = []
            got = _copies(True, lambda soc, maps: hws.append(soc.dmac.hw))
            return got, [ch.copy_maps for ch in hws[0].chans]
        finally:
            dmac._copy_core = saved

    got, maps = in_pure_python(run)
    assert got == _copies(False)
    assert maps == [None] * 8
