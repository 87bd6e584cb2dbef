"""The ``dmaengine`` command: dmatest, a dma-perf sweep, the debugfs summary, channel counters and traces.

``main(argv)`` returns the exit status: 0 when all went well, 1 when a test or a verification failed, 2 for a
usage error or anything else that stopped the run (one line on stderr, never a traceback), 130 on Ctrl-C, 141
(quietly) when the reader of its output went away.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn

from . import DmaError, Platform, default_platform
from ._files import unwritable
from .tools._runner import ctrl_c_sets
from .trace import DEFAULT_LIMIT, Trace

__all__ = ["CliError", "main", "make_platform"]

PROG = "dmaengine"

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


class CliError(Exception):
    """A problem the command reports in one line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump), raised rather than exiting."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Says an option's default only when it says something: not for flags, None, or help that gives its own."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default is None or action.default is False or action.default == ""
                or action.default is argparse.SUPPRESS or "(default" in text or action.nargs == 0):
            return text
        return super()._get_help_string(action)


# --- platforms ----------------------------------------------------------------------------------------------
def make_platform(spec: str) -> tuple[Platform, bool]:
    """The platform named by ``--platform``, and whether the command owns it (and must close it).

    ``default``: the threaded memory engine, one channel per CPU. ``sim``: the simulated SoC (virtual time).
    ``rtl`` / ``rtl:VARIANT``: the RTL controller in the loop (:mod:`dmaengine.rtl`, virtual time).
    ``MODULE:FUNCTION``: ``FUNCTION()`` from an importable module returns a Platform (your own controller).
    """
    if spec == "default":
        return default_platform(), False
    if spec == "sim":
        try:
            from dmaengine.sim import Soc  # type: ignore[import-not-found,unused-ignore]
        except ModuleNotFoundError as e:
            if e.name is not None and e.name.startswith("dmaengine.sim"):
                raise CliError("the simulated SoC (dmaengine.sim) is not part of this installation; "
                               "use --platform default") from None
            raise
        return Soc(), True
    if spec.startswith("dts:"):
        return _dts_platform(spec[4:]), True
    if spec == "rtl" or spec.startswith("rtl:"):
        return _rtl_platform(spec), True
    mod_name, sep, func_name = spec.partition(":")
    if not sep or not mod_name or not func_name:
        raise CliError(f"--platform must be default, sim, rtl, dts:BOARD.dts or MODULE:FUNCTION, not {spec!r}")
    factory = _load_factory(spec, mod_name, func_name)
    try:
        plat = factory()
    except SystemExit as e:  # the factory must not end the command as if it had run (exit 0, nothing done)
        raise CliError(f"--platform {spec}: {func_name}() called sys.exit({e.code!r}) instead of returning a "
                       "Platform") from None
    except Exception as e:  # the user's code failed: say so, in their words, not as our internal error
        raise CliError(f"error in platform factory {spec}: {type(e).__name__}: {e}") from None
    if not isinstance(plat, Platform):
        raise CliError(f"--platform {spec}: {func_name}() returned {type(plat).__name__}, not a Platform")
    return plat, True


def _dts_platform(path: str) -> Platform:
    """``--platform dts:BOARD``: a simulated SoC built from a device tree (.dts or .dtb)."""
    if not path:
        raise CliError("--platform dts: needs a file, e.g. dts:examples/boards/default.dts")
    from dmaengine.sim import Soc

    return Soc.from_dts(path)


