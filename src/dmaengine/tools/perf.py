"""A dma-perf style throughput sweep (DPDK app/test-dma-perf) with a CPU copy baseline from the same run.

For each buffer size, each channel's worker keeps a ring of ``ring_size`` copies in flight: it prepares and
submits copies, kicks the engine (``issue_pending``) every ``kick_batch`` copies, and reaps completions. After a
short warm-up, the completions seen during ``seconds`` give the rate, with dma-perf's formulas::

    MOps = ops_per_s / 1e6          Gbps = ops_per_s * size * 8 / 1e9

When the window ends, in-flight work drains and every destination buffer is compared with its source. The CPU
baseline copies the same buffers with ``memmove`` on the calling thread for the same time (always wall clock;
on a simulated SoC the engine's rate is in virtual time).
"""

from __future__ import annotations

import csv
import ctypes
import functools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dmaengine import Cap, Channel, ConfigError, DataDirection, Platform, Status, is_complete
from dmaengine.provider import check_index

from ._runner import Loop, Wait, clock_of, run_loops

__all__ = ["CSV_PARAMS", "DEFAULT_SIZES", "PerfParams", "PerfPoint", "cpu_baseline", "effective_params", "gbps",
           "mops", "parse_sizes", "plot_path", "run_perf", "save_csv", "save_json", "save_plot"]

#: dma-perf's sweep: 64 bytes to 8 KiB, doubling.
DEFAULT_SIZES: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048, 4096, 8192)
#: The most sizes one sweep takes (each is a measured point of ``seconds``); a longer list is refused before any
#: list is built.
MAX_SIZES = 1024
#: The longest measured window or warm-up per size, in seconds (a day).
MAX_SECONDS = 86_400.0


def mops(ops_per_s: float) -> float:
    """dma-perf's MOps."""
    return ops_per_s / 1e6


def gbps(ops_per_s: float, size: int) -> float:
    """dma-perf's bandwidth in Gbit/s."""
    return ops_per_s * size * 8 / 1e9


