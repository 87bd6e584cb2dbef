"""What tracing costs: a baseline with the trace hooks removed, tracing off (the shipped code), tracing on.

The baseline is the same code with every ``if _trace.recorder is not None:`` block cut out of the hot-path
functions (prep, submit, issue, the memcpy worker, completion, callback), recompiled at run time. Two workloads:

* ``client``: prep + submit of 64-byte copies on the calling thread (no engine running them), the client's own
  hot path; stable to a few percent.
* ``engine``: prep, submit, issue every 64 and wait, on a one-channel threaded memcpy engine, end to end.
* ``sim``: one memory-to-memory copy on a simulated SoC going burst by burst (``fast=False``), per kernel event:
  the waveform hooks (``Kernel.probe``, ``Soc._advance``) and the trace hooks off against none at all.

Each variant runs ``--rounds`` times, interleaved in rotating order, with the garbage collector paused while
timing; the best round counts. Prints ns per descriptor and the
ratios to the baseline. Run: ``python benchmarks/bench_trace.py [--rounds N] [--count N]``.
"""

from __future__ import annotations

import argparse
import ast
import gc
import inspect
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

import dmaengine
import dmaengine.trace
from dmaengine import Cap, Platform
from dmaengine._channel import Channel, Descriptor
from dmaengine.drivers.memcpy import MemcpyChannel, MemcpyEngine
from dmaengine.sim import Kernel, Soc
from dmaengine.virt import VirtChannel

#: The hot-path functions whose trace hooks the baseline removes.
HOT: list[tuple[type, str]] = [
    (Descriptor, "submit"),
    (Channel, "prep_dma_memcpy"),
    (Channel, "issue_pending"),
    (VirtChannel, "vchan_cookie_complete_batch"),
    (VirtChannel, "bottom_half"),
    (MemcpyChannel, "_work"),
    (Kernel, "step"),
    (Soc, "_advance"),
]
#: How a hook is tested: the framework reads the recorder, a driver asks ``provider.tracing()``, the simulator
#: its waveform probe.
HOOK_TESTS = {"_trace.recorder is not None", "tracing()", "self.probe is not None", "wave is not None",
              "wave is not None and wave.recording"}


class _CutHooks(ast.NodeTransformer):
    def __init__(self) -> None:
        self.cut = 0

    def visit_If(self, node: ast.If) -> Any:
        self.generic_visit(node)
        if ast.unparse(node.test) in HOOK_TESTS:
            self.cut += 1
            return node.orelse or None
        return node


def without_hooks(cls: type, name: str) -> tuple[Callable[..., Any], int]:
    """``cls.name`` recompiled without its trace hooks, and how many hooks were cut."""
    fn = cls.__dict__[name]
    module = sys.modules[fn.__module__]
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    cutter = _CutHooks()
    tree = ast.fix_missing_locations(cutter.visit(tree))
    ns: dict[str, Any] = {}
    exec(compile(tree, inspect.getsourcefile(fn) or "<hot>", "exec"), vars(module), ns)
    return ns[name], cutter.cut


@contextmanager
def baseline() -> Iterator[int]:
    """Swap the hook-free versions in; yields the number of hooks removed."""
    saved = [(cls, name, cls.__dict__[name]) for cls, name in HOT]
    cut = 0
    try:
        for cls, name in HOT:
            fn, n = without_hooks(cls, name)
            cut += n
            setattr(cls, name, fn)
        yield cut
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def client_workload(count: int) -> float:
    """Seconds for ``count`` prep + submit on the calling thread."""
    with Platform() as plat:
        plat.register_device(MemcpyEngine(1))
        eng = plat.devices[0]
        assert isinstance(eng.channels[0], MemcpyChannel)
        eng.channels[0].stop()  # nobody runs the descriptors: only the client's path is timed
        buf = np.zeros(128, np.uint8)
        with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
            prep = chan.prep_dma_memcpy
            t0 = time.perf_counter()
            for _ in range(count):
                prep(m.addr + 64, m.addr, 64).submit()
            return time.perf_counter() - t0


def engine_workload(count: int) -> float:
    """Seconds for ``count`` 64-byte copies through a one-channel threaded engine, issued 64 at a time."""
    with Platform() as plat:
        plat.register_device(MemcpyEngine(1))
        buf = np.zeros(128, np.uint8)
        with plat.request_channel(Cap.MEMCPY) as chan, plat.map(buf) as m:
            prep = chan.prep_dma_memcpy
            t0 = time.perf_counter()
            for _ in range(count // 64):
                cookie = 0
                for _ in range(64):
                    cookie = prep(m.addr + 64, m.addr, 64).submit()
                chan.sync_wait(cookie)
            return time.perf_counter() - t0


def sim_workload(count: int) -> float:
    """Seconds for a copy of ``count`` 64-byte bursts on a burst-by-burst simulated SoC (``count`` events)."""
    soc = Soc(fast=False)
    src = np.zeros(count * 64, np.uint8)
    dst = np.zeros_like(src)
    with soc.request_channel(Cap.MEMCPY) as chan, soc.map(src) as s, soc.map(dst) as d:
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, src.nbytes).submit()
        t0 = time.perf_counter()
        chan.issue_pending()
        chan.sync_wait(cookie, timeout=None)
        return time.perf_counter() - t0


def measure(workload: Callable[[int], float], count: int, rounds: int) -> dict[str, float]:
    """Best seconds per descriptor of each variant, in ns; the order of the variants rotates every round and
    the garbage collector is kept out of the timed part."""

    def run(variant: str) -> float:
        gc.collect()
        gc.disable()
        try:
            if variant == "baseline":
                with baseline():
                    return workload(count)
            if variant == "on":
                with dmaengine.trace.record():
                    return workload(count)
            return workload(count)
        finally:
            gc.enable()

    order = ["baseline", "off", "on"]
    best = dict.fromkeys(order, float("inf"))
    workload(count // 10)  # warm up
    for r in range(rounds):
        for variant in order[r % 3:] + order[: r % 3]:
            best[variant] = min(best[variant], run(variant))
    return {k: v / count * 1e9 for k, v in best.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=20_000)
    args = ap.parse_args(argv)
    with baseline() as cut:
        pass
    if cut < len(HOT):
        print(f"bench_trace: only {cut} trace hooks found in {len(HOT)} hot functions; the baseline is wrong",
              file=sys.stderr)
        return 1
    print(f"baseline: {cut} trace hooks cut from {len(HOT)} hot-path functions")
    print(f"{'workload':<8} {'baseline ns':>12} {'off ns':>9} {'on ns':>9} {'off/base':>9} {'on/base':>8}")
    for name, workload in (("client", client_workload), ("engine", engine_workload), ("sim", sim_workload)):
        r = measure(workload, args.count, args.rounds)
        print(f"{name:<8} {r['baseline']:>12.0f} {r['off']:>9.0f} {r['on']:>9.0f} "
              f"{r['off'] / r['baseline']:>9.3f} {r['on'] / r['baseline']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
