"""``Dmac``'s slots and the period runner's direct access (src/native/period.c, "direct access"): while the memo
holds, the runner reads and writes the objects' slots at the addresses the memo resolved, and the snapshot's copy
follows its writes. A callback that changes a ``Dmac`` slot (an int, an object, a new attribute in its instance
dict) must be seen exactly as without the memo: each case runs with the memo, without it (``period_memo(False)``)
and on the Python path (``kernel.period_runner = None``), and where the change is not a model tweak, on
``Soc(fast=False)``."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from dmaengine import BusWidth, SlaveConfig, TransferDirection, _context
from dmaengine._native import core
from dmaengine.sim import Dmac, Soc

M2D = TransferDirection.MEM_TO_DEV
compiled = pytest.mark.skipif(core is None or not hasattr(core, "period_memo"), reason="no compiled core")


def test_dmac_keeps_every_attribute_in_a_slot_and_still_takes_others() -> None:
    soc = Soc()
    hw = soc.controllers[0]
    assert isinstance(hw, Dmac) and vars(hw) == {}  # everything __init__ sets is a slot
    assert "_sync_ns" in Dmac.__slots__ and "bursts" in Dmac.__slots__ and "lane" in Dmac.__slots__
    real = hw.sync
    calls = [0]

    def counted() -> None:
        calls[0] += 1
        real()

    hw.sync = counted  # type: ignore[method-assign]  # an instance attribute, as a test may wrap a method
    assert vars(hw) == {"sync": counted}
    soc.sync()
    assert calls == [1]
    assert weakref.ref(hw)() is hw


PERIOD = 1024


def playback_soc(mode: str) -> tuple[Soc, Any, Any, Any, Any, Any]:
    """A SoC set to play a 4-period ring (``PERIOD`` bytes a period) to i2s0 in cyclic DMA, not yet submitted, as
    ``mode`` runs it: "memo", "nomemo" (the compiled runner without its memo), "python" (no compiled runner) or
    "reference" (``Soc(fast=False)``). Returns the SoC, its controller, the codec, the channel, the ring and the
    descriptor."""
    if core is not None and hasattr(core, "period_memo"):
        core.period_memo(mode == "memo")
    soc = Soc(fast=mode != "reference")
    if mode == "python":
        soc.kernel.period_runner = None
    hw = soc.controllers[0]
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = (np.arange(PERIOD * 4) % 251).astype(np.uint8)
    m = soc.map(ring)
    return soc, hw, codec, chan, ring, chan.prep_dma_cyclic(m.addr, ring.nbytes, PERIOD, M2D)


def _run(mode: str, action: str, at: int = 5) -> tuple[Any, ...]:
    soc, hw, codec, chan, ring, tx = playback_soc(mode)
    period = PERIOD
    calls: list[tuple[int, ...]] = []
    probed: list[tuple[int, int, int, int]] = []
    irqs: list[int] = []
    kept: list[tuple[object, str]] = []  # int objects the callback holds, with their value then

    def cb(_: object) -> None:
        calls.append((soc.now_ns, chan.tx_status(cookie)[1].residue, len(codec.tx.fifo), codec.tx.written,
                      _context._local.depth))
        n = len(calls)
        ring[(n % 4) * period : (n % 4 + 1) * period] = n % 256
        if action == "hold":  # every period: the ints the runner writes in place are never the ones held
            lane = hw.lane
            for v in (hw.bursts, hw.plans, hw._busy_until, hw._sync_ns, hw._last_grant_ns, soc.kernel.now_ns,
                      soc.kernel.events_run, lane.postponed_end_ns if lane is not None else 0):
                kept.append((v, repr(v)))
        if n != at:
            return
        if action == "probe":  # a Dmac slot from None to a callable: the runner must stop at once
            hw.burst_probe = lambda *a: probed.append(a)
        elif action == "counters":  # int slots: new ints, read again each period
            hw.bursts = 1_000_000
            hw.plans = 7
        elif action == "sync_bound":  # an int slot the runner compares: 0 makes the next sync look
            hw._sync_ns = 0
        elif action == "grant":  # the last grant: an instant far ahead, so no later period moves it
            hw._last_grant_ns = 1 << 40
            hw._last_grant = 3
        elif action == "irq":  # an object slot: the handler wrapped
            real = hw.irq
            assert real is not None

            def wrapped(*a: Any) -> None:
                irqs.append(soc.now_ns)
                real(*a)

            hw.irq = wrapped
        elif action == "chans":  # the same channels in a new list
            hw.chans = list(hw.chans)
        elif action == "dict":  # a new attribute in the instance dict (no slot changes)
            hw.note = "x"  # type: ignore[attr-defined]
        elif action == "lane":  # no lean path from here on: plain events
            hw.lane = None

    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    soc.run(until=0.05)
    assert _context._local.depth == 0
    for v, was in kept:
        assert repr(v) == was  # (an int the callback held never changed)
    return (calls, codec.played, codec.underruns, codec.frames_played, soc.now_ns, chan.tx_status(cookie)[1].residue,
            probed, irqs, hw.bursts, hw.plans, hw._last_grant, hw._last_grant_ns, hw._busy_until, len(kept))


ACTIONS = ["none", "probe", "counters", "sync_bound", "grant", "irq", "chans", "dict", "lane", "hold"]


@compiled
@pytest.mark.parametrize("action", ACTIONS)
def test_a_dmac_slot_changed_by_the_callback_is_seen_as_without_the_memo(action: str, memo_restored: None) -> None:
    memo = _run("memo", action)
    assert memo == _run("nomemo", action)
    assert memo == _run("python", action)
    if action in ("none", "probe", "irq", "chans", "dict", "hold"):  # (no model tweak: the reference agrees)
        ref = _run("reference", action)
        assert memo[:6] == ref[:6] and memo[7] == ref[7]
        if action == "probe":
            assert memo[6] == ref[6] and len(memo[6]) > 100  # every burst after the change, as burst by burst


@pytest.mark.parametrize("action", ["none", "counters", "probe", "hold"])
def test_the_same_cases_in_pure_python_or_without_the_compiled_core(action: str, memo_restored: None) -> None:
    # (the Python path is the oracle: it must agree with the burst-by-burst reference where it can)
    py = _run("python", action)
    if action != "counters":
        ref = _run("reference", action)
        assert py[:6] == ref[:6]


@pytest.fixture
def no_gc() -> Iterator[None]:
    """No collection during the run: one would rightly bring the full precheck back (a finalizer may run Python),
    and these counts are about what the runner does itself."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    if was:
        gc.enable()


