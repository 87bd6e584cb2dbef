"""Run every ``benchmarks/bench_*.py`` in turn: ``python benchmarks/run.py [name ...] [-- args ...]``.

Each benchmark module defines ``main() -> int`` and prints its own table. Names given on the command line
(``memcpy``, ``sim``, ...) select benchmarks; arguments after ``--`` are passed to each selected one (for
example ``python benchmarks/run.py memcpy -- --strict``). A benchmark that fails or rejects its arguments is
reported and the others still run. The exit status is the worst of theirs.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(names: list[str] | None = None) -> list[Path]:
    """The benchmark files, in name order; only those named in ``names`` (without ``bench_``) when given."""
    paths = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
        paths = [p for p in paths if p.stem.removeprefix("bench_") in wanted]
    return paths


def run_one(path: Path, extra: list[str]) -> int:
    """Import ``path`` as a module and call its ``main()`` with ``sys.argv`` set as if run as a script."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(mod)
    saved = sys.argv
    sys.argv = [str(path), *extra]
    try:
        return int(mod.main() or 0)
    except SystemExit as e:  # argparse and sys.exit inside main()
        return e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = saved


def main() -> int:
    """Run the selected benchmarks one after another; exit status is the worst of theirs."""
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else len(args)
    names, extra = args[:cut], args[cut + 1 :]
    src = HERE.parent / "src"
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    paths = discover(names)
    if not paths:
        print(f"no benchmark matches {names!r}", file=sys.stderr)
        return 2
    worst = 0
    for path in paths:
        print(f"== {path.name}", flush=True)
        t = time.perf_counter()
        try:
            rc = run_one(path, extra)
        except Exception:
            traceback.print_exc()
            rc = 1
        print(f"== {path.name}: exit {rc} in {time.perf_counter() - t:.1f} s\n", flush=True)
        worst = max(worst, rc)
    return worst


if __name__ == "__main__":
    sys.exit(main())
