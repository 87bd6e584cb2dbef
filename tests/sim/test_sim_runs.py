"""Round-robin stretches of memory-to-memory bursts (computed, not stepped) that end exactly where another channel
joins, the kernel's watch and reschedule, and the lone-flow plan's units."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import Cap
from dmaengine.sim import Soc
from dmaengine.sim._kernel import Kernel
from dmaengine.sim._plan import ItemPlan


def test_item_plan_units() -> None:
    plan = ItemPlan(item_offset=0, item_bytes=200, burst_bytes=64, burst_ns=160, start_ns=100, flow=None,
                    first_request_bytes=0, last_burst_ns=20)
    assert (plan.full_bursts, plan.bursts) == (3, 4)
    assert [plan.done(t) for t in (259, 260, 579, 580, 599, 600)] == [0, 1, 2, 3, 3, 4]
    assert plan.end() == 600 and plan.nbytes(4) == 200 and plan.duration_ns(4) == 20


def test_kernel_watch_and_reschedule_keep_the_order_of_one_instant() -> None:
    k = Kernel()
    order: list[str] = []
    seen: list[int] = []
    a = k.at(50, lambda: order.append("a"), "a", 0)
    k.at(10, lambda: order.append("b"), "b", 0)
    k.watchers.append(lambda t: (seen.append(t), 40)[1])
    k.watch(40)
    k.at(10, lambda: order.append("c"), "c", 0)  # watched: at or before 40
    k.at(41, lambda: order.append("d"), "d", 0)  # not watched
    a = k.reschedule(a, 10)  # scheduled first: runs first among those at 10
    k.run_until(100)
    assert order == ["a", "b", "c", "d"] and seen == [10]
    with pytest.raises(ValueError, match=r"^time_ns 5 is in the past"):
        k.reschedule(a, 5)


@pytest.mark.parametrize("via_event", [False, True])
@pytest.mark.parametrize("join_ns", [1_700, 1_740, 1_741, 5_000])
def test_a_run_ends_exactly_where_another_channel_joins(join_ns: int, via_event: bool) -> None:
    """Two copies share the bus in a run; a third channel issued at a burst boundary or inside a burst (by the
    client, or by an event scheduled during the run: the kernel watch) joins the rotation exactly as burst by
    burst: same residues at every 40 ns, same bytes."""

    def sim(fast: bool) -> tuple[list[int], list[bytes], int]:
        soc = Soc(fast=fast)
        chans = [soc.request_channel(Cap.MEMCPY) for _ in range(3)]
        srcs = [np.full(6400, i + 1, dtype=np.uint8) for i in range(3)]
        dsts = [np.zeros(6400, dtype=np.uint8) for _ in range(3)]
        cookies = [c.prep_dma_memcpy(soc.map(d).addr, soc.map(s).addr, 6400).submit()
                   for c, s, d in zip(chans, srcs, dsts)]
        chans[0].issue_pending()
        chans[1].issue_pending()
        residues = []
        for t in range(0, 40_000, 40):
            soc.run(until=t / 1e9)
            if via_event and t == 400:
                soc.kernel.at(join_ns, chans[2].issue_pending, "join")
            if not via_event and t == join_ns // 40 * 40:
                soc.run(until=join_ns / 1e9)
                chans[2].issue_pending()
            residues.extend(c.tx_status(k)[1].residue for c, k in zip(chans, cookies))
        return residues, [d.tobytes() for d in dsts], soc.dmac.hw.runs

    fast, slow = sim(True), sim(False)
    assert fast[:2] == slow[:2] and slow[2] == 0 and fast[2] > 0
    # before the third joins, 64-byte bursts of 160 ns alternate from 100 ns on: channel 0's first lands at 260,
    # channel 1's at 420 (the queries are every 40 ns, three residues each)
    assert fast[0][6 * 3 : 6 * 3 + 3] == [6400, 6400, 6400]  # t = 240
    assert fast[0][7 * 3 : 7 * 3 + 3] == [6336, 6400, 6400]  # t = 280
    assert fast[0][11 * 3 : 11 * 3 + 3] == [6336, 6336, 6400]  # t = 440
