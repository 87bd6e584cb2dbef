"""Cheaper relanes (issue 14, busy): an RX ring fed again keeps the spans it put in the schedule (``ring_memo``),
the compiled relane checks its lane as it loads it, and the state is read back without a format string; all of it
against ``Soc(fast=False)`` (the suite runs these both ways)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from _sim_scenes import adc_rx_copy

from dmaengine import StateError, TransferDirection, _native
from dmaengine.sim import Soc
from dmaengine.sim._bus import NEVER, BusSchedule, Lane
from dmaengine.sim._dmac import Dmac

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")

D2M = TransferDirection.DEV_TO_MEM


def fed_ring(fast: bool, sim_ms: int, mode: str) -> tuple[list[object], Soc]:
    """The ADC and the UART RX in cyclic DMA, UART RX fed and a copy started every ms: callback instants, residues
    at each step, copy results and the bytes at the end. ``mode``: "apart" (the copies far from the ring),
    "behind" (each copy writes the first bytes of the RX ring, which the ring has passed or not yet reached)."""
    soc = Soc(fast=fast)
    seen: list[object] = []
    s = adc_rx_copy(soc, seen, adc_ring=80 * 2 * 4, adc_period=80 * 2, rx_ring=128, rx_period=32, copy_bytes=2048)
    uart0, rx, rd, mc = s.uart0, s.rx, s.rd, s.mc
    ring_adc, ring_rx, rx_map, dst, ms, md = s.ring_adc, s.ring_rx, s.rx_map, s.dst, s.ms, s.md
    cookies = []
    for k in range(sim_ms):
        soc.run(until=k / 1000)
        uart0.feed(bytes([65 + k % 26]) * (1 + k % 7))  # type: ignore[attr-defined]
        if mode == "behind":
            copy = mc.prep_dma_memcpy(rx_map.addr + 32 * (k % 4), ms.addr, 4)
        else:
            copy = mc.prep_dma_memcpy(md.addr, ms.addr, 2048)
        copy.callback_result = lambda _, r, k=k: seen.append((k, soc.now_ns, int(r.result), r.residue))
        cookies.append(copy.submit())
        mc.issue_pending()
        seen.append(("residue", soc.now_ns, rx.tx_status(rd.cookie)[1]))
    soc.run(until=sim_ms / 1000 + 0.002)
    seen.append([mc.tx_status(c)[0] for c in cookies])
    seen.append((bytes(ring_rx), bytes(ring_adc), bytes(dst), soc.now_ns))
    return seen, soc


def watched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Each relane of an RX lane: ``(ring_memo before, (prog, item_idx, item_off), spans built, relaned)``."""
    out: list[tuple[Any, ...]] = []
    relane, lane_memory = Dmac._sched_relane, Dmac._lane_memory
    built = [0]

    def memory(self: Dmac, ch: Any, spans: Any, pos: int) -> bool:
        built[0] += 1
        return lane_memory(self, ch, spans, pos)

    def counted(self: Dmac, ch: Any, request_ns: int | None) -> bool:
        if ch.prog.direction is not D2M:
            return relane(self, ch, request_ns)
        before = self._sched.ring_memo  # type: ignore[union-attr]
        at = (ch.prog, ch.item_idx, ch.item_off)
        built[0] = 0
        ok = relane(self, ch, request_ns)
        out.append((before, at, built[0], ok))
        return ok

    monkeypatch.setattr(Dmac, "_sched_relane", counted)
    monkeypatch.setattr(Dmac, "_lane_memory", memory)
    return out


