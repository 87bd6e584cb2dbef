"""Exact virtual-time behaviour of the simulated SoC (default: 400 MB/s bus = 10 ns per beat, 100 ns fetch)."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, Status, TransferDirection
from dmaengine.sim import Soc

M2D = TransferDirection.MEM_TO_DEV
BYTE_NS = 10 * 10**9  # numerator of one 8N1 byte time: 10 bits


def uart_tx(soc: Soc, data: bytes, burst: int = 8, name: str = "uart0"):
    uart = soc.peripheral(name)
    chan = soc.request_chan(name, "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=burst))
    buf = np.frombuffer(data, dtype=np.uint8).copy()
    m = soc.map(buf, DataDirection.TO_DEVICE)
    tx = chan.prep_slave_single(m.addr, len(data), M2D)
    return uart, chan, tx, m


@pytest.mark.parametrize("fast", [True, False])
def test_64_bytes_through_uart0_leave_the_line_5_5556_ms_after_the_first_start_bit(fast: bool) -> None:
    soc = Soc(fast=fast)
    data = bytes(range(64))
    uart, chan, tx, _ = uart_tx(soc, data)
    cookie = tx.submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    # The DMA finishes when the last burst of 8 lands: 32 bytes drained (byte 31 starts), + one 80 ns burst.
    assert soc.now_ns == 180 + (31 * BYTE_NS) // 115200 + 80 == 2_691_232
    soc.run(until=uart.tx_done_ns / 1e9)
    assert uart.output == data
    ns = uart.output_ns
    assert ns[0] == 180  # 100 ns descriptor fetch + 8 beats of 10 ns
    assert ns == [180 + (j * BYTE_NS) // 115200 for j in range(64)]
    assert uart.tx_done_ns - ns[0] == 5_555_555  # 64 * 10 / 115200 s
    assert soc.now_ns == 5_555_735


@pytest.mark.parametrize("fast", [True, False])
def test_memcpy_takes_the_time_the_bus_allows(fast: bool) -> None:
    soc = Soc(fast=fast, bus_bytes_per_s=100_000_000)
    a = np.arange(100_000, dtype=np.uint32).view(np.uint8)[:100_000].copy()
    b = np.zeros_like(a)
    with soc.request_channel(Cap.MEMCPY) as chan, soc.map(a) as ma, soc.map(b) as mb:
        cookie = chan.prep_dma_memcpy(mb.addr, ma.addr, a.nbytes).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        assert soc.now_ns == 100 + 1_000_000  # 100 kB at 100 MB/s after the fetch
    assert (a == b).all()


@pytest.mark.parametrize("fast", [True, False])
def test_two_copies_share_the_bus_round_robin(fast: bool) -> None:
    soc = Soc(fast=fast, bh_latency_ns=0)  # one bottom half per device: a latency would merge the two runs
    n = 64 * 1024
    srcs = [np.full(n, i + 1, dtype=np.uint8) for i in range(2)]
    dsts = [np.zeros(n, dtype=np.uint8) for _ in range(2)]
    done: dict[int, int] = {}
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(2)]
    for i, chan in enumerate(chans):
        s, d = soc.map(srcs[i]), soc.map(dsts[i])
        tx = chan.prep_dma_memcpy(d.addr, s.addr, n)
        tx.callback = lambda i: done.__setitem__(i, soc.now_ns)
        tx.callback_param = i
        tx.submit()
    for chan in chans:
        chan.issue_pending()
    soc.run_until_idle()
    bursts, d = n // 64, 160  # 16 beats of 10 ns
    # Alternating bursts: channel 0 ends one burst before channel 1; alone it would take bursts * d.
    assert done == {0: 100 + (2 * bursts - 1) * d, 1: 100 + 2 * bursts * d}
    assert all((dsts[i] == i + 1).all() for i in range(2))


def test_a_copy_on_the_bus_does_not_change_the_uart_line_timing() -> None:
    data = bytes(range(200))
    alone = Soc()
    uart, chan, tx, _ = uart_tx(alone, data)
    tx.submit()
    chan.issue_pending()
    alone.run_for(0.03)
    soc = Soc()
    uart2, chan2, tx2, _ = uart_tx(soc, data)
    tx2.submit()
    a = np.ones(1 << 20, dtype=np.uint8)
    b = np.zeros_like(a)
    mc = soc.request_channel(Cap.MEMCPY)
    ma, mb = soc.map(a), soc.map(b)
    cookie = mc.prep_dma_memcpy(mb.addr, ma.addr, a.nbytes).submit()
    chan2.issue_pending()
    mc.issue_pending()
    soc.run_for(0.03)
    assert uart2.output == uart.output == data
    assert uart2.output_ns == uart.output_ns
    assert mc.tx_status(cookie)[0] == Status.COMPLETE
    assert (a == b).all()


def i2s_cyclic(soc: Soc, period: int, periods: int, burst: int = 8):
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=burst))
    ring = (np.arange(period * periods) % 251).astype(np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    tx = chan.prep_dma_cyclic(m.addr, ring.nbytes, period, M2D)
    return codec, chan, tx, ring


@pytest.mark.parametrize("fast", [True, False])
def test_cyclic_period_callbacks_at_the_exact_instant(fast: bool) -> None:
    soc = Soc(fast=fast, bh_latency_ns=2_000)
    period, periods = 1024, 4  # 256 frames of 4 bytes
    codec, chan, tx, ring = i2s_cyclic(soc, period, periods)
    seen: list[int] = []
    tx.callback = lambda _: seen.append(soc.now_ns)
    cookie = tx.submit()
    chan.issue_pending()
    soc.run_for(0.05)
    # The codec starts with the first burst (t=180). The last burst of period k waits for room: 64-byte FIFO,
    # 32-byte bursts, so frame (k+1)*256 - 17 must have played; the burst takes 80 ns; the bottom half 2 us.
    expect = [180 + ((k + 1) * 256 - 17) * 10**9 // 48_000 + 80 + 2_000 for k in range(9)]
    assert seen == [t for t in expect if t <= soc.now_ns]
    assert len(seen) == 9
    status, _st = chan.tx_status(cookie)
    assert status == Status.IN_PROGRESS
    assert codec.underruns == 0
    played = np.frombuffer(codec.played, dtype=np.uint8)
    assert len(played) == 4 * (((soc.now_ns - 180) * 48_000) // 10**9 + 1)
    assert (played == np.resize(ring, len(played))).all()


def test_bottom_half_latency_is_configurable() -> None:
    for lat in (0, 5_000):
        soc = Soc(bh_latency_ns=lat)
        a = np.ones(640, dtype=np.uint8)
        b = np.zeros_like(a)
        chan = soc.request_channel(Cap.MEMCPY)
        tx = chan.prep_dma_memcpy(soc.map(b).addr, soc.map(a).addr, 640)
        at: list[int] = []
        tx.callback = lambda _, at=at, soc=soc: at.append(soc.now_ns)
        tx.submit()
        chan.issue_pending()
        soc.run_until_idle()
        assert at == [100 + 10 * 160 + lat]


def test_clock_api() -> None:
    soc = Soc()
    assert (soc.now, soc.now_ns) == (0.0, 0)
    soc.run_for(0.25)
    assert soc.now_ns == 250_000_000 and soc.now == 0.25
    soc.run(until=1.5)
    assert soc.now_ns == 1_500_000_000
    soc.run_until_idle()
    assert soc.now_ns == 1_500_000_000
    with pytest.raises(ValueError, match=r"^until must not be in the past"):
        soc.run(until=1.0)
    with pytest.raises(ValueError, match=r"^seconds must be >= 0, not -1"):
        soc.run_for(-1)
