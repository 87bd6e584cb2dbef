"""The SoC's hold, its sync and the kernel loop a waiter runs (issue 14, memcpy8 and busy), each against what it
stands for: ``Kernel.run_until_true`` against the ``peek``/``step`` loop ``Soc.wait_for`` ran before; ``Kernel.at``
against ``Event(...)``; a second ``Soc.sync`` at one instant (one test) against the controllers' sync it skips;
the sim driver's ``issue_pending`` hold (``claim``/``release``) against the ``Soc.exclusive`` context manager,
with a second thread; ``SimChannel.cookie_status`` against ``tx_status``. Pure Python either way (the whole suite
runs with and without the compiled core)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, StateError, Status, TransferDirection
from dmaengine._cookie import MAX_COOKIE, MIN_COOKIE
from dmaengine.sim import Soc
from dmaengine.sim._driver import SimChannel
from dmaengine.sim._kernel import PRIO_APP, PRIO_BH, PRIO_HW, Event, Kernel

N = 4096
#: One 4 KiB copy alone on the default controller: the fetch, then 64 bursts of 64 bytes at 400 MB/s.
END_NS = 100 + N * 10 // 4


# --- the waiter's kernel loop -----------------------------------------------------------------------------------
def _peek_step(k: Kernel, pred: Callable[[], bool], deadline: int | None) -> bool:
    """What ``Soc.wait_for`` ran before ``run_until_true``: the specification."""
    while True:
        t = k.peek()
        if t is None or (deadline is not None and t > deadline):
            if deadline is not None and deadline > k.now_ns:
                k.now_ns = deadline
            return False
        k.step()
        if pred():
            return True


#: An event: (time_ns, priority, cancelled, follow-up delay or None, raises).
events = st.lists(st.tuples(st.integers(0, 60), st.sampled_from([PRIO_HW, PRIO_BH, PRIO_APP]), st.booleans(),
                            st.one_of(st.none(), st.integers(0, 30)), st.integers(0, 30)), max_size=14)


def _build(k: Kernel, spec: list[tuple[int, int, bool, int | None, int]], log: list[tuple[int, str]]) -> None:
    for i, (t, prio, cancelled, follow, raises) in enumerate(spec):
        label = f"e{i}"

        def fn(label: str = label, follow: int | None = follow, raises: int = raises) -> None:
            log.append((k.now_ns, label))
            if follow is not None:
                k.at(k.now_ns + follow, lambda: log.append((k.now_ns, label + "+")), label + "+", PRIO_HW)
            if raises == 0:
                raise RuntimeError(label)

        ev = k.at(t, fn, label, prio)
        if cancelled:
            ev.cancel()


@settings(max_examples=300, deadline=None)
@given(spec=events, stop_after=st.integers(0, 20), deadline=st.one_of(st.none(), st.integers(0, 90)),
       trace=st.booleans())
def test_run_until_true_is_the_peek_step_loop(spec: list[tuple[int, int, bool, int | None, int]], stop_after: int,
                                             deadline: int | None, trace: bool) -> None:
    """Same events in the same order at the same instants, the same answer, clock, count and queue left, the same
    exception out of an event that raises; with a trace (through ``step``) and without."""
    results = []
    for run in (_peek_step, Kernel.run_until_true):
        k = Kernel(trace)
        log: list[tuple[int, str]] = []
        _build(k, spec, log)

        def pred(log: list[tuple[int, str]] = log) -> bool:
            return len(log) >= stop_after

        try:
            out: object = run(k, pred, deadline)
        except RuntimeError as e:
            out = f"raised {e}"
        left = sorted((t, p, s, ev.label) for t, p, s, ev in k._heap if not ev.cancelled)
        results.append((out, log, k.now_ns, k.events_run, left, k.trace, k.dispatching))
    assert results[0] == results[1]


def test_run_until_true_with_a_probe_runs_each_event_through_it() -> None:
    k = Kernel()
    seen: list[tuple[int, str]] = []
    k.probe = lambda t, fn: (seen.append((t, "probe")), fn())  # type: ignore[func-returns-value]
    k.at(5, lambda: seen.append((k.now_ns, "a")), "a")
    k.at(7, lambda: seen.append((k.now_ns, "b")), "b")
    assert k.run_until_true(lambda: len(seen) >= 4, None) is True
    assert seen == [(5, "probe"), (5, "a"), (7, "probe"), (7, "b")]


def test_run_until_true_stops_the_clock_at_the_deadline() -> None:
    k = Kernel()
    k.at(50, lambda: None, "late")
    assert k.run_until_true(lambda: True, 20) is False
    assert (k.now_ns, k.events_run, k.peek()) == (20, 0, 50)
    assert k.run_until_true(lambda: False, 10) is False  # a deadline already passed leaves the clock alone
    assert k.now_ns == 20
    assert k.run_until_true(lambda: False, None) is False  # no deadline: until the queue is empty
    assert (k.now_ns, k.events_run, k.peek()) == (50, 1, None)


def test_at_builds_the_event_its_constructor_would() -> None:
    k = Kernel()
    def fn() -> None:
        return None
    k.at(3, fn, "x")
    ev = k.at(9, fn, "label", PRIO_BH)
    ref = Event(9, fn, "label", PRIO_BH, 1)
    assert type(ev) is Event
    assert [getattr(ev, s) for s in Event.__slots__] == [getattr(ref, s) for s in Event.__slots__]
    assert k._heap[-1] == (9, PRIO_BH, 1, ev) or (9, PRIO_BH, 1, ev) in k._heap
    with pytest.raises(ValueError, match=r"^time_ns 2 is in the past \(now 5\)$"):
        k.now_ns = 5
        k.at(2, fn)


# --- one sync per instant ------------------------------------------------------------------------------------------
def _count_syncs(soc: Soc) -> list[int]:
    hw = soc.controllers[0]
    calls = [0]
    real = hw.sync

    def counted() -> None:
        calls[0] += 1
        real()

    hw.sync = counted  # type: ignore[method-assign]
    return calls


def test_a_second_sync_at_one_instant_is_one_test() -> None:
    soc = Soc()
    calls = _count_syncs(soc)
    soc.run_for(1e-6)
    assert calls == [1]  # the run's own sync
    soc.sync()
    soc.peripheral("uart0").sync()  # a peripheral read: the same instant, nothing changed (its ports advance)
    assert calls == [1]
    soc.sync()  # the read held the SoC: the controller looks again
    assert calls == [2]
    with soc.exclusive("a block that may change the hardware"):
        soc.sync()  # inside it: nothing changed since the last sync
        assert calls == [2]
    soc.sync()  # after it: the controller looks again
    soc.sync()
    assert calls == [3]
    soc.kernel.at(soc.now_ns, lambda: None, "an event at this instant")
    soc.run_for(0)  # an event ran, at the same instant
    assert calls == [4]
    soc.run_for(1e-9)  # a later instant
    assert calls == [5]
    m = soc.map(np.zeros(16, dtype=np.uint8))
    calls[0] = 0
    m.unmap()  # syncs first (nothing to do: one test), then the controllers forget the mapping
    soc.sync()
    assert calls == [1]


def test_an_issue_pending_at_the_instant_of_a_sync_is_synced_after() -> None:
    """The driver's hold ends the mark: a copy issued at the instant of the last sync is looked at again."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    calls = _count_syncs(soc)
    soc.run_for(1e-6)
    src = np.full(N, 3, dtype=np.uint8)
    dst = np.zeros(N, dtype=np.uint8)
    cookie = chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, N).submit()
    chan.issue_pending()
    before = calls[0]
    soc.sync()
    assert calls[0] == before + 1
    assert chan.sync_wait(cookie) is Status.COMPLETE
    assert soc.now_ns == 1000 + END_NS
    assert (dst == 3).all()


