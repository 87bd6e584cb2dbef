"""The peripherals' per-burst pieces on their own (issue 14): sine sources computed a block at a time give the
frames the per-call formula gives, in any call order; the ADC's default sine is cached, a caller's waveform is not;
the inlined tick count agrees with ``TickClock.count``; the codec's ticks and the FIFO pop are exact."""

from __future__ import annotations

import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine.sim import Adc, I2s, sine_frames
from dmaengine.sim._capture import ByteCapture
from dmaengine.sim._i2s import _BLOCK_FRAMES
from dmaengine.sim._kernel import TickClock


def _sine_per_call(freq_hz: float, rate_hz: int, channels: int, sample_width: int, amplitude: float = 0.25
                   ) -> Callable[[int, int], bytes]:
    """The frame source as it was before the blocks: computed on every call (the specification)."""
    dtype = np.dtype({1: "u1", 2: "<i2", 4: "<i4"}[sample_width])
    full = {1: 127, 2: 32767, 4: 2**31 - 1}[sample_width]

    def source(first: int, count: int) -> bytes:
        n = np.arange(first, first + count, dtype=np.float64)
        v = np.rint(amplitude * full * np.sin(2 * np.pi * freq_hz * n / rate_hz))
        if sample_width == 1:
            v = v + 128
        return np.repeat(v.astype(dtype)[:, None], channels, axis=1).tobytes()

    return source


calls = st.lists(st.tuples(st.integers(0, 3 * _BLOCK_FRAMES), st.integers(0, _BLOCK_FRAMES + 300)), min_size=1,
                 max_size=12)


@settings(max_examples=60, deadline=None)
@given(calls=calls, channels=st.sampled_from([1, 2, 8]), width=st.sampled_from([1, 2, 4]),
       freq=st.sampled_from([440.0, 997.0, 0.0, 23_999.5]))
def test_sine_frames_in_blocks_match_the_per_call_formula(calls: list[tuple[int, int]], channels: int, width: int,
                                                         freq: float) -> None:
    got, want = sine_frames(freq, 48_000, channels, width), _sine_per_call(freq, 48_000, channels, width)
    for first, count in calls:
        data = got(first, count)
        assert type(data) is bytes and data == want(first, count)


def test_sine_frames_consecutive_calls_cross_blocks_exactly() -> None:
    got, want = sine_frames(440.0, 48_000, 2, 2), _sine_per_call(440.0, 48_000, 2, 2)
    first, out = 0, []
    for count in [1, 150, 4000, 500, 7, 9000, 0, 3]:  # as a sampling port asks: each call where the last ended
        out.append(got(first, count))
        first += count
    assert b"".join(out) == want(0, first)
    # a jump back (a new sampling clock) and forward past the block (overruns skip frames)
    assert got(5, 10) == want(5, 10)
    assert got(100_000, 20) == want(100_000, 20)
    assert got(99_990, 30) == want(99_990, 30)


def test_adc_default_sine_in_blocks_matches_expected() -> None:
    adc = Adc("adc0", rate_hz=8_000, bits=12)
    first = 0
    for count in [1, 37, 37, 5000, 3, 0, 200]:
        assert adc._source(first, count) == adc.expected(first, count).tobytes()
        first += count
    assert adc._source(10, 5) == adc.expected(10, 5).tobytes()
    # the pinned codes of the first samples (mid-scale 2048, a 50 Hz sine of amplitude 2047 at 8 kHz)
    assert adc.expected(0, 6).tolist() == [2048, 2128, 2209, 2289, 2368, 2447]


def test_adc_sine_follows_its_parameters() -> None:
    adc = Adc("adc0", rate_hz=8_000, bits=12, freq_hz=50.0)
    before = adc._source(0, 100)
    adc.freq_hz = 60.0
    after = adc._source(0, 100)
    assert after != before and after == adc.expected(0, 100).tobytes()
    adc.bits = 8
    assert adc._source(100, 50) == adc.expected(100, 50).tobytes()
    assert max(adc.expected(0, 200).tolist()) < 256


def test_adc_calls_a_callers_waveform_as_asked() -> None:
    seen: list[list[int]] = []

    def ramp(n: np.ndarray) -> np.ndarray:
        seen.append(n.tolist())
        return n * 3

    adc = Adc("adc0", bits=10, waveform=ramp)
    assert adc._source(4, 3) == np.array([12, 15, 18], dtype="<u2").tobytes()
    assert adc._source(7, 2) == np.array([21, 24], dtype="<u2").tobytes()
    assert seen == [[4, 5, 6], [7, 8]]  # nothing computed ahead
    adc.waveform = adc._sine  # a fresh bound method of the default: still correct, called as asked
    assert adc._source(0, 4) == adc.expected(0, 4).tobytes()


