"""What the demos share: a parser whose usage errors are one line, and checks made before a simulation runs."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

from .._files import unwritable

__all__ = ["DEMO_EPILOG", "DemoError", "DemoParser", "at_least", "check_writable", "fail"]


#: What every demo's --help adds: the options the ``dmaengine`` command takes before handing over the rest.
DEMO_EPILOG = ("As a dmaengine subcommand it also takes --trace FILE.json (a timeline of every transfer, for "
               "Perfetto) and --trace-limit N.")


class DemoError(Exception):
    """A bad argument or an unusable file: the demo prints one line and exits 2."""


class DemoParser(argparse.ArgumentParser):
    """argparse whose usage error is one line (raised as :class:`DemoError`), like the ``dmaengine`` command."""

    def error(self, message: str) -> NoReturn:
        raise DemoError(f"{message} (see '{self.prog} --help')")


#: The largest value a demo's number option takes (its unit: ms, us, frames...); a larger one is refused.
MAX_OPTION = 1e9


def at_least(args: argparse.Namespace, least: float, *names: str) -> None:
    """Raise :class:`DemoError` for the first option in ``names`` below ``least``, above :data:`MAX_OPTION`, or
    not finite (inf, nan)."""
    for name in names:
        value = getattr(args, name)
        if not value >= least:  # also refuses nan
            raise DemoError(f"--{name.replace('_', '-')} must be >= {least}, not {value!r}")
        if not (math.isfinite(value) and value <= MAX_OPTION):
            raise DemoError(f"--{name.replace('_', '-')} must be <= {MAX_OPTION:g}, not {value!r}")


def check_writable(path: str) -> None:
    """Refuse an output file that cannot be written before the simulation runs, not after it."""
    why = unwritable(path)
    if why is not None:
        raise DemoError(f"cannot write {path}: {why}")


def fail(prog: str, e: BaseException) -> int:
    """Print ``prog: error: e`` on stderr; the exit status 2."""
    print(f"{prog}: error: {e}", file=sys.stderr)
    return 2
