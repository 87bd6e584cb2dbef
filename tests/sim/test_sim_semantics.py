"""Slave and cyclic DMA semantics on the simulated SoC: caps, config errors, residue, pause, terminate, faults."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    DataChunk,
    DataDirection,
    InterleavedTemplate,
    ResidueGranularity,
    Result,
    SlaveConfig,
    StateError,
    Status,
    TransferDirection,
    TxResult,
)
from dmaengine.sim import Adc, I2s, Peripheral, Soc, TickClock, TxPort, Uart

M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM


def tx_chan(soc: Soc, name: str = "uart0", width: BusWidth = BusWidth.BYTES_1, burst: int = 8):
    p = soc.peripheral(name)
    chan = soc.request_chan(name, "tx")
    chan.slave_config(SlaveConfig(dst_addr=p.tx_fifo_addr, dst_addr_width=width, dst_maxburst=burst))
    return p, chan


def test_default_soc_has_the_embedded_set() -> None:
    soc = Soc()
    assert [p.name for p in soc.peripherals] == ["uart0", "uart1", "i2s0", "adc0"]
    assert isinstance(soc.peripheral("uart1"), Uart) and isinstance(soc.peripheral("i2s0"), I2s)
    assert isinstance(soc.peripheral("adc0"), Adc)
    assert [d.name for d in soc.devices] == ["dma0"] and len(soc.devices[0].channels) == 8
    for dev, slave in [("uart0", "tx"), ("uart0", "rx"), ("uart1", "tx"), ("uart1", "rx"), ("i2s0", "tx"),
                       ("i2s0", "rx"), ("adc0", "rx")]:
        with soc.request_chan(dev, slave) as chan:
            assert chan.client_name == f"{dev}:{slave}"
    with pytest.raises(LookupError, match=r"no slave map entry for \('adc0', 'tx'\)"):
        soc.request_chan("adc0", "tx")
    with pytest.raises(ConfigError, match=r"^no peripheral named 'spi0'"):
        soc.peripheral("spi0")
    assert soc.peripheral("uart0").tx_fifo_addr == 0x4000_0000 and soc.peripheral("uart0").rx_fifo_addr == 0x4000_0004
    assert soc.peripheral("uart1").tx_fifo_addr == 0x4000_1000


def test_slave_caps_are_honest() -> None:
    soc = Soc()
    with soc.request_chan("uart0", "tx") as chan:
        caps = chan.get_slave_caps()
    widths = {BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4}
    assert caps.src_addr_widths == caps.dst_addr_widths == widths
    assert (caps.min_burst, caps.max_burst) == (1, 16)
    assert caps.cmd_pause and caps.cmd_resume and caps.cmd_terminate
    assert caps.residue_granularity == ResidueGranularity.BURST
    assert TransferDirection.DEV_TO_DEV not in caps.directions
    assert soc.devices[0].cap_mask == (Cap.SLAVE | Cap.CYCLIC | Cap.MEMCPY | Cap.MEMCPY_SG | Cap.MEMSET | Cap.INTERLEAVE
                                       | Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL | Cap.REPEAT | Cap.LOAD_EOT)


def test_bad_slave_config_names_the_value() -> None:
    soc = Soc()
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    with pytest.raises(ConfigError, match=r"^dst_addr_width must be one of 1, 2, 4 bytes, not 8"):
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_8))
    with pytest.raises(ConfigError, match=r"^dst_maxburst must be 1..16, not 32"):
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=32))
    with pytest.raises(ConfigError, match=r"^direction .*DEV_TO_DEV.* is not supported"):
        chan.slave_config(SlaveConfig(direction=TransferDirection.DEV_TO_DEV))
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr))
    with pytest.raises(ConfigError, match=r"^dst_addr_width must be set for MEM_TO_DEV on dma0chan0"):
        chan.prep_slave_single(0x1000, 16, M2D)
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4))
    with pytest.raises(ConfigError, match=r"^length 6 is not a multiple of dst_addr_width 4"):
        chan.prep_slave_single(0x1000, 6, M2D)
    chan.slave_config(SlaveConfig(dst_addr=soc.peripheral("uart1").tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1))
    with pytest.raises(ConfigError, match=r"^dst_addr 0x40001000 is the FIFO of request line 2, but dma0chan0 serves "
                                          r"line 0"):
        chan.prep_slave_single(0x1000, 4, M2D)
    with pytest.raises(ConfigError, match=r"^period_len 300 does not divide buf_len 1000"):
        chan.prep_dma_cyclic(0x1000, 1000, 300, M2D)


@pytest.mark.parametrize("fast", [True, False])
def test_residue_is_burst_granular(fast: bool) -> None:
    soc = Soc(fast=fast)
    _uart, chan = tx_chan(soc)
    buf = np.arange(64, dtype=np.uint8)
    m = soc.map(buf, DataDirection.TO_DEVICE)
    cookie = chan.prep_slave_single(m.addr, 64, M2D).submit()
    chan.issue_pending()
    samples = []
    for t in (0, 179, 180, 259, 260, 420, 2_691_231, 2_691_232):
        soc.run(until=t / 1e9)
        samples.append(chan.tx_status(cookie)[1].residue)
    assert samples == [64, 64, 56, 56, 48, 32, 8, 0]
    assert chan.tx_status(cookie)[0] == Status.COMPLETE


@pytest.mark.parametrize("fast", [True, False])
def test_cyclic_residue_covers_the_whole_buffer_and_never_completes(fast: bool) -> None:
    soc = Soc(fast=fast)
    _codec, chan = tx_chan(soc, "i2s0", BusWidth.BYTES_4, 8)
    ring = np.zeros(4096, dtype=np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    cookie = chan.prep_dma_cyclic(m.addr, 4096, 1024, M2D).submit()
    chan.issue_pending()
    residues = []
    for ms in range(1, 60, 3):
        soc.run(until=ms / 1e3)
        status, st = chan.tx_status(cookie)
        assert status == Status.IN_PROGRESS
        residues.append(st.residue)
    # 64-byte FIFO ahead of the codec: bytes fetched by t = 64 + 4 * frames played (32-byte bursts).
    expect = []
    for ms in range(1, 60, 3):
        frames = ((ms * 10**6 - 180 - 80) * 48_000) // 10**9 + 1
        fetched = (4 * frames + 64) // 32 * 32
        expect.append(4096 - fetched % 4096)
    assert residues == expect
    assert min(residues) < 1024 and max(residues) > 3072  # it wrapped


@pytest.mark.parametrize("fast", [True, False])
def test_cyclic_callbacks_coalesce_when_the_bottom_half_lags(fast: bool) -> None:
    period_ns = 256 * 10**9 // 48_000  # 5.33 ms of audio per 1024-byte period
    soc = Soc(fast=fast, bh_latency_ns=3 * period_ns)
    codec, chan = tx_chan(soc, "i2s0", BusWidth.BYTES_4, 8)
    ring = np.zeros(4096, dtype=np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    tx = chan.prep_dma_cyclic(m.addr, 4096, 1024, M2D)
    calls: list[int] = []
    tx.callback = lambda _: calls.append(soc.now_ns)
    tx.submit()
    chan.issue_pending()
    soc.run_for(0.2)
    periods = (0.2e9 - 180) // period_ns
    assert periods == 37
    # One slot: a period's interrupt while a bottom half is pending adds nothing; the first interrupt after a
    # run schedules the next, 3 periods later, so each run covers 3 periods.
    gaps = set(np.diff(calls).tolist())
    assert len(calls) == 12 and gaps == {3 * 256 * 10**9 // 48_000}
    assert calls[0] == 180 + (256 - 17) * 10**9 // 48_000 + 80 + 3 * period_ns
    assert codec.underruns == 0


@pytest.mark.parametrize("fast", [True, False])
def test_pause_freezes_residue_while_the_codec_underruns(fast: bool) -> None:
    soc = Soc(fast=fast)
    codec, chan = tx_chan(soc, "i2s0", BusWidth.BYTES_4, 8)
    ring = (np.arange(8192) % 256).astype(np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    cookie = chan.prep_dma_cyclic(m.addr, 8192, 2048, M2D).submit()
    chan.issue_pending()
    soc.run(until=0.010)
    chan.pause()
    r0 = chan.tx_status(cookie)
    soc.run_for(0.005)
    r1 = chan.tx_status(cookie)
    assert r0 == r1 and r0[0] == Status.PAUSED
    u = codec.underruns
    # 5 ms = 240 frame ticks; the FIFO held 16 frames at the pause (it was full: the last burst had landed).
    assert u == 240 - 16
    with pytest.raises(StateError, match="is not paused"):
        soc.request_chan("uart0", "tx").resume()
    chan.resume()
    soc.run_for(0.005)
    assert chan.tx_status(cookie)[0] == Status.IN_PROGRESS
    assert chan.tx_status(cookie)[1].residue != r1[1].residue
    assert codec.underruns == u  # steady again
    played = np.frombuffer(codec.played, dtype=np.uint8).reshape(-1, 4)
    audible = played[~(played == 0).all(axis=1)].reshape(-1)
    # Silence frames aside, the bytes came out in ring order (ring frames that are all zero are rare: skip them)
    ref = ring.reshape(-1, 4)
    ref = ref[~(ref == 0).all(axis=1)].reshape(-1)
    assert (audible == np.resize(ref, len(audible))).all()


@pytest.mark.parametrize("fast", [True, False])
def test_terminate_stops_within_one_burst(fast: bool) -> None:
    soc = Soc(fast=fast)
    uart, chan = tx_chan(soc)
    data = bytes(range(256)) * 4
    m = soc.map(np.frombuffer(data, dtype=np.uint8), DataDirection.TO_DEVICE)
    cookie = chan.prep_slave_single(m.addr, len(data), M2D).submit()
    chan.issue_pending()
    soc.run(until=0.020)
    moved = len(data) - chan.tx_status(cookie)[1].residue
    sent = len(uart.output)
    chan.terminate_sync()
    assert chan.tx_status(cookie)[0] == Status.ERROR  # aborted
    soc.run_for(0.05)
    out = uart.output
    assert out == data[: len(out)]
    # What the FIFO held, plus at most the burst that was on the bus, goes out; nothing after.
    assert moved <= len(out) <= moved + 8
    assert len(out) - sent <= 32 + 8


@pytest.mark.parametrize("fast", [True, False])
def test_unmapped_source_is_a_read_error(fast: bool) -> None:
    soc = Soc(fast=fast)
    uart, chan = tx_chan(soc)
    results: list[TxResult] = []
    tx = chan.prep_slave_single(0x9999_0000, 64, M2D)
    tx.callback_result = lambda _, r: results.append(r)
    cookie = tx.submit()
    assert chan.sync_wait(cookie) == Status.ERROR
    soc.run_for(0.001)
    assert results == [TxResult(Result.READ_FAILED, 64)]
    assert uart.output == b""
    assert chan.stats.errors == 1


@pytest.mark.parametrize("fast", [True, False])
def test_wrong_direction_mappings_are_bus_errors(fast: bool) -> None:
    soc = Soc(fast=fast)
    uart, chan = tx_chan(soc)
    buf = np.zeros(16, dtype=np.uint8)
    m = soc.map(buf, DataDirection.FROM_DEVICE)  # a TX source the device may not read
    cookie = chan.prep_slave_single(m.addr, 16, M2D).submit()
    assert chan.sync_wait(cookie) == Status.ERROR
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ro = soc.map(bytes(4), DataDirection.TO_DEVICE)
    results: list[TxResult] = []
    tx = rx.prep_slave_single(ro.addr, 4, D2M)
    tx.callback_result = lambda _, r: results.append(r)
    cookie = tx.submit()
    rx.issue_pending()
    uart.feed(b"abcd")
    assert rx.sync_wait(cookie) == Status.ERROR
    soc.run_for(0.001)
    assert results == [TxResult(Result.WRITE_FAILED, 4)]
    # TX to a FIFO address that is no peripheral's: the write is a bus error.
    with soc.request_channel(Cap.SLAVE) as other:
        other.slave_config(SlaveConfig(dst_addr=0x5000_0000, dst_addr_width=BusWidth.BYTES_1))
        ok = soc.map(np.ones(4, dtype=np.uint8), DataDirection.TO_DEVICE)
        cookie = other.prep_slave_single(ok.addr, 4, M2D).submit()
        assert other.sync_wait(cookie) == Status.ERROR


def unmap_midway(fast: bool) -> tuple[list[TxResult], bytes, int]:
    soc = Soc(fast=fast)
    uart, chan = tx_chan(soc)
    data = bytes(range(200))
    m = soc.map(np.frombuffer(data, dtype=np.uint8), DataDirection.TO_DEVICE)
    results: list[TxResult] = []
    tx = chan.prep_slave_single(m.addr, 200, M2D)
    tx.callback_result = lambda _, r: results.append(r)
    tx.submit()
    chan.issue_pending()
    soc.run(until=0.005)
    m.unmap()
    soc.run_for(0.03)
    return results, uart.output, soc.now_ns


def test_unmap_during_a_transfer_faults_at_the_exact_burst() -> None:
    fast, slow = unmap_midway(True), unmap_midway(False)
    assert fast == slow
    results, out, _ = fast
    assert len(results) == 1 and results[0].result == Result.READ_FAILED
    assert out == bytes(range(len(out))) and len(out) == 200 - results[0].residue


@pytest.mark.parametrize("fast", [True, False])
def test_memset_and_interleaved(fast: bool) -> None:
    soc = Soc(fast=fast)
    chan = soc.request_channel(Cap.MEMSET | Cap.INTERLEAVE)
    dst = np.zeros(1000, dtype=np.uint8)
    md = soc.map(dst)
    assert chan.sync_wait(chan.prep_dma_memset(md.addr + 10, 0xA5, 900).submit()) == Status.COMPLETE
    assert (dst[10:910] == 0xA5).all() and not dst[:10].any() and not dst[910:].any()
    src = np.arange(64, dtype=np.uint8)
    ms = soc.map(src)
    out = np.zeros(128, dtype=np.uint8)
    mo = soc.map(out)
    xt = InterleavedTemplate(ms.addr, mo.addr, numf=8, sgl=(DataChunk(8, icg=0, dst_icg=8),), src_sgl=False,
                             dst_sgl=True)
    assert chan.sync_wait(chan.prep_interleaved_dma(xt).submit()) == Status.COMPLETE
    assert (out.reshape(8, 16)[:, :8].reshape(-1) == src).all() and not out.reshape(8, 16)[:, 8:].any()
    with pytest.raises(ConfigError, match="interleaves MEM_TO_MEM only"):
        chan.prep_interleaved_dma(InterleavedTemplate(ms.addr, mo.addr, dir=M2D, sgl=(DataChunk(8),)))


def test_memcpy_fault_results() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src = soc.map(np.ones(64, dtype=np.uint8), DataDirection.TO_DEVICE)
    ro = soc.map(bytes(64), DataDirection.TO_DEVICE)
    for dst, srca, res in ((ro.addr, src.addr, Result.WRITE_FAILED), (ro.addr, 0x10, Result.READ_FAILED)):
        got: list[TxResult] = []
        tx = chan.prep_dma_memcpy(dst, srca, 64)
        tx.callback_result = lambda _, r, got=got: got.append(r)
        assert chan.sync_wait(tx.submit()) == Status.ERROR
        soc.run_for(1e-5)
        assert got == [TxResult(res, 64)]


def test_callbacks_cannot_block_and_a_raising_callback_does_not_stop_the_sim(caplog: pytest.LogCaptureFixture
                                                                             ) -> None:
    soc = Soc()
    _codec, chan = tx_chan(soc, "i2s0", BusWidth.BYTES_4, 8)
    ring = np.zeros(2048, dtype=np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    tx = chan.prep_dma_cyclic(m.addr, 2048, 1024, M2D)
    seen: list[str] = []

    def cb(_: object) -> None:
        for op in (lambda: chan.sync_wait(cookie), chan.synchronize, chan.terminate_sync):
            try:
                op()
            except StateError as e:
                seen.append(str(e).split(": ")[1])
        raise RuntimeError("boom")

    tx.callback = cb
    cookie = tx.submit()
    chan.issue_pending()
    with caplog.at_level(logging.ERROR, logger="dmaengine"):
        soc.run_for(0.03)
    assert seen[:3] == ["sync_wait from a callback would block the bottom half", "synchronize from a callback",
                        "terminate_sync from a callback"]
    n = len(seen) // 3
    assert n == 5 and chan.stats.callback_errors == 5
    assert "boom" in caplog.text


def test_callback_may_terminate_async_and_requeue() -> None:
    soc = Soc()
    uart, chan = tx_chan(soc)
    m = soc.map(np.frombuffer(b"0123456789abcdef", dtype=np.uint8), DataDirection.TO_DEVICE)
    count = [0]

    def again(_: object) -> None:
        count[0] += 1
        if count[0] < 3:
            tx = chan.prep_slave_single(m.addr, 16, M2D)
            tx.callback = again
            tx.submit()
            chan.issue_pending()

    tx = chan.prep_slave_single(m.addr, 16, M2D)
    tx.callback = again
    tx.submit()
    chan.issue_pending()
    soc.run_for(0.01)
    assert uart.output == b"0123456789abcdef" * 3


@pytest.mark.parametrize("fast", [True, False])
def test_uart_rx_slave_sg_and_overruns(fast: bool) -> None:
    soc = Soc(fast=fast)
    uart = soc.peripheral("uart0")
    uart.feed(b"x" * 40)  # nobody drains: a 32-byte FIFO keeps 32, loses 8
    soc.run_for(0.01)
    assert uart.overruns == 8
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=4))
    a, b = np.zeros(32, dtype=np.uint8), np.zeros(16, dtype=np.uint8)
    sg = soc.map_sg([a, b], DataDirection.FROM_DEVICE)
    cookie = rx.prep_slave_sg(sg, D2M).submit()
    rx.issue_pending()
    t0 = soc.now_ns
    uart.feed(b"hello, world!!!!")
    assert rx.sync_wait(cookie) == Status.COMPLETE
    assert a.tobytes() == b"x" * 32 and b.tobytes() == b"hello, world!!!!"
    # The 16th byte ends its stop bit 16 byte-times after the feed, then one 4-beat burst.
    assert soc.now_ns == t0 + (16 * 10 * 10**9) // 115200 + 40
    assert uart.overruns == 8


@pytest.mark.parametrize("fast", [True, False])
def test_uart_rx_residue_tells_how_much_came(fast: bool) -> None:
    soc = Soc(fast=fast)
    uart = soc.peripheral("uart0")
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    buf = np.zeros(64, dtype=np.uint8)
    cookie = rx.prep_slave_single(soc.map(buf, DataDirection.FROM_DEVICE).addr, 64, D2M).submit()
    rx.issue_pending()
    uart.feed(b"ping\n")
    with pytest.raises(TimeoutError):
        rx.sync_wait(cookie, timeout=0.1)
    assert rx.tx_status(cookie)[1].residue == 59
    rx.terminate_sync()
    assert buf[:5].tobytes() == b"ping\n"


@pytest.mark.parametrize("fast", [True, False])
def test_adc_capture_is_the_known_waveform(fast: bool) -> None:
    soc = Soc(fast=fast)
    adc = soc.peripheral("adc0")
    assert isinstance(adc, Adc)
    chan = soc.request_chan("adc0", "rx")
    chan.slave_config(SlaveConfig(src_addr=adc.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=4))
    buf = np.zeros(800, dtype=np.uint16)
    m = soc.map(buf, DataDirection.FROM_DEVICE)
    cookie = chan.prep_slave_single(m.addr, buf.nbytes, D2M).submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    assert (buf == adc.expected(0, 800)).all()
    assert buf.max() > 3900 and buf.min() < 200  # a 50 Hz sine over 100 ms, 12 bits
    # Sampling starts after the fetch (100 ns); sample 799 is ready at 800 periods, then a 4-beat burst.
    assert soc.now_ns == 100 + 800 * 10**9 // 8000 + 40
    assert adc.overruns == 0


def test_i2s_rx_captures_a_generator() -> None:
    soc = Soc(peripherals=[I2s("mic", rate_hz=16_000, channels=1, sample_width=2, fifo_depth=32,
                               rx_source=lambda first, n: np.arange(first, first + n, dtype="<u2").tobytes())])
    mic = soc.peripheral("mic")
    chan = soc.request_chan("mic", "rx")
    chan.slave_config(SlaveConfig(src_addr=mic.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=8))
    buf = np.zeros(4000, dtype=np.uint16)
    cookie = chan.prep_slave_single(soc.map(buf).addr, buf.nbytes, D2M).submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    assert (buf == np.arange(4000)).all()


def test_a_user_peripheral_plugs_in() -> None:
    class Spi(Peripheral):
        """A shift register that drains one byte per microsecond."""

        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.out = bytearray()
            spi = self

            class Tx(TxPort):
                def _start(self, t: int) -> None:
                    self.clock = TickClock(t, 1000, 1)
                    self.ticks_done = 0

                def _ticks(self, n: int, unbounded: bool) -> None:
                    k = min(n, len(self.fifo))
                    spi.out += self.fifo[:k]
                    del self.fifo[:k]
                    self.drained += k
                    self.ticks_done += n

            self.tx = Tx(self, depth=8, threshold=1, unit=1)

    soc = Soc(peripherals=[Spi("spi0")])
    spi = soc.peripheral("spi0")
    chan = soc.request_chan("spi0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=spi.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))
    data = bytes(range(100))
    cookie = chan.prep_slave_single(soc.map(data, DataDirection.TO_DEVICE).addr, 100, M2D).submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    soc.run_for(1e-4)
    spi.sync()  # a model brings itself up to date before it is read
    assert bytes(spi.out) == data
    with pytest.raises(ConfigError, match="already attached"):
        soc.add_peripheral(spi)


def test_memcpy_through_request_channel_and_summary() -> None:
    soc = Soc()
    with soc.request_channel(Cap.MEMCPY) as chan:
        a = np.arange(4096, dtype=np.uint8)
        b = np.zeros_like(a)
        with soc.map(a) as ma, soc.map(b) as mb:
            cookie = chan.prep_dma_memcpy(mb.addr, ma.addr, 4096).submit()
            chan.issue_pending()
            assert "dma0chan0    | in-use [fetch MEM_TO_MEM 0/4096 B]" in soc.summary()
            assert chan.sync_wait(cookie) == Status.COMPLETE
        assert (a == b).all()
        chan.pause()
        cookie = chan.prep_dma_memset(soc.map(b).addr, 1, 64).submit()
        assert chan.sync_wait(cookie, timeout=0.001) == Status.PAUSED  # like dma_sync_wait: not IN_PROGRESS
        assert soc.dmac.hw.progress(chan.chan_id) == 0
        chan.resume()
        assert chan.sync_wait(cookie) == Status.COMPLETE
    assert "virtual time:" in soc.summary()


def test_constructor_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"^channels must be an int >= 1, not 0"):
        Soc(channels=0)
    with pytest.raises(ConfigError, match=r"^bus_bytes_per_s must be an int >= 1, not 1.5"):
        Soc(bus_bytes_per_s=1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^bh_latency_ns must be an int >= 0, not -1"):
        Soc(bh_latency_ns=-1)
    with pytest.raises(ConfigError, match=r"^baud must be a positive int, not 0"):
        Uart("u", baud=0)
    with pytest.raises(ConfigError, match=r"^sample_width must be 1, 2 or 4 bytes, not 3"):
        I2s("c", sample_width=3)
    with pytest.raises(ConfigError, match=r"^peripheral name must be an identifier, not 'a b'"):
        Uart("a b")
    with pytest.raises(ConfigError, match=r"^a peripheral named 'uart0' is already attached"):
        Soc(peripherals=[Uart("uart0"), Uart("uart0")])


def test_i2s_rx_captures_a_wav_file_then_silence(tmp_path) -> None:
    import wave

    pcm = (np.arange(300, dtype="<i2") * 97).tobytes()
    path = tmp_path / "mic.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    codec = I2s("i2s1", rate_hz=8000, channels=1, sample_width=2, fifo_depth=16, rx_source=path)
    soc = Soc(peripherals=[codec])
    chan = soc.request_chan("i2s1", "rx")
    chan.slave_config(SlaveConfig(src_addr=codec.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=4))
    buf = np.full(800, 0xFF, dtype=np.uint8)
    cookie = chan.prep_slave_single(soc.map(buf).addr, 800, D2M).submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    assert buf.tobytes() == pcm + bytes(200)
    assert codec.rx_overruns == 0
    with pytest.raises(ConfigError, match=r"is 8000 Hz x 1 ch x 2 B, not 48000 Hz x 2 ch x 2 B"):
        I2s("i2s2", rx_source=path)


def test_rx_overruns_when_the_dma_is_paused() -> None:
    soc = Soc()
    adc = soc.peripheral("adc0")
    chan = soc.request_chan("adc0", "rx")
    chan.slave_config(SlaveConfig(src_addr=adc.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=4))
    buf = np.zeros(4000, dtype=np.uint16)
    cookie = chan.prep_slave_single(soc.map(buf).addr, buf.nbytes, D2M).submit()
    chan.issue_pending()
    soc.run(until=0.010)
    chan.pause()
    got = buf.nbytes - chan.tx_status(cookie)[1].residue
    # By 10 ms, 79 samples (one per 125 us from 100 ns on): 19 bursts of 4 moved 76, the FIFO holds 3.
    assert got == 76 * 2
    soc.run_for(0.010)  # 80 more arrive; 13 fit the 16-sample FIFO, 67 are lost
    assert chan.tx_status(cookie)[1].residue == buf.nbytes - got
    assert adc.overruns == 67
    chan.resume()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    n0 = got // 2
    assert (buf[:n0] == adc.expected(0, n0)).all()
    # After the gap the capture jumps over the lost samples, and continues in order.
    first_after = int(np.nonzero(buf[n0:] != adc.expected(n0, len(buf) - n0))[0][0]) + n0
    lost = adc.overruns
    assert (buf[first_after:] == adc.expected(first_after + lost, len(buf) - first_after)).all()


def test_close_releases_everything() -> None:
    soc = Soc()
    _uart, chan = tx_chan(soc)
    chan.prep_slave_single(soc.map(bytes(100), DataDirection.TO_DEVICE).addr, 100, M2D).submit()
    chan.issue_pending()
    soc.run_for(0.001)
    soc.close()
    assert soc.devices == [] and chan.client_count == 0


@pytest.mark.parametrize("fast", [True, False])
def test_memcpy_sg_pairs_the_lists(fast: bool) -> None:
    soc = Soc(fast=fast)
    chan = soc.request_channel(Cap.MEMCPY_SG)
    src = [np.arange(i * 50, i * 50 + 100, dtype=np.uint8) for i in range(3)]
    dst = [np.zeros(n, dtype=np.uint8) for n in (70, 130, 100)]
    ssg, dsg = soc.map_sg(src), soc.map_sg(dst)
    t0 = soc.now_ns
    assert chan.sync_wait(chan.prep_dma_memcpy_sg(dsg, ssg).submit()) == Status.COMPLETE
    assert np.concatenate(dst).tobytes() == np.concatenate(src).tobytes()
    # Pieces of 70, 30, 100, 100 bytes: bursts of 64+6, 30, 64+36, 64+36 bytes (ceil(bytes/4) beats of 10 ns).
    assert soc.now_ns - t0 == 100 + 10 * (16 + 2 + 8 + 16 + 9 + 16 + 9)


def test_the_simulation_cannot_be_run_from_inside_itself() -> None:
    soc = Soc()
    errors: list[str] = []

    def nested() -> None:
        for op in (lambda: soc.run_for(0.001), lambda: soc.run(until=1.0), soc.run_until_idle):
            try:
                op()
            except StateError as e:
                errors.append(str(e))

    soc.kernel.at(500, nested, "app")
    soc.kernel.at(2_000, lambda: None, "later")
    soc.run_for(0.001)
    assert errors == [f"{w} from inside the simulation (a callback or an event) would re-enter it"
                      for w in ("run_for", "run", "waiting")]
    assert soc.now_ns == 1_000_000


def test_a_second_thread_cannot_run_the_soc_meanwhile(in_thread: Any) -> None:
    import threading

    soc = Soc()
    errors: list[str] = []

    def other() -> None:
        try:
            soc.run_for(0.001)
        except StateError as e:
            errors.append(str(e))

    soc.kernel.at(1_000, in_thread(other), "app")  # runs inside soc.run_for on the main thread
    soc.run_for(0.001)
    assert errors == ["run_for: the SoC is being run by another thread (a Soc is single-threaded)"]
    th = threading.Thread(target=lambda: soc.run_for(0.001))  # one after the other is fine
    th.start()
    th.join()
    assert soc.now_ns == 2_000_000


def test_an_overlapping_copy_moves_burst_by_burst_in_both_modes() -> None:
    results = []
    for fast in (True, False):
        soc = Soc(fast=fast)
        buf = np.arange(300, dtype=np.uint8)
        m = soc.map(buf)
        chan = soc.request_channel(Cap.MEMCPY)
        assert chan.sync_wait(chan.prep_dma_memcpy(m.addr + 10, m.addr, 256).submit()) == Status.COMPLETE
        results.append(buf.copy())
    assert (results[0] == results[1]).all()
    # Each 64-byte burst reads what the previous one wrote: bytes 64..73 were overwritten before burst 1 read them.
    out = results[0]
    assert (out[10:74] == np.arange(64)).all() and (out[74:84] == np.arange(54, 64)).all()
    assert (out[84:138] == np.arange(74, 128)).all()