@pytest.mark.parametrize("mode", ["apart", "behind"])
def test_fed_ring_relanes_exact(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rx_relanes = watched(monkeypatch)
    fast, soc = fed_ring(True, 40, mode)
    monkeypatch.undo()
    ref, _ = fed_ring(False, 40, mode)
    assert fast == ref
    results = [e[2] for e in fast if isinstance(e, tuple) and len(e) == 4 and isinstance(e[0], int)]
    assert results == [0] * 40
    dmac = soc.dmac.hw  # type: ignore[attr-defined]
    kept = sum(1 for _, _, n, ok in rx_relanes if n == 0 and ok)
    assert (dmac.relanes, dmac.plans, len(rx_relanes), kept) == RELANES_PLANS_RX_KEPT[mode]


#: (relanes, plans, RX relanes tried, RX relanes that kept the ring's spans): the feeds at one item of the ring
#: keep its spans, those at the next item build them again; with copies over the ring most relanes are refused
#: (the schedule settles, and the memo goes with it). The relanes and plans are those of the spans built at every
#: relane (the memo changes no answer).
RELANES_PLANS_RX_KEPT = {"apart": (78, 127, 39, 34), "behind": (32, 85, 33, 0)}


def test_the_ring_memo_is_taken_exactly_where_its_spans_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each guard of the memo: the same ring, at the same item, no earlier in it, still checked whole; where one
    fails the spans are built again (and the memo then names the ring as it is now)."""
    rx_relanes = watched(monkeypatch)
    fed_ring(True, 40, "apart")
    monkeypatch.undo()
    reasons = set()
    for before, (prog, idx, off), built, ok in rx_relanes:
        hit = before is not None and before[1] is prog and before[2] == idx and before[3] <= off
        assert built == (0 if hit else 1)
        if before is None:
            reasons.add("none")
        elif before[2] != idx:
            reasons.add("item")
        elif hit:
            reasons.add("hit")
        assert ok
    assert reasons == {"none", "item", "hit"}


def test_a_ring_memo_of_another_lane_stays_and_of_this_one_goes() -> None:
    """``BusSchedule.relane`` and ``replay`` give a schedule with no memo (the controller carries it over)."""
    lanes = [Lane(0, 40, 64, 160, 64, 160), Lane(3, 1, 64, 160, 64, 160, ends_program=True)]
    sched = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1,
                        pending=((1, 50, 2),), max_events=30)
    assert sched.ring_memo is None
    sched.ring_memo = (0, object(), 0, 0)
    new = sched.relane(400, 1, Lane(3, 10, 64, 160, 64, 160, ends_program=True), 500, NEVER)
    assert new is not None and new.ring_memo is None and new.copy_memo is None
    assert sched.replay(300).ring_memo is None


@needs_core
def test_the_compiled_relane_checks_its_lane_on_every_way_out() -> None:
    """A bad lane raises whether the answer would have been None (not computed past now, a request not after
    now, the lane on the bus) or a new core, and the lists it was given are left empty."""
    lanes = [Lane(0, 40, 64, 160, 64, 160), Lane(3, 1, 64, 160, 64, 160, ends_program=True)]
    sched = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1,
                        pending=((1, 50, 2),), max_events=30)
    c = sched.core
    assert c is not None
    good = (3, 10, 64, 160, 64, 160, True, None, None, ())
    bad = ("x", *good[1:])
    state = (0, 0, 10, False)
    for now, pos, req in ((sched.computed_ns, 1, None), (100, 1, 100), (100, 0, None), (400, 1, 500)):
        ends: list[Any] = []
        dones: list[Any] = []
        with pytest.raises(TypeError, match=r"^BusCore: idx must be an int, not 'x'"):
            c.relane(now, pos, bad, state, req, NEVER, ends, dones)
        assert ends == dones == []
        got = c.relane(now, pos, good, state, req, NEVER, ends, dones)
        assert (got is None) == ((now, pos, req) != (400, 1, 500))
    # The lane on the bus at 100 (lane 0): the replay's item and program ends are dropped with the None.
    ends, dones = [], []
    assert c.relane(700, 0, good, state, None, NEVER, ends, dones) is None
    assert ends == dones == []


@needs_core
def test_the_state_read_back_is_the_schedules() -> None:
    """``state()`` (built item by item) against the Python schedule's attributes, waiting past 2**63 included."""
    lanes = [Lane(i, 30, 64, 160, 64, 160) for i in range(64)]
    waiting = tuple((p, 0) for p in range(1, 64))
    native = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1, waiting=waiting,
                         max_events=5)
    assert native.core is not None
    saved = _native.core
    try:
        _native.core = None
        pure = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1, waiting=waiting,
                           max_events=5)
    finally:
        _native.core = saved
    st = native.core.state()
    assert type(st) is tuple and len(st) == 13
    assert st[:12] == (pure.waiting, pure.busy_until_ns, pure.stop_ns, pure.computed_ns, pure.events, pure.jumps,
                       pure.last_grant, pure.last_grant_ns, pure.last_event_ns, pure.granted, pure.landed,
                       pure.since_ns)
    assert st[12] == len(pure._heap)
    assert st[0] >= 1 << 63  # (lane 63 waits: an unsigned 64-bit value)


