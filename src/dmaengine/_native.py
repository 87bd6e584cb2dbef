"""The optional compiled core: :data:`core` is the ``dmaengine._cnative`` extension module, or None.

It is None when the extension was not built (no compiler on the machine that installed the package) or when the
environment variable ``DMAENGINE_PURE_PYTHON`` is set to anything but ``""`` or ``"0"`` before dmaengine is
imported. The pure-Python code is the specification and the fallback; every compiled path must give the same
results, and the test suite runs both ways (``make test``).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

__all__ = ["PURE_PYTHON_ENV", "core", "forced_pure", "memcpy_consts"]

#: The environment variable that forces pure Python.
PURE_PYTHON_ENV = "DMAENGINE_PURE_PYTHON"

#: True when the environment variable asked for pure Python.
forced_pure: bool = os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0")

core: ModuleType | None = None
if not forced_pure:
    try:
        from . import _cnative as core  # type: ignore[attr-defined,no-redef]
    except ImportError:
        core = None


def memcpy_consts() -> dict[str, Any]:
    """What the memory engine's compiled per-descriptor path reads from the framework (the states, the prep
    flags cache, the trace hook, the Python submit it falls back to): ``drivers/memcpy.py`` passes it to
    ``core.memcpy_setup`` with its own descriptor classes, once, at import."""
    from . import _channel, _cookie, _trace, virt
    from ._enums import Result
    from ._records import TxResult

    return {
        "PREPARED": _channel.DescState.PREPARED,
        "SUBMITTED": _channel.DescState.SUBMITTED,
        "DONE": _channel.DescState.DONE,
        "NOERROR": Result.NOERROR,
        "flags_cache": _channel._prep_flags_cache,
        "trace_dict": vars(_trace),
        "trace_listeners": _trace.listeners,
        "submit": _channel.Descriptor.submit,
        "TxResult": TxResult,
        "MIN_COOKIE": _cookie.MIN_COOKIE,
        "MAX_COOKIE": _cookie.MAX_COOKIE,
        "ERRORS_KEPT": virt._ERRORS_KEPT,
        "call_probe": _CallProbe,
    }


class _CallProbe:
    """A class that defines ``__call__`` in Python: the compiled core reads from it which C function CPython
    calls such an instance with, to call a callback object of such a class without the generic call's
    argument tuple (the same function, with the same arguments)."""

    def __call__(self) -> None:
        pass
