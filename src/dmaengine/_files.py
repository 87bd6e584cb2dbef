"""Output files of the command and the demos: checked before a run, so a long run never ends in a write error."""

from __future__ import annotations

import os

__all__ = ["unwritable"]


def unwritable(path: str) -> str | None:
    """Why ``path`` cannot be written (the OS's words), or None when it can. Leaves no new file behind."""
    existed = os.path.lexists(path)
    try:
        with open(path, "ab"):
            pass
    except OSError as e:
        return str(e.strerror or e)
    if not existed:
        os.remove(path)
    return None