def one_burst_periods(fast: bool, sim_ms: int, period: int) -> list[object]:
    """The ADC in cyclic DMA with periods of ``period`` bytes (8: every burst ends a period), the UART RX ring fed
    and a copy started at odd instants every ms (two relanes at one instant, often while an ADC burst that ends a
    period is on the bus): callback instants, copy results and the bytes at the end."""
    soc = Soc(fast=fast)
    seen: list[object] = []
    s = adc_rx_copy(soc, seen, adc_ring=period * 4, adc_period=period, rx_ring=128, rx_period=32, copy_bytes=2048,
                    src=np.arange(2048, dtype=np.uint8))
    uart0, mc, ring_adc, ring_rx, dst, ms, md = s.uart0, s.mc, s.ring_adc, s.ring_rx, s.dst, s.ms, s.md
    for k in range(sim_ms):
        soc.run(until=k / 1000 + (k % 13) * 1e-6 + (k % 7) * 37e-9)
        uart0.feed(bytes([65 + k % 26]) * (1 + k % 7))  # type: ignore[attr-defined]
        copy = mc.prep_dma_memcpy(md.addr, ms.addr, 2048)
        copy.callback_result = lambda _, r, k=k: seen.append((k, soc.now_ns, int(r.result)))
        copy.submit()
        mc.issue_pending()
    soc.run(until=sim_ms / 1000 + 0.002)
    seen.append((bytes(ring_rx), bytes(ring_adc), bytes(dst)))
    return seen


@pytest.mark.parametrize("period", [8, 16])
def test_two_relanes_at_one_instant_keep_the_period_on_the_bus(period: int) -> None:
    """A relane's state comes from a snapshot; where that snapshot is after the grant of the burst on the bus (one
    that a relane at the same instant took, or one the loop took during that burst), the interrupt of the period
    it ends was noted then, and the relane keeps it (it was lost: a period callback missing, the ADC's ring
    behind)."""
    fast = one_burst_periods(True, 60, period)
    assert fast == one_burst_periods(False, 60, period)
    assert sum(1 for e in fast if isinstance(e, tuple) and e[0] == "adc") >= 60


def test_a_relane_of_a_relane_keeps_the_item_end_of_the_burst_on_the_bus(
        in_pure_python: Any) -> None:
    """The same at the schedule: lane 0's burst on the bus at 163 ends its item (interrupt bit set); relaning lane 1
    at 163 twice keeps that item end both times, compiled and in Python."""

    def twice() -> tuple[list[Any], list[Any]]:
        lanes = [Lane(0, NEVER, 64, 160, 64, 160, item_bursts=2, item_irq=True, next_items=((2, True),)),
                 Lane(3, 1, 64, 160, 64, 160, ends_program=True)]
        sched = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1,
                            pending=((1, 5000, 2),), max_events=30)
        first = sched.relane(163, 1, Lane(3, 10, 64, 160, 64, 160, ends_program=True), 3163, NEVER)
        assert first is not None
        second = first.relane(163, 1, Lane(3, 10, 64, 160, 64, 160, ends_program=True), 3163, NEVER)
        assert second is not None
        return first.item_ends, second.item_ends

    assert twice() == in_pure_python(twice) == ([(320, 0)], [(320, 0)])


