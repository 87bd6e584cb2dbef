"""A second relane at one instant keeps the wake the first one scheduled (issue 14, busy): new UART RX data, then
a copy's start, at one instant, schedule one wake, not a wake cancelled and another; against ``Soc(fast=False)``
(the suite runs these both ways), with each guard (an event scheduled in between, a watcher told)."""

from __future__ import annotations

from collections.abc import Callable

from _sim_scenes import adc_rx_copy

from dmaengine.sim import Soc
from dmaengine.sim._bus import NEVER
from dmaengine.sim._kernel import PRIO_HW


def fed_and_copied(fast: bool, sim_ms: int, between: Callable[[Soc], None] | None = None) -> tuple[list[object], Soc]:
    """The ADC and the UART RX in cyclic DMA, UART RX fed then a copy started at one instant every ms (``between``
    called in between): callback instants, residues, copy results and the bytes at the end."""
    soc = Soc(fast=fast)
    seen: list[object] = []
    s = adc_rx_copy(soc, seen, adc_ring=16 * 4, adc_period=16, rx_ring=128, rx_period=32, copy_bytes=2048)
    uart0, rx, rd, mc = s.uart0, s.rx, s.rd, s.mc
    ring_adc, ring_rx, dst, ms, md = s.ring_adc, s.ring_rx, s.dst, s.ms, s.md
    for k in range(sim_ms):
        soc.run(until=k / 1000 + (k % 13) * 1e-6 + (k % 7) * 37e-9)
        uart0.feed(bytes([65 + k % 26]) * (1 + k % 7))  # type: ignore[attr-defined]
        if between is not None:
            between(soc)
        copy = mc.prep_dma_memcpy(md.addr, ms.addr, 2048)
        copy.callback_result = lambda _, r, k=k: seen.append((k, soc.now_ns, int(r.result), r.residue))
        copy.submit()
        mc.issue_pending()
        seen.append(("residue", soc.now_ns, rx.tx_status(rd.cookie)[1]))
    soc.run(until=sim_ms / 1000 + 0.002)
    seen.append((bytes(ring_rx), bytes(ring_adc), bytes(dst), soc.now_ns))
    return seen, soc


def test_a_second_relane_at_one_instant_keeps_the_first_ones_wake() -> None:
    fast, soc = fed_and_copied(True, 40)
    ref, _ = fed_and_copied(False, 40)
    assert fast == ref
    assert sum(1 for e in fast if isinstance(e, tuple) and len(e) == 4 and isinstance(e[0], int) and e[2] == 0) == 40
    dmac = soc.dmac.hw  # type: ignore[attr-defined]
    assert (dmac.relanes, dmac.wakes_kept) == RELANES_KEPT


#: (relanes, wakes kept): every step whose feed and copy both relaned keeps the feed's wake.
RELANES_KEPT = (78, 39)


def test_an_event_scheduled_in_between_takes_a_new_wake() -> None:
    """An event scheduled between the two relanes (a timer of the client's at this very instant, at the bus's
    priority: it must run after the first relane's wake and before the second's) makes the second relane cancel
    the first wake and schedule its own, as before."""
    ran: list[int] = []

    def timer(soc: Soc) -> None:
        soc.kernel.at(soc.now_ns, lambda: ran.append(soc.now_ns), "timer", PRIO_HW)

    fast, soc = fed_and_copied(True, 40, timer)
    ref, _ = fed_and_copied(False, 40, timer)
    assert fast == ref
    dmac = soc.dmac.hw  # type: ignore[attr-defined]
    assert (dmac.relanes, dmac.wakes_kept) == (RELANES_KEPT[0], 0)
    assert len(ran) == 80


def test_a_watcher_is_told_of_a_new_wake() -> None:
    """While a watcher watches (it must be told of each event scheduled), the second relane schedules its wake."""
    told: list[int] = []

    def watcher(t: int) -> int:
        told.append(t)
        return -1  # (told once: the next step watches again)

    def watching(soc: Soc) -> None:
        k = soc.kernel
        if watcher not in k.watchers:
            k.watchers.append(watcher)
        k.watch(NEVER)

    fast, soc = fed_and_copied(True, 40, watching)
    ref, _ = fed_and_copied(False, 40, watching)
    assert fast == ref
    dmac = soc.dmac.hw  # type: ignore[attr-defined]
    assert (dmac.relanes, dmac.wakes_kept) == (RELANES_KEPT[0], 0)
    assert len(told) == 80  # (the second relane's wake each step, fast and reference alike)
