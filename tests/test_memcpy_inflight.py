"""In-flight descriptors and the compiled submit (issue 8, small64).

The compiled submit takes the channel's lock only when it is held (a free lock cannot be taken by another
thread's Python code while the submit holds the GIL); a submit that finds it held waits for it.

It also keeps in-flight descriptors out of the cycle collector.

While the channel's lists hold a descriptor the collector could never free it, so the compiled submit untracks it
(thousands in flight otherwise cost every young collection a traversal of each); whatever lets go of it again
(completion, terminate, release) tracks it again, so that a descriptor in a reference cycle is still collected.
Pure Python leaves the collector alone. The suite runs both ways (``make test``).
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

from dmaengine import Cap, Platform, Status, _native
from dmaengine.drivers.memcpy import MemcpyEngine


class _Holder:
    """Something that refers to a descriptor that refers back to it (a cycle only the collector frees)."""

    tx: object = None


@pytest.fixture
def plat() -> Iterator[Platform]:
    with Platform() as p:
        p.register_device(MemcpyEngine(channels=1))
        yield p


def _cyclic(chan: object, dst: int, src: int) -> tuple[object, weakref.ref[_Holder]]:
    tx = chan.prep_dma_memcpy(dst, src, 64)  # type: ignore[attr-defined]
    h = _Holder()
    h.tx = tx
    tx.callback_param = h
    return tx, weakref.ref(h)


def test_an_in_flight_descriptor_is_untracked_with_the_core_and_tracked_again_once_complete(plat: Platform) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        assert gc.is_tracked(tx)
        cookie = tx.submit()
        assert gc.is_tracked(tx) is (_native.core is None)
        chan.issue_pending()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        assert gc.is_tracked(tx)
        assert dst.tolist() == src.tolist()


@pytest.mark.parametrize("end", ["complete", "terminate", "release"])
def test_a_descriptor_in_a_cycle_is_collected_however_the_engine_lets_go_of_it(plat: Platform, end: str) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    with plat.map(src) as s, plat.map(dst) as d:
        chan = plat.request_channel(Cap.MEMCPY)
        try:
            tx, ref = _cyclic(chan, d.addr, s.addr)
            cookie = tx.submit()  # type: ignore[attr-defined]
            if end == "complete":
                chan.issue_pending()
                assert chan.sync_wait(cookie) == Status.COMPLETE
                chan.synchronize()
            elif end == "terminate":
                chan.terminate_sync()
            del tx
        finally:
            chan.release()
        gc.collect()
        assert ref() is None
    if end == "complete":
        assert dst.tolist() == src.tolist()
    else:
        assert not dst.any()


def test_a_submit_waits_while_another_thread_holds_the_channel_lock(plat: Platform) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        first = chan.prep_dma_memcpy(d.addr, s.addr, 32).submit()
        tx = chan.prep_dma_memcpy(d.addr + 32, s.addr + 32, 32)
        started = threading.Event()
        got: list[int] = []

        def submitter() -> None:
            started.set()
            got.append(tx.submit())

        t = threading.Thread(target=submitter)
        with chan.lock:  # type: ignore[attr-defined]
            t.start()
            started.wait(5.0)
            assert tx.state.name == "PREPARED" and not got  # it cannot have gone past the lock
        t.join(5.0)
        assert got == [first + 1] and tx.cookie == first + 1 and tx.state.name == "SUBMITTED"
        chan.issue_pending()
        assert chan.sync_wait(got[0]) == Status.COMPLETE
    assert dst.tolist() == src.tolist()


def test_copy_small_takes_a_run_of_small_copies_whole_or_leaves_it(plat: Platform) -> None:
    """AddressSpace.copy_small: ``(faults,)`` for a run of the engine's small single copies (compiled core), None
    (nothing moved) for anything else or without the core; then the worker's per-op path runs."""
    src, dst = np.arange(256, dtype=np.uint8), np.zeros(256, np.uint8)
    space = plat.address_space
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        small = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * (3 - i), 64) for i in range(4)]
        fill = chan.prep_dma_memset(d.addr, 9, 64)
        assert space.copy_small([*small, fill]) is None and not dst.any()
        bad = chan.prep_dma_memcpy(d.addr, 1 << 40, 64)
        got = space.copy_small([*small, bad])
        if _native.core is None:
            assert got is None and not dst.any()
            return
        assert got is not None and got[0] is not None
        assert [f is None for f in got[0]] == [True] * 4 + [False]
        assert dst.reshape(4, 64).tolist() == src.reshape(4, 64)[::-1].tolist()
        assert space.copy_small(small) == (None,)


def test_complete_batch_takes_the_batch_off_the_issued_list_first(plat: Platform) -> None:
    src, dst = np.arange(128, dtype=np.uint8), np.zeros(128, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()  # the worker keeps off: this test completes the batch itself
        txs = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64) for i in range(2)]
        cookies = [tx.submit() for tx in txs]
        chan.issue_pending()
        with chan.lock:  # type: ignore[attr-defined]
            issued = chan.desc_issued  # type: ignore[attr-defined]
            assert list(issued) == txs
            chan._complete(txs[:1], issued)  # type: ignore[attr-defined]
            assert list(issued) == txs[1:]
        assert chan.tx_status(cookies[0])[0] == Status.COMPLETE
        assert chan.tx_status(cookies[1])[0] == Status.PAUSED
        assert chan.completed_cookie == cookies[0]  # type: ignore[attr-defined]
        chan.resume()
        assert chan.sync_wait(cookies[1]) == Status.COMPLETE


class _Truthy:
    """A truth value that is not a bool (the lock-free submit leaves it to the Python code)."""

    def __bool__(self) -> bool:
        return True


@pytest.mark.parametrize("last", [2**31 - 1, 2**70, -5])
def test_a_cookie_out_of_range_wraps_to_the_first_as_the_python_code_wraps_it(plat: Platform, last: int) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.cookie = last  # type: ignore[attr-defined]
        chan.completed_cookie = last  # type: ignore[attr-defined]
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        assert tx.submit() == 1 and chan.cookie == 1  # type: ignore[attr-defined]
        chan.terminate_sync()


def test_odd_channel_fields_leave_the_submit_to_the_python_code(plat: Platform) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan._accepting = _Truthy()  # type: ignore[attr-defined]
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        cookie = tx.submit()
        assert tx.state.name == "SUBMITTED" and chan.sync_wait(cookie) == Status.COMPLETE
        chan._accepting = True  # type: ignore[attr-defined]
    assert dst.tolist() == src.tolist()
