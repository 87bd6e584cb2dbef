"""Benchmark: 60 simulated seconds of 48 kHz stereo 16-bit cyclic playback into ``i2s0`` (1024-frame periods,
one callback per period) must run at least 1000x faster than real time.

Run: ``python benchmarks/bench_sim.py``.
"""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

if not any((pathlib.Path(p) / "dmaengine").is_dir() for p in sys.path if p):  # run from a checkout, not installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

from dmaengine import BusWidth, DataDirection, SlaveConfig, TransferDirection
from dmaengine.sim import Soc

SIM_SECONDS = 60.0
PERIOD_FRAMES = 1024
PERIODS = 4
TARGET = 1000.0


def run(sim_seconds: float = SIM_SECONDS) -> tuple[float, int, int]:
    """Play ``sim_seconds``; returns (wall seconds, callbacks, underruns)."""
    soc = Soc()
    codec = soc.peripheral("i2s0")
    period = PERIOD_FRAMES * 4
    ring = np.zeros(period * PERIODS, dtype=np.uint8)
    calls = [0]
    chunk = np.arange(period, dtype=np.uint8)

    def refill(_: object) -> None:
        k = calls[0] % PERIODS
        ring[k * period : (k + 1) * period] = chunk
        calls[0] += 1

    t0 = time.perf_counter()
    with soc.request_chan("i2s0", "tx") as chan, soc.map(ring, DataDirection.TO_DEVICE) as m:
        chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
        tx = chan.prep_dma_cyclic(m.addr, ring.nbytes, period, TransferDirection.MEM_TO_DEV)
        tx.callback = refill
        tx.submit()
        chan.issue_pending()
        soc.run(until=sim_seconds)
        wall = time.perf_counter() - t0
        underruns = codec.underruns  # type: ignore[attr-defined]
    return wall, calls[0], underruns


def main() -> int:
    """Best of three runs (like timeit), PASS when at least 1000x real time."""
    runs = [run() for _ in range(3)]
    wall, calls, underruns = min(runs)
    ratio = SIM_SECONDS / wall
    expected = int(SIM_SECONDS * 48_000 / PERIOD_FRAMES)
    ok = ratio >= TARGET and abs(calls - expected) <= 1 and underruns == 0
    print(f"wall times of 3 runs: {', '.join(f'{r[0] * 1e3:.1f} ms' for r in runs)}")
    print(f"simulated {SIM_SECONDS:.0f} s of 48 kHz stereo S16 cyclic playback in {wall * 1e3:.1f} ms wall: "
          f"{ratio:,.0f}x real time (target {TARGET:,.0f}x); {calls} period callbacks, {underruns} underruns")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
