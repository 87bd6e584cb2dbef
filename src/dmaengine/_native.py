"""The optional compiled core: :data:`core` is the ``dmaengine._cnative`` extension module, or None.

It is None when the extension was not built (no compiler on the machine that installed the package) or when the
environment variable ``DMAENGINE_PURE_PYTHON`` is set to anything but ``""`` or ``"0"`` before dmaengine is
imported. The pure-Python code is the specification and the fallback; every compiled path must give the same
results, and the test suite runs both ways (``make test``).
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["PURE_PYTHON_ENV", "core", "forced_pure"]

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
