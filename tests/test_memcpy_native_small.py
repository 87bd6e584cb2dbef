"""The small-copy path of the memory engine with and without the compiled core (issue 8, small64).

With the compiled core a channel's submit count lives in its ``MemcpyPrep`` (a C integer), the compiled submit
remembers the last channel's ``MemcpyPrep`` (weakly), the bottom half calls an instance of a class that defines
``__call__`` in Python without the generic call's argument tuple, and the worker reads the addresses of small
copies once, before any Python code runs. Each must be invisible: the same counters, cookies, bytes and calls as
pure Python, which these tests pin with exact values. The suite runs both ways (``make test``).
"""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

from dmaengine import Cap, Platform, Status, _native
from dmaengine.drivers.memcpy import MemcpyEngine


@pytest.fixture
def plat() -> Iterator[Platform]:
    with Platform() as p:
        p.register_device(MemcpyEngine(channels=2))
        yield p


def _bufs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(64 * n, dtype=np.uint64).astype(np.uint8), np.zeros(64 * n, np.uint8)


class _Counter:
    """A callback object whose class defines ``__call__`` in Python (as the benchmark's is)."""

    def __init__(self) -> None:
        self.args: list[object] = []

    def __call__(self, arg: object) -> None:
        self.args.append(arg)


def test_n_submitted_counts_every_submit_on_every_path(plat: Platform) -> None:
    src, dst = _bufs(8)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        assert chan.n_submitted == 0
        cookies = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64).submit() for i in range(5)]
        assert chan.n_submitted == 5
        assert chan.stats.submitted == 5
        # the checked (Python) prep and a fill go through the generic submit
        cookies.append(chan.prep_dma_memset(d.addr + 64 * 5, 7, 64).submit())
        cookies.append(chan.prep_dma_memcpy(d.addr + 64 * 6, s.addr + 64 * 6, 64, 1).submit())  # PREP_INTERRUPT
        assert chan.n_submitted == 7
        chan.n_submitted = 100  # a plain attribute to its users: what is set is what is read back
        assert chan.n_submitted == 100
        cookies.append(chan.prep_dma_memcpy(d.addr + 64 * 7, s.addr + 64 * 7, 64).submit())
        assert chan.n_submitted == 101
        assert cookies == list(range(cookies[0], cookies[0] + 8))
        chan.issue_pending()
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        assert chan.stats.submitted == 101
        assert chan.stats.completed == 8


def test_submits_alternating_between_channels_get_each_channels_cookies(plat: Platform) -> None:
    src, dst = _bufs(32)
    with (plat.request_channel(Cap.MEMCPY) as a, plat.request_channel(Cap.MEMCPY) as b, plat.map(src) as s,
          plat.map(dst) as d):
        got: dict[str, list[int]] = {"a": [], "b": []}
        for i in range(32):
            name, chan = ("a", a) if i % 3 else ("b", b)
            got[name].append(chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64).submit())
        assert got["a"] == list(range(got["a"][0], got["a"][0] + len(got["a"])))
        assert got["b"] == list(range(got["b"][0], got["b"][0] + len(got["b"])))
        assert (a.n_submitted, b.n_submitted) == (len(got["a"]), len(got["b"]))
        for chan, name in ((a, "a"), (b, "b")):
            chan.issue_pending()
            assert chan.sync_wait(got[name][-1]) == Status.COMPLETE
        assert dst.tolist() == src.tolist()


def test_a_dead_channels_remembered_prep_is_not_used() -> None:
    """The compiled submit remembers the last channel's MemcpyPrep weakly: once that platform is gone, another
    channel (perhaps at the same address) submits as usual."""
    src, dst = _bufs(4)
    for _ in range(3):
        with Platform() as p:
            p.register_device(MemcpyEngine(channels=1))
            with p.request_channel(Cap.MEMCPY) as chan, p.map(src) as s, p.map(dst) as d:
                cookies = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64).submit() for i in range(4)]
                assert cookies == [2, 3, 4, 5]
                assert chan.n_submitted == 4
                chan.issue_pending()
                assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
            ref = weakref.ref(chan)
            del chan
        gc.collect()
        assert ref() is None
        assert dst.tolist() == src.tolist()
        dst[:] = 0


def test_a_callable_object_is_called_with_its_param_in_order(plat: Platform) -> None:
    src, dst = _bufs(300)
    cb = _Counter()
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for i in range(300):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = cb
            tx.callback_param = i
            cookie = tx.submit()
        chan.issue_pending()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        chan.synchronize()
    assert cb.args == list(range(300))
    assert dst.tolist() == src.tolist()


class _Swapping:
    """A callback class whose ``__call__`` replaces itself on the class while it runs."""

    calls: list[str] = []

    def __call__(self, arg: object) -> None:
        type(self).calls.append(f"first {arg}")
        type(self).__call__ = _Swapping._second  # type: ignore[method-assign]

    def _second(self, arg: object) -> None:
        type(self).calls.append(f"second {arg}")


