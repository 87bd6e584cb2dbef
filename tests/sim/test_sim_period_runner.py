"""The compiled period runner (``period_run``, src/native/period.c): a lone cyclic flow's periods run in C while
they are the plain case, the pure-Python layers (kernel, lane, period end, codec, driver interrupt, virt-dma
cyclic slot, bottom half) being its specification. Each case runs three ways and compares every observable:
the fast model with the runner, the fast model without it (``kernel.period_runner = None``: the pure-Python path,
also what ``DMAENGINE_PURE_PYTHON=1`` runs), and the burst-by-burst reference (``Soc(fast=False)``)."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, SlaveConfig, TransferDirection, TxResult
from dmaengine._native import core
from dmaengine.sim import Soc

M2D = TransferDirection.MEM_TO_DEV
SCALE = int(os.environ.get("DMAENGINE_SOAK_SCALE", "1"))
MODES = ["runner", "python", "reference"]


def _soc(mode: str, **kw: Any) -> Soc:
    soc = Soc(fast=mode != "reference", **kw)
    if mode == "python":
        soc.kernel.period_runner = None
    return soc


def _scenario(mode: str, *, period_frames: int = 256, periods: int = 4, action: str = "none", action_at: int = 3,
              looks: tuple[int, ...] = (), until_s: float = 0.08, bh_ns: int = 1_000,
              use_result: bool = False, second_at_ns: int | None = None) -> tuple[Any, ...]:
    """A cyclic playback ring whose callback refills one period and records its instant; ``action`` at callback
    number ``action_at``; runs that stop at ``looks`` (ns) and read the residue; a second flow (a copy) started
    at ``second_at_ns``."""
    soc = _soc(mode, bh_latency_ns=bh_ns)
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    period = period_frames * 4
    ring = (np.arange(period * periods) % 251).astype(np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, period, M2D)
    calls: list[tuple[int, int]] = []
    seen: list[Any] = []
    acted: list[int] = []
    mc = soc.request_channel(Cap.MEMCPY)
    src = np.arange(16384, dtype=np.uint8)
    dst = np.zeros_like(src)
    ms, md = soc.map(src), soc.map(dst)

    def copy() -> None:
        mc.prep_dma_memcpy(md.addr, ms.addr, src.nbytes).submit()
        mc.issue_pending()

    def act() -> None:
        n = len(calls)
        k = n % periods
        ring[k * period : (k + 1) * period] = n % 256
        if n == action_at:
            acted.append(n)
            if action == "pause":
                chan.pause()
            elif action == "terminate":
                chan.terminate_all()
            elif action == "copy":
                copy()
            elif action == "raise":
                raise RuntimeError("refill failed")
            elif action == "status":
                seen.append(("cb", chan.tx_status(cookie)[1].residue, codec.frames_played, len(codec.played)))
            elif action == "stop":
                codec.stop()
            elif action == "app":
                soc.kernel.at(soc.now_ns + 2_000_000, lambda: seen.append(("app", soc.now_ns)), "app")

    if use_result:
        def cbr(_: object, res: TxResult) -> None:
            calls.append((soc.now_ns, res.residue))
            act()
        tx.callback_result = cbr
    else:
        def cb(_: object) -> None:
            calls.append((soc.now_ns, chan.tx_status(cookie)[1].residue))
            act()
        tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    if second_at_ns is not None:
        soc.kernel.at(second_at_ns, copy, "copy")
    for t in looks:
        if t > soc.now_ns:
            soc.run(until=t / 1e9)
        seen.append((soc.now_ns, chan.tx_status(cookie)[1].residue, len(calls), codec.frames_played,
                     codec.underruns))
    soc.run(until=until_s)
    if action == "pause" and acted:
        chan.resume()
        soc.run(until=until_s + 0.03)
    if action == "stop" and acted:
        codec.start()
        soc.run(until=until_s + 0.03)
    errors = chan.device.channels[chan.chan_id].n_callback_errors  # type: ignore[attr-defined]
    return (calls, seen, codec.played, codec.underruns, codec.frames_played, dst.tobytes(), errors, soc.now_ns,
            chan.tx_status(cookie)[1].residue)


def _internals(mode: str, **kw: Any) -> tuple[Any, ...]:
    """What only the two fast ways share: the kernel's and the controller's counters."""
    soc = _soc(mode)
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.arange(4096, dtype=np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 1024, M2D)
    tx.callback = lambda _: None
    tx.submit()
    chan.issue_pending()
    soc.run(until=0.5)
    hw = soc.dmac.hw  # type: ignore[attr-defined]
    lane = hw.lane
    assert lane is not None
    return (soc.kernel.events_run, hw.bursts, hw.plans, lane.merged, lane.put_back, lane.settled,
            next(soc.kernel._seq),
            codec.frames_played, len(codec.played))


def _three(**kw: Any) -> list[tuple[Any, ...]]:
    return [_scenario(mode, **kw) for mode in MODES]


needs_core = pytest.mark.skipif(core is None, reason="the compiled core is not there (or forced off)")


def test_plain_playback_matches_python_and_the_reference() -> None:
    runner, python, ref = _three()
    assert runner == python == ref
    assert len(runner[0]) == 15 and runner[3] == 0


@needs_core
def test_the_runner_keeps_every_counter_of_the_python_path() -> None:
    assert _internals("runner") == _internals("python")


@needs_core
def test_the_runner_runs_the_periods() -> None:
    soc = Soc()
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.arange(4096, dtype=np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 1024, M2D)
    tx.callback = lambda _: None
    tx.submit()
    chan.issue_pending()
    runner = soc.kernel.period_runner
    assert runner is not None
    counted = [0]

    def counting(k: Any, limit: int) -> bool:
        ran = runner(k, limit)
        counted[0] += ran
        return ran

    soc.kernel.period_runner = counting
    soc.run(until=1.0)
    assert 1 <= counted[0] <= 3  # one call runs the periods back to back


@pytest.mark.parametrize("action", ["pause", "terminate", "copy", "raise", "status", "stop", "app"])
def test_a_callback_that_acts_matches_python_and_the_reference(action: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="dmaengine"):
        runner, python, ref = _three(action=action)
    assert runner == python == ref
    if action == "raise":
        assert runner[6] == 1
        assert sum("callback of" in r.getMessage() and r.exc_info is not None for r in caplog.records) == 3


def test_callback_result_gets_the_same_results() -> None:
    runner, python, ref = _three(use_result=True)
    assert runner == python == ref


@pytest.mark.parametrize("second_at_ns", [1_000, 5_333_000, 5_334_333, 7_000_123, 21_333_333])
def test_a_second_flow_starting_mid_period(second_at_ns: int) -> None:
    runner, python, ref = _three(second_at_ns=second_at_ns)
    assert runner == python == ref
    assert runner[5] == bytes(np.arange(16384, dtype=np.uint8).tobytes())


@settings(max_examples=25 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(period_frames=st.sampled_from([8, 64, 256, 1024]), periods=st.integers(2, 5),
       bh_ns=st.sampled_from([0, 1, 1_000, 40_000, 3_000_000]),
       looks=st.lists(st.integers(1, 60_000_000), max_size=6),
       action=st.sampled_from(["none", "pause", "terminate", "copy", "status", "stop", "app"]),
       action_at=st.integers(1, 9), second=st.one_of(st.none(), st.integers(1, 60_000_000)),
       use_result=st.booleans())
def test_random_playback_matches_python_and_the_reference(period_frames: int, periods: int, bh_ns: int,
                                                          looks: list[int], action: str, action_at: int,
                                                          second: int | None, use_result: bool) -> None:
    """Random period sizes, bottom-half latencies, looks at random instants (residue), callbacks that act, and
    a second flow at a random instant."""
    kw = dict(period_frames=period_frames, periods=periods, bh_ns=bh_ns, looks=tuple(sorted(looks)),
              action=action, action_at=action_at, second_at_ns=second, use_result=use_result, until_s=0.07)
    runner, python, ref = (_scenario(mode, **kw) for mode in MODES)  # type: ignore[arg-type]
    assert runner == python
    assert runner == ref


@needs_core
def test_hostile_arguments_are_refused_or_ignored() -> None:
    assert core is not None
    run = core.period_run
    with pytest.raises(TypeError, match=r"^period_run takes 2 arguments"):
        run()
    with pytest.raises(TypeError, match=r"^limit_ns must be an int, not 'x'"):
        run(Soc().kernel, "x")
    for kernel in (None, object(), 3, "kernel", [], Soc()):
        assert run(kernel, 10**30) is False
        assert run(kernel, -(10**30)) is False
    soc = Soc()
    soc.kernel._heap.append((1, 0, 0, "not an event"))  # type: ignore[arg-type]
    assert run(soc.kernel, 10) is False
    soc.kernel._heap[:] = [(1, 0)]  # type: ignore[list-item]
    assert run(soc.kernel, 10) is False
    soc.kernel._heap = None  # type: ignore[assignment]
    assert run(soc.kernel, 10) is False
    with pytest.raises(TypeError, match=r"^period_setup takes a dict"):
        core.period_setup([])
    with pytest.raises(KeyError, match=r"Event missing"):
        core.period_setup({})


@needs_core
def test_a_lane_whose_state_was_tampered_with_runs_in_python() -> None:
    """Values out of range or of the wrong type: the runner leaves the event to Python (which may raise)."""
    for field, value in (("_end_ns", 1 << 70), ("_end_ns", "x"), ("_due_ns", -5), ("_owner", object())):
        soc = Soc()
        codec = soc.peripheral("i2s0")
        chan = soc.request_chan("i2s0", "tx")
        chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4,
                                      dst_maxburst=8))
        ring = np.arange(4096, dtype=np.uint8)
        tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 1024, M2D)
        tx.callback = lambda _: None
        tx.submit()
        chan.issue_pending()
        soc.run(until=0.01)
        lane = soc.dmac.hw.lane  # type: ignore[attr-defined]
        assert lane is not None and soc.kernel.postponed is lane
        setattr(lane, field, value)
        assert core is not None
        assert core.period_run(soc.kernel, 1 << 40) is False


def _with_junk_in_the_queue(mode: str) -> tuple[Any, ...]:
    soc = _soc(mode)
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = np.arange(4096, dtype=np.uint8)
    tx = chan.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 1024, M2D)
    calls: list[int] = []
    tx.callback = lambda _: calls.append(soc.now_ns)
    tx.submit()
    chan.issue_pending()
    soc.run(until=0.01)
    soc.kernel._heap.append((10**12, 0, 10**12, object()))  # type: ignore[arg-type]  # never due in this run
    soc.run(until=0.1)
    return calls, codec.played, soc.kernel.events_run


def test_an_entry_only_python_understands_leaves_the_step_to_python() -> None:
    """A queue entry that is not an Event (hostile): the runner's scan of the window hands that step to the
    Python method, which gives the same result."""
    runner, python = _with_junk_in_the_queue("runner"), _with_junk_in_the_queue("python")
    assert runner == python and len(runner[0]) == 18
