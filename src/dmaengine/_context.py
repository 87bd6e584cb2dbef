"""Execution contexts of the real-time world: bottom halves (tasklets) and wait queues.

A *tasklet* is a device's bottom half: ``schedule()`` asks for one more run of its function (coalescing, like
``tasklet_schedule``), ``flush()`` waits until every run asked for before the call has finished (the part of
``tasklet_kill`` that ``vchan_synchronize`` needs), ``in_context()`` tells whether the caller is that bottom half.
The simulated SoC provides its own tasklet with the same methods, running in virtual time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["BottomHalf", "Tasklet", "ThreadTasklet", "WaitQueue", "bottom_half", "in_bottom_half"]

log = logging.getLogger("dmaengine")



class _Local(threading.local):
    """Per-thread state: ``depth`` is how many bottom halves the thread is inside. A class attribute gives each
    thread 0 at first without an AttributeError raised and caught per test (``getattr(local, name, 0)`` costs
    about 1 µs on a thread that never set it, and every ``sync_wait`` asks)."""

    depth = 0


_local = _Local()

#: How long :meth:`WaitQueue.wait_for` polls before it blocks (seconds); 0 where the OS cannot yield.
POLL_S = 50e-6 if hasattr(os, "sched_yield") else 0.0
_yield = getattr(os, "sched_yield", None)
_perf = time.perf_counter
_TIMEOUT_MAX = threading.TIMEOUT_MAX  # a longer wait is a wait for ever (Condition.wait refuses more)


def in_bottom_half() -> bool:
    """True while the caller runs inside any device's bottom half (a callback)."""
    return _local.depth > 0


class _BottomHalfMark:
    """What :func:`bottom_half` returns: a context manager that marks the calling thread (a class, not a
    generator: a simulated SoC enters it once per bottom half, on its hot path)."""

    __slots__ = ()

    def __enter__(self) -> None:
        _local.depth += 1

    def __exit__(self, *exc: object) -> None:
        _local.depth -= 1


_MARK = _BottomHalfMark()


def bottom_half() -> contextlib.AbstractContextManager[None]:
    """Mark the current thread as running a bottom half for the duration of the block (``with bottom_half():``)."""
    return _MARK


class Tasklet(Protocol):
    """What a platform's bottom half offers to drivers."""

    def schedule(self) -> None:
        """Ask for one more run of the bottom half; requests made before it starts make one run."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run asked for before this call has finished; False on timeout."""
        ...

    def in_context(self) -> bool:
        """True when the caller is this bottom half."""
        ...

    def kill(self) -> None:
        """Stop the bottom half after the runs already asked for (device unregistered)."""
        ...


class BottomHalfUser(Protocol):
    """What a :class:`BottomHalf` serves: a channel with a ``name`` and a ``bottom_half()`` method."""

    name: str

    def bottom_half(self) -> None: ...


