"""The compiled period runner and the locks on its path (src/native/period.c): the channel's lock and the bottom
half's queue lock. A free plain ``threading.Lock`` is left untaken where no Python code can run inside the section
(nobody else can take it without the GIL, so nothing can tell); any other lock object is acquired and released
through its methods, as often as the Python path does. Both ways: with the compiled core (runner and Python path
compared) and without it (the Python path against itself)."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np
import pytest

from dmaengine import BusWidth, SlaveConfig, TransferDirection
from dmaengine._native import core
from dmaengine.sim import Soc

M2D = TransferDirection.MEM_TO_DEV


class _CountingLock:
    """A lock the runner cannot see into: it counts its acquires and releases."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.acquires = 0
        self.releases = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        self.acquires += 1
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self.releases += 1
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _play(runner: bool, counting: bool) -> tuple[Any, ...]:
    soc = Soc()
    if not runner:
        soc.kernel.period_runner = None
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = (np.arange(4096) % 251).astype(np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 1024, M2D)
    vc: Any = chan.device.channels[chan.chan_id]  # type: ignore[attr-defined]
    bh: Any = vc.device.bh
    locks: list[Any] = [vc.lock, bh._lock]
    if counting:
        vc.lock = _CountingLock()
        bh._lock = _CountingLock()
        locks = [vc.lock, bh._lock]
    calls: list[tuple[int, int, bool, bool]] = []

    def cb(_: object) -> None:  # the locks are free whenever the client's code runs
        calls.append((soc.now_ns, chan.tx_status(cookie)[1].residue, vc.lock.locked(), bh._lock.locked()))
        k = len(calls) % 4
        ring[k * 1024 : (k + 1) * 1024] = len(calls) % 256

    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    ran = [0]
    run = soc.kernel.period_runner
    if run is not None:
        def counted(k: Any, limit: int) -> bool:
            r = run(k, limit)
            ran[0] += r
            return r
        soc.kernel.period_runner = counted
    soc.run(until=0.2)
    counts = [(lk.acquires, lk.releases) for lk in locks] if counting else []
    return (calls, codec.played, codec.underruns, soc.now_ns, [lk.locked() for lk in locks], counts,
            bool(ran[0]))


@pytest.mark.parametrize("counting", [False, True], ids=["plain-locks", "counting-locks"])
def test_the_runner_takes_the_locks_as_the_python_path(counting: bool) -> None:
    runner, python = _play(True, counting), _play(False, counting)
    assert runner[:6] == python[:6]
    assert len(runner[0]) == 37 and runner[2] == 0
    assert not any(a or b for _, _, a, b in runner[0])
    assert runner[4] == [False, False]
    if counting:  # every acquire is matched, and there were as many as in Python
        ((a1, r1), (a2, r2)) = runner[5]
        assert a1 == r1 and a2 == r2 and a1 >= 2 * 37 and a2 >= 2 * 37
    assert runner[6] is (core is not None)  # the runner ran (with the compiled core)


def _counters(runner: bool) -> list[tuple[int, ...]]:
    """What a callback keeps of the counters the runner updates (its own references to those int objects)."""
    soc = Soc()
    if not runner:
        soc.kernel.period_runner = None
    codec: Any = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.arange(16384, dtype=np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 4096, M2D)
    hw: Any = soc.dmac.hw  # type: ignore[attr-defined]
    kept: list[tuple[int, ...]] = []
    port = codec.tx

    def cb(_: object) -> None:
        k = soc.kernel
        kept.append((k.now_ns, k.events_run, port.written, port.drained, port.ticks_done, hw.bursts, hw.plans,
                     hw._busy_until, hw._sync_ns))

    tx.callback = cb
    tx.submit()
    chan.issue_pending()
    soc.run(until=1.2)  # past 2**30 ns: instants of one and of two 30-bit digits
    return kept


def test_ints_a_callback_keeps_do_not_change_under_it() -> None:
    """The runner may write a counter's new value into the int object that only the counter holds; one that a
    callback keeps is another reference, so it gets a new int and the kept one stays as it was."""
    runner, python = _counters(True), _counters(False)
    assert runner == python
    assert len(runner) == 56
    for a, b in itertools.pairwise(runner):
        assert a[0] < b[0] and a[1] < b[1] and a[2] < b[2] and a[3] < b[3] and a[4] < b[4]
    assert runner[0][:5] == (20_980_426, 5, 4096, 4032, 1008)
    assert runner[-1][0] == 1_194_313_760 > 2**30