class _StaticCall:
    """``__call__`` as a staticmethod (not a plain function): called as Python calls it."""

    calls: list[object] = []

    @staticmethod
    def __call__(arg: object) -> None:  # type: ignore[override]
        _StaticCall.calls.append(arg)


class _Raising:
    def __call__(self, arg: object) -> None:
        raise ValueError(f"callback {arg} raised")


class _IntCallable(int):
    """A subclass of a C type that defines ``__call__`` in Python."""

    def __call__(self, arg: object) -> None:
        _StaticCall.calls.append(("int", int(self), arg))


def _run_callbacks(plat: Platform, cbs: list[object]) -> None:
    src, dst = _bufs(len(cbs))
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        for i, cb in enumerate(cbs):
            tx = chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64)
            tx.callback = cb  # type: ignore[assignment]
            tx.callback_param = i
            cookie = tx.submit()
        chan.issue_pending()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        chan.synchronize()
        assert chan.n_callback_errors == sum(isinstance(cb, _Raising) for cb in cbs)
    assert dst.tolist() == src.tolist()


def test_a_callback_class_that_replaces_its_call_while_called(plat: Platform) -> None:
    _Swapping.calls = []
    saved = _Swapping.__call__
    try:
        _run_callbacks(plat, [_Swapping(), _Swapping(), _Swapping()])
    finally:
        _Swapping.__call__ = saved  # type: ignore[method-assign]
    assert _Swapping.calls == ["first 0", "second 1", "second 2"]


def test_callback_objects_of_every_kind(plat: Platform, caplog: pytest.LogCaptureFixture) -> None:
    _StaticCall.calls = []
    seen: list[object] = []
    cbs: list[object] = [_StaticCall(), _Raising(), _IntCallable(7), seen.append, _Raising(), _StaticCall()]
    with caplog.at_level(logging.ERROR, logger="dmaengine"):
        _run_callbacks(plat, cbs)
    assert _StaticCall.calls == [0, ("int", 7, 2), 5]
    assert seen == [3]
    raised = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ValueError)]
    assert [str(r.exc_info[1]) for r in raised if r.exc_info] == ["callback 1 raised", "callback 4 raised"]


def test_a_fault_among_small_copies_ends_only_that_descriptor(plat: Platform) -> None:
    """The worker reads every small copy's addresses before it resolves any: a fault is that op's alone."""
    src, dst = _bufs(40)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        cookies = []
        for i in range(40):
            sa = s.addr + 64 * i if i != 17 else 1 << 50  # no mapping there
            da = d.addr + 64 * i if i != 29 else 1 << 51
            cookies.append(chan.prep_dma_memcpy(da, sa, 64).submit())
        chan.issue_pending()
        assert chan.sync_wait(cookies[-1]) == Status.COMPLETE
        status = [chan.tx_status(c)[0] for c in cookies]
        assert [i for i, st in enumerate(status) if st != Status.COMPLETE] == [17, 29]
        assert chan.stats.errors == 2
        assert chan.stats.memcpy_count == 38
    want = src.copy()
    want[64 * 17: 64 * 18] = 0
    want[64 * 29: 64 * 30] = 0
    assert dst.tolist() == want.tolist()


def test_the_compiled_pieces_are_wired_when_the_core_is_loaded() -> None:
    from dmaengine.drivers import memcpy

    assert memcpy._wired is (_native.core is not None)
    assert isinstance(memcpy.MemcpyChannel.__dict__.get("n_submitted"), property) is (_native.core is not None)


def test_a_captured_prep_and_submit_see_a_trace_start_and_stop(plat: Platform) -> None:
    """The compiled prep and submit remember what they read of the trace module only while nothing in it
    changed: a recorder installed after ``prep = chan.prep_dma_memcpy`` is seen at the next call."""
    from dmaengine import trace

    src, dst = _bufs(4)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        prep = chan.prep_dma_memcpy
        submit = type(prep(d.addr, s.addr, 64)).submit
        first = submit(prep(d.addr, s.addr, 64))  # warm: both have read "no recorder"
        with trace.record() as rec:
            tx = prep(d.addr + 64, s.addr + 64, 64)
            cookie = submit(tx)
            assert chan.sync_wait(cookie) == Status.COMPLETE
            chan.synchronize()
        last = submit(prep(d.addr + 128, s.addr + 128, 64))
        assert chan.sync_wait(last) == Status.COMPLETE
    assert (first, cookie, last) == (2, 3, 4)
    kinds = [(e.kind, e.cookie) for e in rec.events if e.kind in ("prep", "submit")]
    # pure Python's one-call prep and submit test nothing for tracing (a trace swaps them out of the channel and
    # the class, not out of a local); the compiled ones hand a traced call to the generic, traced code
    assert kinds == ([("prep", 0), ("submit", 3)] if _native.core is not None else [])


