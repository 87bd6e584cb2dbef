"""Run test loops on any platform: one real thread each in real time, cooperatively in virtual time.

A loop is a generator that yields a :class:`Wait` whenever it must wait for the engine; it is sent back True
when the wait was satisfied, False when it timed out. On a real-time platform each loop runs on its own thread
and a wait blocks that thread. On a virtual-time platform (a simulated SoC, single-threaded) every loop runs on
the calling thread: the scheduler resumes each loop until it waits, then lets the platform advance virtual time
(``plat.wait_for``) until some wait is satisfied or times out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from dmaengine import Channel, Platform

__all__ = ["Loop", "Wait", "clock_of", "run_loops"]


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
                ok = w.event.wait(w.timeout) or w.pred()
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

    A KeyboardInterrupt on the calling thread sets ``stop`` (when given; the loops should watch it) and the
    loops are then run to their end. The first exception raised inside a loop is re-raised here.
    """
    if plat.realtime:
        _run_threads(plat, loops, names, tick, stop)
    else:
        _run_virtual(plat, loops, tick, stop)


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
    for ev in finished:
        while not ev.is_set():
            try:
                ev.wait(0.1)
                if tick is not None:
                    tick()
            except KeyboardInterrupt:
                if stop is None:
                    raise
                stop.set()
    if errors:
        raise errors[0]


def _any_of(preds: list[Callable[[], bool]]) -> Callable[[], bool]:
    return lambda: any(p() for p in preds)


def _run_virtual(
    plat: Platform,
    loops: Sequence[Loop],
    tick: Callable[[], None] | None,
    stop: threading.Event | None,
) -> None:
    # Each entry: the loop and the Wait it is blocked on, with its deadline on the platform clock.
    waiting: list[tuple[Loop, Wait, float]] = []
    ready: list[tuple[Loop, bool | None]] = [(loop, None) for loop in loops]
    while ready or waiting:
        try:
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
        except KeyboardInterrupt:
            if stop is None:
                raise
            stop.set()
