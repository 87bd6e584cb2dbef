"""SineTable: a sampled sine read from one period's table gives the formula's values bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine.sim._tone import MAX_PERIOD, SineTable

I2S_SCALE = 0.25 * 32767  # sine_frames' amplitude * full for 16-bit samples
ADC_HALF = (1 << 11) - 1  # a 12-bit ADC's half scale


def _i2s(s: np.ndarray) -> np.ndarray:
    return I2S_SCALE * s


def _adc(s: np.ndarray) -> np.ndarray:
    return ADC_HALF + 1 + ADC_HALF * s


def _formula(freq: float, rate: int, pre: Callable[[np.ndarray], np.ndarray], first: int, count: int) -> np.ndarray:
    n = np.arange(first, first + count, dtype=np.float64)
    return np.rint(pre(np.sin(2 * np.pi * freq * n / rate)))


def _table(freq: float, rate: int, pre: Callable[[np.ndarray], np.ndarray], scale: float) -> SineTable:
    t = SineTable.build(freq, rate, pre, scale)
    assert t is not None
    return t


def test_the_period_is_the_exact_ratio_s_denominator() -> None:
    assert _table(440.0, 48_000, _i2s, I2S_SCALE).period == 1200  # 440 / 48000 = 11 / 1200
    assert _table(1000.0, 48_000, _i2s, I2S_SCALE).period == 48
    assert _table(50.0, 8_000, _adc, ADC_HALF).period == 160
    assert _table(0.0, 48_000, _i2s, I2S_SCALE).period == 1
    assert SineTable.build(0.5, 44_100, _i2s, I2S_SCALE) is None  # 1 / 88200: a period over MAX_PERIOD


def test_no_table_for_a_long_period_or_a_non_finite_frequency() -> None:
    assert SineTable.build(440.1, 48_000, _i2s, I2S_SCALE) is None  # 440.1 is a float with a 2**-k denominator
    assert SineTable.build(float("nan"), 48_000, _i2s, I2S_SCALE) is None
    assert SineTable.build(float("inf"), 48_000, _i2s, I2S_SCALE) is None
    assert SineTable.build(440.0, 48_000, _i2s, float("inf")) is None


@pytest.mark.parametrize("freq, rate, pre, scale", [
    (440.0, 48_000, _i2s, I2S_SCALE), (1000.0, 44_100, _i2s, I2S_SCALE), (50.0, 8_000, _adc, ADC_HALF),
    (997.0, 48_000, _adc, ADC_HALF), (0.0, 48_000, _adc, ADC_HALF)])
@pytest.mark.parametrize("first", [0, 1, 4095, 4096 * 37 + 11, 10**6 + 7, 10**9 + 3, 10**12 + 5, 2**52 - 5000,
                                   2**53 - 100, -12_345])
def test_codes_are_the_formula_s_bit_for_bit(freq: float, rate: int, pre: Callable[[np.ndarray], np.ndarray],
                                             scale: float, first: int) -> None:
    t = _table(freq, rate, pre, scale)
    got, want = t.codes(first, 4096), _formula(freq, rate, pre, first, 4096)
    assert got.dtype == np.float64 and got.shape == (4096,)
    assert np.array_equal(got, want)
    assert np.array_equal(t.formula(np.arange(first, first + 4096, dtype=np.float64)), want)


def test_a_plain_table_would_be_wrong_far_out_and_the_margin_catches_it() -> None:
    # Far from 0 the float argument drifts from its phase's by more than a sample's distance to a rounding
    # boundary: a table read without the margin differs from the formula there; codes() does not.
    t = _table(440.0, 48_000, _i2s, I2S_SCALE)
    first = 10**12 + 5
    want = _formula(440.0, 48_000, _i2s, first, 4096)
    plain = t._y[np.arange(first, first + 4096) % t.period]
    assert (plain != want).sum() > 0
    assert np.array_equal(t.codes(first, 4096), want)
    # Near 0 the margin is tiny and no frame needs the formula.
    assert t.margin(4096) < 1e-7 < t._dist.min()


def test_empty_and_single_frame_runs() -> None:
    t = _table(440.0, 48_000, _i2s, I2S_SCALE)
    assert t.codes(123, 0).shape == (0,)
    assert np.array_equal(t.codes(1201, 1), _formula(440.0, 48_000, _i2s, 1201, 1))


def test_a_run_longer_than_the_tiled_period_grows_the_tile() -> None:
    t = _table(1000.0, 48_000, _i2s, I2S_SCALE)  # period 48
    assert np.array_equal(t.codes(47, 10_000), _formula(1000.0, 48_000, _i2s, 47, 10_000))
    assert np.array_equal(t.codes(5, 3), _formula(1000.0, 48_000, _i2s, 5, 3))


@settings(max_examples=60, deadline=None)
@given(freq=st.sampled_from([50.0, 100.0, 440.0, 441.0, 1000.0, 1234.5, 0.25]),
       rate=st.sampled_from([8_000, 16_000, 44_100, 48_000, 96_000]),
       adc=st.booleans(), first=st.integers(-(10**13), 10**13), count=st.integers(0, 5000))
def test_random_runs_match_the_formula(freq: float, rate: int, adc: bool, first: int, count: int) -> None:
    pre, scale = (_adc, ADC_HALF) if adc else (_i2s, I2S_SCALE)
    t = SineTable.build(freq, rate, pre, scale)
    if t is None:
        assert (Fraction(freq) / rate).denominator > MAX_PERIOD  # only a period too long has no table
        return
    assert np.array_equal(t.codes(first, count), _formula(freq, rate, pre, first, count))
