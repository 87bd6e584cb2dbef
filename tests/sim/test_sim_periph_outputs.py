"""The simulated peripherals' outputs, pinned exactly on their per-burst paths (issue 14: the sine sources computed
a block at a time, the inlined tick count, the codec's steady ticks, the FIFO pop).

Every pinned value below was produced by the code before these changes (main at 77100e4); each scenario runs
with the compiled core and without it, planned (``Soc()``) and burst by burst (``Soc(fast=False)``).
"""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dmaengine import BusWidth, SlaveConfig, TransferDirection, _native
from dmaengine.sim import Adc, I2s, Soc, Uart

M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM


@pytest.fixture(params=["compiled", "pure"])
def core(request: pytest.FixtureRequest) -> Iterator[str]:
    saved = _native.core
    if request.param == "compiled" and saved is None:
        pytest.skip("the compiled core is not loaded")
    _native.core = saved if request.param == "compiled" else None
    try:
        yield request.param
    finally:
        _native.core = saved


def h(b: object) -> str:
    return hashlib.sha256(bytes(b)).hexdigest()[:16]  # type: ignore[call-overload]

def busy(fast: bool, sim_ns: int = 250_000_000) -> dict[str, object]:
    codec, adc, uart = I2s("i2s0", capture=None), Adc("adc0", rate_hz=8_000, freq_hz=50.0), Uart("uart0", capture=None)
    soc = Soc(peripherals=[codec, adc, uart], fast=fast)
    seen: list[tuple[str, int, str]] = []

    def cyc(name: str, port_name: str, addr: int, width: BusWidth, burst: int, nbytes: int, periods: int,
            d: TransferDirection) -> None:
        ch = soc.request_chan(port_name, "tx" if d is M2D else "rx")
        if d is M2D:
            ch.slave_config(SlaveConfig(dst_addr=addr, dst_addr_width=width, dst_maxburst=burst))
            ring = (np.arange(nbytes * periods) * 7 % 251).astype(np.uint8)
        else:
            ch.slave_config(SlaveConfig(src_addr=addr, src_addr_width=width, src_maxburst=burst))
            ring = np.zeros(nbytes * periods, dtype=np.uint8)
        tx = ch.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, nbytes, d)

        def cb(_: object) -> None:
            seen.append((name, soc.now_ns, h(ring)))

        tx.callback = cb
        tx.submit()
        ch.issue_pending()

    cyc("play", "i2s0", codec.tx_fifo_addr, BusWidth.BYTES_4, 8, 480 * 4, 4, M2D)
    cyc("rec", "i2s0", codec.rx_fifo_addr, BusWidth.BYTES_4, 8, 480 * 4, 4, D2M)
    cyc("adc", "adc0", adc.rx_fifo_addr, BusWidth.BYTES_2, 4, 80 * 2, 4, D2M)
    cyc("urx", "uart0", uart.rx_fifo_addr, BusWidth.BYTES_1, 1, 16, 4, D2M)
    ut = soc.request_chan("uart0", "tx")
    ut.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    log = np.frombuffer(bytes(range(32, 127)) * 20, dtype=np.uint8)[:1500].copy()
    ut.prep_slave_single(soc.map(log).addr, log.nbytes, M2D).submit()
    ut.issue_pending()
    for k in range(25):
        soc.run(until=(k + 1) * 0.01)
        uart.feed(bytes([k]) * 13)
    soc.run(until=sim_ns / 1e9)
    times = uart.output_ns
    return {"seen": h(repr(seen).encode()), "n_seen": len(seen), "played": h(codec.played),
            "frames_played": codec.frames_played, "underruns": codec.underruns, "rx_overruns": codec.rx_overruns,
            "adc_overruns": adc.overruns, "uart_out": h(uart.output), "uart_ns": h(repr(times).encode()),
            "uart_n": len(times), "uart_first_last": [times[0], times[-1]], "uart_overruns": uart.overruns,
            "last": list(seen[-1][:2])}

def single_rx_overrun(fast: bool) -> dict[str, object]:
    codec, adc = I2s("i2s0", capture=None), Adc("adc0")
    soc = Soc(peripherals=[codec, adc], fast=fast)
    out: dict[str, np.ndarray] = {}
    for name, p, addr, width, nb in (("i2s", "i2s0", codec.rx_fifo_addr, BusWidth.BYTES_4, 4800),
                                     ("adc", "adc0", adc.rx_fifo_addr, BusWidth.BYTES_2, 1000)):
        ch = soc.request_chan(p, "rx")
        ch.slave_config(SlaveConfig(src_addr=addr, src_addr_width=width, src_maxburst=4))
        buf = np.zeros(nb, dtype=np.uint8)
        t = ch.prep_slave_single(soc.map(buf).addr, nb, D2M)
        t.submit()
        ch.issue_pending()
        out[name] = buf
    soc.run(until=0.2)
    return {"i2s": h(out["i2s"]), "adc": h(out["adc"]), "i2s_ov": codec.rx_overruns, "adc_ov": adc.overruns,
            "i2s_first": out["i2s"][:16].tolist(), "adc_first": out["adc"][:16].tolist()}

