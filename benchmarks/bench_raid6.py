"""RAID-6 syndrome speed: ``async_gen_syndrome`` over 8 data blocks of 64 KiB on the threaded memory engine
against a plain numpy implementation on the calling thread, measured in the same run.

Variants, each computing P and Q of ``--stripes`` stripes (8 x 64 KiB data, each stripe its own P and Q):

* ``numpy``: the baseline, a straightforward numpy gen_syndrome (Horner's rule on uint8 arrays) on the
  calling thread, one stripe after the other.
* ``raid6 cpu``: :func:`dmaengine.raid6.gen_syndrome` (the CPU fallback's kernel) on the calling thread.
* ``engine 1ch`` / ``engine 2ch``: every stripe through :func:`dmaengine.async_tx.async_gen_syndrome` on a
  memory engine with one or two channels, each issued as it is submitted, then all waited for.

Each variant runs ``--rounds`` times, interleaved; the median counts. Prints MB/s of data and the ratio to the
baseline (goal: ``engine 1ch`` >= 1.0x; moonshot ``engine 2ch`` >= 2x).
Run: ``python benchmarks/bench_raid6.py [--rounds N] [--stripes N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from dmaengine import Platform
from dmaengine.async_tx import (
    ChannelTable,
    async_gen_syndrome,
    async_tx_issue_pending_all,
    async_tx_quiesce,
    init_async_submit,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.raid6 import gen_syndrome

NDATA = 8
BLOCK = 64 * 1024


def numpy_gen_syndrome(data: list[np.ndarray], p: np.ndarray, q: np.ndarray) -> None:
    """The baseline: P = xor, Q by Horner's rule (Q = Q*{02} ^ D from the last block down), on uint8 arrays."""
    tmp = np.empty_like(q)
    p[...] = data[-1]
    q[...] = data[-1]
    for d in reversed(data[:-1]):
        np.right_shift(q, 7, out=tmp)
        np.multiply(tmp, 0x1D, out=tmp)
        np.left_shift(q, 1, out=q)
        np.bitwise_xor(q, tmp, out=q)
        np.bitwise_xor(q, d, out=q)
        np.bitwise_xor(p, d, out=p)


def main() -> int:
    """Measure every variant ``--rounds`` times and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--stripes", type=int, default=32)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    data = [rng.integers(0, 256, BLOCK, dtype=np.uint8) for _ in range(NDATA)]
    pqs = [(np.zeros(BLOCK, np.uint8), np.zeros(BLOCK, np.uint8)) for _ in range(args.stripes)]
    want_p, want_q = np.zeros(BLOCK, np.uint8), np.zeros(BLOCK, np.uint8)
    numpy_gen_syndrome(data, want_p, want_q)

    def on_thread(fn: Callable[[list[np.ndarray], np.ndarray, np.ndarray], None]) -> Callable[[], None]:
        def run() -> None:
            for p, q in pqs:
                fn(data, p, q)
        return run

    tables: dict[str, ChannelTable] = {}
    plats: list[Platform] = []
    for name, nchan in (("engine 1ch", 1), ("engine 2ch", 2)):
        plat = Platform()
        plat.register_device(MemcpyEngine(channels=nchan))
        plats.append(plat)
        tables[name] = ChannelTable(plat)

    def on_engine(table: ChannelTable) -> Callable[[], None]:
        def run() -> None:
            txs = []
            for p, q in pqs:  # issue each stripe at once, as md issues its stripes: the engine starts at once
                txs.append(async_gen_syndrome([*data, p, q], init_async_submit(chans=table)))
                async_tx_issue_pending_all(table)
            for tx in txs:
                async_tx_quiesce(tx)
        return run

    variants: dict[str, Callable[[], None]] = {
        "numpy": on_thread(numpy_gen_syndrome),
        "raid6 cpu": on_thread(gen_syndrome),
        **{name: on_engine(t) for name, t in tables.items()},
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for name, fn in variants.items():  # warm up, and check every variant computes the same P and Q
            for p, q in pqs:
                p[...] = 0
                q[...] = 0
            fn()
            assert all((p == want_p).all() and (q == want_q).all() for p, q in pqs), name
        for r in range(args.rounds):
            names = list(variants)
            names = names[r % len(names):] + names[: r % len(names)]
            for name in names:
                t0 = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - t0)
    finally:
        for t in tables.values():
            t.close()
        for plat in plats:
            plat.close()
    nbytes = NDATA * BLOCK * args.stripes
    base = statistics.median(times["numpy"])
    print(f"gen_syndrome, {NDATA} x {BLOCK // 1024} KiB data blocks, {args.stripes} stripes, median of "
          f"{args.rounds} rounds")
    print(f"{'variant':<12} {'ms':>8} {'MB/s':>8} {'vs numpy':>9}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<12} {med * 1e3:8.2f} {nbytes / med / 1e6:8.0f} {base / med:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
