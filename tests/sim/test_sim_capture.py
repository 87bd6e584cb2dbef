"""Bounded, drainable peripheral captures (issue 7 item 14), and line instants kept as runs (issue 14 item 2)."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import BusWidth, ConfigError, SlaveConfig, TransferDirection
from dmaengine.sim import I2s, Soc, Uart
from dmaengine.sim._capture import ByteCapture, TickRuns
from dmaengine.sim._kernel import TickClock

BYTE_NS = 10 * 10**9 / 115_200


def _uart_send(uart: Uart, data: bytes, fast: bool = True) -> Soc:
    soc = Soc(peripherals=[uart], fast=fast)
    tx = soc.request_chan(uart.name, "tx")
    tx.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    tx.prep_slave_single(soc.map(buf).addr, len(data), TransferDirection.MEM_TO_DEV).submit()
    tx.issue_pending()
    soc.run_until_idle()
    return soc


@pytest.mark.parametrize("bad", [-1, 1.5, True, "x"])
def test_capture_must_be_a_byte_count(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^capture must be None or a number of bytes >= 0, not "):
        Uart("u", capture=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^capture must be None or a number of bytes >= 0, not "):
        I2s("c", capture=bad)  # type: ignore[arg-type]


def test_uart_line_instants_are_exact_and_take_output_drains() -> None:
    data = bytes(range(200))
    ref = _uart_send(Uart("uart0", capture=None), data, fast=False).peripheral("uart0")
    uart = Uart("uart0", capture=None)
    _uart_send(uart, data)
    times = uart.output_ns
    assert uart.output == data and times == ref.output_ns  # type: ignore[attr-defined]
    # one byte every 10 bit times from the first start bit (at the first burst's landing: fetch 100 + 40 ns)
    assert times == [140 + (j * 10 * 10**9) // 115_200 for j in range(200)]
    assert uart.take_output() == (data, times)
    assert (uart.output, uart.output_ns, uart.bytes_sent, uart.output_dropped) == (b"", [], 200, 0)


def test_uart_capture_keeps_the_most_recent_bytes_with_their_instants() -> None:
    data = bytes(range(100))
    uart = Uart("uart0", capture=30)
    _uart_send(uart, data)
    assert uart.output == data[70:]
    assert uart.output_ns == [140 + (j * 10 * 10**9) // 115_200 for j in range(70, 100)]
    assert (uart.bytes_sent, uart.output_dropped) == (100, 70)


def test_codec_capture_bound_and_take_played() -> None:
    codec = I2s("i2s0", capture=4000)
    soc = Soc(peripherals=[codec])
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = (np.arange(4096) % 251).astype(np.uint8)
    chan.prep_dma_cyclic(soc.map(ring).addr, 4096, 1024, TransferDirection.MEM_TO_DEV).submit()
    chan.issue_pending()
    soc.run(until=0.01)  # frames at 180 ns + k / 48 kHz: 480 frames by 10 ms
    assert codec.frames_played == 480 and codec.underruns == 0
    played = codec.played
    assert len(played) == 1920 and played == np.resize(ring, 1920).tobytes()
    assert codec.take_played() == played and codec.played == b"" and codec.played_dropped == 0
    soc.run(until=0.1)  # 4800 frames in all; 4000 bytes kept of the 11280 played since the take
    assert codec.frames_played == 4800
    assert codec.played == np.resize(ring, 4 * 4800)[-4000:].tobytes()
    assert codec.played_dropped == 4 * 4800 - 1920 - 4000


def test_byte_capture_and_tick_runs_units() -> None:
    cap = ByteCapture(5)
    for chunk in (b"ab", b"cde", b"fghij", b"k"):
        cap.append(chunk)
    assert (cap.data(), cap.total, cap.start, cap.dropped) == (b"ghijk", 11, 6, 6)
    cap.append(b"0123456789")
    assert (cap.take(), cap.data(), cap.start, cap.dropped) == (b"56789", b"", 21, 16)
    clock = TickClock(1000, 7, 3)
    runs = TickRuns()
    runs.append(0, clock, 0, 4)
    runs.append(4, clock, 4, 2)  # merges
    runs.append(6, TickClock(5000, 1, 1), 0, 2)
    assert runs.times(0, 8) == [1000, 1002, 1004, 1007, 1009, 1011, 5000, 5001]
    runs.forget(3)
    assert runs.times(0, 8) == [1007, 1009, 1011, 5000, 5001]