class BottomHalf:
    """One device's bottom half, whole: the queue of channels that asked for a run, the flag that keeps each
    channel on it once, and the tasklet that drains it (``virt-dma.c``'s ``vchan_complete`` machinery).

    Drivers call :meth:`schedule` (through ``DmaDevice.schedule_bottom_half``) with the channel's lock held;
    the tasklet runs :meth:`run`, which takes each channel off the queue, clears its flag and calls its
    ``bottom_half()``. The flag is cleared *before* the call, so a completion that arrives while the channel's
    bottom half runs queues it again and is never lost. Whatever a channel's ``bottom_half()`` raises (even a
    BaseException such as SystemExit) is logged and counted in :attr:`failures`; the other channels still run.
    """

    __slots__ = ("_lock", "_queue", "_queued", "failures", "tasklet")

    def __init__(self, create_tasklet: Callable[[Callable[[], None], str], Tasklet], name: str) -> None:
        self._lock = threading.Lock()
        self._queue: deque[BottomHalfUser] = deque()
        self._queued: set[int] = set()  # id() of each channel on the queue
        #: How many times a channel's bottom half raised.
        self.failures = 0
        #: The platform's tasklet that runs :meth:`run` (a thread here, an event on a simulated SoC).
        self.tasklet: Tasklet = create_tasklet(self.run, name)

    def schedule(self, chan: BottomHalfUser) -> None:
        """Run ``chan.bottom_half()`` soon; once however often it is asked before the run starts."""
        key = id(chan)
        lock = self._lock
        lock.acquire()  # (``with self._lock``, without the context manager's special lookups: once per interrupt)
        try:
            if key in self._queued:
                return
            self._queued.add(key)
            self._queue.append(chan)
        finally:
            lock.release()
        self.tasklet.schedule()

    def pending(self, chan: BottomHalfUser) -> bool:
        """True while ``chan`` waits on the queue for its bottom half."""
        return id(chan) in self._queued

    def run(self) -> None:
        """The tasklet body: serve every channel that asked, in the order they asked."""
        lock, q, queued = self._lock, self._queue, self._queued
        while q:  # (read without the lock: a channel queued after this test schedules the tasklet again)
            lock.acquire()  # (``with lock``, without the context manager's special lookups: once per bottom half)
            try:
                if not q:
                    return
                chan = q.popleft()
                queued.discard(id(chan))
            finally:
                lock.release()
            try:
                chan.bottom_half()
            except BaseException:  # a bottom half never dies, and the next channel still runs
                self.failures += 1
                log.exception("bottom half of %s failed", chan.name)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run asked for before this call has finished; False on timeout."""
        return self.tasklet.flush(timeout)

    def in_context(self) -> bool:
        """True when the caller is this bottom half."""
        return self.tasklet.in_context()

    def kill(self) -> None:
        """Stop after the runs already asked for (device unregistered)."""
        self.tasklet.kill()


class ThreadTasklet:
    """A bottom half on its own daemon thread (real time)."""

    def __init__(self, fn: Callable[[], None], name: str) -> None:
        self._fn = fn
        self._cv = threading.Condition(threading.Lock())
        self._pending = False
        self._stop = False
        self._scheduled = 0
        self._done = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def schedule(self) -> None:
        """Ask for one more run; several requests before it starts make one run."""
        if self._pending:  # racy fast path: a run is already due and will see our work
            return
        with self._cv:
            if not self._pending:
                self._pending = True
                self._scheduled += 1
                self._cv.notify_all()

    def _loop(self) -> None:
        _local.depth = 1
        cv = self._cv
        while True:
            with cv:
                while not self._pending and not self._stop:
                    cv.wait()
                if not self._pending:
                    return
                self._pending = False
                run_id = self._scheduled
            try:
                self._fn()
            except BaseException:  # never let a bottom half die
                log.exception("bottom half %s failed", self._thread.name)
            with cv:
                self._done = run_id
                cv.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every run scheduled before this call has finished; False on timeout."""
        with self._cv:
            target = self._scheduled
            if timeout is not None and timeout >= _TIMEOUT_MAX:
                timeout = None
            return self._cv.wait_for(lambda: self._done >= target or self._stop, timeout)

    def in_context(self) -> bool:
        """True when called from this tasklet's thread."""
        return threading.get_ident() == self._thread.ident

    def kill(self) -> None:
        """Stop the thread after the runs already scheduled."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if not self.in_context():
            self._thread.join(timeout=5.0)


class WaitQueue:
    """Where clients wait for a channel's state to change.

    Completers call :meth:`wake` after changing state, under any lock they like: a waiter never holds the
    queue's lock while it tests its predicate, so there is no lock-order problem. ``wake`` costs one attribute
    test when nobody blocks.

    Hybrid polling (the kernel's hybrid poll, dmatest's ``polled`` mode): a waiter first polls for
    :data:`POLL_S` (50 µs), testing its predicate each time :meth:`wake` has been called and yielding the CPU
    and the GIL in between (``os.sched_yield``: no sleep, so no thread wake-up is needed to resume it), and
    only then blocks on the condition. A short transfer completes inside the poll and costs one thread
    hand-off instead of two; a long one costs 50 µs of yielding CPU. The poll is bounded: no waiter spins
    longer than that.
    """

    __slots__ = ("_cv", "_seq", "async_waiters", "waiters")

    def __init__(self) -> None:
        self._cv = threading.Condition(threading.Lock())
        self._seq = 0
        self.waiters = 0
        self.async_waiters: list[Callable[[], None]] = []

    def wake(self) -> None:
        """Wake every waiter; call after changing the state the waiters test."""
        self._seq += 1
        if self.waiters:
            with self._cv:
                self._cv.notify_all()
            waiters = self.async_waiters
            if waiters:
                for fn in list(waiters):
                    fn()

    def add_async(self, waker: Callable[[], None]) -> None:
        """Register an asyncio waiter's ``waker`` (called from :meth:`wake`); counts it among the waiters under
        the queue's lock, as :meth:`wait_for` counts its own, so that no update of the count is lost."""
        with self._cv:
            self.async_waiters.append(waker)
            self.waiters += 1

    def remove_async(self, waker: Callable[[], None]) -> None:
        """Undo :meth:`add_async`."""
        with self._cv:
            self.waiters -= 1
            self.async_waiters.remove(waker)

    def wait_for(self, pred: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``pred()`` holds (True) or ``timeout`` seconds pass (False). Polls first (see above)."""
        if pred():  # a driver's status may do small issued work itself (memcpy's cookie_status)
            return True
        if _yield is not None and POLL_S and (timeout is None or timeout >= POLL_S):
            # Yield before the next test: the worker gets the GIL at once. No poll under a shorter timeout: a
            # yield may well outlast it, and the caller asked for an answer now.
            end = _perf() + POLL_S
            seq = self._seq
            while True:
                _yield()
                if self._seq != seq:
                    seq = self._seq
                    if pred():
                        return True
                if _perf() >= end:
                    break
        elif pred():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        cv = self._cv
        with cv:
            self.waiters += 1
        try:
            while True:
                seq = self._seq
                if pred():
                    return True
                with cv:
                    if self._seq != seq:
                        continue
                    if deadline is None:
                        cv.wait()
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    cv.wait(min(remaining, _TIMEOUT_MAX))
        finally:
            with cv:
                self.waiters -= 1
