"""Argument checks shared by every public constructor and prep: one rule for each kind of value.

* An integer is anything with ``__index__`` (``int``, numpy integers...), never a ``bool``; the result is a
  plain ``int``.
* A flag is a ``bool`` (numpy's included), nothing else.
* A number is a real ``int`` or ``float`` (numpy's included), never a ``bool`` and never nan.
* A timeout is None or ``math.inf`` (wait for ever) or a number of seconds >= 0; a negative or nan one is refused.

Every refusal is a :class:`ConfigError` whose message names the argument and the bad value:
``"length must be a positive int, not 2.5"``.

>>> index("numf", np.int64(3), 1)
3
>>> index("numf", True, 1)
Traceback (most recent call last):
...
dmaengine._errors.ConfigError: numf must be a positive int, not True
"""

from __future__ import annotations

import enum
import math
import operator
from typing import Any, TypeVar

import numpy as np

from ._errors import ConfigError

__all__ = ["MAX_SEGMENTS", "addr", "enum_value", "flag", "index", "length", "number", "timeout"]

E = TypeVar("E", bound=enum.Enum)

#: The most segments (chunks of all frames, periods of a ring, scatterlist entries) one descriptor may describe.
#: Drivers build a record per segment when they prepare it; past this a prep is refused rather than spending
#: gigabytes and minutes before anything runs.
MAX_SEGMENTS = 1 << 20

_BOOLS = (bool, np.bool_)


def _describe(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"an int {lo}..{hi}"
    if lo is not None:
        return "a positive int" if lo == 1 else f"an int >= {lo}"
    if hi is not None:
        return f"an int <= {hi}"
    return "an int"


def index(name: str, value: Any, lo: int | None = None, hi: int | None = None, what: str | None = None) -> int:
    """``value`` as a plain int, if it has ``__index__``, is not a bool and lies in ``lo..hi``; else
    ConfigError ``"{name} must be {what}, not {value!r}"`` (``what`` defaults to a description of the range)."""
    if value.__class__ is int:
        v = value
    elif isinstance(value, _BOOLS):
        raise ConfigError(f"{name} must be {what or _describe(lo, hi)}, not {value!r}")
    else:
        try:
            v = operator.index(value)
        except TypeError:
            raise ConfigError(f"{name} must be {what or _describe(lo, hi)}, not {value!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{name} must be {what or _describe(lo, hi)}, not {value!r}")
    return v


def addr(name: str, value: Any) -> int:
    """A DMA address: an int >= 0."""
    return index(name, value, 0, what="a DMA address (int >= 0)")


def length(name: str, value: Any) -> int:
    """A byte count > 0."""
    return index(name, value, 1, what="a positive int")


def flag(name: str, value: Any) -> bool:
    """A bool (``True``/``False`` or a numpy bool), nothing else: ``"yes"`` and ``1`` are refused."""
    if not isinstance(value, _BOOLS):
        raise ConfigError(f"{name} must be True or False, not {value!r}")
    return bool(value)


def number(name: str, value: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           finite: bool = True, what: str | None = None) -> float | int:
    """A real number (not a bool, not nan; finite unless ``finite=False``) in ``lo..hi`` (``lo`` excluded with
    ``lo_open``). Ints stay ints."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, _BOOLS)
    if ok:
        v: float | int = int(value) if isinstance(value, (int, np.integer)) else float(value)
        ok = v == v and (not finite or math.isfinite(v))
        if ok and lo is not None:
            ok = v > lo if lo_open else v >= lo
        if ok and hi is not None:
            ok = v <= hi
        if ok:
            return v
    if what is None:
        what = "a finite number" if finite else "a number"
        if lo is not None:
            what += f" {'>' if lo_open else '>='} {lo:g}"
        if hi is not None:
            what += f" <= {hi:g}"
    raise ConfigError(f"{name} must be {what}, not {value!r}")


def timeout(name: str, value: Any) -> float | None:
    """The timeout rule: None or ``inf`` wait for ever (None); a number of seconds >= 0 is itself; a negative or
    nan value, or anything that is not a number, is a ConfigError."""
    if value is None:
        return None
    if value.__class__ is float and 0.0 <= value < math.inf:
        return value
    v = number(name, value, 0, finite=False, what="None, inf or a number of seconds >= 0")
    return None if v == math.inf else float(v)


def enum_value(name: str, value: Any, cls: type[E]) -> E:
    """A member of ``cls`` from a member or its value (not a bool)."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, _BOOLS):
        try:
            return cls(operator.index(value))
        except (TypeError, ValueError):
            pass
    names = ", ".join(m.name for m in cls)
    raise ConfigError(f"{name} must be a {cls.__name__} ({names}), not {value!r}")