def _uart_rx_and_copies(fast: bool) -> tuple[list[tuple[str, int]], bytes, bytes, int]:
    """UART RX in cyclic DMA fed at instants where a run ends (the feed's sync is the skipped one), with copies
    issued at those instants: what the client sees."""
    soc = Soc(fast=fast)
    uart = soc.peripheral("uart0")
    seen: list[tuple[str, int]] = []
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ring = np.zeros(64, dtype=np.uint8)
    d = rx.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, 16, TransferDirection.DEV_TO_MEM)
    d.callback = lambda _: seen.append(("rx", soc.now_ns))
    d.submit()
    rx.issue_pending()
    mc = soc.request_channel(Cap.MEMCPY)
    src = np.arange(N, dtype=np.uint8)
    dst = np.zeros(N, dtype=np.uint8)
    ms, md = soc.map(src, DataDirection.TO_DEVICE), soc.map(dst, DataDirection.FROM_DEVICE)
    for k in range(1, 6):
        soc.run(until=k * 0.002)
        uart.feed(b"0123456789abcdefXYZ")  # type: ignore[attr-defined]
        tx = mc.prep_dma_memcpy(md.addr, ms.addr, N)
        tx.callback = lambda _: seen.append(("copy", soc.now_ns))
        tx.submit()
        mc.issue_pending()
        soc.sync()
    soc.run(until=0.02)
    return seen, ring.tobytes(), dst.tobytes(), rx.tx_status(d.cookie)[1].residue


