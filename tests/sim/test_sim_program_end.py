"""A memory-to-memory program that ends inside a shared-bus schedule (sim/_bus.py ``Lane.ends_program``): the
schedule notes the landing, the controller ends the program and raises its interrupt at that instant, and the
other channels go on in the same schedule. Exact against ``Soc(fast=False)``, including a handler that loads the
channel's next descriptor at the landing instant (its fetch ordered before the grants made at that landing, as
burst by burst), with a fetch latency equal to the burst time so that those instants coincide."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dmaengine import Cap
from dmaengine.sim import Soc
from dmaengine.sim._bus import NEVER, BusSchedule, Lane


def mem_lane(idx: int, nbytes: int, ends_program: bool) -> Lane:
    bursts = -(-nbytes // 64)
    last = nbytes - (bursts - 1) * 64
    return Lane(idx, bursts, 64, 160, last, 160 * last // 64, ends_program=ends_program)


def test_the_schedule_goes_on_past_a_program_end_and_notes_it() -> None:
    # Channel 3 (4 bursts) holds the bus from 1000, channel 0 (2 bursts) waits: 3, 0, 3, 0 (its end at 1640), 3, 3
    # (its end at 1960).
    def sched(ends: bool) -> BusSchedule:
        return BusSchedule([mem_lane(0, 128, ends), mem_lane(3, 256, ends)], 1000, NEVER, 1160, 3, 1000, holder=1,
                           holder_end_ns=1160, holder_seq=7, holder_grant_ns=1000, holder_request_ns=990,
                           waiting=((0, 1000),))

    s = sched(True)
    assert [(t, pos) for t, pos, _ in s.program_ends] == [(1640, 0), (1960, 1)]
    assert s.stop_ns == NEVER and s.finished and s.last_event_ns == 1960
    assert s.take(0, 1640) == (2, 128, 1640)
    assert s.take(1, 1960) == (4, 256, 1960)
    # The sequence number noted with an end is the schedule's last one before that landing ran: what the landing
    # grants comes after it.
    assert 7 < s.program_ends[0][2] < s.program_ends[1][2]
    # Without ends_program the schedule stops at the first program's last landing (the controller runs it).
    plain = sched(False)
    assert plain.stop_ns == 1640 and plain.program_ends == [] and not plain.finished


def copies(fast: bool, fetch_ns: int, sizes: list[int], queued: int) -> tuple[Any, ...]:
    """Copies of ``sizes`` bytes on as many channels, ``queued`` descriptors each (the driver loads the next one
    from the interrupt of the one before), with every callback instant, every landing, ``tx_status`` of every
    cookie every 97 ns, and the bytes."""
    soc = Soc(fast=fast, fetch_latency_ns=fetch_ns, bh_latency_ns=0)
    hw = soc.dmac.hw
    landings: list[tuple[int, int]] = []
    hw.burst_probe = lambda idx, request_ns, grant_ns, end_ns: landings.append((idx, end_ns))
    calls: list[tuple[int, int, int]] = []
    work = []
    for i, n in enumerate(sizes):
        chan = soc.request_channel(Cap.MEMCPY)
        src = ((np.arange(n) * (i + 3)) % 251).astype(np.uint8)
        dsts = [np.zeros(n, dtype=np.uint8) for _ in range(queued)]
        s = soc.map(src).addr
        cookies = []
        for j, dst in enumerate(dsts):
            d = chan.prep_dma_memcpy(soc.map(dst).addr, s, n)
            d.callback = lambda _, i=i, j=j: calls.append((i, j, soc.now_ns))
            cookies.append(d.submit())
        work.append((chan, cookies, dsts))
    for chan, _, _ in work:
        chan.issue_pending()
    seen = []
    while soc.kernel.peek() is not None:
        soc.run_for(97e-9)
        seen.append((soc.now_ns, [chan.tx_status(c) for chan, cookies, _ in work for c in cookies]))
    data = [d.tobytes() for _, _, dsts in work for d in dsts]
    return seen, calls, data, sorted(landings), (hw.plans, soc.kernel.events_run)


@pytest.mark.parametrize("fetch_ns", [0, 100, 160, 320])
@pytest.mark.parametrize(("sizes", "queued"), [([640, 1000, 3000], 2), ([64, 4096, 200, 1024], 3),
                                                ([2048] * 8, 1)])
def test_program_ends_in_a_schedule_are_exact(fetch_ns: int, sizes: list[int], queued: int) -> None:
    fast = copies(True, fetch_ns, sizes, queued)
    slow = copies(False, fetch_ns, sizes, queued)
    assert fast[:-1] == slow[:-1]
    assert fast[-1][0] > 0 and slow[-1][0] == 0  # planned, and the reference stepped every burst
    assert sorted((i, j) for i, j, _ in fast[1]) == [(i, j) for i in range(len(sizes)) for j in range(queued)]
    expected = [((np.arange(n) * (i + 3)) % 251).astype(np.uint8).tobytes() for i, n in enumerate(sizes)
                for _ in range(queued)]
    assert fast[2] == expected


def test_eight_copies_end_in_one_schedule() -> None:
    """The benchmark's shape, smaller: 8 channels copying at once take one schedule; each end is one event (no
    event per burst, none per final burst), and the bytes are right."""
    n = 64 * 1024
    soc = Soc()
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(8)]
    srcs = [np.full(n, i + 1, dtype=np.uint8) for i in range(8)]
    dsts = [np.zeros(n, dtype=np.uint8) for _ in range(8)]
    cookies = [c.prep_dma_memcpy(soc.map(d).addr, soc.map(s).addr, n).submit() for c, s, d in zip(chans, srcs, dsts)]
    for c in chans:
        c.issue_pending()
    for c, ck in zip(chans, cookies):
        c.sync_wait(ck, timeout=None)
    assert all((d == i + 1).all() for i, d in enumerate(dsts))
    # The first fetch (the other 7, at the same instant, are its schedule's first requests: Dmac._try_schedule),
    # one event per program end, and the bottom half; the last copy ends at 8 x 64 KiB at 400 MB/s plus the fetch.
    assert soc.kernel.events_run == 10
    assert soc.now_ns == 100 + 8 * n * 10 // 4
    assert soc.dmac.hw.plans == 9  # the schedule and its 8 program ends
