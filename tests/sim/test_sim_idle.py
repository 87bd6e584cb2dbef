"""run_until_idle waits for the peripherals' own work: a UART line draining its FIFO, bytes still arriving."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import BusWidth, DataDirection, SlaveConfig, Status, TransferDirection
from dmaengine.sim import Soc


def test_run_until_idle_drains_the_uart_line() -> None:
    soc = Soc()
    uart = soc.peripheral("uart0")
    msg = np.frombuffer(b"hello, world\r\n", dtype=np.uint8)
    with soc.request_chan("uart0", "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=1))
        cookie = chan.prep_slave_single(m.addr, msg.nbytes, TransferDirection.MEM_TO_DEV).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        assert len(uart.output) < msg.nbytes  # the DMA is done; the line is not
        soc.run_until_idle()
    assert uart.output == msg.tobytes()
    first = uart.output_ns[0]
    assert soc.now_ns == first + msg.nbytes * 10 * 10**9 // 115_200 == uart.tx_done_ns


def test_run_until_idle_waits_for_fed_bytes_and_times_out() -> None:
    soc = Soc()
    uart = soc.peripheral("uart1")
    uart.feed(b"abc")
    soc.run_until_idle()
    assert soc.now_ns == 3 * 10 * 10**9 // 115_200  # the third stop bit ends
    uart.feed(bytes(1000))  # 86.8 ms of line time
    with pytest.raises(TimeoutError, match="still busy after 0.01 s"):
        soc.run_until_idle(timeout=0.01)
    assert soc.now_ns == 3 * 10 * 10**9 // 115_200 + 10_000_000
