"""Slave and cyclic DMA against RTL: the controller feeds and drains an RTL UART's FIFOs on its request lines."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, ConfigError, DataDirection, Result, SlaveConfig, Status, TransferDirection

rtl = pytest.importorskip("dmaengine.rtl")

M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM
CHAR_NS = 86806  # 10 bits at 115200 baud


def stored(arrival_ns: int) -> int:
    """When a character arriving at ``arrival_ns`` is in memory: its strobe lands at the next clock edge, then
    the grant, the FIFO read and the memory write take 3 cycles."""
    return (arrival_ns // 10 + 1) * 10 + 30


@pytest.fixture
def soc() -> Iterator[object]:
    s = rtl.RtlSoc(peripherals=[rtl.RtlUart("uart0")])
    yield s
    s.close()


def tx_config(uart: object, width: BusWidth = BusWidth.BYTES_1, burst: int = 1) -> SlaveConfig:
    return SlaveConfig(direction=M2D, dst_addr=uart.tx_fifo_addr, dst_addr_width=width,  # type: ignore[attr-defined]
                       dst_maxburst=burst)


def rx_config(uart: object) -> SlaveConfig:
    return SlaveConfig(direction=D2M, src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1,  # type: ignore[attr-defined]
                       src_maxburst=1)


def test_tx_sends_every_byte_at_the_baud_rate(soc) -> None:
    uart = soc.peripheral("uart0")
    msg = np.frombuffer(b"hello, world\r\n", dtype=np.uint8)
    with soc.request_chan("uart0", "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(tx_config(uart))
        cookie = chan.prep_slave_single(m.addr, len(msg), M2D).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        done_ns = soc.now_ns
        soc.run_until_idle()
        idle_ns = soc.now_ns
    assert bytes(uart.output) == b"hello, world\r\n"
    # The 14 characters fit the 16-deep FIFO: the transfer ends long before the line does.
    assert done_ns == 480
    first = uart.output_ns[0]
    assert uart.output_ns == [first + k * CHAR_NS for k in range(14)]
    assert idle_ns == first + 14 * CHAR_NS  # run_until_idle waited for the last stop bit


def test_tx_longer_than_the_fifo_follows_the_line(soc) -> None:
    uart = soc.peripheral("uart0")
    msg = (np.arange(40) % 26 + 65).astype(np.uint8)
    with soc.request_chan("uart0", "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(tx_config(uart))
        cookie = chan.prep_slave_single(m.addr, 40, M2D).submit()
        chan.issue_pending()
        soc.run_for(3 * CHAR_NS / 1e9)
        residue = chan.tx_status(cookie)[1].residue
        assert residue == 40 - 16 - 3  # the FIFO filled, then one more for each character the line took
        assert chan.sync_wait(cookie, timeout=1.0) == Status.COMPLETE
        soc.run_until_idle()
    assert bytes(uart.output) == msg.tobytes()


def test_rx_receives_what_arrives_on_the_line(soc) -> None:
    uart = soc.peripheral("uart0")
    buf = np.zeros(8, dtype=np.uint8)
    with soc.request_chan("uart0", "rx") as chan, soc.map(buf, DataDirection.FROM_DEVICE) as m:
        chan.slave_config(rx_config(uart))
        cookie = chan.prep_slave_single(m.addr, 8, D2M).submit()
        chan.issue_pending()
        t0 = soc.now_ns
        uart.feed(b"abcdefgh")
        assert chan.sync_wait(cookie, timeout=1.0) == Status.COMPLETE
        assert soc.now_ns == stored(t0 + 8 * CHAR_NS)
    assert bytes(buf) == b"abcdefgh"


def test_slave_sg_spans_segments(soc) -> None:
    uart = soc.peripheral("uart0")
    parts = [np.frombuffer(p, dtype=np.uint8) for p in (b"one ", b"two ", b"three\n")]
    with soc.request_chan("uart0", "tx") as chan, soc.map_sg(parts, DataDirection.TO_DEVICE) as sg:
        chan.slave_config(tx_config(uart))
        assert chan.sync_wait(chan.prep_slave_sg(sg, M2D).submit()) == Status.COMPLETE
        soc.run_until_idle()
    assert bytes(uart.output) == b"one two three\n"


def test_cyclic_rx_calls_back_every_period_and_wraps(soc) -> None:
    uart = soc.peripheral("uart0")
    ring = np.zeros(16, dtype=np.uint8)
    periods: list[int] = []
    data = bytes(range(65, 65 + 24))
    with soc.request_chan("uart0", "rx") as chan, soc.map(ring, DataDirection.FROM_DEVICE) as m:
        chan.slave_config(rx_config(uart))
        tx = chan.prep_dma_cyclic(m.addr, 16, 4, D2M)
        tx.callback = lambda p: periods.append(soc.now_ns)
        cookie = tx.submit()
        chan.issue_pending()
        t0 = soc.now_ns
        uart.feed(data)
        soc.run_for(25 * CHAR_NS / 1e9)
        assert chan.tx_status(cookie)[0] == Status.IN_PROGRESS
        chan.terminate_sync()
    assert len(periods) == 6
    assert periods == [stored(t0 + 4 * k * CHAR_NS) + 1000 for k in range(1, 7)]  # bottom halves: 1 us later
    assert bytes(ring) == data[16:24] + data[8:16]


def test_cyclic_tx_repeats_the_buffer_until_terminated(soc) -> None:
    uart = soc.peripheral("uart0")
    ring = np.frombuffer(b"0123", dtype=np.uint8)
    calls = [0]
    with soc.request_chan("uart0", "tx") as chan, soc.map(ring, DataDirection.TO_DEVICE) as m:
        chan.slave_config(tx_config(uart))
        tx = chan.prep_dma_cyclic(m.addr, 4, 2, M2D)
        tx.callback = lambda p: calls.__setitem__(0, calls[0] + 1)
        tx.submit()
        chan.issue_pending()
        soc.run_for(40 * CHAR_NS / 1e9)
        chan.terminate_sync()
        soc.run_until_idle()
    out = bytes(uart.output)
    assert len(out) >= 40 and out == (b"0123" * len(out))[: len(out)]
    assert calls[0] >= 20


def test_pause_holds_a_slave_transfer_and_resume_finishes_it(soc) -> None:
    uart = soc.peripheral("uart0")
    msg = (np.arange(48) % 26 + 97).astype(np.uint8)
    with soc.request_chan("uart0", "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(tx_config(uart))
        cookie = chan.prep_slave_single(m.addr, 48, M2D).submit()
        chan.issue_pending()
        soc.run_for(2 * CHAR_NS / 1e9)
        chan.pause()
        soc.run_for(1e-6)
        held = chan.tx_status(cookie)
        soc.run_for(0.01)  # the FIFO drains; the controller moves nothing
        assert chan.tx_status(cookie) == held and held[0] == Status.PAUSED
        assert len(uart.output) == 48 - held[1].residue
        chan.resume()
        assert chan.sync_wait(cookie, timeout=1.0) == Status.COMPLETE
        soc.run_until_idle()
    assert bytes(uart.output) == msg.tobytes()


def test_a_beat_the_uart_does_not_take_is_a_bus_error(soc) -> None:
    uart = soc.peripheral("uart0")
    msg = np.zeros(8, dtype=np.uint8)
    results = []
    with soc.request_chan("uart0", "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(tx_config(uart, BusWidth.BYTES_4))  # a 32-bit beat into a byte FIFO
        tx = chan.prep_slave_single(m.addr, 8, M2D)
        tx.callback_result = lambda p, r: results.append(r)
        assert chan.sync_wait(tx.submit()) == Status.ERROR
        chan.synchronize()
    assert [(r.result, r.residue) for r in results] == [(Result.WRITE_FAILED, 8)]
    assert uart.output == bytearray()


def test_slave_bad_input(soc) -> None:
    uart = soc.peripheral("uart0")
    with soc.request_chan("uart0", "tx") as chan:
        with pytest.raises(ConfigError, match=r"^dma0chan0: no slave_config before a slave transfer$"):
            chan.prep_slave_single(0x1000_0000, 8, M2D)
        chan.slave_config(SlaveConfig(direction=M2D, dst_addr=0x1_0000_0000, dst_addr_width=BusWidth.BYTES_1))
        with pytest.raises(ConfigError, match=r"^dst_addr 0x100000000 \(\+1 bytes\) is outside the 32-bit DMA"):
            chan.prep_slave_single(0x1000_0000, 8, M2D)
        chan.slave_config(tx_config(uart, BusWidth.BYTES_2))
        with pytest.raises(ConfigError, match=r"^length 7 is not a multiple of dst_addr_width 2$"):
            chan.prep_slave_single(0x1000_0000, 7, M2D)
    with soc.request_channel(Cap.SLAVE) as chan:
        chan.slave_config(tx_config(uart))
        with pytest.raises(ConfigError, match=r"^dma0chan0 has no request line"):
            chan.prep_slave_single(0x1000_0000, 8, M2D)
    with pytest.raises(ConfigError, match=r"^no peripheral named 'uart9' \(there are: uart0\)$"):
        soc.peripheral("uart9")
