"""In-flight descriptors and the compiled submit (issue 8, small64).

The compiled submit takes the channel's lock only when it is held (a free lock cannot be taken by another
thread's Python code while the submit holds the GIL); a submit that finds it held waits for it.

It also keeps in-flight descriptors out of the cycle collector.

While the channel's lists hold a descriptor the collector could never free it, so the compiled submit untracks it
(thousands in flight otherwise cost every young collection a traversal of each); whatever lets go of it again
(completion, terminate, release) tracks it again, so that a descriptor in a reference cycle is still collected.
A descriptor with a callback stays untracked until the bottom half has called it back (thousands may wait for
it). Pure Python leaves the collector alone. The suite runs both ways (``make test``).
"""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

from dmaengine import Cap, Platform, Status, _native


class _Holder:
    """Something that refers to a descriptor that refers back to it (a cycle only the collector frees)."""

    tx: object = None



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


@pytest.mark.parametrize("end", ["complete", "complete-callback", "terminate", "release"])
def test_a_descriptor_in_a_cycle_is_collected_however_the_engine_lets_go_of_it(plat: Platform, end: str) -> None:
    src, dst = np.arange(64, dtype=np.uint8), np.zeros(64, np.uint8)
    called: list[str] = []
    with plat.map(src) as s, plat.map(dst) as d:
        chan = plat.request_channel(Cap.MEMCPY)
        try:
            tx, ref = _cyclic(chan, d.addr, s.addr)
            if end == "complete-callback":
                tx.callback = lambda h: called.append(type(h).__name__)  # type: ignore[attr-defined]
            cookie = tx.submit()  # type: ignore[attr-defined]
            if end.startswith("complete"):
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
    assert called == (["_Holder"] if end == "complete-callback" else [])
    if end.startswith("complete"):
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


def _paused_batch(chan: object, d: int, s: int) -> tuple[list[object], list[int]]:
    """Three submitted, issued descriptors on a paused channel (the worker keeps off): two with callbacks."""
    chan.pause()  # type: ignore[attr-defined]
    txs = [chan.prep_dma_memcpy(d + 64 * i, s + 64 * i, 64) for i in range(3)]  # type: ignore[attr-defined]
    seen: list[int] = []
    txs[0].callback = seen.append
    txs[0].callback_param = 0
    txs[2].callback = seen.append
    txs[2].callback_param = 2
    cookies = [tx.submit() for tx in txs]
    chan.issue_pending()  # type: ignore[attr-defined]
    return txs, cookies


def test_a_descriptor_waiting_for_its_callback_is_untracked_until_called_back(plat: Platform) -> None:
    src, dst = np.arange(192, dtype=np.uint8), np.zeros(192, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        txs, cookies = _paused_batch(chan, d.addr, s.addr)
        seen = txs[0].callback.__self__  # type: ignore[attr-defined]
        with chan.lock:  # type: ignore[attr-defined]  # the bottom half waits for it to take the list
            chan._complete(txs, chan.desc_issued)  # type: ignore[attr-defined]
            assert [gc.is_tracked(tx) for tx in txs] == [_native.core is None, True, _native.core is None]
        chan.synchronize()  # the bottom half has run
        assert seen == [0, 2]
        assert all(gc.is_tracked(tx) for tx in txs)
        assert chan.tx_status(cookies[2])[0] == Status.COMPLETE
        chan.resume()


def test_a_bottom_half_under_a_trace_tracks_what_the_compiled_completion_left_untracked(plat: Platform) -> None:
    core = _native.core
    if core is None:
        pytest.skip("the compiled core untracks; pure Python leaves the collector alone")
    from dmaengine import trace

    src, dst = np.arange(192, dtype=np.uint8), np.zeros(192, np.uint8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        txs, _ = _paused_batch(chan, d.addr, s.addr)
        seen = txs[0].callback.__self__  # type: ignore[attr-defined]
        with trace.record():
            with chan.lock:  # type: ignore[attr-defined]
                core.complete_batch(chan, txs, chan.desc_issued)  # untraced, as a worker that began before it
                assert [gc.is_tracked(tx) for tx in txs] == [False, True, False]
            chan.synchronize()  # the bottom half ran the traced (Python) way
        assert seen == [0, 2]
        assert all(gc.is_tracked(tx) for tx in txs)
        chan.resume()


def test_call_back_tracks_every_descriptor_even_when_the_error_hook_raises(plat: Platform) -> None:
    core = _native.core
    if core is None:
        pytest.skip("compiled core only")
    src, dst = np.arange(192, dtype=np.uint8), np.zeros(192, np.uint8)

    def boom(_param: object) -> None:
        raise ValueError("callback")

    def hook(_vd: object, exc: BaseException) -> None:
        raise RuntimeError("hook") from exc

    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        txs, _ = _paused_batch(chan, d.addr, s.addr)
        txs[0].callback = boom
        with chan.lock:  # type: ignore[attr-defined]
            core.complete_batch(chan, txs, chan.desc_issued)
            done = chan.desc_completed  # type: ignore[attr-defined]
            chan.desc_completed = type(done)()  # type: ignore[attr-defined]  # the bottom half finds nothing
        assert list(done) == [txs[0], txs[2]] and not gc.is_tracked(txs[2])
        with pytest.raises(RuntimeError, match="hook"):
            core.call_back(done, hook)
        assert all(gc.is_tracked(tx) for tx in txs)
        chan.resume()
