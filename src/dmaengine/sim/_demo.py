"""What the demos share: a parser whose usage errors are one line, and checks made before a simulation runs."""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING, NoReturn

from dmaengine import ConfigError

from .._files import unwritable

if TYPE_CHECKING:
    from ._soc import Soc

__all__ = ["DEMO_EPILOG", "DemoError", "DemoParser", "add_platform", "at_least", "check_writable", "fail",
           "platform_soc"]


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


def add_platform(p: argparse.ArgumentParser, device: str) -> None:
    """The ``--platform`` and ``--device`` options of a demo."""
    p.add_argument("--platform", default="sim", metavar="NAME",
                   help="sim (the default SoC) or dts:BOARD.dts (a board from a device tree; see examples/boards)")
    p.add_argument("--device", default=device, metavar="NAME",
                   help=f"the peripheral to use: its name, label, alias or node name (default {device})")


def platform_soc(spec: str) -> Soc | None:
    """The board of ``--platform dts:BOARD`` (None for ``sim``); a bad board is a :class:`DemoError`."""
    if spec == "sim":
        return None
    if not spec.startswith("dts:") or len(spec) == 4:
        raise DemoError(f"--platform must be sim or dts:BOARD.dts, not {spec!r}")
    from ._soc import Soc

    try:
        return Soc.from_dts(spec[4:])
    except ConfigError as e:
        raise DemoError(str(e)) from None


def check_writable(path: str) -> None:
    """Refuse an output file that cannot be written before the simulation runs, not after it."""
    why = unwritable(path)
    if why is not None:
        raise DemoError(f"cannot write {path}: {why}")


def fail(prog: str, e: BaseException) -> int:
    """Print ``prog: error: e`` on stderr; the exit status 2."""
    print(f"{prog}: error: {e}", file=sys.stderr)
    return 2
