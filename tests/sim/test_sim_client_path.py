"""The lean client path of the simulated controller (issue 14, memcpy8): a channel's first memcpy prep, the sim
driver's one-frame descriptor, ``sync_wait``'s lock-free test of its cookie and the issue_pending it skips where
it would do nothing. Each is checked against what it stands for: the checked slow path, ``cookie_status``, and a
``sync_wait`` that always issues (the same virtual instants, statuses, trace events and errors)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmaengine.trace
from dmaengine import Cap, ConfigError, DescMetadataMode, PrepFlags, StateError, Status
from dmaengine._channel import Channel
from dmaengine._cookie import MAX_COOKIE, MIN_COOKIE
from dmaengine.sim import Soc
from dmaengine.sim._driver import SimChannel, SimDescriptor

N = 4096
#: One 4 KiB copy alone on the default controller: the fetch, then 64 bursts of 64 bytes at 400 MB/s.
END_NS = 100 + N * 10 // 4


def _copy(soc: Soc, chan: Channel, n: int = N, value: int = 7) -> tuple[int, np.ndarray]:
    src = np.full(n, value, dtype=np.uint8)
    dst = np.zeros(n, dtype=np.uint8)
    return chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, n).submit(), dst


# --- the lock-free test of a cookie -----------------------------------------------------------------------------
cookies = st.one_of(st.integers(MIN_COOKIE, 40), st.integers(MAX_COOKIE - 40, MAX_COOKIE))


@settings(max_examples=400, deadline=None)
@given(last=cookies, used=cookies, cookie=cookies, paused=st.booleans(), failed=st.booleans())
def test_the_wait_test_is_cookie_status_not_in_progress(last: int, used: int, cookie: int, paused: bool,
                                                        failed: bool) -> None:
    """``_done`` (read without the lock, no Status built) says done exactly where ``cookie_status`` is not
    IN_PROGRESS: every pair of last completed and last used cookie, across the wrap, paused or not, failed or not."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    assert isinstance(chan, SimChannel)
    chan.completed_cookie, chan.cookie, chan.paused = last, used, paused
    if failed:
        chan._errors[cookie] = 1  # type: ignore[assignment]
    done = chan._done(cookie)
    assert done() == (chan.cookie_status(cookie) is not Status.IN_PROGRESS)
    assert done() == (Channel._done(chan, cookie)())  # the generic test, through cookie_status


def test_a_pause_ends_a_wait_as_before() -> None:
    """A channel paused from an event mid-copy: sync_wait returns PAUSED at that instant (the test reads
    ``paused`` first, as cookie_status does)."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    cookie, _ = _copy(soc, chan)
    chan.issue_pending()
    soc.kernel.at(5_000, chan.pause, "pause")
    assert chan.sync_wait(cookie, timeout=None) is Status.PAUSED
    assert soc.now_ns == 5_000
    chan.resume()
    assert chan.sync_wait(cookie, timeout=None) is Status.COMPLETE


# --- the issue_pending sync_wait skips --------------------------------------------------------------------------
@pytest.mark.parametrize("issue_first", [True, False])
def test_sync_wait_issues_what_is_submitted_and_ends_at_the_same_instant(issue_first: bool) -> None:
    """Submitted but not issued: sync_wait issues it (the skip never applies); issued first: sync_wait skips its
    issue_pending. Both end at the same virtual instant with the same bytes."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    cookie, dst = _copy(soc, chan)
    if issue_first:
        chan.issue_pending()
    assert chan.sync_wait(cookie, timeout=None) is Status.COMPLETE
    assert soc.now_ns == END_NS and (dst == 7).all()