def parse_sizes(text: str) -> list[int]:
    """Sizes from ``"64,128,256"``, ``"64,128,...,8192"`` (the ratio of the first two continues when the second
    is a multiple of the first, else their difference) or
    dma-perf's ``"64,8192,2,MUL"`` / ``"64,512,64,ADD"``.

    >>> parse_sizes("64,128,...,1024"), parse_sizes("64,256,64,ADD")
    ([64, 128, 256, 512, 1024], [64, 128, 192, 256])
    """
    if not isinstance(text, str):
        raise ConfigError(f"sizes must be a str, not {text!r}")
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if len(parts) == 4 and parts[3].upper() in ("MUL", "ADD"):
            start, end, step = (int(p) for p in parts[:3])
            mul = parts[3].upper() == "MUL"
            if step < (2 if mul else 1) or start < 1:
                raise ConfigError(f"sizes {text!r}: the step must be >= {2 if mul else 1} and the start >= 1")
            out = []
            n = start
            while n <= end:
                out.append(n)
                if len(out) > MAX_SIZES:
                    raise ConfigError(f"sizes {text!r}: at most {MAX_SIZES} sizes")
                n = n * step if mul else n + step
            sizes = out
        elif "..." in parts:
            i = parts.index("...")
            if i != 2 or len(parts) != 4:
                raise ConfigError(f"sizes {text!r}: write 'first,second,...,last'")
            a, b, end = int(parts[0]), int(parts[1]), int(parts[3])
            if b <= a or a < 1:
                raise ConfigError(f"sizes {text!r}: the second size must be larger than the first")
            if end < b:
                raise ConfigError(f"sizes {text!r}: the last size must be at least the second")
            mul = b % a == 0  # a ratio when the second is a multiple of the first, else a step
            sizes = []
            n = a
            while n <= end:
                sizes.append(n)
                if len(sizes) > MAX_SIZES:
                    raise ConfigError(f"sizes {text!r}: at most {MAX_SIZES} sizes")
                n = n * (b // a) if mul else n + (b - a)
        else:
            if len(parts) > MAX_SIZES:
                raise ConfigError(f"sizes {text[:40]!r}...: at most {MAX_SIZES} sizes")
            sizes = [int(p) for p in parts]
    except ConfigError:
        raise
    except ValueError:
        raise ConfigError(f"sizes must be comma-separated byte counts, not {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ConfigError(f"sizes must be byte counts >= 1, not {text!r}")
    return sizes


@dataclass
class PerfParams:
    """The sweep's settings (dma-perf's config keys)."""

    sizes: Sequence[int] = DEFAULT_SIZES
    kick_batch: int = 32
    ring_size: int = 1024
    seconds: float = 2.0
    channels: int = 1
    #: Seconds before the measured window; None: a tenth of ``seconds``, at most 0.2 s.
    warmup: float | None = None
    baseline: bool = True
    #: Seconds to wait for one copy before giving up (on the platform clock).
    timeout: float = 10.0

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value."""
        for name in ("kick_batch", "ring_size", "channels"):
            setattr(self, name, check_index(name, getattr(self, name), 1, what="an int >= 1"))
        if self.sizes.__class__ not in (list, tuple):
            raise ConfigError(f"sizes must be a list of byte counts, not {self.sizes!r}")
        if not isinstance(self.baseline, bool):
            raise ConfigError(f"baseline must be True or False, not {self.baseline!r}")
        if not (isinstance(self.timeout, (int, float)) and self.timeout > 0):
            raise ConfigError(f"timeout must be > 0 seconds, not {self.timeout!r}")
        if not (isinstance(self.seconds, (int, float)) and self.seconds > 0):  # refuses nan too
            raise ConfigError(f"seconds must be > 0, not {self.seconds!r}")
        if self.warmup is not None and not (isinstance(self.warmup, (int, float)) and self.warmup >= 0):
            raise ConfigError(f"warmup must be >= 0 seconds, not {self.warmup!r}")
        for name in ("seconds", "warmup"):
            if getattr(self, name) is not None and not getattr(self, name) <= MAX_SECONDS:
                raise ConfigError(f"{name} must be at most {MAX_SECONDS:g} seconds, not {getattr(self, name)!r}")
        if len(self.sizes) > MAX_SIZES:
            raise ConfigError(f"sizes must be at most {MAX_SIZES} sizes, not {len(self.sizes)}")
        if not self.sizes or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in self.sizes):
            raise ConfigError(f"sizes must be byte counts >= 1, not {self.sizes!r}")

    @property
    def warmup_s(self) -> float:
        """The warm-up before each measurement: ``warmup``, or a tenth of ``seconds`` (at most 0.2 s)."""
        return self.warmup if self.warmup is not None else min(0.2, self.seconds / 10)


@dataclass(frozen=True, slots=True)
class PerfPoint:
    """One size of the sweep: the engine's rate (on the platform clock) and the CPU's (wall clock)."""

    size: int
    channels: int
    ops: int
    seconds: float
    mops: float
    gbps: float
    cpu_ops: int
    cpu_seconds: float
    cpu_mops: float
    cpu_gbps: float
    verified: bool
    errors: int
    clock: str = field(default="wall")


class _Worker:
    """One channel's ring of copies at one size."""

    def __init__(self, plat: Platform, chan: Channel, size: int, params: PerfParams, seed: int) -> None:
        self.plat, self.chan, self.size, self.params = plat, chan, size, params
        self.nr_buf = params.ring_size
        rng = np.random.default_rng(seed)
        self.src = rng.integers(0, 256, self.nr_buf * size, dtype=np.uint8)
        self.dst = np.zeros_like(self.src)
        self.ops = 0
        self.window = 0.0
        self.used = 0
        self.errors = 0
        #: Where the loop stands: when it started and when its measurement ends (platform clock), and whether
        #: it is draining the copies in flight (see :meth:`progress`).
        self._t0 = self._t_end = 0.0
        self._draining = False

    def progress(self) -> float:
        """How far this size has come, 0..1, on the platform clock (warm-up and measurement; 1 while the copies
        in flight drain)."""
        if self._draining:
            return 1.0
        span = self._t_end - self._t0
        if span <= 0:
            return 0.0
        return min(1.0, max(0.0, (clock_of(self.plat)() - self._t0) / span))

    def loop(self) -> Loop:
        p, chan, size, nr_buf = self.params, self.chan, self.size, self.nr_buf
        clock = clock_of(self.plat)
        ring = p.ring_size
        kick = min(p.kick_batch, ring)
        outstanding: deque[int] = deque()
        errors0 = chan.stats.errors

        def reap() -> int:
            if not outstanding:
                return 0
            _, state = chan.tx_status(outstanding[0])
            last, used = state.last, state.used
            n = 0
            while outstanding and is_complete(outstanding[0], last, used) == Status.COMPLETE:
                outstanding.popleft()
                n += 1
            return n

        def oldest_done() -> Callable[[], bool]:
            c = outstanding[0]
            return lambda: chan.tx_status(c)[0] != Status.IN_PROGRESS

        with self.plat.map(self.src, DataDirection.TO_DEVICE) as sm, \
                self.plat.map(self.dst, DataDirection.FROM_DEVICE) as dm:
            s0, d0 = sm.addr, dm.addr
            prep, i, completed = chan.prep_dma_memcpy, 0, 0
            t0 = clock()
            t_warm = t0 + p.warmup_s
            t_end = t_warm + p.seconds
            self._t0, self._t_end = t0, t_end
            c_start = -1
            w_start = now = t0
            while True:
                batch = 0
                while batch < kick and len(outstanding) < ring:
                    off = (i % nr_buf) * size
                    outstanding.append(prep(d0 + off, s0 + off, size).submit())
                    i += 1
                    batch += 1
                chan.issue_pending()
                completed += reap()
                if len(outstanding) + kick > ring:
                    if not (yield Wait(oldest_done(), p.timeout, chan)):
                        raise TimeoutError(f"{chan.name}: a {size}-byte copy took longer than {p.timeout} s")
                    completed += reap()
                now = clock()
                if c_start < 0 and now >= t_warm:
                    c_start, w_start = completed, now
                if now >= t_end and c_start >= 0:
                    break
            self.ops, self.window = completed - c_start, now - w_start
            self._draining = True
            chan.issue_pending()
            while outstanding:  # drain what is in flight before verifying
                if not (yield Wait(oldest_done(), p.timeout, chan)):
                    raise TimeoutError(f"{chan.name}: in-flight copies did not drain in {p.timeout} s")
                reap()
        self.used = min(i, nr_buf)
        self.errors = chan.stats.errors - errors0

    def verified(self) -> bool:
        n = self.used * self.size
        return self.errors == 0 and bool(np.array_equal(self.src[:n], self.dst[:n]))


def cpu_baseline(size: int, nr_buf: int, seconds: float) -> tuple[int, float]:
    """Copies of ``size`` bytes with ``memmove`` over ``nr_buf`` buffers for ``seconds``: (ops, elapsed)."""
    src = np.random.default_rng(1).integers(0, 256, nr_buf * size, dtype=np.uint8)
    dst = np.zeros_like(src)
    sp, dp = src.ctypes.data, dst.ctypes.data
    memmove = ctypes.memmove
    offs = [k * size for k in range(nr_buf)]
    chunks = [offs[k : k + 64] for k in range(0, nr_buf, 64)]
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for chunk in chunks:
            for off in chunk:
                memmove(dp + off, sp + off, size)
            n += len(chunk)
            t = time.perf_counter()
            if t >= end:
                return n, t - t0


def _report_progress(on_progress: Callable[[int, float], None], index: int, workers: list[_Worker]) -> None:
    on_progress(index, min(w.progress() for w in workers))


def run_perf(
    plat: Platform,
    params: PerfParams | None = None,
    on_point: Callable[[PerfPoint], None] | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[int, float], None] | None = None,
) -> list[PerfPoint]:
    """Run the sweep on ``plat`` with ``params.channels`` MEMCPY channels; one :class:`PerfPoint` per size.
    Setting ``stop`` ends the sweep after the size being measured. ``on_progress(index, fraction)`` is called now
    and then while size number ``index`` runs: how far it has come, 0..1 (warm-up and measurement on the
    platform clock; the CPU baseline, when measured, follows at 1)."""
    params = params or PerfParams()
    params.check()
    chans: list[Channel] = []
    points: list[PerfPoint] = []
    try:
        for _ in range(params.channels):
            chans.append(plat.request_channel(Cap.MEMCPY, client_name="dma-perf"))
        for index, size in enumerate(params.sizes):
            if stop is not None and stop.is_set():
                break
            workers = [_Worker(plat, c, size, params, seed=k) for k, c in enumerate(chans)]
            tick = None
            if on_progress is not None:
                tick = functools.partial(_report_progress, on_progress, index, workers)
                on_progress(index, 0.0)
            run_loops(plat, [w.loop() for w in workers], [f"{w.chan.name}-perf" for w in workers], tick=tick)
            if on_progress is not None:
                on_progress(index, 1.0)
            rate = sum(w.ops / w.window for w in workers if w.window > 0)
            cpu_ops, cpu_s = (cpu_baseline(size, params.ring_size, max(params.seconds, 0.1))  # >= 0.1 s of wall
                              if params.baseline else (0, 0.0))
            cpu_rate = cpu_ops / cpu_s if cpu_s > 0 else 0.0
            point = PerfPoint(
                size=size, channels=len(chans), ops=sum(w.ops for w in workers),
                seconds=max(w.window for w in workers), mops=mops(rate), gbps=gbps(rate, size),
                cpu_ops=cpu_ops, cpu_seconds=cpu_s, cpu_mops=mops(cpu_rate), cpu_gbps=gbps(cpu_rate, size),
                verified=all(w.verified() for w in workers), errors=sum(w.errors for w in workers),
                clock="wall" if plat.realtime else "virtual",
            )
            points.append(point)
            if on_point is not None:
                on_point(point)
    finally:
        for c in chans:
            c.release()
    return points


# --- output -------------------------------------------------------------------------------------------------
def effective_params(params: PerfParams) -> dict[str, Any]:
    """The parameters as the sweep used them (the warm-up it really waited, the sizes as a list)."""
    p = asdict(params)
    p["sizes"] = list(params.sizes)
    p["warmup"] = params.warmup_s
    return p


def _doc(points: Sequence[PerfPoint], params: PerfParams, context: dict[str, Any] | None) -> dict[str, Any]:
    return {"tool": "dmaengine perf", "context": context or {}, "params": effective_params(params),
            "points": [asdict(pt) for pt in points]}


def save_json(path: str | os.PathLike[str], points: Sequence[PerfPoint], params: PerfParams,
              context: dict[str, Any] | None = None) -> None:
    """Write ``{"tool", "context", "params", "points": [...]}``: ``context`` says where and when the sweep ran
    (version, platform, host CPUs, date), ``params`` are the effective parameters."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_doc(points, params, context), f, indent=2)
        f.write("\n")


#: The parameters a CSV row repeats after the point's fields, like dma-perf's per-case config columns.
CSV_PARAMS = ("kick_batch", "ring_size", "seconds", "warmup")


def save_csv(path: str | os.PathLike[str], points: Sequence[PerfPoint], params: PerfParams | None = None,
             context: dict[str, Any] | None = None) -> None:
    """Write one row per size: :class:`PerfPoint`'s fields, then (when given) the effective parameters
    :data:`CSV_PARAMS` and the ``context`` items, so that each row stands on its own."""
    names = list(PerfPoint.__dataclass_fields__)
    extra: dict[str, Any] = {}
    if params is not None:
        eff = effective_params(params)
        extra.update((k, eff[k]) for k in CSV_PARAMS)
    extra.update(context or {})
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, *extra])
        for pt in points:
            w.writerow([*(getattr(pt, n) for n in names), *extra.values()])


def plot_path(path: str) -> str:
    """The file :func:`save_plot` writes for ``path``: ``.png`` is added when the name has no extension;
    ConfigError for a format matplotlib cannot write (checked before a sweep, not after it)."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if not ext:
        return path + ".png"
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("--plot needs matplotlib (pip install 'dmaengine[plot]')") from None
    formats = Figure().canvas.get_supported_filetypes()
    if ext not in formats:
        raise ConfigError(f"--plot cannot write {ext!r} files, not {path!r} (formats: {', '.join(sorted(formats))})")
    return path


def save_plot(path: str | os.PathLike[str], points: Sequence[PerfPoint], title: str = "dmaengine perf",
              params: PerfParams | None = None) -> str:
    """Draw throughput against size, in Gbps and in MOps, for the engine and the CPU baseline (needs
    matplotlib); the parameters go in the title. Returns the file written (see :func:`plot_path`)."""
    path = plot_path(os.fspath(path))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib (pip install 'dmaengine[plot]')") from None
    sizes = [pt.size for pt in points]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    clock = points[0].clock if points else "wall"
    dma = "DMA engine, virtual time (simulated)" if clock == "virtual" else "DMA engine (wall clock)"
    cpu = "CPU memmove baseline (host, wall clock)"
    base = any(pt.cpu_ops for pt in points)
    for ax, what, unit in ((axes[0], "gbps", "throughput (Gbps)"), (axes[1], "mops", "operations (MOps)")):
        ys = [getattr(pt, what) for pt in points]
        ax.plot(sizes, ys, "o-", label=dma)
        if base:
            cys = [getattr(pt, f"cpu_{what}") for pt in points]
            ax.plot(sizes, cys, "s--", label=cpu)
            ys = ys + cys
        positive = [y for y in ys if y > 0]
        if positive and min(positive) < max(positive) / 20:  # small sizes would sit on zero on a linear axis
            ax.set_yscale("log")
        if sizes:
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.set_xlabel("copy size (bytes)")
        ax.set_ylabel(unit)
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    if params is not None:
        title += (f"\n{params.channels} channel(s), ring {params.ring_size}, kick batch {params.kick_batch}, "
                  f"{params.seconds:g} s per size after {params.warmup_s:g} s warm-up")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
