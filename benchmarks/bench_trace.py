"""What tracing costs: a baseline with the trace hooks removed, tracing off (the shipped code), tracing on.

The baseline is the same code with every trace hook cut out of the hot-path functions (prep, submit, issue, the
memcpy worker, completion, callback), recompiled at run time: an ``if`` whose test is a hook
(``if _trace.recorder is not None:``, ``if tracing():``, ...) goes, and so does a hook that is one term of an
``and`` or an ``or``. Three workloads:

* ``client``: prep + submit of 64-byte copies on the calling thread (no engine running them), the client's own
  hot path. On the memory engine that path (its one-call prep and its submit, pure Python or compiled) tests
  nothing for tracing per descriptor: a recorder's installation swaps the generic, traced prep and submit in
  (``_trace.listeners``). Baseline and "off" then run the same code, and the row shows the noise of the
  measurement; the compiled submit and prep still read the recorder once (a dict look-up in C) as a guard.
* ``engine``: prep, submit, issue every 64 and wait, on a one-channel threaded memcpy engine, end to end.
* ``sim``: one memory-to-memory copy on a simulated SoC going burst by burst (``fast=False``), per kernel event:
  the waveform hooks (``Kernel.probe``, ``Soc._advance``) and the trace hooks off against none at all.

Each variant runs ``--rounds`` times, interleaved in rotating order, with the garbage collector paused while
timing; a round's ratio compares the variants of that round (the same machine load), and the table shows the
median of the rounds' ratios (and the best time of each variant). Target: tracing off within 2% of the baseline
(a miss prints FAIL; ``--strict`` exits 1 then). Run: ``python benchmarks/bench_trace.py [--rounds N]
[--count N] [--strict]``.
"""

from __future__ import annotations

import argparse
import ast
import gc
import inspect
import statistics
import sys
import textwrap
import time
import types
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

#: The hot-path functions whose trace hooks the baseline removes (a class or a module, and a name). Those that
#: are not Python functions in this run (the compiled core's) are left as they are.
HOT: list[tuple[Any, str]] = [
    (Descriptor, "submit"),
    (Channel, "prep_dma_memcpy"),
    (Channel, "issue_pending"),
    (VirtChannel, "vchan_cookie_complete_batch"),
    (VirtChannel, "bottom_half"),
    (MemcpyChannel, "_work"),
    (MemcpyChannel, "_complete"),
    (MemcpyChannel, "bottom_half"),
    (Kernel, "step"),
    (Soc, "_advance"),
]
#: A hook that is one term of an ``and`` (or of an ``or``): the term goes.
HOOK_TERMS = {"not tracing()"}
HOOK_OR_TERMS = {"tracing()", "_trace.recorder is not None"}
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

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        self.generic_visit(node)
        terms = HOOK_TERMS if isinstance(node.op, ast.And) else HOOK_OR_TERMS
        kept = [v for v in node.values if ast.unparse(v) not in terms]
        if len(kept) < len(node.values):
            self.cut += len(node.values) - len(kept)
            if not kept:
                return ast.Constant(isinstance(node.op, ast.And))
            return kept[0] if len(kept) == 1 else ast.BoolOp(op=node.op, values=kept)
        return node


def _python_hot() -> list[tuple[Any, str]]:
    """The entries of HOT that are Python functions in this run."""
    return [(owner, name) for owner, name in HOT if isinstance(vars(owner).get(name), types.FunctionType)]


def without_hooks(cls: Any, name: str) -> tuple[Callable[..., Any], int]:
    """``cls.name`` recompiled without its trace hooks, and how many hooks were cut."""
    fn = vars(cls)[name]
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
    hot = _python_hot()
    saved = [(cls, name, vars(cls)[name]) for cls, name in hot]
    cut = 0
    try:
        for cls, name in hot:
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
    """ns per descriptor of each variant (its best round), and ``off/base`` and ``on/base``: the medians over
    the rounds of each round's ratio. The order of the variants rotates every round and the garbage collector
    is kept out of the timed part."""

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
    times: dict[str, list[float]] = {k: [] for k in order}
    workload(count // 10)  # warm up
    for r in range(rounds):
        for variant in order[r % 3:] + order[: r % 3]:
            times[variant].append(run(variant))
    out = {k: min(v) / count * 1e9 for k, v in times.items()}
    for k in ("off", "on"):
        out[f"{k}/base"] = statistics.median(t / b for t, b in zip(times[k], times["baseline"]))
    return out


#: Tracing off may cost at most this much over the baseline.
TARGET = 1.02


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--strict", action="store_true", help="exit 1 when tracing off misses its target")
    args = ap.parse_args(argv)
    with baseline() as cut:
        pass
    hot = _python_hot()
    if cut < len(hot):
        print(f"bench_trace: only {cut} trace hooks found in {len(hot)} hot functions; the baseline is wrong",
              file=sys.stderr)
        return 1
    core = "compiled core: the client path's hooks are C and stay" if dmaengine._native.core is not None \
        else "pure Python"
    print(f"baseline: {cut} trace hooks cut from {len(hot)} hot-path functions ({core})")
    print(f"{'workload':<8} {'baseline ns':>12} {'off ns':>9} {'on ns':>9} {'off/base':>9} {'on/base':>8}  target")
    missed = False
    for name, workload in (("client", client_workload), ("engine", engine_workload), ("sim", sim_workload)):
        r = measure(workload, args.count, args.rounds)
        ok = r["off/base"] <= TARGET
        missed |= not ok
        print(f"{name:<8} {r['baseline']:>12.0f} {r['off']:>9.0f} {r['on']:>9.0f} "
              f"{r['off/base']:>9.3f} {r['on/base']:>8.3f}  off <= {TARGET} {'PASS' if ok else 'FAIL'}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