def test_wav_source_pads_with_silence(tmp_path: Path) -> None:
    path = tmp_path / "in.wav"
    pcm = bytes(range(40))  # 10 frames of 2 x 16-bit
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(pcm)
    codec = I2s("i2s0", rx_source=path)
    assert codec.rx is not None
    source = codec.rx.source  # type: ignore[attr-defined]
    assert source(0, 10) == pcm
    assert source(8, 4) == pcm[32:] + bytes(8)
    assert source(20, 2) == bytes(8)
    assert source(3, 0) == b""


class _CountingClock(TickClock):
    __slots__ = ("asked",)

    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        self.asked = 0

    def count(self, t: int) -> int:
        self.asked += 1
        return super().count(t)


@pytest.mark.parametrize("offset", [0, 1])
def test_advance_counts_ticks_as_the_clock_does(offset: int) -> None:
    """The inlined count of a plain TickClock, and a subclass's own ``count``, give the same ticks."""
    plain, sub = I2s("a"), I2s("b")
    for codec, clock in ((plain, TickClock(1000, 10**9, 48_000, offset)),
                         (sub, _CountingClock(1000, 10**9, 48_000, offset))):
        rx = codec.rx
        assert rx is not None
        rx.clock = clock
        rx.ticks_done = 0
    for t in [0, 999, 1000, 1001, 21_832, 21_833, 21_834, 42_666, 42_667, 1_000_000, 1_000_001, 5_000_000]:
        for codec in (plain, sub):
            assert codec.rx is not None
            codec.rx.advance(t, unbounded=True)
        assert plain.rx is not None and sub.rx is not None
        assert plain.rx.ticks_done == sub.rx.ticks_done == TickClock(1000, 10**9, 48_000, offset).count(t)
        assert plain.rx.fifo == sub.rx.fifo
    assert isinstance(sub.rx.clock, _CountingClock) and sub.rx.clock.asked == 12


def test_codec_ticks_play_from_the_fifo_then_silence() -> None:
    codec = I2s("i2s0", capture=None)
    tx = codec.tx
    assert tx is not None
    tx.fifo += bytes(range(1, 11))  # two frames and a half
    tx._start(0)
    tx._ticks(1, False)
    assert (codec._played.data(), bytes(tx.fifo), tx.drained, codec._underruns) == (bytes(range(1, 5)),
                                                                                    bytes(range(5, 11)), 4, 0)
    tx._ticks(3, False)  # one frame from the FIFO, two silent; the half frame stays
    assert codec._played.data() == bytes(range(1, 9)) + bytes(8)
    assert (bytes(tx.fifo), tx.drained, codec._underruns, tx.ticks_done) == (bytes([9, 10]), 8, 2, 4)
    tx.fifo += bytes([11, 12]) + bytes(range(13, 21))
    tx._ticks(3, False)  # exactly the FIFO
    assert codec._played.data()[-12:] == bytes(range(9, 21)) and not tx.fifo
    assert (tx.drained, codec._underruns, tx.ticks_done) == (20, 2, 7)


def test_fifo_pop_is_exact_and_refuses_an_overdraw() -> None:
    codec = I2s("i2s0")
    rx = codec.rx
    assert rx is not None
    rx.fifo += bytes(range(12))
    assert rx._pop(4) == bytes(range(4)) and rx.popped == 4
    assert rx._pop(8) == bytes(range(4, 12)) and rx.popped == 12 and not rx.fifo
    rx.fifo += b"ab"
    with pytest.raises(AssertionError, match=r"^i2s0\.rx: DMA read of 3 bytes from a FIFO holding 2$"):
        rx._pop(3)
    assert rx.fifo == b"ab" and rx.popped == 12


def test_byte_capture_keeps_bytearray_chunks_and_reads_bytes() -> None:
    cap = ByteCapture(10)
    cap.append(bytearray(b"abcd"))
    assert type(cap.data()) is bytes and cap.data() == b"abcd"
    cap.append(bytearray(b"efghij"))
    cap.append(b"kl")  # over the bound: the oldest two bytes go
    assert (cap.data(), cap.start, cap.total, cap.dropped) == (b"cdefghijkl", 2, 12, 2)
    cap.append(bytearray(b"mnop"))
    assert type(cap.take()) is bytes and (cap.data(), cap.total, cap.dropped) == (b"", 16, 6)


def test_codec_capture_bound_on_the_steady_path() -> None:
    """The codec's steady ticks keep their frames in the capture as ByteCapture.append would."""
    codec = I2s("i2s0", capture=10)
    tx = codec.tx
    assert tx is not None
    tx.fifo += bytes(range(1, 25))
    tx._start(0)
    tx._ticks(2, False)  # 8 bytes kept, within the bound: the inlined append
    tx._ticks(1, False)  # 12 bytes: over the bound, the oldest 2 go
    assert (codec._played.data(), codec._played.dropped, codec._played.total) == (bytes(range(3, 13)), 2, 12)
    tx._ticks(3, False)  # exactly the FIFO, over the bound
    assert (codec._played.data(), codec._played.dropped, codec._played.total) == (bytes(range(15, 25)), 14, 24)
