"""Cheap relanes (issue 14, busy): a relane's spans in one compiled call (``spans_replace`` in src/native/sim.c)
against ``_spans_replace`` and the pairwise definition, its refusals of hostile input, and the feed and copy-start
relanes of a busy mix against ``Soc(fast=False)`` (the suite runs these both ways)."""

from __future__ import annotations

from typing import Any

import pytest
from _sim_scenes import adc_rx_copy
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import TransferDirection, _native
from dmaengine.sim import Soc
from dmaengine.sim._dmac import Dmac, _spans_replace

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")

BOUND = 1 << 62

Span = tuple[int, int, bool, int]


def pairwise(spans: list[Span]) -> bool:
    """The definition: no two spans of different lanes overlap where one of them writes."""
    for i, (a, n, w, lane) in enumerate(spans):
        for b, m, v, other in spans[i + 1:]:
            if lane != other and (w or v) and a < b + m and b < a + n:
                return False
    return True


small = st.tuples(st.integers(0, 64), st.integers(0, 24), st.booleans(), st.integers(0, 3))
wide = st.tuples(st.integers(-BOUND, BOUND), st.integers(-BOUND, BOUND), st.booleans(), st.integers(-BOUND, BOUND))
near = st.tuples(st.integers(BOUND - 200, BOUND - 1), st.integers(0, 100), st.booleans(), st.integers(0, 2))


def both(spans: list[Span], pos: int, mine: list[Span]) -> list[Span] | None:
    """``spans_replace`` compiled, checked against ``_spans_replace`` (the same spans, in any order: the Python
    code sorts them) and against the pairwise definition; its answer."""
    assert _native.core is not None
    given_spans, given_mine = list(spans), list(mine)
    got = _native.core.spans_replace(spans, pos, mine)
    assert (spans, mine) == (given_spans, given_mine)  # neither list changed
    want = _spans_replace(list(spans), pos, list(mine))
    assert (got is None) == (want is None)
    expect = [s for s in spans if s[3] != pos] + mine
    assert (got is None) == (not pairwise(expect))
    if got is not None:
        assert got == expect  # (the others in their order, then mine)
        assert want is not None and sorted(want) == sorted(got)
    return got


@needs_core
@settings(max_examples=1500, deadline=None)
@given(st.lists(small, max_size=60), st.integers(0, 3), st.lists(small, max_size=30))
def test_spans_replace_is_the_python(spans: list[Span], pos: int, mine: list[Span]) -> None:
    both(spans, pos, mine)  # up to 32 spans pair by pair, more in the sweep


@needs_core
@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(near, small), max_size=40), st.integers(0, 2), st.lists(st.one_of(near, small), max_size=4))
def test_spans_replace_near_the_bound(spans: list[Span], pos: int, mine: list[Span]) -> None:
    both(spans, pos, mine)


@needs_core
@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(wide, near, small), min_size=1, max_size=40), st.integers(0, 3))
def test_spans_replace_takes_its_domain_only(spans: list[Span], pos: int) -> None:
    """Addresses, sizes and lanes in 0 .. 2**62 - 1 (what a schedule has); any other value is refused with
    OverflowError, and the relane asks ``_spans_replace`` (whose ``_apart`` marks no end and no lane with -1: the
    domain matters)."""
    assert _native.core is not None
    if all(0 <= v < BOUND for a, n, _, lane in spans for v in (a, n, lane)):
        both(spans, pos, [])
    else:
        with pytest.raises(OverflowError, match=r"^spans_replace: a span's (addr|size|lane) -?\d+ is out of range$"):
            _native.core.spans_replace(spans, pos, [])
        with pytest.raises(OverflowError, match=r"^spans_replace: a span's (addr|size|lane) -?\d+ is out of range$"):
            _native.core.spans_replace([], pos, spans)


@needs_core
def test_spans_replace_examples() -> None:
    assert _native.core is not None

    def apart(spans: list[Span]) -> bool:
        return both(spans, 9, []) is not None

    assert apart([])
    assert apart([(0, 10, True, 0)])
    assert apart([(0, 10, True, 0), (10, 10, True, 1)])  # touching, not overlapping
    assert not apart([(0, 10, True, 0), (9, 10, False, 1)])  # a read of what another writes
    assert apart([(0, 10, False, 0), (5, 10, False, 1)])  # reads share
    assert apart([(0, 10, True, 0), (5, 10, True, 0)])  # one channel's own spans
    assert not apart([(0, 100, True, 0), (10, 5, False, 0), (50, 5, False, 1)])  # under a long write
    many = [(k * 10, 10, True, k % 3) for k in range(40)]
    assert apart(list(many))
    assert not apart([*many, (385, 1, False, 0)])  # the sweep: lane 0 reads what lane 2 (k = 38) writes
    assert apart([*many, (385, 1, False, 2)])  # its own
    # A lane's old spans are left out: what clashed with them no longer does.
    assert both([(0, 10, True, 0), (20, 10, True, 1)], 1, [(5, 1, False, 0)]) == [(0, 10, True, 0), (5, 1, False, 0)]
    assert both([(0, 10, True, 0), (20, 10, True, 1)], 1, [(5, 1, False, 1)]) is None
    assert both(many, 2, []) == [s for s in many if s[3] != 2]