def test_a_release_between_prep_and_submit_is_seen_by_a_warm_submit(plat: Platform) -> None:
    from dmaengine import StateError

    src, dst = _bufs(4)
    with plat.map(src) as s, plat.map(dst) as d:
        chan = plat.request_channel(Cap.MEMCPY)
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()  # warm: the submit read "accepting"
        tx = chan.prep_dma_memcpy(d.addr + 64, s.addr + 64, 64)
        chan.release()
        with pytest.raises(StateError):
            tx.submit()
        with pytest.raises(StateError):
            chan.prep_dma_memcpy(d.addr + 128, s.addr + 128, 64)
        assert chan.n_submitted == 1
        chan2 = plat.request_channel(Cap.MEMCPY)
        try:
            assert chan2 is chan
            c2 = chan.prep_dma_memcpy(d.addr + 192, s.addr + 192, 64).submit()
            assert c2 == cookie + 1
            assert chan.sync_wait(c2) == Status.COMPLETE
        finally:
            chan2.release()


def test_a_cookie_set_by_python_between_submits_is_the_one_counted_from(plat: Platform) -> None:
    src, dst = _bufs(4)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        a = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
        chan.cookie = 1000  # as a Python submit on another path would move it
        b = chan.prep_dma_memcpy(d.addr + 64, s.addr + 64, 64).submit()
        chan.cookie = 2**31 - 1  # MAX_COOKIE: the next one wraps
        c = chan.prep_dma_memcpy(d.addr + 128, s.addr + 128, 64).submit()
        e = chan.prep_dma_memcpy(d.addr + 192, s.addr + 192, 64).submit()
        assert (a, b, c, e) == (2, 1001, 1, 2)
        assert chan.cookie == 2
        chan.terminate_sync()


@pytest.mark.parametrize("take", [1, 3, 4])
def test_completing_a_batch_takes_exactly_it_off_the_issued_list(plat: Platform, take: int) -> None:
    """All of the issued list (cleared in one call by the compiled completion) or its head (popped)."""
    src, dst = _bufs(4)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        chan.pause()  # the worker keeps off: this test completes the batch itself
        txs = [chan.prep_dma_memcpy(d.addr + 64 * i, s.addr + 64 * i, 64) for i in range(4)]
        cookies = [tx.submit() for tx in txs]
        chan.issue_pending()
        with chan.lock:  # type: ignore[attr-defined]
            issued = chan.desc_issued  # type: ignore[attr-defined]
            if take == 3:
                issued.pop()  # the batch is then the whole list, one shorter than what was submitted
            chan._complete(txs[:take], issued)  # type: ignore[attr-defined]
            assert list(issued) == txs[take:3 if take == 3 else 4]
        assert [chan.tx_status(c)[0] for c in cookies[:take]] == [Status.COMPLETE] * take
        assert chan.completed_cookie == cookies[take - 1]  # type: ignore[attr-defined]
        assert chan.stats.completed == take
        chan.terminate_sync()


def test_the_compiled_submit_reads_the_lock_field_where_the_layout_is_known() -> None:
    import sys

    if _native.core is None:
        pytest.skip("the compiled core is not loaded")
    known = sys.implementation.name == "cpython" and sys.version_info[:2] in ((3, 11), (3, 12))
    assert _native.core.memcpy_reads_lock_field() is known


def test_descriptors_are_freed_whole_however_they_are_made(plat: Platform) -> None:
    """With the compiled core MemcpyDescriptor has its own dealloc (subclasses keep CPython's, which ends in it):
    every object a descriptor holds is released, a subclass's ``__del__`` runs, and a chain of 200,000
    descriptors (each the callback_param of the next) frees without deep recursion."""
    from dmaengine.drivers.memcpy import BurstDescriptor, MemcpyDescriptor

    if _native.core is not None:
        assert _native.core.memcpy_fast_dealloc() is True
    freed: list[str] = []

    class Marker:
        def __init__(self, name: str) -> None:
            self.name = name

        def __del__(self) -> None:
            freed.append(self.name)

    class Mine(MemcpyDescriptor):
        __slots__ = ("extra",)

        def __del__(self) -> None:
            freed.append("mine")

    src, dst = _bufs(2)
    with plat.request_channel(Cap.MEMCPY) as chan, plat.map(src) as s, plat.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        tx.callback = Marker("callback")  # type: ignore[assignment]
        tx.callback_param = Marker("param")
        del tx
        assert sorted(freed) == ["callback", "param"]
        freed.clear()
        mine = Mine(chan, [], 0)  # type: ignore[arg-type]
        mine.extra = Marker("extra")
        mine.callback_param = Marker("mine param")
        del mine
        assert sorted(freed) == ["extra", "mine", "mine param"]
        freed.clear()
        burst = chan.prep_dma_memcpy_burst(np.array([d.addr], np.int64), np.array([s.addr], np.int64), 64)
        assert type(burst) is BurstDescriptor
        burst.callback_param = Marker("burst param")
        del burst
        assert freed == ["burst param"]
        head: object = Marker("tail")
        for _ in range(200_000):
            tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
            tx.callback_param = head
            head = tx
        del tx
        freed.clear()
        del head
        assert freed == ["tail"]
