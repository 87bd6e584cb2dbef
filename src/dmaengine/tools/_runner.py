"""Run test loops on any platform: one real thread each in real time, cooperatively in virtual time.

A loop is a generator that yields a :class:`Wait` whenever it must wait for the engine; it is sent back True
when the wait was satisfied, False when it timed out. On a real-time platform each loop runs on its own thread
and a wait blocks that thread. On a virtual-time platform (a simulated SoC, single-threaded) every loop runs on
the calling thread: the scheduler resumes each loop until it waits, then lets the platform advance virtual time
(``plat.wait_for``) until some wait is satisfied or times out.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dmaengine import Channel, Platform

__all__ = ["Loop", "Wait", "clock_of", "ctrl_c_sets", "run_loops"]

#: How long an error on the calling thread waits for the loops to end before it raises (a second Ctrl-C does
#: not wait).
STOP_GRACE_S = 5.0


@contextlib.contextmanager
def ctrl_c_sets(stop: threading.Event, pressed: threading.Event | None = None, first: str | None = None
                ) -> Iterator[None]:
    """While the block runs, the first Ctrl-C sets ``stop`` (the loops end after their current test) and
    ``pressed`` and writes ``first`` (a line) on stderr at once; a second one raises KeyboardInterrupt. Only on
    the main thread; elsewhere it does nothing.

    Without this, the KeyboardInterrupt lands wherever the main thread is: inside a test loop's generator (which
    then dies before it records its runtime) or inside the simulator in the middle of an event.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    once = pressed if pressed is not None else threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if once.is_set():
            raise KeyboardInterrupt
        once.set()
        stop.set()
        if first is not None:
            try:  # os.write: a signal handler must not re-enter a buffered stream the main thread is writing
                os.write(2, (first + "\n").encode())
            except OSError:
                pass

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(slots=True)
class Wait:
    """Wait until ``pred()`` holds or ``timeout`` seconds (None: no limit) pass on the platform clock.

    ``event``, when given, is set by whoever makes ``pred`` true (a callback); real-time loops block on it.
    Otherwise real-time loops block on ``chan``'s wait queue, which the engine wakes at each completion.
    """

    pred: Callable[[], bool]
    timeout: float | None
    chan: Channel
    event: threading.Event | None = None


Loop = Generator[Wait, bool, None]


def clock_of(plat: Platform) -> Callable[[], float]:
    """The clock rates are measured with: the wall clock in real time, ``plat.now`` in virtual time."""
    if plat.realtime:
        return time.perf_counter
    return lambda: float(plat.now)


def _drive_one(plat: Platform, loop: Loop, errors: list[BaseException], finished: threading.Event) -> None:
    try:
        w = next(loop)
        while True:
            if w.event is not None:
                # Event.wait refuses more than threading.TIMEOUT_MAX: a longer wait is a wait for ever.
                limit = None if w.timeout is None or w.timeout >= threading.TIMEOUT_MAX else w.timeout
                ok = w.event.wait(limit) or w.pred()
            else:
                ok = plat.wait_for(w.pred, w.timeout, w.chan.waitq)
            w = loop.send(ok)
    except StopIteration:
        pass
    except BaseException as e:  # handed to the caller's thread, never swallowed
        errors.append(e)
    finally:
        finished.set()


def run_loops(
    plat: Platform,
    loops: Sequence[Loop],
    names: Sequence[str] | None = None,
    tick: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run ``loops`` to the end on ``plat``. ``tick()`` is called now and then on the calling thread (progress).

    With ``stop`` given, the first Ctrl-C sets it (the loops should watch it) and the loops run to their end; a
    second Ctrl-C sets it and raises at once; an error on the calling thread sets it and waits up to
    :data:`STOP_GRACE_S` for real-time loops to end, then raises. A caller that installed its own SIGINT handler
    keeps it. The first exception
    raised inside a loop is re-raised here.
    """
    own = (stop is not None and threading.current_thread() is threading.main_thread()
           and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    with ctrl_c_sets(stop) if own and stop is not None else contextlib.nullcontext():
        if plat.realtime:
            _run_threads(plat, loops, names, tick, stop)
        else:
            _run_virtual(plat, loops, tick)


def _run_threads(
    plat: Platform,
    loops: Sequence[Loop],
    names: Sequence[str] | None,
    tick: Callable[[], None] | None,
    stop: threading.Event | None,
) -> None:
    errors: list[BaseException] = []
    # Wait on an event each loop sets at its end, not on Thread.join: in Python 3.11 a KeyboardInterrupt that
    # lands inside join() can mark a thread that is still running as stopped (is_alive() False), and the caller
    # would then release channels under a loop still using them.
    finished = [threading.Event() for _ in loops]
    threads = [
        threading.Thread(target=_drive_one, args=(plat, loop, errors, finished[i]), daemon=True,
                         name=names[i] if names else f"dmaengine-loop{i}")
        for i, loop in enumerate(loops)
    ]
    for t in threads:
        t.start()
    try:
        for ev in finished:
            while not ev.is_set():
                ev.wait(0.1)
                if tick is not None:
                    tick()
    except KeyboardInterrupt:  # a second Ctrl-C: abort at once (a stuck loop would never end)
        if stop is not None:
            stop.set()
        raise
    except BaseException:  # tick() failed: stop the loops before leaving
        if stop is not None:
            stop.set()
            deadline = time.monotonic() + STOP_GRACE_S
            for ev in finished:
                ev.wait(max(0.0, deadline - time.monotonic()))
        raise
    if errors:
        raise errors[0]


def _any_of(preds: list[Callable[[], bool]]) -> Callable[[], bool]:
    return lambda: any(p() for p in preds)


def _run_virtual(plat: Platform, loops: Sequence[Loop], tick: Callable[[], None] | None) -> None:
    # Each entry: the loop and the Wait it is blocked on, with its deadline on the platform clock.
    waiting: list[tuple[Loop, Wait, float]] = []
    ready: list[tuple[Loop, bool | None]] = [(loop, None) for loop in loops]
    while ready or waiting:
        for loop, value in ready:
            try:
                w = next(loop) if value is None else loop.send(value)
            except StopIteration:
                continue
            deadline = math.inf if w.timeout is None else plat.now + w.timeout
            waiting.append((loop, w, deadline))
        ready = []
        if tick is not None:
            tick()
        if not waiting:
            break
        if not any(w.pred() for _, w, _ in waiting):
            first = min(d for _, _, d in waiting)
            timeout = None if first == math.inf else max(0.0, first - plat.now)
            plat.wait_for(_any_of([w.pred for _, w, _ in waiting]), timeout, waiting[0][1].chan.waitq)
        now = plat.now
        satisfied = [(loop, w.pred(), d) for loop, w, d in waiting]
        woken: list[tuple[Loop, bool | None]] = [(loop, ok) for loop, ok, d in satisfied if ok or d <= now]
        if not woken:
            # The platform went idle before any deadline: nothing can satisfy these waits any more.
            woken = [(loop, False) for loop, _, _ in satisfied]
        woken_ids = {id(loop) for loop, _ in woken}
        waiting = [entry for entry in waiting if id(entry[0]) not in woken_ids]
        ready = woken