@compiled
def test_the_memo_and_its_direct_access_run_every_period(memo_restored: None, no_gc: None) -> None:
    full0, quick0, sync0 = core.period_stats()
    calls = _run("memo", "hold")[0]
    full1, quick1, sync1 = core.period_stats()
    # one full precheck for the run (a second one after Soc.run returns and starts again is allowed), then the
    # memo every period: the snapshot's copy followed the runner's own writes, so nothing looked changed
    assert full1 - full0 <= 2
    assert quick1 - quick0 >= len(calls) - 3
    assert sync1 - sync0 >= len(calls) - 3
    # a change to a Dmac slot (the channel list: a new list, the same channels) costs one full precheck after it,
    # and the memo again from then on
    full0, quick0, _ = core.period_stats()
    calls = _run("memo", "chans")[0]
    full1, quick1, _ = core.period_stats()
    assert 2 <= full1 - full0 <= 4
    assert quick1 - quick0 >= len(calls) - 5
    # a handler that is not the driver's own: the runner stops at the change (the Python path from there on)
    full0, quick0, _ = core.period_stats()
    calls = _run("memo", "irq")[0]
    full1, quick1, _ = core.period_stats()
    assert full1 - full0 == 1 and quick1 - quick0 <= 4  # (only periods before the change at the 5th callback)