@needs_core
def test_spans_replace_refuses_hostile_input() -> None:
    assert _native.core is not None
    f = _native.core.spans_replace
    with pytest.raises(TypeError, match=r"^spans_replace\(\) argument 1 must be list, not tuple$"):
        f(((0, 1, True, 0),), 0, [])
    with pytest.raises(TypeError, match=r"^spans_replace\(\) argument 3 must be list, not tuple$"):
        f([], 0, ())
    with pytest.raises(OverflowError, match=r"^spans_replace: lane -1 is out of range$"):
        f([], -1, [])
    with pytest.raises(TypeError, match=r"^spans_replace: a span must be an \(addr, size, write, lane\) tuple, "
                                        r"not \[0, 1, True, 0\]$"):
        f([[0, 1, True, 0]], 0, [])
    with pytest.raises(TypeError, match=r"^spans_replace: a span must be .* not \(0, 1, True\)$"):
        f([], 0, [(0, 1, True)])
    with pytest.raises(TypeError, match=r"^spans_replace: a span's addr must be an int, not 1.5$"):
        f([(1.5, 1, True, 0)], 0, [])
    with pytest.raises(TypeError, match=r"^spans_replace: a span's size must be an int, not '1'$"):
        f([(0, "1", True, 0)], 0, [])
    with pytest.raises(TypeError, match=r"^spans_replace: a span's lane must be an int, not None$"):
        f([(0, 1, True, None)], 0, [])
    with pytest.raises(OverflowError, match=r"^spans_replace: a span's addr 4611686018427387904 is out of range$"):
        f([(BOUND, 1, True, 0)], 0, [])
    with pytest.raises(OverflowError, match=r"^spans_replace: a span's size -1 is out of range$"):
        f([(0, -1, True, 0)], 0, [])
    with pytest.raises(OverflowError, match=r"^spans_replace: a span's lane -1 is out of range$"):
        f([], 0, [(0, 1, True, -1)])
    with pytest.raises(OverflowError):
        f([(0, 1, True, 1 << 70)], 0, [])

    class Bad:
        def __bool__(self) -> bool:
            raise ValueError("no truth")

    with pytest.raises(ValueError, match="^no truth$"):
        f([(0, 1, Bad(), 0)], 0, [])
    spans: list[object] = []
    mine: list[object] = []

    class Shrinks:
        def __bool__(self) -> bool:
            spans.clear()
            mine.clear()
            return True

    spans += [(0, 1, Shrinks(), 0), (0, 1, True, 1)]
    with pytest.raises(RuntimeError, match="^spans_replace: the list changed size$"):
        f(spans, 0, [])
    spans[:] = [(0, 1, True, 1)]
    mine[:] = [(0, 1, Shrinks(), 0), (0, 1, True, 0)]
    with pytest.raises(RuntimeError, match="^spans_replace: the list changed size$"):
        f(spans, 0, mine)

    class Swaps:
        def __bool__(self) -> bool:
            spans[0] = "not a span"
            return True

    spans[:] = [(0, 1, True, 1), (5, 1, Swaps(), 2)]
    with pytest.raises(RuntimeError, match="^spans_replace: the lists changed$"):
        f(spans, 0, [])
    spans[:] = [(0, 1, True, 1)]
    mine[:] = [(5, 1, Swaps(), 0)]
    with pytest.raises(RuntimeError, match="^spans_replace: the lists changed$"):
        f(spans, 0, mine)


def test_apart_past_the_compiled_bound() -> None:
    """Where the compiled check refuses a value (from 2**62 on), the relane asks ``_spans_replace``, which has no
    bound."""
    assert _spans_replace([(BOUND, 10, True, 0)], 1, [(BOUND + 5, 1, False, 1)]) is None
    assert _spans_replace([(BOUND, 10, True, 0), (BOUND, 1, True, 1)], 1, [(BOUND + 10, 1, False, 1)]) == \
        [(BOUND, 10, True, 0), (BOUND + 10, 1, False, 1)]