def _load_factory(spec: str, mod_name: str, func_name: str) -> Callable[[], Any]:
    """``FUNCTION`` of ``MODULE``, importable from the current directory too (as with ``python -m``)."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name is not None and (mod_name == e.name or mod_name.startswith(e.name + ".")):
            raise CliError(f"--platform {spec}: no module named {mod_name!r} (in the current directory or on "
                           "the Python path)") from None
        raise CliError(f"error in platform module {mod_name}: {type(e).__name__}: {e}") from None
    except Exception as e:  # the module itself failed while it was imported
        raise CliError(f"error in platform module {mod_name}: {type(e).__name__}: {e}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(module, func_name, None)
    if factory is None or not callable(factory):
        raise CliError(f"--platform {spec}: module {mod_name!r} has no function {func_name!r}")
    return factory  # type: ignore[no-any-return,unused-ignore]


def _rtl_platform(spec: str) -> Platform:
    """``rtl`` or ``rtl:VARIANT``: the RTL controller in the loop (dmaengine.rtl, the ``rtl`` extra)."""
    try:
        from dmaengine.rtl import VARIANTS, RtlSoc
    except ModuleNotFoundError as e:
        if e.name is not None and (e.name.startswith("dmaengine.rtl") or e.name.startswith("amaranth")):
            raise CliError("the RTL controller needs the rtl extra (pip install 'dmaengine[rtl]': Amaranth HDL); "
                           "use --platform sim") from None
        raise
    variant = spec.partition(":")[2] or "good"
    if variant not in VARIANTS:
        raise CliError(f"--platform rtl:VARIANT takes one of {', '.join(VARIANTS)}, not {variant!r}")
    return RtlSoc(variant=variant)


@contextlib.contextmanager
def _platform(args: argparse.Namespace) -> Iterator[Platform]:
    plat, owned = make_platform(args.platform)
    wave = None
    try:
        vcd = getattr(args, "vcd", None)
        if vcd is not None:
            record_vcd = getattr(plat, "record_vcd", None)
            if record_vcd is None:
                raise CliError(f"--vcd needs a simulated SoC (--platform sim), not --platform {args.platform}")
            wave = record_vcd(vcd)
        yield plat
    finally:
        if wave is not None:
            wave.close()
            print(f"{PROG}: waveform written to {wave.path} (open it in GTKWave or Surfer)", file=sys.stderr)
        if owned:
            plat.close()


@contextlib.contextmanager
def _tracing(args: argparse.Namespace) -> Iterator[None]:
    path = getattr(args, "trace", None)
    if path is None:
        yield
        return
    tr = Trace(limit=getattr(args, "trace_limit", None) or DEFAULT_LIMIT)
    tr.start()
    try:
        yield
    finally:
        tr.stop()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # said below, in the command's words
                tr.save(path)
        except OSError as e:
            raise CliError(f"cannot write the trace to {path}: {e.strerror or e}") from None
        print(f"{PROG}: trace of {len(tr)} events written to {path} (open it in https://ui.perfetto.dev)",
              file=sys.stderr)
        if tr.dropped:
            print(f"{PROG}: warning: the trace kept the last {len(tr)} of {tr.recorded} events ({tr.dropped} "
                  "dropped); raise --trace-limit to keep more", file=sys.stderr)


def _check_writable(path: str, what: str = "") -> None:
    """Refuse an output file that cannot be written before the run, not after it (an endless run never ends)."""
    why = unwritable(path)
    if why is not None:
        raise CliError(f"cannot write {what}{path}: {why}")


def _check_outputs(args: argparse.Namespace) -> None:
    plot = getattr(args, "plot", None)
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise CliError("--plot needs matplotlib (pip install 'dmaengine[plot]')")
    seen: dict[str, str] = {}
    for option in ("trace", "json", "csv", "plot", "vcd"):
        path = getattr(args, option, None)
        if path is not None:
            real = os.path.realpath(path)
            if real in seen:
                raise CliError(f"--{seen[real]} and --{option} would both write {path}")
            seen[real] = option
            _check_writable(path, "the trace to " if option == "trace" else "")
    if plot is not None:
        from .tools.perf import plot_path

        args.plot = plot_path(plot)  # the format is checked now, not after the sweep


# --- output helpers -----------------------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:  # a pipe or a file: never squeeze a table
        console.width = max(console.width, 160)
    return console


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> None:
    from rich.table import Table

    table = Table(title=title or None, title_justify="left")
    for i, col in enumerate(columns):
        # On a narrow terminal the first column (names) is never cut and a header wraps between its words; a
        # long number folds rather than lose digits to an ellipsis.
        first = max([len(col), *(len(r[0]) for r in rows)]) if i == 0 else max(len(w) for w in col.split())
        table.add_column(col, justify="right" if i >= right_from else "left", no_wrap=i == 0, min_width=first,
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    _console().print(table)


@contextlib.contextmanager
def _progress(description: str, total: float | None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on a terminal (nothing otherwise); yields ``update(completed, description=None)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        shown = [description]

        def update(completed: float, description: str | None = None) -> None:
            # A new description (the next size) is drawn at once, not at the next tick: a size that takes less
            # than a refresh period still shows on the terminal.
            fresh = False
            if description is not None and description != shown[0]:
                shown[0] = description
                fresh = True
            progress.update(task, completed=completed, description=description, refresh=fresh)

        yield update


def _locked_print() -> Callable[[str], None]:
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            print(line, flush=False)

    return log


def _print_text(text: str) -> None:
    print(text, end="" if text.endswith("\n") or not text else "\n")


def _print_stats(plat: Platform) -> None:
    from .tools.info import STATS_FIELDS, stats_table_rows

    rows = stats_table_rows(plat)
    _table("channel counters", ["channel", *(f.replace("_", " ") for f in STATS_FIELDS)], rows)
    if rows and all(v in ("0", "no") for r in rows for v in r[1:]):
        print("(every counter is 0: no client has used these channels in this process; "
              f"'{PROG} stats --memcpy 100' copies on each free channel first)")


#: What the first Ctrl-C says (the second one aborts).
STOPPING = f"{PROG}: stopping after {{what}} in flight (Ctrl-C again to abort)"


def _write(path: str, save: Callable[[str], Any], prog: str) -> None:
    """Write an output file with ``save(path)`` and say where on stderr (``save`` may return the name it really
    wrote); an OSError is a one-line error."""
    try:
        written = save(path)
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from None
    print(f"{prog}: wrote {written if isinstance(written, str) else path}", file=sys.stderr)


def run_context(plat: Platform, platform: str) -> dict[str, Any]:
    """Where and when a measurement ran, for JSON output: version, platform, clock, host CPUs, date (UTC)."""
    import datetime
    import platform as host

    from . import __version__

    return {"dmaengine": __version__, "platform": platform, "clock": "wall" if plat.realtime else "virtual",
            "python": host.python_version(), "host": host.machine(), "cpu_count": os.cpu_count(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def _save_dmatest_json(path: str, plat: Platform, args: argparse.Namespace, params: Any, threads: list[Any],
                       aborted: bool) -> None:
    import dataclasses
    import json

    doc = {
        "tool": "dmaengine test",
        "context": run_context(plat, args.platform),
        "params": dataclasses.asdict(params),
        "interrupted": aborted,
        "threads": [{"name": t.name, "channel": t.chan.name, "tests": t.total_tests, "failures": t.failed_tests,
                     "iops": float(t.iops), "kbs": t.kbs, "runtime_us": t.runtime_us, "bytes": t.total_len,
                     "ret": t.ret, "summary": t.summary} for t in threads],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


# --- subcommands --------------------------------------------------------------------------------------------
def cmd_test(args: argparse.Namespace) -> int:
    from .tools.dmatest import DmatestParams, run_dmatest

    params = DmatestParams(
        test_buf_size=args.test_buf_size, channel=args.channel, device=args.device,
        threads_per_chan=args.threads_per_chan, max_channels=args.max_channels, iterations=args.iterations,
        timeout_ms=args.timeout, noverify=args.noverify, norandom=args.norandom, verbose=args.verbose,
        alignment=args.alignment, transfer_size=args.transfer_size, polled=args.polled, dmatest=args.dmatest,
        seed=args.seed, xor_sources=args.xor_sources, pq_sources=args.pq_sources, run=not args.list,
    )
    params.check()
    log = _locked_print()
    stop, ctrl_c = threading.Event(), threading.Event()
    threads: list[Any] = []
    aborted = False
    with _platform(args) as plat, _tracing(args):
        def started(running: list[Any]) -> None:
            threads[:] = running
            if args.summary:
                _print_text(plat.summary())

        with _progress("dmatest (tests per thread)", args.iterations or None) as update:
            def tick(running: list[Any]) -> None:
                update(sum(t.total_tests for t in running) / max(1, len(running)))

            try:
                with ctrl_c_sets(stop, ctrl_c, first=STOPPING.format(what="the tests")):
                    threads = run_dmatest(plat, params, log=log, tick=tick, stop=stop, on_started=started)
            except KeyboardInterrupt:  # the second Ctrl-C: run_dmatest printed what the threads had done so far
                aborted = True
        if args.list:
            return EXIT_OK
        rows = [[t.name, str(t.total_tests), str(t.failed_tests), t.iops, str(t.kbs)] for t in threads]
        clock = "wall-clock" if plat.realtime else "virtual-time"
        _table(f"dmatest on {args.platform} ({clock} rates)", ["thread", "tests", "failures", "iops", "KB/s"], rows)
        if args.stats:
            _print_stats(plat)
        if args.json:
            _write(args.json, lambda p: _save_dmatest_json(p, plat, args, params, threads, aborted),
                   f"{PROG} test")
    if aborted:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    failed = [t for t in threads if t.failed_tests]
    for t in threads:
        if t.ret:
            print(f"{PROG} test: {t.name} ended with error {t.ret} (see its lines above)", file=sys.stderr)
    if failed:
        print(f"{PROG} test: {sum(t.failed_tests for t in threads)} of {sum(t.total_tests for t in threads)} "
              f"tests failed on {', '.join(t.name for t in failed)}", file=sys.stderr)
    if failed or any(t.ret for t in threads):
        return EXIT_FAILED
    if ctrl_c.is_set() and args.iterations and any(t.total_tests < args.iterations for t in threads):
        print(f"{PROG}: interrupted", file=sys.stderr)  # Ctrl-C cut the run short (iterations 0 ends that way)
        return EXIT_INTERRUPTED
    return EXIT_OK


#: ``perf --seconds`` on a platform in virtual time (a simulated SoC), when not given.
SIM_PERF_SECONDS = 0.002


def cmd_perf(args: argparse.Namespace) -> int:
    from .tools.perf import DEFAULT_SIZES, PerfParams, parse_sizes, run_perf, save_csv, save_json, save_plot

    sizes = parse_sizes(args.sizes) if args.sizes else list(DEFAULT_SIZES)
    params = PerfParams(sizes=sizes, kick_batch=args.kick_batch, ring_size=args.ring_size,
                        seconds=2.0 if args.seconds is None else args.seconds,
                        channels=args.channels, warmup=args.warmup, baseline=not args.no_baseline)
    params.check()
    points: list[Any] = []
    stop = threading.Event()
    aborted = False
    with _platform(args) as plat, _tracing(args):
        if args.seconds is None and not plat.realtime:  # virtual time: 2 ms per size keeps the sweep short
            params.seconds = SIM_PERF_SECONDS
        context = run_context(plat, args.platform)
        with _progress("dma-perf sweep", len(sizes)) as update:
            def on_point(pt: Any) -> None:
                points.append(pt)
                update(len(points))

            def on_progress(index: int, fraction: float) -> None:  # within a size, not only between sizes
                update(index + fraction, f"dma-perf sweep, {sizes[index]} B")

            try:
                with ctrl_c_sets(stop, first=STOPPING.format(what="the size")):
                    run_perf(plat, params, on_point=on_point, stop=stop, on_progress=on_progress)
            except KeyboardInterrupt:  # the second Ctrl-C: keep the sizes measured so far
                aborted = True
        clock = "wall-clock" if plat.realtime else "virtual-time"
        rows = []
        for pt in points:
            ratio = f"{pt.gbps / pt.cpu_gbps:.2f}" if pt.cpu_gbps else "-"
            cpu = [f"{pt.cpu_mops:.3f}", f"{pt.cpu_gbps:.3f}"] if pt.cpu_ops else ["-", "-"]
            rows.append([str(pt.size), f"{pt.mops:.3f}", f"{pt.gbps:.3f}", *cpu, ratio,
                         "yes" if pt.verified else "NO"])
        partial = f"; stopped after {len(points)} of {len(sizes)} sizes" if len(points) < len(sizes) else ""
        print(f"dma-perf on {args.platform}: {params.channels} channel(s), ring {params.ring_size}, "
              f"kick batch {params.kick_batch} (DMA in {clock}, CPU in wall-clock{partial})")
        _table("",
               ["size (B)", "DMA MOps", "DMA Gbps", "CPU MOps", "CPU Gbps", "DMA/CPU", "verified"], rows, right_from=0)
        if args.stats:
            _print_stats(plat)
    for path, save in ((args.json, lambda p: save_json(p, points, params, context)),
                       (args.csv, lambda p: save_csv(p, points, params, context)),
                       (args.plot, lambda p: save_plot(p, points, f"dmaengine perf on {args.platform}", params))):
        if path:
            _write(path, save, f"{PROG} perf")
    if aborted:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    bad = [pt for pt in points if not pt.verified]
    if bad:
        print(f"{PROG} perf: verification failed at size(s) {', '.join(str(pt.size) for pt in bad)} "
              f"({sum(pt.errors for pt in bad)} transfer errors)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    with _platform(args) as plat, _tracing(args):
        _print_text(plat.summary())
        board_summary = getattr(plat, "board_summary", None)
        if board_summary is not None and (args.verbose or getattr(plat, "board", None) is not None):
            _print_text("\n" + board_summary(args.verbose))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from .tools.info import exercise

    if args.memcpy < 0 or args.size < 1:
        raise CliError(f"{PROG} stats: --memcpy must be >= 0 and --size >= 1, not {args.memcpy} and {args.size}")
    with _platform(args) as plat, _tracing(args):
        if args.memcpy:
            exercise(plat, args.memcpy, args.size)
        _print_stats(plat)
    return EXIT_OK


def _demo(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            mod = importlib.import_module(f"dmaengine.sim.{module}")
        except ModuleNotFoundError as e:
            if e.name is not None and e.name.startswith("dmaengine.sim"):
                raise CliError(f"{PROG} {args.command}: needs the simulated SoC (dmaengine.sim.{module}), "
                               "which is not part of this installation") from None
            raise
        with _tracing(args):
            rc = mod.main(list(args.rest))
        return int(rc or 0)

    return run


# --- the parser ---------------------------------------------------------------------------------------------
DESCRIPTION = """\
Test and measure DMA engines with the Linux DMA Engine API in Python.

