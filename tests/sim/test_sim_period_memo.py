"""The period runner's memo (src/native/period.c, "the memo"): after a plain period, the next one skips the full
precheck unless something it depends on changed: a class (its version tag), an instance dict (its version, then
the entries precheck read), a slot area. Whatever the client's callback changes between periods must be seen
exactly as without the memo: each case runs with the memo, without it (``period_memo(False)``), on the Python path
(``kernel.period_runner = None``) and, where the change is not itself a model tweak, on ``Soc(fast=False)``."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from dmaengine import BusWidth, SlaveConfig, TransferDirection, _context
from dmaengine._native import core
from dmaengine.sim import Soc
from dmaengine.virt import VirtChannel

M2D = TransferDirection.MEM_TO_DEV
pytestmark = pytest.mark.skipif(core is None or not hasattr(core, "period_memo"), reason="no compiled core")


def _run(mode: str, action: str, at: int = 5) -> tuple[Any, ...]:
    if core is not None:
        core.period_memo(mode == "memo")
    soc = Soc(fast=mode != "reference")
    if mode == "python":
        soc.kernel.period_runner = None
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    period = 1024
    ring = (np.arange(period * 4) % 251).astype(np.uint8)
    m = soc.map(ring)
    tx = chan.prep_dma_cyclic(m.addr, ring.nbytes, period, M2D)
    calls: list[tuple[int, ...]] = []
    patched: list[int] = []
    orig = VirtChannel.vchan_cyclic_callback

    def wrapped(self: VirtChannel, vd: Any) -> None:
        patched.append(soc.now_ns)
        orig(self, vd)

    def cb(_: object) -> None:
        calls.append((soc.now_ns, chan.tx_status(cookie)[1].residue, len(codec.tx.fifo), codec.tx.written,
                      _context._local.depth))
        n = len(calls)
        ring[(n % 4) * period : (n % 4 + 1) * period] = n % 256
        if n != at:
            return
        if action == "pause":
            chan.pause()
        elif action == "terminate":
            chan.terminate_all()
        elif action == "reprep":
            chan.terminate_all()
            t2 = chan.prep_dma_cyclic(m.addr, ring.nbytes, period * 2, M2D)
            t2.callback = cb
            t2.submit()
            chan.issue_pending()
        elif action == "stop":
            codec.stop()
        elif action == "app":
            soc.kernel.at(soc.now_ns + 50_000, lambda: calls.append((soc.now_ns, -1)), "app")
        elif action == "class":
            VirtChannel.vchan_cyclic_callback = wrapped  # type: ignore[method-assign]
        elif action == "latency":
            soc.dmac.hw.lane.tasklet.latency_ns = 3_000  # type: ignore[attr-defined]
        elif action == "lock":  # a lock object the runner cannot see into: acquired and released by its methods
            vc = chan.device.channels[chan.chan_id]  # type: ignore[attr-defined]
            vc.lock = threading.RLock()
        elif action == "item":
            hw = soc.dmac.hw  # type: ignore[attr-defined]
            prog = hw.chans[chan.chan_id].prog
            prog.items[2].irq = False

    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    try:
        soc.run(until=0.05)
        if action == "pause" and len(calls) >= at:
            chan.resume()
            soc.run(until=0.08)
        if action == "stop" and len(calls) >= at:
            codec.start()
            soc.run(until=0.08)
    finally:
        VirtChannel.vchan_cyclic_callback = orig  # type: ignore[method-assign]
    assert _context._local.depth == 0
    return (calls, codec.played, codec.underruns, codec.frames_played, soc.now_ns,
            chan.tx_status(cookie)[1].residue, len(patched) > 0)


ACTIONS = ["none", "pause", "terminate", "reprep", "stop", "app", "class", "latency", "item", "lock"]


@pytest.mark.parametrize("action", ACTIONS)
def test_a_change_between_periods_is_seen_as_without_the_memo(action: str, memo_restored: None) -> None:
    memo = _run("memo", action)
    assert memo == _run("nomemo", action)
    assert memo == _run("python", action)
    if action not in ("class", "latency", "item", "lock"):
        assert memo[:-1] == _run("reference", action)[:-1]


def test_the_memo_is_used_and_a_patched_class_is_seen(memo_restored: None) -> None:
    full0, quick0, sync0 = core.period_stats()
    calls, *_, patched = _run("memo", "none")
    full1, quick1, sync1 = core.period_stats()
    assert quick1 - quick0 > len(calls) // 2  # most periods skip the full precheck
    assert sync1 - sync0 > len(calls) // 2  # and move the next period's first bursts in C at the bottom half
    assert not patched
    # a method monkeypatched by the callback is called from the next period on, as on the Python path
    assert _run("memo", "class")[-1] is True
    assert _run("python", "class")[-1] is True


def test_period_memo_and_stats_refuse_nothing_odd(memo_restored: None) -> None:
    assert core.period_memo(0) is True
    assert core.period_memo(1) is False
    assert all(isinstance(n, int) for n in core.period_stats())
