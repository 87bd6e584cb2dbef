from __future__ import annotations

import asyncio
import errno
import threading
from typing import Any

import numpy as np
import pytest

import dmaengine
from dmaengine import (
    BusWidth,
    BusyError,
    Cap,
    ConfigError,
    DataDirection,
    NoChannelError,
    NotSupportedError,
    Platform,
    PrepFlags,
    ResidueGranularity,
    SlaveConfig,
    Status,
    TransferDirection,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.provider import Channel, DmaDevice
from dmaengine.testing import ReferenceModelMachine
from dmaengine.virt import VirtChannel, VirtDescriptor


class SlaveOnly(DmaDevice):
    """A minimal slave controller: it accepts configuration and queues work it never runs."""

    cap_mask = Cap.SLAVE | Cap.PRIVATE
    src_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_4})
    dst_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_4})
    directions = frozenset({TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM})
    min_burst = 1
    max_burst = 16
    residue_granularity = ResidueGranularity.BURST

    def __init__(self, n: int = 2) -> None:
        super().__init__([VirtChannel() for _ in range(n)], dev_name="slave-ctl")

    def device_prep_slave_sg(self, chan: Channel, sgl: Any, direction: TransferDirection,
                             flags: PrepFlags) -> VirtDescriptor:
        assert isinstance(chan, VirtChannel)
        return chan.vchan_tx_prep(VirtDescriptor(chan, sum(e.length for e in sgl)), flags)

    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, VirtChannel)
        with chan.lock:
            chan.vchan_issue_pending()

    def device_tx_status(self, chan: Channel, cookie: int) -> Any:
        assert isinstance(chan, VirtChannel)
        return chan.vchan_tx_status(cookie)

    def device_config(self, chan: Channel, cfg: SlaveConfig) -> None:
        pass

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, VirtChannel)
        with chan.lock:
            chan.vchan_terminate_all()

    def filter(self, chan: Channel, param: Any) -> bool:
        return bool(param == chan.chan_id)


@pytest.fixture
def plat() -> Any:
    p = Platform()
    yield p
    p.close()


def test_registration_names_devices_and_channels(plat: Platform) -> None:
    a = plat.register_device(MemcpyEngine(channels=2))
    b = plat.register_device(SlaveOnly(3))
    assert (a.name, b.name) == ("dma0", "dma1")
    assert [c.name for c in plat.channels()] == ["dma0chan0", "dma0chan1", "dma1chan0", "dma1chan1", "dma1chan2"]
    plat.unregister_device(a)
    c = plat.register_device(MemcpyEngine(channels=1))
    assert c.name == "dma0"  # the lowest free id, like the kernel's ida


def test_registration_refuses_a_capability_without_its_op(plat: Platform) -> None:
    class Liar(SlaveOnly):
        cap_mask = Cap.SLAVE | Cap.MEMSET

    with pytest.raises(ConfigError, match="^Liar claims MEMSET but does not implement device_prep_dma_memset$"):
        plat.register_device(Liar())

    class NoStatus(DmaDevice):
        cap_mask = Cap.MEMCPY

        def device_prep_dma_memcpy(self, *a: Any) -> Any: ...
        def device_issue_pending(self, chan: Channel) -> None: ...

    with pytest.raises(ConfigError, match="^NoStatus does not implement device_tx_status$"):
        plat.register_device(NoStatus([Channel()]))
    assert plat.devices == []


def test_unregister_refuses_while_in_use(plat: Platform) -> None:
    before = set(threading.enumerate())
    dev = plat.register_device(MemcpyEngine(channels=1))
    started = set(threading.enumerate()) - before
    assert started and all(t.daemon for t in started)
    chan = plat.request_channel(Cap.MEMCPY)
    with pytest.raises(BusyError, match="^dma0 has channels in use: dma0chan0$"):
        plat.unregister_device(dev)
    chan.release()
    plat.unregister_device(dev)
    assert not any(t.is_alive() for t in started)  # the device's threads stop with it


def test_request_by_mask_needs_every_bit(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    plat.register_device(SlaveOnly(1))
    with plat.request_channel(Cap.SLAVE) as c:
        assert c.name == "dma1chan0"
    with pytest.raises(NoChannelError, match=r"^no free channel with capabilities MEMCPY\|SLAVE$"):
        plat.request_channel(Cap.SLAVE | Cap.MEMCPY)
    with pytest.raises(NoChannelError, match=r"^no free channel with capabilities MEMCPY passing the filter$"):
        plat.request_channel(Cap.MEMCPY, lambda chan, param: False)


def test_slave_map_and_summary(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=2))
    plat.register_device(SlaveOnly(2))
    plat.add_slave_map("uart0", "tx", 1)
    plat.add_slave_map("uart0", "rx", 0)
    tx = plat.request_chan("uart0", "tx")
    rx = plat.request_chan("uart0", "rx")
    m = plat.request_channel(Cap.MEMCPY)
    assert (tx.name, rx.name, tx.client_name) == ("dma1chan1", "dma1chan0", "uart0:tx")
    assert plat.summary() == (
        "dma0 (memcpy): number of channels: 2\n"
        " dma0chan0    | in-use\n"
        "\n"
        "dma1 (slave-ctl): number of channels: 2\n"
        " dma1chan0    | uart0:rx\n"
        " dma1chan1    | uart0:tx\n"
    )
    with pytest.raises(NoChannelError, match=r"^no free channel for \('uart0', 'tx'\)$"):
        plat.request_chan("uart0", "tx")
    with pytest.raises(NoChannelError, match=r"^no slave map entry for \('spi0', 'tx'\)$"):
        plat.request_chan("spi0", "tx")
    for c in (tx, rx, m):
        c.release()