def test_feeds_and_copies_at_sync_instants_match_the_reference() -> None:
    fast = _uart_rx_and_copies(True)
    assert fast == _uart_rx_and_copies(False)
    assert [w for w, _ in fast[0]].count("copy") == 5


# --- the driver's hold ----------------------------------------------------------------------------------------
def test_issue_pending_from_a_second_thread_is_refused_and_leaks_no_hold(in_thread: Any) -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    other = soc.request_channel(Cap.MEMCPY)
    errors: list[str] = []

    def from_other_thread() -> None:
        try:
            other.issue_pending()
        except StateError as e:
            errors.append(str(e))

    def app() -> None:  # runs inside soc.run_for on the main thread, which holds the SoC
        in_thread(from_other_thread)()
        chan.issue_pending()  # the holder itself: a nested hold, free

    soc.kernel.at(10, app, "app")
    soc.run_for(1e-6)
    assert errors == ["issue_pending: the SoC is being run by another thread (a Soc is single-threaded)"]
    assert soc._owner is None and not soc._owner_lock.locked()
    th = threading.Thread(target=other.issue_pending)  # one after the other is fine
    th.start()
    th.join()
    assert soc._owner is None and not soc._owner_lock.locked()


@pytest.mark.parametrize("plain_guard", [False, True])
def test_issue_pending_through_either_hold_ends_at_the_same_instant(plain_guard: bool) -> None:
    """A guard without ``claim``/``release`` (any context-manager factory) takes the ``with`` path: same result."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    if plain_guard:
        soc.dmac._claim = soc.dmac._release = None
    src = np.full(N, 9, dtype=np.uint8)
    dst = np.zeros(N, dtype=np.uint8)
    cookie = chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, N).submit()
    chan.issue_pending()
    assert soc._owner is None and not soc._owner_lock.locked()
    assert chan.sync_wait(cookie) is Status.COMPLETE
    assert (soc.now_ns, bool((dst == 9).all())) == (END_NS, True)


# --- the status a waiter returns ----------------------------------------------------------------------------------
cookies = st.one_of(st.integers(MIN_COOKIE, 40), st.integers(MAX_COOKIE - 40, MAX_COOKIE))


@settings(max_examples=400, deadline=None)
@given(last=cookies, used=cookies, cookie=cookies, paused=st.booleans(), failed=st.booleans())
def test_cookie_status_is_tx_status_without_residue(last: int, used: int, cookie: int, paused: bool,
                                                    failed: bool) -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    assert isinstance(chan, SimChannel)
    chan.completed_cookie, chan.cookie, chan.paused = last, used, paused
    if failed:
        chan._errors[cookie] = 1  # type: ignore[assignment]
    assert chan.cookie_status(cookie) is chan.tx_status(cookie)[0]


def test_the_bottom_half_mark_the_tasklet_reuses_is_one_reusable_object() -> None:
    """``SimTasklet._run`` enters the object ``bottom_half()`` returns, fetched once: it must be that one object,
    and re-enterable (nested too)."""
    from dmaengine._context import in_bottom_half
    from dmaengine.provider import bottom_half
    from dmaengine.sim._soc import _BH_MARK

    assert bottom_half() is _BH_MARK
    assert not in_bottom_half()
    for _ in range(2):
        with _BH_MARK:
            with _BH_MARK:
                assert in_bottom_half()
            assert in_bottom_half()
        assert not in_bottom_half()
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src = np.full(N, 5, dtype=np.uint8)
    dst = np.zeros(N, dtype=np.uint8)
    seen: list[tuple[bool, int]] = []
    tx = chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, N)
    tx.callback = lambda _: seen.append((in_bottom_half(), soc.now_ns))
    tx.submit()
    chan.issue_pending()
    soc.run_until_idle()
    assert seen == [(True, END_NS + 1000)] and not in_bottom_half()