@needs_core
def test_the_compiled_carry_of_an_item_end_refuses_a_bad_entry() -> None:
    """The old schedule's item ends are read for the carry: an entry that is not ``(end_ns, pos)`` raises (naming
    it), an entry of another lane or instant is not carried."""
    lanes = [Lane(0, NEVER, 64, 160, 64, 160, item_bursts=2, item_irq=True, next_items=((2, True),)),
             Lane(3, 1, 64, 160, 64, 160, ends_program=True)]
    sched = BusSchedule(lanes, 0, NEVER, 160, 0, 0, holder=0, holder_end_ns=160, holder_seq=1,
                        pending=((1, 5000, 2),), max_events=30)
    first = sched.relane(163, 1, Lane(3, 10, 64, 160, 64, 160, ends_program=True), 3163, NEVER)
    assert first is not None and first.item_ends == [(320, 0)]
    c = first.core
    spec = (3, 10, 64, 160, 64, 160, True, None, None, ())
    state = (0, 0, 10, False)
    for bad, err in (("x", r"^BusCore: an item or program end must be a \(time_ns, pos, \.\.\.\) tuple, not 'x'"),
                     ((320, "p"), r"integer")):
        first.item_ends[:] = [bad]
        ends: list[Any] = []
        with pytest.raises(TypeError, match=err):
            c.relane(163, 1, spec, state, 3163, NEVER, ends, [])
    for other in ((320, 1), (480, 0), (300, 0)):
        first.item_ends[:] = [other]
        ends = []
        assert c.relane(163, 1, spec, state, 3163, NEVER, ends, []) is not None
        assert ends == []
    first.item_ends[:] = [(160, 1), (320, 0), (480, 0)]
    ends = []
    assert c.relane(163, 1, spec, state, 3163, NEVER, ends, []) is not None
    assert ends == [(320, 0)]


def test_a_feed_holds_the_soc_and_gives_it_back(in_thread: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Uart.feed`` claims and releases the SoC itself (no context manager): from another thread while the SoC
    runs it is refused (naming the UART) and changes nothing; from the holder it is a nested hold; after it (and
    after a feed that raised inside the hold) the SoC is free for any thread."""
    soc = Soc()
    uart0 = soc.peripheral("uart0")
    errors: list[str] = []

    def from_other_thread() -> None:
        try:
            uart0.feed(b"no")  # type: ignore[attr-defined]
        except StateError as e:
            errors.append(str(e))

    def app() -> None:  # runs inside soc.run_for on the main thread, which holds the SoC
        in_thread(from_other_thread)()
        uart0.feed(b"ok")  # type: ignore[attr-defined]

    soc.kernel.at(10, app, "app")
    soc.run_for(1e-6)
    assert errors == ["uart0: reading the model: the SoC is being run by another thread (a Soc is single-threaded)"]
    assert soc._owner is None and not soc._owner_lock.locked()
    assert bytes(uart0.rx.pending) == b"ok"  # type: ignore[union-attr]

    def broken(self: Any, t: int, data: bytes) -> None:
        raise RuntimeError("inside the hold")

    monkeypatch.setattr(type(uart0.rx), "feed", broken)
    with pytest.raises(RuntimeError, match="inside the hold"):
        uart0.feed(b"x")  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert soc._owner is None and not soc._owner_lock.locked()
    th = threading.Thread(target=lambda: uart0.feed(b"!"))  # type: ignore[attr-defined]
    th.start()
    th.join()
    assert bytes(uart0.rx.pending).endswith(b"!")  # type: ignore[union-attr]
