"""A ``sync`` of a ``Dmac``'s own (src/native/period.c, ``soc_sync``): an instance attribute (``hw.sync = f``, kept
in the instance dict beside Dmac's ``__slots__``) or a subclass's method is what Python's ``Soc.sync`` calls at each
bottom half, so the compiled runner's sync must call it too, at the same instants, and go back to its own C sync
once the attribute is gone. Each case runs with the memo, without it (``period_memo(False)``), on the Python path
(``kernel.period_runner = None``) and on ``Soc(fast=False)``; all four must agree exactly."""

from __future__ import annotations

from typing import Any

import pytest
from test_sim_period_direct import PERIOD, playback_soc  # (tests/sim is on the path, as pytest runs it)

from dmaengine import TransferDirection
from dmaengine._native import core
from dmaengine.sim import Dmac

M2D = TransferDirection.MEM_TO_DEV
compiled = pytest.mark.skipif(core is None or not hasattr(core, "period_memo"), reason="no compiled core")


class _CountingDmac(Dmac):
    """A subclass whose sync is its own (no new slots: an instance's class can be switched to it)."""

    seen: list[int]

    def sync(self) -> None:
        _CountingDmac.seen.append(self.kernel.now_ns)
        super().sync()


def _run(mode: str, action: str) -> tuple[Any, ...]:
    soc, hw, codec, chan, ring, tx = playback_soc(mode)
    period = PERIOD
    synced: list[tuple[int, int]] = []  # (the instant, the callbacks run by then) at each call of the own sync
    calls: list[tuple[int, int]] = []
    real = hw.sync
    _CountingDmac.seen = []

    def own_sync() -> None:
        synced.append((soc.now_ns, len(calls)))
        real()

    def skipping_sync() -> None:  # moves no bytes: a sync that is not Dmac's changes what the codec plays
        synced.append((soc.now_ns, -len(calls)))

    if action in ("before", "deleted", "noted_before"):
        hw.sync = own_sync  # type: ignore[method-assign]
    if action in ("noted", "noted_before", "noted_skip"):
        hw.note = "x"  # type: ignore[attr-defined]  # (a non-empty instance dict: its version decides)

    def cb(_: object) -> None:
        calls.append((soc.now_ns, codec.tx.written))
        n = len(calls)
        ring[(n % 4) * period : (n % 4 + 1) * period] = n % 256
        if n == 3 and action in ("in_callback", "noted"):
            hw.sync = own_sync  # type: ignore[method-assign]
        elif n == 3 and action == "noted_skip":
            hw.sync = skipping_sync  # type: ignore[method-assign]
        elif n == 6 and action == "noted_skip":
            del hw.sync  # back to Dmac's own sync
        elif n == 5 and action == "deleted":
            del hw.sync
        elif n == 3 and action == "subclass":
            hw.__class__ = _CountingDmac
        elif n == 6 and action == "subclass":
            hw.__class__ = Dmac

    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    soc.run(until=0.05)
    return (synced, list(_CountingDmac.seen), calls, codec.played, codec.underruns, codec.frames_played, soc.now_ns,
            chan.tx_status(cookie)[1].residue)


ACTIONS = ["before", "in_callback", "noted", "noted_before", "noted_skip", "deleted", "subclass"]


def _check(got: tuple[Any, ...], action: str) -> None:
    synced, seen, calls = got[0], got[1], got[2]
    assert len(calls) >= 8
    if action == "subclass":
        assert synced == [] and len(seen) >= 3
    else:
        assert seen == [] and len(synced) >= 2
    if action in ("before", "noted_before"):
        assert synced[0][1] == 0 and len(synced) >= len(calls)  # every bottom half from the first
    if action == "noted_skip":
        assert all(k <= 0 for _, k in synced)


@compiled
@pytest.mark.parametrize("action", ACTIONS)
def test_an_own_sync_is_called_as_python_calls_it(action: str, memo_restored: None) -> None:
    memo = _run("memo", action)
    _check(memo, action)
    assert memo == _run("nomemo", action)
    assert memo == _run("python", action)
    assert memo == _run("reference", action)


@pytest.mark.parametrize("action", ACTIONS)
def test_the_python_path_calls_an_own_sync_as_the_reference_does(action: str, memo_restored: None) -> None:
    py = _run("python", action)
    _check(py, action)
    assert py == _run("reference", action)


@compiled
def test_no_own_sync_keeps_the_memo_and_the_c_sync(memo_restored: None) -> None:
    import gc

    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        full0, quick0, sync0 = core.period_stats()
        calls = _run("memo", "none")[2]
        full1, quick1, sync1 = core.period_stats()
    finally:
        if was:
            gc.enable()
    assert full1 - full0 <= 2
    assert quick1 - quick0 >= len(calls) - 3
    assert sync1 - sync0 >= len(calls) - 3