def test_sync_wait_starts_the_next_issued_descriptor_when_the_hardware_is_idle() -> None:
    """Issued work that the hardware does not hold (its start failed and the channel went on, or a terminate):
    sync_wait's issue_pending still runs, as before, and the work after it completes."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    assert isinstance(chan, SimChannel)
    bad = chan.prep_dma_memcpy(0x10, 0x20, N)
    assert isinstance(bad, SimDescriptor)
    bad.program.items = []  # hostile: the fetch fails, READ_FAILED, and the next one starts
    c1 = bad.submit()
    c2, dst = _copy(soc, chan)
    chan.issue_pending()
    assert chan.sync_wait(c1, timeout=None) is Status.ERROR
    assert chan.sync_wait(c2, timeout=None) is Status.COMPLETE
    assert (dst == 7).all() and soc.now_ns == END_NS


def test_a_traced_sync_wait_still_records_its_issue() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    cookie, _ = _copy(soc, chan)
    chan.issue_pending()
    with dmaengine.trace.record() as tr:
        chan.sync_wait(cookie, timeout=None)
    assert [e.kind for e in tr.events] == ["issue", "complete"]


def test_sync_wait_on_a_released_channel_still_says_so() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    cookie, _ = _copy(soc, chan)
    chan.issue_pending()
    chan.sync_wait(cookie, timeout=None)
    chan.release()
    with pytest.raises(StateError, match=r"channel is not allocated \(released\?\)$"):
        chan.sync_wait(cookie, timeout=None)


def test_sync_wait_from_another_thread_while_the_soc_runs_is_refused(in_thread: Any) -> None:
    """The skipped issue_pending held the SoC; the wait itself still does, so a second thread that has to wait is
    refused while the first runs the SoC, and a cookie already complete is just read (as tx_status is)."""
    soc = Soc()
    a, b = soc.request_channel(Cap.MEMCPY), soc.request_channel(Cap.MEMCPY)
    ca, _ = _copy(soc, a)
    a.issue_pending()
    a.sync_wait(ca, timeout=None)
    cb, _ = _copy(soc, b)
    b.issue_pending()
    seen: list[Any] = []

    def other() -> None:
        seen.append(a.sync_wait(ca, timeout=None))  # complete: read
        try:
            b.sync_wait(cb, timeout=None)
        except StateError as e:
            seen.append(str(e))

    soc.kernel.at(soc.now_ns + 200, in_thread(other), "app")
    b.sync_wait(cb, timeout=None)
    assert seen == [Status.COMPLETE, "waiting: the SoC is being run by another thread (a Soc is single-threaded)"]


# --- prep -------------------------------------------------------------------------------------------------------
def test_the_first_prep_of_a_channel_is_the_checked_one() -> None:
    """A fresh channel's first memcpy prep takes the inlined checks; the descriptor is the one the slow path
    builds (flags, length, metadata mode NONE, state), and bad input still gets the slow path's messages."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    assert chan._memcpy_plain is None
    tx = chan.prep_dma_memcpy(0x100, 0x200, 64)
    assert chan._memcpy_plain is chan.device
    assert isinstance(tx, SimDescriptor)
    assert (tx.length, tx.cookie, tx.flags, tx.metadata_mode) == (64, 0, PrepFlags(0), DescMetadataMode.NONE)
    assert tx.flags.__class__ is PrepFlags and tx.chan is chan and tx.job is None
    tx2 = chan.prep_dma_memcpy(0x100, 0x200, 64, PrepFlags.PREP_INTERRUPT)
    assert tx2.flags is PrepFlags.PREP_INTERRUPT
    fresh = soc.request_channel(Cap.MEMCPY)
    for args, msg in [((-1, 0, 8), r"^dst must be a DMA address \(int >= 0\), not -1$"),
                      ((0, True, 8), r"^src must be a DMA address \(int >= 0\), not True$"),
                      ((0, 0, 0), r"^length must be a positive int, not 0$"),
                      ((0, 0, 8.0), r"^length must be a positive int, not 8.0$")]:
        with pytest.raises(ConfigError, match=msg):
            fresh.prep_dma_memcpy(*args)
    assert fresh._memcpy_plain is None
    fresh.release()
    with pytest.raises(StateError, match=r"channel is not allocated"):
        fresh.prep_dma_memcpy(0, 0, 8)


def test_metadata_still_works_on_a_sim_descriptor() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src = np.full(64, 3, dtype=np.uint8)
    dst = np.zeros(64, dtype=np.uint8)
    tx = chan.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, 64)
    md = bytearray(16)
    tx.attach_metadata(md)
    assert tx.metadata_mode is DescMetadataMode.CLIENT
    chan.sync_wait(tx.submit(), timeout=None)
    rec = chan.device.metadata_record.unpack_from(md)  # type: ignore[attr-defined]
    assert rec == (soc.now_ns, 64, 0)