def tx_underrun(fast: bool) -> dict[str, object]:
    codec = I2s("i2s0", capture=None)
    soc = Soc(peripherals=[codec], fast=fast)
    ch = soc.request_chan("i2s0", "tx")
    ch.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    buf = (np.arange(4096) % 253).astype(np.uint8)
    ch.prep_slave_single(soc.map(buf).addr, 4096, M2D).submit()
    ch.issue_pending()
    soc.run(until=0.03)
    a = (codec.frames_played, codec.underruns, h(codec.played))
    t0 = codec.frame_time_ns(0)
    ch.prep_slave_single(soc.map(buf).addr, 4096, M2D).submit()
    ch.issue_pending()
    soc.run(until=0.06)
    return {"a": list(a), "b": [codec.frames_played, codec.underruns, h(codec.played)], "t0": t0,
            "t1000": codec.frame_time_ns(1000)}

def wav_rx(fast: bool, path: str) -> dict[str, object]:
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes((np.arange(300 * 4) % 256).astype(np.uint8).tobytes())
    codec = I2s("i2s0", rx_source=path)
    soc = Soc(peripherals=[codec], fast=fast)
    ch = soc.request_chan("i2s0", "rx")
    ch.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth.BYTES_4, src_maxburst=8))
    ring = np.zeros(4 * 128 * 4, dtype=np.uint8)
    t = ch.prep_dma_cyclic(soc.map(ring).addr, ring.nbytes, ring.nbytes // 4, D2M)
    got: list[np.ndarray] = []
    t.callback = lambda _: got.append(ring.copy())
    t.submit()
    ch.issue_pending()
    soc.run(until=0.02)
    return {"got": h(b"".join(g.tobytes() for g in got)), "n": len(got), "ov": codec.rx_overruns}


#: The outputs of the scenarios above before the change (identical planned and burst by burst).
PINNED: dict[str, dict[str, object]] = {
    "busy": {"adc_overruns": 0,
     "frames_played": 12000,
     "last": ["play", 249647093],
     "n_seen": 92,
     "played": "d6bd553bb87d7e79",
     "rx_overruns": 0,
     "seen": "49c56d94cb8df68f",
     "uart_first_last": [260, 130121787],
     "uart_n": 1500,
     "uart_ns": "095582d4d5dd49bc",
     "uart_out": "a8907a56b70e5372",
     "uart_overruns": 0,
     "underruns": 0},
    "single_rx_overrun": {"adc": "bc72eb58ea15b170",
     "adc_first": [0, 8, 80, 8, 161, 8, 241, 8, 64, 9, 143, 9, 222, 9, 44, 10],
     "adc_ov": 1083,
     "i2s": "1a6a1403bd78cafe",
     "i2s_first": [0, 0, 0, 0, 216, 1, 216, 1, 174, 3, 174, 3, 128, 5, 128, 5],
     "i2s_ov": 8383},
    "tx_underrun": {"a": [1440, 416, "7cf3f95664d178c5"], "b": [2880, 832, "ea4bc8c8366a2d75"], "t0": 180,
                    "t1000": 20833513},
    "wav_rx": {"got": "797e56774f1f34c1", "n": 7, "ov": 0},
}


@pytest.mark.parametrize("fast", [True, False], ids=["planned", "reference"])
def test_busy_soc_outputs_are_pinned(core: str, fast: bool) -> None:
    """Full-duplex I2S, the ADC and UART RX in cyclic DMA, UART TX: ring bytes at every callback instant, played
    bytes, line bytes and their instants, every counter."""
    assert busy(fast) == PINNED["busy"]


@pytest.mark.parametrize("fast", [True, False], ids=["planned", "reference"])
def test_sampled_rx_overruns_are_pinned(core: str, fast: bool) -> None:
    """The codec's and the ADC's samples (the default sines) and the overruns counted once the FIFO is full."""
    assert single_rx_overrun(fast) == PINNED["single_rx_overrun"]


@pytest.mark.parametrize("fast", [True, False], ids=["planned", "reference"])
def test_codec_underruns_are_pinned(core: str, fast: bool) -> None:
    """The codec plays silence once its FIFO runs dry, and counts it; frame instants stay exact."""
    assert tx_underrun(fast) == PINNED["tx_underrun"]


@pytest.mark.parametrize("fast", [True, False], ids=["planned", "reference"])
def test_wav_source_is_pinned(core: str, fast: bool, tmp_path: Path) -> None:
    """A WAV file shorter than the capture: its frames, then silence."""
    assert wav_rx(fast, str(tmp_path / "in.wav")) == PINNED["wav_rx"]
