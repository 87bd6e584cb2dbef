"""run_loops as a library: Ctrl-C and errors on the calling thread stop the loops cleanly."""

from __future__ import annotations

import signal
import threading

import pytest

from dmaengine import Cap, Platform
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.tools._runner import Loop, Wait, run_loops


def _loops(chan: object, stop: threading.Event, n: int, ended: list[int], timeout: float) -> list[Loop]:
    def loop(i: int) -> Loop:
        try:
            while not stop.is_set():
                yield Wait(lambda: False, timeout, chan)  # type: ignore[arg-type]
        finally:
            ended.append(i)

    return [loop(i) for i in range(n)]


def test_first_ctrl_c_sets_stop_and_loops_end_on_the_simulated_soc() -> None:
    from dmaengine import sim
    soc = sim.Soc()
    stop = threading.Event()
    ended: list[int] = []
    ticks = [0]

    def tick() -> None:
        ticks[0] += 1
        if ticks[0] == 3:
            signal.raise_signal(signal.SIGINT)

    with soc.request_channel(Cap.MEMCPY) as chan:
        run_loops(soc, _loops(chan, stop, 2, ended, 0.001), tick=tick, stop=stop)
    assert stop.is_set() and sorted(ended) == [0, 1]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_an_error_on_the_calling_thread_stops_real_time_loops_first() -> None:
    stop = threading.Event()
    ended: list[int] = []

    def tick() -> None:
        raise BrokenPipeError("output closed")

    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=1))
        with plat.request_channel(Cap.MEMCPY) as chan, pytest.raises(BrokenPipeError, match="output closed"):
            run_loops(plat, _loops(chan, stop, 3, ended, 0.01), tick=tick, stop=stop)
    assert stop.is_set() and sorted(ended) == [0, 1, 2]
