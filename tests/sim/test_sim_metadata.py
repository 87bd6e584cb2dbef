"""Descriptor metadata on the simulated controller, both modes: a MEM_TO_DEV transfer hands its per-packet metadata
to the peripheral as the controller loads it; any other transfer gets the engine's record (when it ended, bytes
moved, result) before its callback runs."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    DataDirection,
    DescMetadataMode,
    Result,
    SlaveConfig,
    Status,
    TransferDirection,
)
from dmaengine.sim import SimDmaDevice, Soc, Uart

METADATA_RECORD = SimDmaDevice.metadata_record
METADATA_MAX_LEN = SimDmaDevice.metadata_max_len


class PacketUart(Uart):
    """A UART with a packet interface: it receives each transfer's metadata."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.metadata: list[tuple[bytes, int]] = []

    def on_tx_metadata(self, data: bytes, now_ns: int) -> None:
        self.metadata.append((data, now_ns))


def test_the_controller_offers_both_modes() -> None:
    soc = Soc()
    with soc.request_channel(Cap.MEMCPY) as chan:
        assert chan.is_metadata_mode_supported(DescMetadataMode.CLIENT)
        assert chan.is_metadata_mode_supported(DescMetadataMode.ENGINE)


@pytest.mark.parametrize("mode", ["client", "engine"])
def test_a_copy_gets_the_engines_record_before_its_callback(mode: str) -> None:
    soc = Soc(bh_latency_ns=0)
    n = 4096
    src = np.arange(n, dtype=np.uint32).view(np.uint8)[:n].copy()
    dst = np.zeros(n, dtype=np.uint8)
    seen: list[tuple[int, int, int]] = []
    with soc.request_channel(Cap.MEMCPY) as chan, soc.map(src) as s, soc.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, n)
        if mode == "client":
            md = bytearray(METADATA_RECORD.size)
            tx.attach_metadata(md)
            tx.callback = lambda _p: seen.append(METADATA_RECORD.unpack(md))
        else:
            buf, payload, max_len = tx.get_metadata_ptr()
            assert (payload, max_len) == (0, METADATA_MAX_LEN)
            tx.callback = lambda _p: seen.append(METADATA_RECORD.unpack_from(tx.get_metadata_ptr()[0]))
        assert chan.sync_wait(tx.submit()) == Status.COMPLETE
        chan.synchronize()
    # 100 ns fetch, then 64 bursts of 16 beats (160 ns each on the 400 MB/s bus)
    assert seen == [(100 + 64 * 160, n, int(Result.NOERROR))]
    if mode == "engine":
        assert tx.get_metadata_ptr()[1:] == (METADATA_RECORD.size, METADATA_MAX_LEN)


@pytest.mark.parametrize("mode", ["client", "engine"])
def test_a_peripheral_receives_per_packet_metadata_as_each_transfer_is_loaded(mode: str) -> None:
    uart = PacketUart("uart9")
    soc = Soc(peripherals=[uart], bh_latency_ns=0)
    chan = soc.request_chan("uart9", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=1))
    data = np.frombuffer(b"hello", dtype=np.uint8).copy()
    m = soc.map(data, DataDirection.TO_DEVICE)
    cookies = []
    for k in range(2):
        tx = chan.prep_slave_single(m.addr, 5, TransferDirection.MEM_TO_DEV)
        if mode == "client":
            tx.attach_metadata(b"pkt%d" % k)
        else:
            buf, _, _ = tx.get_metadata_ptr()
            buf[:4] = b"PKT%d" % k
            tx.set_metadata_len(4)
        cookies.append(tx.submit())
    assert chan.sync_wait(cookies[0]) == Status.COMPLETE
    first_done = soc.now_ns
    assert chan.sync_wait(cookies[1]) == Status.COMPLETE
    tag = b"pkt" if mode == "client" else b"PKT"
    # the first at the issue (t = 0), the second as the first completes and the controller loads it
    assert uart.metadata == [(tag + b"0", 0), (tag + b"1", first_done)]
    chan.release()


def test_bad_metadata_buffers_are_refused() -> None:
    soc = Soc()
    with soc.request_channel(Cap.MEMCPY) as chan:
        tx = chan.prep_dma_memcpy(0x1000, 0x2000, 16)
        with pytest.raises(ConfigError, match=r"^metadata buffer for MEM_TO_MEM must be writable and hold 16 bytes"):
            tx.attach_metadata(b"read-only record")
        with pytest.raises(ConfigError, match=r"^metadata must be a bytes-like object, not 5$"):
            tx.attach_metadata(5)
        tx2 = chan.prep_dma_memcpy(0x1000, 0x2000, 16)
        with pytest.raises(ConfigError, match=rf"^payload_len must be 0\.\.{METADATA_MAX_LEN}, not 65$"):
            tx2.set_metadata_len(65)
