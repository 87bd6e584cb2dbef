"""Run every ``benchmarks/bench_*.py`` in turn: ``python benchmarks/run.py [--strict] [name ...] [-- args ...]``.

Each benchmark module defines ``main() -> int`` and prints its own table. Names given on the command line
(``memcpy``, ``sim``, ...) select benchmarks; arguments after ``--`` are passed to each selected one (for
example ``python benchmarks/run.py memcpy -- --quick``). A benchmark that fails or rejects its arguments is
reported and the others still run.

One exit policy for all: a row that misses its target prints ``FAIL`` (and a benchmark that crashes or returns
non-zero is reported as ``FAIL``); the command exits 0 unless ``--strict`` is given, and then 1 when anything
printed ``FAIL``. The machines are shared and noisy: a miss is information for whoever reads the table, a
failure only where asked for.
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: A row that misses its target: the word FAIL on its own (the tables print PASS / FAIL in a column).
FAIL = re.compile(r"\bFAIL\b")


def discover(names: list[str] | None = None) -> list[Path]:
    """The benchmark files, in name order; only those named in ``names`` (without ``bench_``) when given."""
    paths = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
        paths = [p for p in paths if p.stem.removeprefix("bench_") in wanted]
    return paths


class _Tee(io.TextIOBase):
    """Writes to the real stdout and keeps a copy, so that the FAIL lines can be counted."""

    def __init__(self, out: io.TextIOBase) -> None:
        self.out = out
        self.copy = io.StringIO()

    def write(self, s: str) -> int:
        self.copy.write(s)
        return self.out.write(s)

    def flush(self) -> None:
        self.out.flush()


def run_one(path: Path, extra: list[str]) -> tuple[int, int]:
    """Import ``path`` as a module and call its ``main()`` with ``sys.argv`` set as if run as a script; returns
    its exit status and how many lines it printed with ``FAIL``."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses and pickling look the module up by name
    saved_argv, saved_out = sys.argv, sys.stdout
    tee = _Tee(saved_out)  # type: ignore[arg-type]
    sys.argv = [str(path), *extra]
    sys.stdout = tee
    try:
        spec.loader.exec_module(mod)
        rc = int(mod.main() or 0)
    except SystemExit as e:  # argparse and sys.exit inside main()
        rc = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv, sys.stdout = saved_argv, saved_out
    return rc, len(FAIL.findall(tee.copy.getvalue()))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks one after another; see the module docstring for the exit status."""
    args = sys.argv[1:] if argv is None else argv
    cut = args.index("--") if "--" in args else len(args)
    names, extra = args[:cut], args[cut + 1 :]
    strict = "--strict" in names
    names = [n for n in names if n != "--strict"]
    src = HERE.parent / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    paths = discover(names)
    if not paths:
        print(f"no benchmark matches {names!r}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for path in paths:
        print(f"== {path.name}", flush=True)
        t = time.perf_counter()
        try:
            rc, misses = run_one(path, extra)
        except Exception:
            traceback.print_exc()
            rc, misses = 1, 0
        if rc or misses:
            why = f"{misses} row(s) missed" if misses else f"exit {rc}"
            failed.append(f"{path.name}: {why}")
            print(f"== {path.name}: FAIL ({why}) in {time.perf_counter() - t:.1f} s\n", flush=True)
        else:
            print(f"== {path.name}: ok in {time.perf_counter() - t:.1f} s\n", flush=True)
    if failed:
        print("FAIL: " + "; ".join(failed) + ("" if strict else " (exit 0 without --strict)"), flush=True)
    return 1 if strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
