"""Determinism, the demos, the benchmark module and the public face of dmaengine.sim."""

from __future__ import annotations

import importlib.util
import pathlib
import wave

import numpy as np
import pytest

import dmaengine.sim as sim
from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine.sim import Soc, audio_demo, uart_demo

ROOT = pathlib.Path(__file__).resolve().parents[2]


def busy_world(fast: bool = True) -> tuple[list[tuple[int, str]], bytes, bytes]:
    """UART TX and RX, cyclic audio with a lagging bottom half, a copy and an ADC capture, all at once."""
    soc = Soc(trace=True, fast=fast, bh_latency_ns=7_000)
    uart, codec, adc = soc.peripheral("uart0"), soc.peripheral("i2s0"), soc.peripheral("adc0")
    tx, rx = soc.request_chan("uart0", "tx"), soc.request_chan("uart0", "rx")
    tx.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=2))
    msg = np.frombuffer(b"deterministic " * 8, dtype=np.uint8)
    tx.prep_slave_single(soc.map(msg, DataDirection.TO_DEVICE).addr, msg.nbytes, TransferDirection.MEM_TO_DEV).submit()
    rbuf = np.zeros(24, dtype=np.uint8)
    rx.prep_slave_single(soc.map(rbuf).addr, 24, TransferDirection.DEV_TO_MEM).submit()
    aud = soc.request_chan("i2s0", "tx")
    aud.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=4))
    ring = (np.arange(4096) % 199).astype(np.uint8)
    cyc = aud.prep_dma_cyclic(soc.map(ring).addr, 4096, 512, TransferDirection.MEM_TO_DEV)
    cyc.callback = lambda _: ring.__setitem__(slice(0, 16), ring[0] + 1)
    cyc.submit()
    mc = soc.request_channel(Cap.MEMCPY)
    a, b = np.arange(50_000, dtype=np.uint8), np.zeros(50_000, dtype=np.uint8)
    mc.prep_dma_memcpy(soc.map(b).addr, soc.map(a).addr, a.nbytes).submit()
    ad = soc.request_chan("adc0", "rx")
    ad.slave_config(SlaveConfig(src_addr=adc.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=2))
    cap = np.zeros(64, dtype=np.uint16)
    ad.prep_slave_single(soc.map(cap).addr, cap.nbytes, TransferDirection.DEV_TO_MEM).submit()
    for c in (tx, rx, aud, mc, ad):
        c.issue_pending()
    uart.feed(b"the quick brown fox jumps")
    soc.run_for(0.004)
    aud.pause()
    soc.run_for(0.001)
    aud.resume()
    soc.run_for(0.02)
    assert soc.kernel.trace is not None
    assert rbuf.tobytes() == b"the quick brown fox jump" and (a == b).all() and (cap == adc.expected(0, 64)).all()
    return list(soc.kernel.trace), uart.output, codec.played


def test_same_inputs_same_event_trace() -> None:
    t1, out1, played1 = busy_world()
    t2, out2, played2 = busy_world()
    assert t1 == t2 and out1 == out2 and played1 == played2
    assert len(t1) > 50  # 500+ before round-robin runs of the copy's bursts were computed
    assert {label.rstrip("0123456789") for _, label in t1} >= {"fetch", "burst", "dreq", "dma0-bh"}
    # The closed-form plans change the events, never what the hardware did.
    _, out3, played3 = busy_world(fast=False)
    assert out3 == out1 and played3 == played1


