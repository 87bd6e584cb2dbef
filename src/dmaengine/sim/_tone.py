"""A sampled sine's values read from one period's table, exactly as the formula computes them.

The simulated codec and ADC sample ``pre(sin(2 * pi * freq_hz * n / rate_hz))`` rounded to the nearest integer
(``np.rint``) for every frame index ``n``. With a rational ``freq_hz / rate_hz`` (every float is) the exact sine
repeats every ``period`` frames (the ratio's denominator), but the floating-point argument does not repeat
bit for bit, so a plain table could differ from the formula in the last bit of ``sin`` and, where ``pre``'s value
lies next to a rounding boundary (``k + 0.5``), in the rounded sample. :class:`SineTable` keeps, per phase, the
formula's value at the first period and its distance to the nearest boundary; a frame far enough from the
boundary (the margin bounds every floating-point difference between the two arguments, growing with ``|n|``)
takes the table's value, any other is computed by the formula itself. So the values are the formula's, bit for
bit, and the sine is evaluated only for the rare frames next to a boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np

__all__ = ["MAX_PERIOD", "SineTable"]

#: The longest period (in frames) a table is built for; a longer one is computed by the formula.
MAX_PERIOD = 1 << 16

#: A bound, relative to the argument's magnitude, on how far the argument of frame ``n`` lies from the argument of
#: its phase ``n % period`` plus the whole turns between them: the two roundings of ``2 * pi * freq_hz * n /
#: rate_hz`` (2 ** -53 each, both ends) and the error of the float ``2 * pi * freq_hz`` against the exact one
#: (under 2 ** -52); 2 ** -51 + 2 ** -52 < 7e-16, taken with room to spare.
_ARG_REL = 2e-15
#: A bound on ``sin``'s own error (glibc and numpy: under 1 ulp of a value within [-1, 1]) at both ends, with room.
_SIN_ABS = 2e-15
#: A bound, relative to the largest pre-rounding value, on how much ``pre``'s own roundings can move when its
#: input moves (a few ulps), with room.
_PRE_REL = 2e-14


class SineTable:
    """``codes(first, count)``: ``np.rint(pre(np.sin(2 * np.pi * freq_hz * n / rate_hz)))`` for the float64 frame
    indices ``n = first .. first + count - 1``, bit for bit; ``pre`` maps a float64 array elementwise with float
    arithmetic (``scale`` bounds how much it stretches a difference of its input: ``|pre(a) - pre(b)| <= scale *
    |a - b|`` up to its own roundings). Build it with :meth:`build`, which says None when the period is too long."""

    __slots__ = ("_dist", "_dtile", "_rad_per_frame", "_y", "_ymax", "_ytile", "freq_hz", "period", "pre", "rate_hz",
                 "scale")

    def __init__(self, freq_hz: float, rate_hz: int, pre: Callable[[np.ndarray], np.ndarray], scale: float,
                 period: int) -> None:
        self.freq_hz, self.rate_hz, self.pre, self.scale, self.period = freq_hz, rate_hz, pre, scale, period
        n = np.arange(period, dtype=np.float64)
        y = np.asarray(pre(np.sin(2 * np.pi * freq_hz * n / rate_hz)), dtype=np.float64)
        self._y = np.rint(y)
        self._dist = np.abs(y - np.floor(y) - 0.5)  # to the nearest k + 0.5, where rint's result changes
        self._ytile, self._dtile = self._y, self._dist
        self._ymax = float(np.max(np.abs(y))) if period else 0.0
        self._rad_per_frame = abs(2 * math.pi * freq_hz / rate_hz)

    @classmethod
    def build(cls, freq_hz: float, rate_hz: int, pre: Callable[[np.ndarray], np.ndarray],
              scale: float) -> SineTable | None:
        """A table for this sine, or None when ``freq_hz / rate_hz`` is not finite or its period (the denominator
        of the exact ratio) exceeds :data:`MAX_PERIOD` frames."""
        try:
            ratio = Fraction(freq_hz) / Fraction(rate_hz)
        except (ValueError, OverflowError, ZeroDivisionError, TypeError):
            return None
        if ratio.denominator > MAX_PERIOD or not math.isfinite(scale):
            return None
        return cls(freq_hz, rate_hz, pre, abs(scale), ratio.denominator)

    def margin(self, n_abs: int) -> float:
        """How close to a rounding boundary a phase's value may lie and still be the formula's for every frame
        index up to ``n_abs`` in magnitude."""
        x = self._rad_per_frame * n_abs + 1.0
        return 4.0 * (self.scale * (_ARG_REL * x + _SIN_ABS) + _PRE_REL * (self._ymax + 1.0))

    def formula(self, n: np.ndarray) -> np.ndarray:
        """The values by the formula itself, for float64 frame indices ``n``."""
        return np.rint(np.asarray(self.pre(np.sin(2 * np.pi * self.freq_hz * n / self.rate_hz)), dtype=np.float64))

    def codes(self, first: int, count: int) -> np.ndarray:
        """The rounded values of frames ``first .. first + count - 1`` (float64), equal to :meth:`formula`'s."""
        if max(abs(first), abs(first + count - 1)) >= 1 << 53:  # float64 indices are no longer exact there
            return self.formula(np.arange(first, first + count, dtype=np.float64))
        phase = first % self.period
        stop = phase + count
        if stop > len(self._ytile):  # the period tiled far enough to slice any run of count frames from a phase
            reps = -(-stop // self.period)
            self._ytile, self._dtile = np.tile(self._y, reps), np.tile(self._dist, reps)
        out = self._ytile[phase:stop].copy()
        dist = self._dtile[phase:stop]
        limit = self.margin(max(abs(first), abs(first + count - 1)))
        if count and dist.min() <= limit:
            bad = dist <= limit
            out[bad] = self.formula(np.arange(first, first + count, dtype=np.float64)[bad])
        return out
