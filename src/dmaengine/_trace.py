"""The trace hook. The framework and the virt helper call :func:`emit` at prep, submit, issue, start, complete,
callback and terminate; when no recorder is installed that costs one global test.

``dmaengine.trace`` (tools tier) installs recorders that write Chrome trace-event JSON for Perfetto.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Recorder", "emit", "install", "listeners", "recorder"]


class Recorder(Protocol):
    """Receives trace events. ``ts`` is the platform clock in seconds (virtual on a simulated SoC)."""

    def event(self, kind: str, chan: Any, cookie: int, ts: float, args: dict[str, Any] | None) -> None: ...


#: The installed recorder, or None. Hot paths test ``_trace.recorder is not None`` before calling emit.
recorder: Recorder | None = None


#: Called with the new recorder (or None) each time :func:`install` runs. A hot path that has an untraced fast
#: version which tests nothing per descriptor (the memory engine's prep and submit) swaps it out here while a
#: recorder is installed, and back in after.
listeners: list[Callable[[Recorder | None], None]] = []


def install(rec: Recorder | None) -> Recorder | None:
    """Install ``rec`` (or None to stop tracing); returns the previous recorder. Tells the :data:`listeners`."""
    global recorder
    prev, recorder = recorder, rec
    for fn in list(listeners):
        fn(rec)
    return prev


def emit(kind: str, chan: Any, cookie: int = 0, args: dict[str, Any] | None = None) -> None:
    """Send one event to the recorder, stamped with the channel's platform clock."""
    rec = recorder
    if rec is None:
        return
    dev = getattr(chan, "device", None)
    plat = getattr(dev, "platform", None)
    ts = plat.now if plat is not None else 0.0
    rec.event(kind, chan, cookie, ts, args)