def test_audio_demo_is_bit_identical_when_the_client_keeps_up(tmp_path: pathlib.Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.wav"
    audio_demo.write_tone(str(src), seconds=0.3)
    out = tmp_path / "out.wav"
    assert audio_demo.main([str(src), "-o", str(out), "--period-frames", "512"]) == 0
    text = capsys.readouterr().out
    assert "played 14400 frames at 48000 Hz" in text and "codec underruns: 0, stale periods: 0" in text
    assert "is bit-identical to the input" in text
    with wave.open(str(src)) as w1, wave.open(str(out)) as w2:
        assert w1.readframes(10**6) == w2.readframes(10**6)
        assert (w2.getframerate(), w2.getnchannels(), w2.getsampwidth()) == (48_000, 2, 2)


def test_audio_demo_reports_stalls_and_late_refills(capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_demo.main(["--stall-ms", "5"]) == 0
    text = capsys.readouterr().out
    assert "codec underruns: 224" in text and "is NOT bit-identical" in text  # 240 ticks - 16 frames in the FIFO
    assert audio_demo.main(["--app-latency-ms", "70"]) == 0
    text = capsys.readouterr().out
    assert "codec underruns: 0" in text and "stale periods: 0" not in text


def test_audio_demo_without_arguments_generates_a_tone(capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_demo.main([]) == 0
    assert "played 48000 frames" in capsys.readouterr().out


def test_uart_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert uart_demo.main([]) == 0
    text = capsys.readouterr().out
    assert "line bytes: b'\\r\\nsim login: Welcome, root!\\r\\n'" in text
    assert "TX done: 13 bytes in 1.1285 ms (8N1 at 115200 baud: 1.1285 ms)" in text
    assert "RX slave_sg complete: b'root\\r\\n' (0.5208 ms after the first start bit)" in text
    r = uart_demo.console(baud=9600, reply=b"x\r\n", verbose=False)
    assert r["output"] == b"\r\nsim login: Welcome, x!\r\n" and r["overruns"] == 0


def test_demo_parsers_are_hookable() -> None:
    for mod in (audio_demo, uart_demo):
        p = mod.build_parser()
        assert p.prog.startswith("dmaengine ")
        assert callable(mod.main)


def test_benchmark_module_runs_briefly() -> None:
    spec = importlib.util.spec_from_file_location("bench_sim", ROOT / "benchmarks" / "bench_sim.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    problems: list[str] = []
    for fn, arg, virtual in ((bench.playback, 1.0, 1.0), (bench.busy, 0.05, 0.05), (bench.memcpy8, 4096, 82_020e-9),
                             (bench.uart, 256, 22_222_402e-9)):
        v, cpu = fn(problems, arg)
        assert (v, problems) == (virtual, []) and cpu >= 0


def test_public_names_are_exported_once_and_documented() -> None:
    assert len(sim.__all__) == len(set(sim.__all__))
    for name in sim.__all__:
        obj = getattr(sim, name)
        assert obj.__doc__, name
        assert obj.__module__.startswith("dmaengine.sim"), name


def test_audio_demo_rejects_a_file_that_is_not_a_wav(tmp_path: pathlib.Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not a wav at all")
    assert audio_demo.main([str(bad)]) == 2
    assert capsys.readouterr().err == f"dmaengine audio: error: cannot play {bad}: file does not start with RIFF id\n"


def _wav(path: pathlib.Path, width: int, fmt: int = 1) -> None:
    import struct
    import wave

    if fmt == 1:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(width)
            w.setframerate(48_000)
            w.writeframes(bytes(2 * width * 480))
        return
    data = bytes(8 * 480)  # an IEEE float WAV (format 3), which the wave module cannot read
    fmt_chunk = struct.pack("<HHIIHH", fmt, 2, 48_000, 48_000 * 8, 8, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data" + struct.pack("<I", len(data))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data)


@pytest.mark.parametrize(("width", "fmt", "why"), [
    (3, 1, "24-bit samples are not supported (the codec plays 8- or 16-bit PCM)"),
    (4, 3, "not a PCM WAV file (float and extensible WAV formats are not supported)"),
])
def test_audio_demo_refuses_wav_formats_it_cannot_play_in_one_line(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], width: int, fmt: int, why: str) -> None:
    path = tmp_path / "in.wav"
    _wav(path, width, fmt)
    assert audio_demo.main([str(path)]) == 2
    assert capsys.readouterr().err == f"dmaengine audio: error: cannot play {path}: {why}\n"


def test_audio_demo_refuses_a_ring_of_one_period(capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_demo.main(["--periods", "1"]) == 2
    assert capsys.readouterr().err == "dmaengine audio: error: --periods must be >= 2, not 1\n"


def test_a_trace_of_the_soc_is_in_virtual_time() -> None:
    import dmaengine.trace

    soc = Soc()
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    soc.run_for(0.001)
    with dmaengine.trace.record() as tr:
        buf = np.arange(64, dtype=np.uint8)
        chan.sync_wait(chan.prep_slave_single(soc.map(buf).addr, 64, TransferDirection.MEM_TO_DEV).submit())
    ev = {e.kind: e.ts for e in tr.events}
    assert list(ev) == ["prep", "submit", "issue", "start", "fifo", "complete"]
    assert ev["start"] == 0.001 and ev["complete"] == ev["fifo"] == (1_000_000 + 2_691_232) / 1e9
    (fifo,) = [e.args for e in tr.events if e.kind == "fifo"]
    assert fifo == {"port": "uart0.tx", "level": 32}  # the last burst filled the FIFO


def test_audio_demo_full_duplex_capture(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "cap.wav"
    assert audio_demo.main(["--capture", str(cap)]) == 0
    text = capsys.readouterr().out
    assert "is bit-identical to the input" in text
    assert f"captured 47104 frames into {cap}, 0 overruns" in text  # 46 whole periods of 1024 frames
    with wave.open(str(cap)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (48_000, 2, 2, 47104)
        assert w.readframes(47104) == sim.sine_frames(440.0, 48_000, 2, 2)(0, 47104)