Every subcommand runs on a platform: 'default' is the threaded memory-to-memory engine of this machine (one
channel per CPU); 'sim' is the simulated SoC, in virtual time; 'rtl' the RTL controller (Amaranth HDL) in
the loop, in virtual time ('rtl:VARIANT' a deliberately broken one); MODULE:FUNCTION loads your own.
Every subcommand also takes --trace FILE.json: a timeline of every transfer, to open in Perfetto.
'dmaengine COMMAND --help' lists a command's options.
"""

EPILOG = """\
examples:
  dmaengine test                          the kernel's dmatest: 1000 copies per channel, verified
  dmaengine test --dmatest 1 --iterations 100 --verbose
  dmaengine perf --sizes 64,128,...,8192 --plot perf.png
  dmaengine test --platform sim --trace run.json   then open run.json in https://ui.perfetto.dev
  dmaengine summary ; dmaengine stats --memcpy 100

exit status: 0 success, 1 a test or verification failed, 2 an error (one line on stderr), 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dmaengine`` command."""
    common = _Parser(add_help=False)
    common.add_argument("--platform", default="default", metavar="NAME",
                        help="where to run: default (threaded memory engine), sim (simulated SoC, virtual time), "
                             "dts:BOARD.dts (a simulated SoC from a device tree, .dts or .dtb), "
                             "rtl[:VARIANT] (the RTL controller in the loop) "
                             "or MODULE:FUNCTION returning a Platform (a module in the current directory is found)")
    common.add_argument("--trace", metavar="FILE.json",
                        help="record every channel event to FILE.json (Chrome trace format, gzipped when FILE ends "
                             "in .gz; open in Perfetto)")
    common.add_argument("--trace-limit", type=_positive_limit, default=DEFAULT_LIMIT, metavar="N",
                        help=f"keep the last N trace events (default: {DEFAULT_LIMIT:,}; a warning says when "
                             "older ones were dropped)")
    common.add_argument("--vcd", metavar="FILE.vcd",
                        help="with --platform sim: write a waveform of request lines, bus grants, channel busy, "
                             "FIFO levels and interrupts in virtual time (open in GTKWave or Surfer)")

    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser(
        "test", parents=[common], help="the kernel's dmatest: copy or fill, verify every byte, report rates",
        description="The Linux kernel's dmatest. Each thread copies (or fills) random lengths at random offsets "
                    "of its own buffers, checks all bytes with the kernel's patterns, and prints the kernel's "
                    "summary line, e.g. 'dmatest: dma0chan0-copy0: summary 1000 tests, 0 failures 3138.87 iops "
                    "27462 KB/s (0)'. Rates leave out the fill and verify time. Options are the module "
                    "parameters.", formatter_class=_HelpFormatter)
    t.add_argument("--test-buf-size", type=int, default=16384, metavar="BYTES", help="size of each buffer")
    t.add_argument("--channel", default="", metavar="NAME", help="test only this channel, e.g. dma0chan0")
    t.add_argument("--device", default="", metavar="NAME", help="test only this device, e.g. dma0")
    t.add_argument("--threads-per-chan", type=int, default=1, metavar="N", help="test threads per channel")
    t.add_argument("--max-channels", type=int, default=0, metavar="N", help="most channels to use (0: all)")
    t.add_argument("--iterations", type=int, default=1000, metavar="N",
                   help="tests per thread (0: until Ctrl-C)")
    t.add_argument("--timeout", type=int, default=3000, metavar="MS",
                   help="wait this long for each transfer (-1: no limit)")
    t.add_argument("--noverify", action="store_true", help="do not fill or check the buffers")
    t.add_argument("--norandom", action="store_true", help="always the whole buffer, at offset 0")
    t.add_argument("--verbose", action="store_true", help="print a result line for passed tests too")
    t.add_argument("--alignment", type=int, default=-1, metavar="SHIFT",
                   help="align offsets and lengths to 2**SHIFT bytes (-1: the device's own alignment)")
    t.add_argument("--transfer-size", type=int, default=0, metavar="BYTES",
                   help="fixed transfer length, below the buffer size (0: random)")
    t.add_argument("--polled", action="store_true", help="poll for completion instead of using the callback")
    t.add_argument("--dmatest", type=int, default=0, choices=(0, 1), help="0: memcpy, 1: memset")
    t.add_argument("--seed", type=int, default=None, help="seed of the random lengths and offsets")
    t.add_argument("--xor-sources", type=int, default=3, metavar="N", help="sources of each xor test (xor threads)")
    t.add_argument("--pq-sources", type=int, default=3, metavar="N", help="sources of each pq test (pq threads)")
    t.add_argument("--list", action="store_true",
                   help="only add the threads and print the kernel's test_list lines ('1 threads using dma0chan0')")
    t.add_argument("--summary", action="store_true", help="print the debugfs summary while the channels are held")
    t.add_argument("--stats", action="store_true", help="print the channel counters at the end")
    t.add_argument("--json", metavar="FILE", help="write the results as JSON: the parameters, the run's context "
                                                  "and each thread's counters and rates")
    t.set_defaults(func=cmd_test)

    p = sub.add_parser(
        "perf", parents=[common], help="a dma-perf sweep: throughput against copy size, with a CPU baseline",
        description="DPDK's dma-perf: for each size, keep a ring of copies in flight for SECONDS, kicking the "
                    "engine every KICK_BATCH copies; report MOps and Gbps (ops/s * size * 8 / 1e9) next to a "
                    "CPU memmove baseline measured in the same run. Every destination is verified after the "
                    "in-flight copies drain.", formatter_class=_HelpFormatter)
    p.add_argument("--sizes", default="64,128,...,8192",
                   help="copy sizes in bytes: a list, 'first,second,...,last', or dma-perf's 'start,end,step,MUL'")
    p.add_argument("--kick-batch", type=int, default=32, metavar="N", help="copies per issue_pending")
    p.add_argument("--ring-size", type=int, default=1024, metavar="N", help="most copies in flight per channel")
    p.add_argument("--seconds", type=float, default=None, metavar="S",
                   help=f"measured time per size (default: 2; {SIM_PERF_SECONDS} of virtual time on a simulated SoC)")
    p.add_argument("--warmup", type=float, default=None, metavar="S",
                   help="time before each measurement (default: a tenth of --seconds, at most 0.2)")
    p.add_argument("--channels", type=int, default=1, metavar="N", help="channels copying at once")
    p.add_argument("--no-baseline", action="store_true", help="skip the CPU copy baseline")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the results as CSV")
    p.add_argument("--plot", metavar="FILE.png", help="draw throughput against size (needs matplotlib)")
    p.add_argument("--stats", action="store_true", help="print the channel counters at the end")
    p.set_defaults(func=cmd_perf)

    s = sub.add_parser("summary", parents=[common], help="the debugfs dmaengine/summary: devices and channels",
                       description="Print what /sys/kernel/debug/dmaengine/summary would: each device with its "
                                   "number of channels, and each channel in use with its client. On a simulated "
                                   "SoC from a device tree (--platform dts:BOARD.dts), then the wiring it read: "
                                   "each controller and its bus, each client channel and its request line; on the "
                                   "simulated SoC also the slave map and the peripherals.",
                       formatter_class=_HelpFormatter)
    s.add_argument("--verbose", action="store_true",
                   help="on a simulated SoC, also list the device-tree nodes the simulator does not model")
    s.set_defaults(func=cmd_summary)

    st = sub.add_parser("stats", parents=[common], help="per-channel counters (copies, bytes, errors...)",
                        description="Print each channel's counters: memcpy_count, bytes_transferred, in_use, "
                                    "submitted, completed, errors, callback_errors.",
                        formatter_class=_HelpFormatter)
    st.add_argument("--memcpy", type=int, default=0, metavar="N",
                    help="first copy --size bytes N times on every free channel, so the counters move")
    st.add_argument("--size", type=int, default=4096, metavar="BYTES", help="bytes per copy for --memcpy")
    st.set_defaults(func=cmd_stats)

    from .tools.raid6 import add_parser as add_raid6_parser

    add_raid6_parser(sub, common, _HelpFormatter)

    for name, module, what in (("audio", "audio_demo", "cyclic audio playback and capture over I2S"),
                               ("uart", "uart_demo", "slave transfers to and from a UART")):
        # Listed here for --help; main() hands every argument after the name to the demo (see _demo_args).
        sub.add_parser(name, help=f"simulated SoC demo: {what} (arguments go to the demo; try --help)",
                       add_help=False)
        DEMOS[name] = module
    return parser


#: Subcommands that forward their arguments to a demo module of the simulated SoC.
DEMOS: dict[str, str] = {}


#: Options of the command itself that a demo subcommand takes anywhere among its arguments (before a ``--``).
DEMO_OPTIONS = {"--trace": "trace", "--trace-limit": "trace_limit"}


def _demo_args(name: str, rest: list[str]) -> argparse.Namespace:
    """``dmaengine audio ARGS...``: ``--trace FILE`` and ``--trace-limit N`` (anywhere before a ``--``) are the
    command's; the rest goes to the demo (``--vcd`` too: the demo makes its SoC)."""
    found: dict[str, str | None] = dict.fromkeys(DEMO_OPTIONS.values())
    demo_args: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            demo_args += rest[i:]
            break
        opt, eq, value = arg.partition("=")
        if opt in DEMO_OPTIONS:
            if not eq:
                if i + 1 >= len(rest):
                    raise CliError(f"{PROG} {name}: error: argument {opt}: expected one argument")
                value = rest[i + 1]
                i += 1
            found[DEMO_OPTIONS[opt]] = value
        else:
            demo_args.append(arg)
        i += 1
    limit = found["trace_limit"]
    return argparse.Namespace(command=name, trace=found["trace"],
                              trace_limit=None if limit is None else _trace_limit(limit, f"{PROG} {name}"),
                              rest=demo_args, func=_demo(DEMOS[name]))