def test_slave_config_is_checked_against_caps(plat: Platform) -> None:
    plat.register_device(SlaveOnly(1))
    with plat.request_channel(Cap.SLAVE) as c:
        caps = c.get_slave_caps()
        assert (caps.min_burst, caps.max_burst, caps.cmd_pause, caps.cmd_terminate) == (1, 16, False, True)
        assert caps.residue_granularity is ResidueGranularity.BURST
        with pytest.raises(ConfigError, match=r"^dst_maxburst must be 1\.\.16, not 32$"):
            c.slave_config(SlaveConfig(dst_addr_width=BusWidth.BYTES_4, dst_maxburst=32))
        with pytest.raises(ConfigError, match=r"^src_addr_width must be one of 1, 4 bytes, not 2$"):
            c.slave_config(SlaveConfig(src_addr_width=BusWidth.BYTES_2))
        with pytest.raises(ConfigError, match="direction .*MEM_TO_MEM.* is not supported"):
            c.slave_config(SlaveConfig(direction=TransferDirection.MEM_TO_MEM))
        with pytest.raises(ConfigError, match="no slave_config before a slave transfer"):
            c.prep_slave_single(0x1000, 16, TransferDirection.MEM_TO_DEV)
        c.slave_config(SlaveConfig(dst_addr=0x4000, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
        with pytest.raises(ConfigError, match="^direction must be MEM_TO_DEV, DEV_TO_MEM or DEV_TO_DEV"):
            c.prep_slave_single(0x1000, 16, TransferDirection.MEM_TO_MEM)
        with pytest.raises(NotSupportedError, match="^dma0 does not support CYCLIC$"):
            c.prep_dma_cyclic(0x1000, 64, 16, TransferDirection.MEM_TO_DEV)
        with pytest.raises(NotSupportedError, match="^dma0 cannot pause$"):
            c.pause()
        tx = c.prep_slave_single(0x1000, 16, TransferDirection.MEM_TO_DEV)
        cookie = tx.submit()
        st, state = c.tx_status(cookie)
        assert (st, state.residue) == (Status.IN_PROGRESS, 16)
        c.terminate_sync()
        assert c.tx_status(cookie)[0] == Status.ERROR  # aborted


def test_prep_rejects_bad_values_naming_them(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    with plat.request_channel(Cap.MEMCPY) as c:
        with pytest.raises(ConfigError, match="^length must be a positive int, not 0$"):
            c.prep_dma_memcpy(0x1000, 0x2000, 0)
        with pytest.raises(ConfigError, match=r"^dst must be a DMA address \(int >= 0\), not -1$"):
            c.prep_dma_memcpy(-1, 0x2000, 4)
        with pytest.raises(ConfigError, match="^value must be a byte 0..255, not 256$"):
            c.prep_dma_memset(0x1000, 256, 4)
        with pytest.raises(ConfigError, match="^dst_sgl holds 4 bytes but src_sgl holds 5$"):
            c.prep_dma_memcpy_sg([dmaengine.SgEntry(0, 4)], [dmaengine.SgEntry(0, 5)])
        with pytest.raises(NotSupportedError, match="^dma0 has no device_config$") as e:
            c.slave_config(SlaveConfig())
        assert e.value.errno == errno.ENOSYS


def test_copy_align_is_enforced(plat: Platform) -> None:
    class Aligned(MemcpyEngine):
        copy_align = 3

    plat.register_device(Aligned(channels=1))
    with plat.request_channel(Cap.MEMCPY) as c:
        with pytest.raises(ConfigError, match="^address or length 12 is not aligned to 8 bytes for dma0chan0$"):
            c.prep_dma_memcpy(0x1000, 0x2000, 12)


def test_fence_orders_dependent_copies(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    a = np.arange(1 << 16, dtype=np.uint8)
    b = np.zeros_like(a)
    c_ = np.zeros_like(a)
    with plat.request_channel(Cap.MEMCPY) as ch, plat.map(a) as ma, plat.map(b) as mb, plat.map(c_) as mc:
        ch.prep_dma_memcpy(mb.addr, ma.addr, a.size).submit()
        cookie = ch.prep_dma_memcpy(mc.addr, mb.addr, a.size, PrepFlags.PREP_FENCE).submit()
        assert ch.sync_wait(cookie) == Status.COMPLETE
    assert np.array_equal(c_, a)


def test_fence_orders_a_chain_of_small_dependent_copies_in_one_batch(plat: Platform) -> None:
    """Each 64-byte copy reads what the one before it wrote; all are issued at once (the batched small-copy path)."""
    plat.register_device(MemcpyEngine(channels=1))
    buf = np.zeros(64 * 257, dtype=np.uint8)
    buf[:64] = np.arange(64, dtype=np.uint8) + 1
    with plat.request_channel(Cap.MEMCPY) as ch, plat.map(buf) as m:
        cookies = [ch.prep_dma_memcpy(m.addr + 64 * (i + 1), m.addr + 64 * i, 64, PrepFlags.PREP_FENCE).submit()
                   for i in range(256)]
        assert ch.sync_wait(cookies[-1]) == Status.COMPLETE
    assert np.array_equal(buf.reshape(257, 64), np.tile(np.arange(64, dtype=np.uint8) + 1, (257, 1)))


def test_wait_async(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    src = np.arange(1 << 20, dtype=np.uint8)
    dst = np.zeros_like(src)

    async def main() -> Status:
        with plat.request_channel(Cap.MEMCPY) as ch, plat.map(src) as s, plat.map(dst) as d:
            cookie = ch.prep_dma_memcpy(d.addr, s.addr, src.size).submit()
            return await ch.wait_async(cookie, timeout=10)

    assert asyncio.run(main()) == Status.COMPLETE
    assert np.array_equal(dst, src)


def test_default_platform_has_a_channel_per_cpu() -> None:
    import os

    plat = dmaengine.default_platform()
    assert plat is dmaengine.default_platform()
    assert len(plat.devices[0].channels) == (os.cpu_count() or 1)
    buf = bytearray(b"x" * 64)
    out = bytearray(64)
    with dmaengine.request_channel(Cap.MEMCPY) as ch, dmaengine.map(buf) as s, \
            dmaengine.map(out, DataDirection.FROM_DEVICE) as d:
        assert ch.sync_wait(ch.prep_dma_memcpy(d.addr, s.addr, 64).submit()) == Status.COMPLETE
    assert out == buf


class _StrayWriter(MemcpyEngine):
    """A broken driver: it copies one byte more than asked."""

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int, flags: PrepFlags) -> Any:
        return super().device_prep_dma_memcpy(chan, dst, src, length + 1, flags)


def test_reference_model_catches_a_stray_write() -> None:
    machine = type("M", (ReferenceModelMachine,), {"make_platform": staticmethod(_stray_platform)})()
    try:
        desc = machine.prep(length=100, use_result=False)
        machine.submit(desc)
        machine.sync()
        with pytest.raises(AssertionError, match="^a byte outside every destination changed$"):
            machine.bytes_only_where_asked()
    finally:
        machine.chan.release()
        machine.plat.close()


def _stray_platform() -> Platform:
    p = Platform()
    p.register_device(_StrayWriter(channels=1))
    return p


def test_callback_trace_event_names_the_completed_cookie(plat: Platform) -> None:
    import dmaengine.trace

    plat.register_device(MemcpyEngine(channels=1))
    buf = np.zeros(128, dtype=np.uint8)
    with dmaengine.trace.record() as tr, plat.request_channel(Cap.MEMCPY) as ch, plat.map(buf) as m:
        tx = ch.prep_dma_memcpy(m.addr + 64, m.addr, 64)
        tx.callback = lambda p: None
        cookie = tx.submit()
        ch.sync_wait(cookie)
        ch.synchronize()
    events = [(e.kind, e.cookie) for e in tr.events if e.kind in ("submit", "complete", "callback")]
    assert events == [("submit", cookie), ("complete", cookie), ("callback", cookie)]


def test_a_waiter_is_woken_after_callbacks(plat: Platform) -> None:
    """Platform.wait_for on a flag that a callback sets returns when the callback ran, not at its timeout."""
    import time

    plat.register_device(MemcpyEngine(channels=1))
    buf = np.zeros(128, dtype=np.uint8)
    flag: list[int] = []
    with plat.request_channel(Cap.MEMCPY) as ch, plat.map(buf) as m:
        tx = ch.prep_dma_memcpy(m.addr + 64, m.addr, 64)
        tx.callback = lambda p: (time.sleep(0.01), flag.append(1))
        tx.submit()
        ch.issue_pending()
        t0 = time.monotonic()
        assert plat.wait_for(lambda: bool(flag), 5.0, ch.waitq)
        assert time.monotonic() - t0 < 4.0
