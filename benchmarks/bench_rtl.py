"""Benchmark: the RTL controller in the loop (Amaranth's Python simulator, clocked edge by edge).

Goals: at least 5,000 RTL cycles per second on a 4 KiB copy, and at least 100 64-byte copies (submit,
``sync_wait``) per second. The machines are shared: the rates are per CPU second of this process (its
``process_time``), the wall-clock rates are printed beside them. It also splits a cycle's cost between the
simulator (the controller's logic) and the Python bus agent (serving the memory port), so you can see what a
faster agent would buy.

Run: ``python benchmarks/bench_rtl.py``.
"""

from __future__ import annotations

import pathlib
import statistics
import sys
import time

import numpy as np

if not any((pathlib.Path(p) / "dmaengine").is_dir() for p in sys.path if p):  # run from a checkout, not installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

from dmaengine import Cap, DataDirection, Status
from dmaengine.rtl import RtlSoc

CYCLES_TARGET = 5_000.0
COPIES_TARGET = 100.0
REPEATS = 5


def copy_4k(soc: RtlSoc, chan: object, s: int, d: int) -> tuple[int, float, float]:
    """One 4 KiB copy: (cycles, CPU seconds, wall seconds)."""
    c0, p0, t0 = soc.cycles, time.process_time(), time.perf_counter()
    cookie = chan.prep_dma_memcpy(d, s, 4096).submit()  # type: ignore[attr-defined]
    assert chan.sync_wait(cookie) == Status.COMPLETE  # type: ignore[attr-defined]
    return soc.cycles - c0, time.process_time() - p0, time.perf_counter() - t0


def small_copies(soc: RtlSoc, chan: object, s: int, d: int, n: int = 200) -> tuple[float, float]:
    """``n`` 64-byte copies one after another: copies per CPU second, per wall second."""
    p0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        cookie = chan.prep_dma_memcpy(d + 64 * (i % 64), s + 64 * (i % 64), 64).submit()  # type: ignore[attr-defined]
        assert chan.sync_wait(cookie) == Status.COMPLETE  # type: ignore[attr-defined]
    return n / (time.process_time() - p0), n / (time.perf_counter() - t0)


def main() -> int:
    soc = RtlSoc()
    src = np.arange(4096, dtype=np.uint8)
    dst = np.zeros(4096, dtype=np.uint8)
    s = soc.map(src, DataDirection.TO_DEVICE).addr
    d = soc.map(dst, DataDirection.FROM_DEVICE).addr
    chan = soc.request_channel(Cap.MEMCPY)
    copy_4k(soc, chan, s, d)  # warm-up
    rates, wall_rates = [], []
    cycles = 0
    for _ in range(REPEATS):
        cycles, cpu, wall = copy_4k(soc, chan, s, d)
        rates.append(cycles / cpu)
        wall_rates.append(cycles / wall)
    assert np.array_equal(dst, src)
    runs = [small_copies(soc, chan, s, d) for _ in range(REPEATS)]
    copies, wall_copies = [r[0] for r in runs], [r[1] for r in runs]

    # Where a cycle goes: time the agent's answers to memory beats separately.
    agent = soc.bus
    spent = [0.0]
    serve = agent._serve

    def timed_serve() -> None:
        t = time.process_time()
        serve()
        spent[0] += time.process_time() - t

    agent._serve = timed_serve  # type: ignore[method-assign]
    n, cpu, _ = copy_4k(soc, chan, s, d)
    agent._serve = serve  # type: ignore[method-assign]
    chan.release()
    soc.close()

    cyc, cps = statistics.median(rates), statistics.median(copies)
    per_cycle_us = cpu / n * 1e6
    agent_us = spent[0] / n * 1e6
    print(f"RTL in the loop, {REPEATS} runs each (medians)")
    print(f"  4 KiB copy: {cycles} cycles, {cyc:,.0f} cycles per CPU second (goal >= {CYCLES_TARGET:,.0f}): "
          f"{'ok' if cyc >= CYCLES_TARGET else 'MISSED'}; {statistics.median(wall_rates):,.0f} per wall second")
    print(f"  64-byte copies: {cps:,.0f} per CPU second (goal >= {COPIES_TARGET:,.0f}): "
          f"{'ok' if cps >= COPIES_TARGET else 'MISSED'}; {statistics.median(wall_copies):,.0f} per wall second")
    print(f"  a cycle costs {per_cycle_us:.1f} us of CPU: the bus agent {agent_us:.1f} us "
          f"({agent_us / per_cycle_us:.0%}), the simulator and the loop {per_cycle_us - agent_us:.1f} us")
    return 0 if cyc >= CYCLES_TARGET and cps >= COPIES_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