def _positive_limit(text: str) -> int:
    """argparse type of ``--trace-limit``."""
    try:
        n = int(text, 0)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return n


def _trace_limit(text: str, prog: str = PROG) -> int:
    """``--trace-limit N``: a positive int."""
    try:
        return _positive_limit(text)
    except argparse.ArgumentTypeError as e:
        raise CliError(f"{prog}: error: argument --trace-limit: {e}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the ``dmaengine`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        try:
            if args_list and args_list[0] in DEMOS:
                args = _demo_args(args_list[0], args_list[1:])
            else:
                args, extra = parser.parse_known_args(args_list)
                if extra:
                    prog = f"{PROG} {args.command}"
                    raise CliError(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')")
        except SystemExit as e:  # --help and --version
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_ERROR
        _check_outputs(args)
        try:
            rc: int = args.func(args)
        except SystemExit as e:  # a demo's --help
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_ERROR
        sys.stdout.flush()
        return rc
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CliError as e:
        print(str(e) if str(e).startswith(PROG) else f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (``dmaengine test | head``): stop quietly, like a shell tool
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # what is still buffered goes nowhere, without a second error
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except MemoryError as e:
        print(f"{PROG}: error: out of memory: {e}", file=sys.stderr)
        return EXIT_ERROR
    except (DmaError, ValueError, OSError, TimeoutError, ImportError) as e:
        if os.environ.get("DMAENGINE_DEBUG"):
            raise
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:
        if os.environ.get("DMAENGINE_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(e).__name__}: {e} (set DMAENGINE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR
