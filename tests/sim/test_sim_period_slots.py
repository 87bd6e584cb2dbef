"""The slots the period runner reads every period (VirtChannel.cyclic/desc_completed, SimChannel.running,
Soc._owner): the classes keep their instance dict (any attribute may still be set, a subclass without
``__slots__`` works) and the compiled runner's memo still runs with them."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from dmaengine import BusWidth, DataDirection, SlaveConfig, TransferDirection, _native
from dmaengine.sim import Soc
from dmaengine.sim._driver import SimChannel
from dmaengine.virt import VirtChannel


def test_slots_and_the_instance_dict() -> None:
    assert "cyclic" in VirtChannel.__slots__ and "running" in SimChannel.__slots__ and "_owner" in Soc.__slots__
    soc = Soc()
    soc.anything = 1  # type: ignore[attr-defined]
    assert soc.anything == 1 and "_owner" not in vars(soc) and soc._owner is None  # type: ignore[attr-defined]
    assert weakref.ref(soc)() is soc

    class MySoc(Soc):
        def __init__(self) -> None:
            super().__init__()
            self.mine = 2

    assert MySoc().mine == 2
    with soc.request_chan("i2s0", "tx") as chan:
        assert isinstance(chan, SimChannel) and chan.running is None and chan.cyclic is None
        chan.extra = 3  # type: ignore[attr-defined]
        assert chan.extra == 3  # type: ignore[attr-defined]


def _playback(memo: bool, periods: int = 40) -> tuple[list[int], int]:
    soc = Soc()
    codec = soc.peripheral("i2s0")
    period = 1024
    ring = np.zeros(period * 4, dtype=np.uint8)
    at: list[int] = []
    core = _native.core
    if core is not None:
        core.period_memo(memo)
    try:
        with soc.request_chan("i2s0", "tx") as chan, soc.map(ring, DataDirection.TO_DEVICE) as m:
            chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                          dst_maxburst=8))
            tx = chan.prep_dma_cyclic(m.addr, ring.nbytes, period, TransferDirection.MEM_TO_DEV)
            tx.callback = lambda _: at.append(soc.now_ns)
            tx.submit()
            chan.issue_pending()
            soc.run(until=periods * period // 4 / 48_000)
    finally:
        if core is not None:
            core.period_memo(True)
    return at, codec.underruns  # type: ignore[attr-defined]


@pytest.mark.skipif(_native.core is None, reason="the compiled core")
def test_memo_runs_with_the_slots() -> None:
    core = _native.core
    assert core is not None
    before = core.period_stats()
    fast, under = _playback(True)
    after = core.period_stats()
    assert after[1] - before[1] >= 30  # memoized prechecks: the slots did not turn the memo off
    assert (fast, under) == _playback(False)
    assert len(fast) >= 39 and under == 0