def busy_mix(fast: bool, sim_ms: int, mode: str = "vary") -> tuple[list[object], Soc]:
    """A small busy SoC (the ADC and UART RX in cyclic DMA, a copy started and UART RX fed every ms): callback
    instants, residues at each step, copy results and the bytes at the end. ``mode``:

    - "vary": copies of four shapes, each twice (from one to the next the destination, the source, the length,
      or all three change);
    - "overlap": every other copy's destination is the UART RX ring (its lane and the ring's are not apart: the
      schedule settles instead of relaning);
    - "repeat": the same copy each time (its lane and memory kept from the last);
    - "unmap": the same copy, its destination unmapped after a third of them (the copies after it fail: an unmap
      settles the schedule, and what was kept of the copy goes with it);
    - "remap": the same, its destination mapped again at once (the copies after it go to the new mapping)."""
    soc = Soc(fast=fast)
    seen: list[object] = []
    s = adc_rx_copy(soc, seen, adc_ring=80 * 2 * 4, adc_period=80 * 2, rx_ring=256, rx_period=64, copy_bytes=4096)
    uart0, ad, rx, d, mc = s.uart0, s.ad, s.rx, s.rd, s.mc
    ring_adc, ring_rx, rx_map, dst, ms, md = s.ring_adc, s.ring_rx, s.rx_map, s.dst, s.ms, s.md
    cookies = []
    dst_addr = md.addr
    for k in range(sim_ms):
        soc.run(until=k / 1000)
        uart0.feed(bytes([65 + k % 26]) * (1 + k % 5))  # type: ignore[attr-defined]
        if mode in ("unmap", "remap") and k == sim_ms // 3:
            md.unmap()
            if mode == "remap":
                md = soc.map(dst)
        if mode == "overlap" and k % 2:  # (the copy's lane is one of the schedule's, from the even copies)
            copy = mc.prep_dma_memcpy(rx_map.addr + 64 * (k % 3), ms.addr, 64 + 16 * (k % 4))
        elif mode == "vary":  # each shape twice; from one to the next, the destination, source, length, or all
            phase = k // 2 % 4
            copy = mc.prep_dma_memcpy(md.addr + 256 * (phase > 0), ms.addr + 512 * (phase > 1),
                                      2048 + 512 * (phase > 2))
        else:
            copy = mc.prep_dma_memcpy(md.addr if mode == "remap" else dst_addr, ms.addr, 2048)
        copy.callback_result = lambda _, r, k=k: seen.append((k, soc.now_ns, int(r.result), r.residue))
        cookies.append(copy.submit())
        mc.issue_pending()
        seen.append(("residue", soc.now_ns, rx.tx_status(d.cookie)[1], ad.tx_status(ad_cookie := d.cookie)[0]))
        del ad_cookie
    soc.run(until=sim_ms / 1000 + 0.002)
    seen.append([mc.tx_status(c)[0] for c in cookies])
    seen.append((bytes(ring_rx), bytes(ring_adc), bytes(dst), soc.now_ns))
    return seen, soc


@pytest.mark.parametrize("mode", ["vary", "overlap", "repeat", "unmap", "remap"])
def test_busy_mix_feed_and_copy_relanes_exact(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_lanes = [0]
    lane = Dmac._lane

    def counted(self: Dmac, ch: Any, now: int) -> Any:
        copy_lanes[0] += ch.prog.direction is TransferDirection.MEM_TO_MEM
        return lane(self, ch, now)

    monkeypatch.setattr(Dmac, "_lane", counted)
    fast, soc = busy_mix(True, 30, mode)
    monkeypatch.undo()
    ref, _ = busy_mix(False, 30, mode)
    assert fast == ref
    results = [e[2] for e in fast if isinstance(e, tuple) and len(e) == 4 and isinstance(e[0], int)]
    assert len(results) == 30
    assert results.count(0) == (10 if mode == "unmap" else 30)
    dmac = soc.dmac.hw  # type: ignore[attr-defined]
    # The feeds' and the copies' starts relane in place; with every other copy over the RX ring, its start is
    # refused (the memory is not apart): the schedule settles instead, and a new one is built.
    # A copy of the shape its lane's last program had keeps that lane and memory (no lane built): of 30 copies,
    # "repeat" builds 2 copy lanes (the first schedule's, the first relane's), "vary" 16 (each change of shape).
    assert (dmac.relanes, dmac.plans, copy_lanes[0]) == RELANES_PLANS_LANES[mode]


RELANES_PLANS_LANES = {"vary": (58, 93, 16), "overlap": (26, 75, 45), "repeat": (58, 93, 2), "unmap": (34, 67, 22),
                       "remap": (57, 93, 4)}
