"""What the compiled period runner keeps or skips from period to period (src/native/period.c): the codec's FIFO
moved in place (and the period's last bytes straight into the played chunk), the ring's views known to be byte rows
(numpy's leading fields), the Event and queue entry just run refilled for the next period, ``lane._run`` bound once,
the bottom half's queue entry noted rather than put in and taken out, the wait queue's ints by slot, heapq's push and
pop of plain entries done in C. Whatever the client's callback changes in between (a new FIFO, a bytearray subclass,
an exported FIFO, a new, reshaped or retyped view, a held Event or queue entry, a patched ``_run``, a new wait queue,
a sync that looks at the bottom half's queue) must give exactly what the Python path gives. Each case runs with the
memo, without it (``period_memo(False)``), on the Python path (``kernel.period_runner = None``) and, where the change
is not a model tweak, on ``Soc(fast=False)``; without the compiled core, the Python path against the reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_sim_period_direct import PERIOD, playback_soc  # (tests/sim is on the path, as pytest runs it)

from dmaengine import _context
from dmaengine._context import WaitQueue
from dmaengine._native import core
from dmaengine.sim._lane import PeriodLane

COMPILED = core is not None and hasattr(core, "period_memo")
MODES = ["memo", "nomemo", "python"] if COMPILED else ["python"]


class _Fifo(bytearray):
    """A FIFO of another class: the runner leaves it to Python."""


def _state(x: Any) -> tuple[Any, ...]:
    """What a held object holds: an Event's fields, a queue entry's (its Event's), a wait queue's count."""
    if isinstance(x, tuple):
        return (*x[:3], *_state(x[3]))
    if isinstance(x, WaitQueue):
        return (x._seq,)
    return (x.time_ns, x.seq, x.label, x.priority, x.cancelled, getattr(x.fn, "__func__", x.fn).__name__)


def _run(mode: str, action: str, at: int = 4) -> tuple[Any, ...]:
    soc, hw, codec, chan, ring, tx = playback_soc(mode)
    period = PERIOD
    calls: list[tuple[int, ...]] = []
    held: list[tuple[Any, tuple[Any, ...]]] = []  # objects the callback holds, with what they held then
    seen: list[tuple[int, int, int]] = []  # (instant, len(bh._queue), len(bh._queued)) at each own sync
    vc = chan.device.channels[chan.chan_id]  # type: ignore[attr-defined]
    ch = hw.chans[chan.chan_id]
    lane = hw.lane
    bh = chan.device.bh  # type: ignore[attr-defined]
    orig_run = PeriodLane._run
    export: list[memoryview] = []
    errors: list[str] = []

    def wrapped_run(self: PeriodLane) -> None:
        orig_run(self)

    real_sync = hw.sync

    def looking_sync() -> None:
        seen.append((soc.now_ns, len(bh._queue), len(bh._queued)))
        real_sync()

    def cb(_: object) -> None:
        calls.append((soc.now_ns, chan.tx_status(cookie)[1].residue, len(codec.tx.fifo), codec.tx.written,
                      codec.tx.drained, _context._local.depth, len(bh._queue), len(bh._queued), vc.waitq._seq))
        n = len(calls)
        ring[(n % 4) * period : (n % 4 + 1) * period] = (n * 7) % 256
        if action == "hold_event" and lane._ev is not None:  # the next period's Event, kept by the client
            held.append((lane._ev, _state(lane._ev)))
        elif action == "hold_entry":  # the queue's entries, kept by the client (none may be refilled)
            for ent in soc.kernel._heap:
                held.append((ent, _state(ent)))
        if n == at:
            if action == "fifo_new":
                codec.tx.fifo = bytearray(codec.tx.fifo)
            elif action == "fifo_sub":
                codec.tx.fifo = _Fifo(codec.tx.fifo)
            elif action == "fifo_export":
                export.append(memoryview(codec.tx.fifo))
            elif action == "view_new":
                k = (n + 1) % 4
                ch.views[k] = (ch.views[k].copy() + 3).astype(np.uint8)
            elif action == "view_reshape":
                ch.views[(n + 2) % 4].shape = (2, period // 2)
            elif action in ("view_dtype", "view_dtype_landed"):  # (the same array: its elements are two bytes now)
                ch.views[(n + 3) % 4].dtype = np.uint16
            elif action == "patch_run":
                PeriodLane._run = wrapped_run  # type: ignore[method-assign]
            elif action == "waitq_new":
                vc.waitq = WaitQueue()
                held.append((vc.waitq, (0,)))
            elif action == "looking_sync":
                hw.sync = looking_sync  # type: ignore[method-assign]
            elif action == "app":  # events of the application at the next period's instants, and a tie
                for dt in (0, 1, period * 20_833 // 4):
                    soc.kernel.at(soc.now_ns + dt, lambda dt=dt: calls.append((soc.now_ns, -dt)), "app")
        if action == "fifo_export" and n == at + 3:
            export.pop().release()

    if action == "view_dtype_landed":  # bursts of the next period land before its bottom half: the period's end
        lane.tasklet.latency_ns = 400_000  # then moves the item's bytes from an offset (b0 > 0)
    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    try:
        soc.run(until=0.16)
    except BufferError as exc:  # (the exported FIFO: its next resize refuses, in Python as in C)
        errors.append(f"{type(exc).__name__}: {exc} at {soc.now_ns}")
        for v in export:
            v.release()
        export.clear()
    finally:
        PeriodLane._run = orig_run  # type: ignore[method-assign]
    fn = lane._ev.fn if lane._ev is not None else None
    return (calls, bytes(codec.played), codec.underruns, codec.frames_played, soc.now_ns, bytes(codec.tx.fifo),
            codec.tx.written, codec.tx.drained, chan.tx_status(cookie)[1].residue, seen, errors,
            [was for _, was in held], [_state(x) for x, _ in held], len({id(x) for x, _ in held}),
            getattr(fn, "__func__", None) is wrapped_run)


ACTIONS = ["none", "fifo_new", "fifo_sub", "fifo_export", "view_new", "view_reshape", "view_dtype",
           "view_dtype_landed", "hold_event", "hold_entry", "patch_run", "waitq_new", "looking_sync", "app"]
# changes the reference model has no twin of (and fifo_export: the reference writes burst by burst, so its resize
# refuses at another instant)
MODEL_TWEAKS = {"view_new", "view_reshape", "view_dtype", "view_dtype_landed", "patch_run", "waitq_new"}


@pytest.mark.parametrize("action", ACTIONS)
def test_what_the_runner_keeps_follows_any_change_between_periods(action: str, memo_restored: None) -> None:
    runs = {mode: _run(mode, action) for mode in MODES}
    first = runs[MODES[0]]
    for mode in MODES[1:]:
        assert runs[mode] == first, mode
    calls = first[0]
    assert len(calls) >= 25 or action == "fifo_export"  # (an exported FIFO stops the run)
    if action not in MODEL_TWEAKS and action not in ("hold_event", "hold_entry", "looking_sync", "fifo_export"):
        ref = _run("reference", action)
        assert ref[:9] == first[:9]
    if action in ("hold_event", "hold_entry"):  # what the client holds never changes under it
        assert first[11] and first[11] == first[12]
    if action == "waitq_new":  # the new wait queue counts the wakes from then on
        assert first[12][0][0] >= len(calls) - 4
    if action == "fifo_export":
        assert first[10] and first[10][0].startswith("BufferError")
    if action == "patch_run":
        assert first[-1] is True
    if action == "looking_sync":  # the interrupt's entry is queued when the bottom half's sync runs, as in Python
        assert sum(q == 1 and qd == 1 for _, q, qd in first[9]) >= len(calls) - 5


def test_the_runner_keeps_a_held_event_and_entry_intact_and_distinct(memo_restored: None) -> None:
    for action in ("hold_event", "hold_entry"):
        res = _run(MODES[0], action)
        was, now, distinct = res[11], res[12], res[13]
        assert was == now
        assert distinct == len(was)  # each kept object is its own (none was refilled for a later period)
