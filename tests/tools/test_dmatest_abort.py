"""dmatest's abort (a second Ctrl-C): each thread's summary once, as it stands, and nothing after it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dmaengine import Channel, Platform
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.tools.dmatest import DmatestParams, DmatestThread, run_dmatest


class Stuck(MemcpyEngine):
    """Never starts a descriptor: every test waits for ever."""

    def device_issue_pending(self, chan: Channel) -> None:
        pass


def _log() -> tuple[list[str], threading.Lock, Callable[[str], None]]:
    lines: list[str] = []
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            lines.append(line)

    return lines, lock, log


def test_an_abort_summarises_every_thread_once_and_the_threads_say_nothing_after() -> None:
    lines, lock, log = _log()
    stop = threading.Event()
    in_flight: list[list[DmatestThread]] = []

    def tick(threads: list[DmatestThread]) -> None:
        # The second Ctrl-C (run_loops catches it here as from a signal), once each thread has a test in flight
        # (each counts it as it starts): an observable state, polled at each tick, never a fixed sleep.
        with threads[0].chan.lock:
            waiting = len(threads[0].chan.desc_submitted)
        if waiting == len(threads):
            in_flight.append(list(threads))
            raise KeyboardInterrupt

    with Platform() as plat:
        plat.register_device(Stuck(1, dev_name="stuck"))
        try:
            run_dmatest(plat, DmatestParams(test_buf_size=256, transfer_size=128, timeout_ms=-1), log=log,
                        tick=tick, stop=stop)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the abort did not reach the caller")
    assert stop.is_set()
    (threads,) = in_flight
    summaries = [f"dmatest: dma0chan0-{kind}0: summary 1 tests, 0 failures 0.00 iops 0 KB/s (0)"
                 for kind in ("copy", "xor", "pq")]
    with lock:
        assert lines == ["dmatest: Added 3 threads using dma0chan0", "dmatest: Started 3 threads using dma0chan0",
                         *summaries]
    assert [t.summarised for t in threads] == [True, True, True]
    # The stuck loops never end; were they to go on, they would print nothing more: not a result line...
    threads[0]._result("test timed out", 0, 0, 128, 0)
    # ...nor their summary again.
    threads[1].summarise()
    with lock:
        assert lines[2:] == summaries


def test_a_thread_that_ended_is_not_summarised_again() -> None:
    lines, lock, log = _log()
    with Platform() as plat:
        plat.register_device(MemcpyEngine(1))
        threads = run_dmatest(plat, DmatestParams(test_buf_size=256, iterations=2, max_channels=1), log=log)
    with lock:
        before = list(lines)
    assert len(before) == 2 + len(threads) and all(t.summarised for t in threads)
    for t in threads:
        t.summarise()
    with lock:
        assert lines == before
