"""Benchmark: the simulated SoC on real workloads, in virtual seconds per CPU second (``time.process_time``, so
other load on the machine matters less), median of 3 runs, each scenario against its bar.

Scenarios (issue 14):

- ``playback``: 60 s of 48 kHz stereo 16-bit cyclic playback into ``i2s0``, 1024-frame periods, a refill callback
  per period (bar 3,000x).
- ``busy``: 1 s of a busy SoC: full-duplex I2S in cyclic DMA (480-frame periods), the ADC in cyclic DMA, UART RX in
  cyclic DMA fed 13 bytes every 10 ms, an 8 KiB UART TX log stream, and a 64 KiB memcpy every 10 ms (bar 50x).
- ``memcpy8``: 8 memcpy channels copying 256 KiB each at once (bar 10x).
- ``uart``: UART sends 1 MiB at 115200 8N1 (bar 10,000x).

Run: ``python benchmarks/bench_sim.py [scenario ...] [--runs N]``; with the compiled core and, when it exists,
again with ``DMAENGINE_PURE_PYTHON=1`` (``--both``). Prints one line per scenario, PASS/FAIL, exit 1 on a miss.
``--profile N`` (a diagnostic) runs each scenario once more under cProfile and prints its N costliest functions
by own time, with their cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pathlib
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

if not any((pathlib.Path(p) / "dmaengine").is_dir() for p in sys.path if p):  # run from a checkout, not installed
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine._native import core
from dmaengine.sim import Soc

M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM


def playback(check: list[str], sim_s: float = 60.0) -> tuple[float, float]:
    """``sim_s`` of cyclic playback; returns (virtual seconds, CPU seconds)."""
    period_frames, periods = 1024, 4
    soc = Soc()
    codec = soc.peripheral("i2s0")
    period = period_frames * 4
    ring = np.zeros(period * periods, dtype=np.uint8)
    calls = [0]
    chunk = np.arange(period, dtype=np.uint8)

    def refill(_: object) -> None:
        k = calls[0] % periods
        ring[k * period : (k + 1) * period] = chunk
        calls[0] += 1

    c0 = time.process_time()
    with soc.request_chan("i2s0", "tx") as chan, soc.map(ring, DataDirection.TO_DEVICE) as m:
        chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
        tx = chan.prep_dma_cyclic(m.addr, ring.nbytes, period, M2D)
        tx.callback = refill
        tx.submit()
        chan.issue_pending()
        soc.run(until=sim_s)
        cpu = time.process_time() - c0
        expected = int(sim_s * 48_000 / period_frames)
        if abs(calls[0] - expected) > 1 or codec.underruns:  # type: ignore[attr-defined]
            check.append(f"playback: {calls[0]} callbacks (expected {expected}), "
                         f"{codec.underruns} underruns")  # type: ignore[attr-defined]
    return sim_s, cpu


def busy(check: list[str], sim_s: float = 1.0) -> tuple[float, float]:
    """``sim_s`` of a busy SoC."""
    soc = Soc()
    codec, adc, uart0 = soc.peripheral("i2s0"), soc.peripheral("adc0"), soc.peripheral("uart0")
    c0 = time.process_time()
    periods = {"play": 0, "rec": 0, "adc": 0, "rx": 0}

    def counter(name: str) -> Callable[[object], None]:
        def cb(_: object) -> None:
            periods[name] += 1
        return cb

    play = soc.request_chan("i2s0", "tx")
    play.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring_out = np.zeros(480 * 4 * 4, dtype=np.uint8)
    d = play.prep_dma_cyclic(soc.map(ring_out).addr, ring_out.nbytes, ring_out.nbytes // 4, M2D)
    d.callback = counter("play")
    d.submit()
    rec = soc.request_chan("i2s0", "rx")
    rec.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth.BYTES_4, src_maxburst=8))
    ring_in = np.zeros(480 * 4 * 4, dtype=np.uint8)
    d = rec.prep_dma_cyclic(soc.map(ring_in).addr, ring_in.nbytes, ring_in.nbytes // 4, D2M)
    d.callback = counter("rec")
    d.submit()
    ad = soc.request_chan("adc0", "rx")
    ad.slave_config(SlaveConfig(src_addr=adc.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=4))
    ring_adc = np.zeros(80 * 2 * 4, dtype=np.uint8)
    d = ad.prep_dma_cyclic(soc.map(ring_adc).addr, ring_adc.nbytes, ring_adc.nbytes // 4, D2M)
    d.callback = counter("adc")
    d.submit()
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart0.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ring_rx = np.zeros(256, dtype=np.uint8)
    d = rx.prep_dma_cyclic(soc.map(ring_rx).addr, ring_rx.nbytes, 64, D2M)
    d.callback = counter("rx")
    d.submit()
    tx = soc.request_chan("uart0", "tx")
    tx.slave_config(SlaveConfig(dst_addr=uart0.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    log = np.frombuffer(bytes(range(32, 127)) * 90, dtype=np.uint8)[: 8 * 1024].copy()
    tx.prep_slave_single(soc.map(log).addr, log.nbytes, M2D).submit()
    mc = soc.request_channel(Cap.MEMCPY)
    src = np.arange(64 * 1024, dtype=np.uint8)
    dst = np.zeros_like(src)
    ms, md = soc.map(src), soc.map(dst)
    for c in (play, rec, ad, rx, tx):
        c.issue_pending()
    copies = []
    for k in range(int(sim_s * 100)):
        soc.run(until=k / 100)
        uart0.feed(b"hello, world\n")  # type: ignore[attr-defined]
        copies.append(mc.prep_dma_memcpy(md.addr, ms.addr, src.nbytes).submit())
        mc.issue_pending()
    soc.run(until=sim_s)
    cpu = time.process_time() - c0
    done = sum(mc.tx_status(c)[0] == 0 for c in copies)
    if done < len(copies) - 1 or uart0.output != log.tobytes()[: len(uart0.output)] or not (dst == src).all():
        check.append(f"busy: {done}/{len(copies)} copies done, uart output {len(uart0.output)} B")
    if min(periods.values()) == 0:
        check.append(f"busy: periods {periods}")
    return sim_s, cpu


def memcpy8(check: list[str], n: int = 256 * 1024) -> tuple[float, float]:
    """8 channels x ``n`` bytes at once; virtual time until the last completes."""
    soc = Soc()
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(8)]
    srcs = [np.full(n, i + 1, dtype=np.uint8) for i in range(8)]
    dsts = [np.full(n, 0xFF, dtype=np.uint8) for _ in range(8)]  # pages touched: not a simulator cost
    maps = [(soc.map(s).addr, soc.map(d).addr) for s, d in zip(srcs, dsts)]
    c0 = time.process_time()
    cookies = [c.prep_dma_memcpy(d, s, n).submit() for c, (s, d) in zip(chans, maps)]
    for c in chans:
        c.issue_pending()
    for c, ck in zip(chans, cookies):
        c.sync_wait(ck, timeout=None)
    cpu = time.process_time() - c0
    if not all((d == i + 1).all() for i, d in enumerate(dsts)):
        check.append("memcpy8: wrong bytes")
    return soc.now_ns / 1e9, cpu


def uart(check: list[str], n: int = 1 << 20) -> tuple[float, float]:
    """``n`` bytes out of uart0 at 115200 8N1, until the last byte has left the line."""
    soc = Soc()
    u = soc.peripheral("uart0")
    data = np.frombuffer(bytes(range(256)) * (n // 256), dtype=np.uint8).copy()
    c0 = time.process_time()
    tx = soc.request_chan("uart0", "tx")
    tx.slave_config(SlaveConfig(dst_addr=u.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    cookie = tx.prep_slave_single(soc.map(data).addr, data.nbytes, M2D).submit()
    tx.issue_pending()
    tx.sync_wait(cookie, timeout=None)
    soc.run_until_idle(timeout=None)
    cpu = time.process_time() - c0
    out = u.output  # type: ignore[attr-defined]
    if out != data.tobytes():
        check.append(f"uart: {len(out)} bytes out")
    return soc.now_ns / 1e9, cpu


SCENARIOS: dict[str, tuple[Callable[[list[str]], tuple[float, float]], float, str]] = {
    "playback": (playback, 3_000.0, "60 s 48 kHz stereo cyclic playback, 1024-frame periods"),
    "busy": (busy, 50.0, "busy SoC 1 s (I2S duplex, ADC, UART RX+TX, 64 KiB memcpy / 10 ms)"),
    "memcpy8": (memcpy8, 10.0, "8 memcpy channels x 256 KiB at once"),
    "uart": (uart, 10_000.0, "UART 1 MiB at 115200 8N1"),
}


def _profile(fn: Callable[[list[str]], tuple[float, float]], top: int) -> None:
    """One more run of ``fn`` under cProfile: its ``top`` costliest functions by own time (a diagnostic; the
    profiler's overhead inflates every figure)."""
    prof = cProfile.Profile()
    prof.enable()
    fn([])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    for ln in [*(ln for ln in lines[:start] if "function calls" in ln), *lines[start:]]:
        if ln.strip():
            print(f"          {ln.strip()}")


def main() -> int:
    """Run the selected scenarios; PASS when each median ratio meets its bar and every result checks out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all)")
    ap.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    ap.add_argument("--both", action="store_true", help="also run with DMAENGINE_PURE_PYTHON=1")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="then profile one more run of each scenario and print its N costliest functions")
    args = ap.parse_args()
    names = args.scenarios or list(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            ap.error(f"no scenario {name!r} (there are: {', '.join(SCENARIOS)})")
    mode = "compiled core" if core is not None else "pure Python"
    worst = 0
    for name in names:
        fn, bar, what = SCENARIOS[name]
        problems: list[str] = []
        runs = [fn(problems) for _ in range(args.runs)]
        ratios = sorted(v / max(c, 1e-9) for v, c in runs)
        med = statistics.median(ratios)
        ok = med >= bar and not problems
        worst = max(worst, 0 if ok else 1)
        cpus = ", ".join(f"{c * 1e3:.1f}" for _, c in runs)
        print(f"{name:9} {what}: {runs[0][0]:.4g} virtual s, CPU ms {cpus}; median {med:,.1f}x "
              f"(bar {bar:,.0f}x, {mode}) {'PASS' if ok else 'FAIL'}", flush=True)
        for p in problems[:3]:
            print(f"          check failed: {p}")
        if args.profile > 0:
            _profile(fn, args.profile)
    if args.both and core is not None:
        env = dict(os.environ, DMAENGINE_PURE_PYTHON="1")
        rc = subprocess.call([sys.executable, __file__, *names, "--runs", str(args.runs), "--profile",
                              str(args.profile)], env=env)
        worst = max(worst, rc)
    return worst


if __name__ == "__main__":
    sys.exit(main())
