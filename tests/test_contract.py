"""The client and provider contract of include/linux/dmaengine.h and drivers/dma/dmaengine.c, item by item."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from dmaengine import (
    ENOTSUPP,
    BusWidth,
    Cap,
    ConfigError,
    DataChunk,
    DescMetadataMode,
    InterleavedTemplate,
    NoChannelError,
    NotSupportedError,
    Platform,
    PrepFlags,
    ResidueGranularity,
    Result,
    SlaveConfig,
    StateError,
    Status,
    TransferDirection,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.provider import Channel, DmaDevice
from dmaengine.virt import VirtChannel, VirtDescriptor


@pytest.fixture
def plat() -> Iterator[Platform]:
    p = Platform()
    yield p
    p.close()


class CyclicOnly(DmaDevice):
    """A CYCLIC-only controller (an audio DMA): no SLAVE bit, a config op, queues work it never runs."""

    cap_mask = Cap.CYCLIC
    src_addr_widths = frozenset({BusWidth.BYTES_2})
    dst_addr_widths = frozenset({BusWidth.BYTES_2})
    directions = frozenset({TransferDirection.MEM_TO_DEV})
    min_burst = 1
    max_burst = 8
    residue_granularity = ResidueGranularity.SEGMENT

    def __init__(self) -> None:
        super().__init__([VirtChannel()], dev_name="i2s-dma")
        self.configs: list[SlaveConfig] = []

    def device_config(self, chan: Channel, cfg: SlaveConfig) -> None:
        self.configs.append(cfg)

    def device_prep_dma_cyclic(self, chan: Channel, buf_addr: int, buf_len: int, period_len: int,
                               direction: TransferDirection, flags: PrepFlags) -> VirtDescriptor:
        assert isinstance(chan, VirtChannel)
        return chan.vchan_tx_prep(VirtDescriptor(chan, buf_len), flags)

    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, VirtChannel)
        with chan.lock:
            chan.vchan_issue_pending()

    def device_tx_status(self, chan: Channel, cookie: int) -> Any:
        assert isinstance(chan, VirtChannel)
        return chan.vchan_tx_status(cookie)


# --- 1. release without terminate; alloc and free -----------------------------------------------------------
def test_a_driver_without_terminate_releases_and_drops_its_queue(plat: Platform) -> None:
    plat.register_device(CyclicOnly())
    with plat.request_channel(Cap.CYCLIC) as chan:
        chan.slave_config(SlaveConfig(dst_addr=0x100, dst_addr_width=BusWidth.BYTES_2, dst_maxburst=4))
        tx = chan.prep_dma_cyclic(0x1000, 4096, 1024, TransferDirection.MEM_TO_DEV)
        cookie = tx.submit()
        chan.issue_pending()
        assert chan.tx_status(cookie)[0] is Status.IN_PROGRESS
        vc = chan
    assert not vc.stats.in_use and vc.config is None
    assert isinstance(vc, VirtChannel)
    assert (len(vc.desc_issued), len(vc.desc_submitted), vc.cookie_failed(cookie)) == (0, 0, True)
    with plat.request_channel(Cap.CYCLIC) as again:
        assert again is vc


def test_alloc_chan_resources_failure_fails_the_request(plat: Platform) -> None:
    class Picky(MemcpyEngine):
        refuse = True

        def device_alloc_chan_resources(self, chan: Channel) -> None:
            if self.refuse:
                raise MemoryError("no descriptor pool")

    dev = plat.register_device(Picky(channels=1))
    assert isinstance(dev, Picky)
    with pytest.raises(NoChannelError, match=r"^dma0chan0: device_alloc_chan_resources failed: no descriptor pool$"):
        plat.request_channel(Cap.MEMCPY)
    assert not dev.channels[0].stats.in_use
    dev.refuse = False
    with plat.request_channel(Cap.MEMCPY) as chan:
        assert chan is dev.channels[0]


class Hooked(MemcpyEngine):
    """A memory engine that runs ``during`` inside release, between terminate and free."""

    during: Any = None

    def device_synchronize(self, chan: Channel) -> None:
        if self.during is not None:
            self.during(chan)
        super().device_synchronize(chan)


def test_submissions_are_refused_while_release_waits(plat: Platform) -> None:
    dev = plat.register_device(Hooked(channels=1))
    assert isinstance(dev, Hooked)
    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros(256, dtype=np.uint8)
    s, d = plat.map(src), plat.map(dst)
    chan = plat.request_channel(Cap.MEMCPY)
    late = [chan.prep_dma_memcpy(d.addr, s.addr, 256), chan.prep_dma_memcpy(d.addr, s.addr, 256)]
    refused: list[str] = []

    def during(c: Channel) -> None:
        try:
            late[0].submit()
        except StateError as e:
            refused.append(str(e))
        try:
            late[1].tx_submit()  # the provider-level submit: refused under the channel lock
        except StateError as e:
            refused.append(str(e))

    dev.during = during
    chan.release()
    dev.during = None
    assert refused == ["dma0chan0: channel is being released; submissions are refused"] * 2
    with plat.request_channel(Cap.MEMCPY) as nxt:
        assert nxt.sync_wait(nxt.prep_dma_memcpy(d.addr, s.addr, 1).submit()) is Status.COMPLETE
    assert dst[0] == 0 and not dst[1:].any()  # nothing of the old owner's ran


def test_release_twice_and_release_during_release(plat: Platform) -> None:
    dev = plat.register_device(Hooked(channels=1))
    assert isinstance(dev, Hooked)
    chan = plat.request_channel(Cap.MEMCPY)
    seen: list[str] = []

    def during(c: Channel) -> None:
        try:
            c.release()
        except StateError as e:
            seen.append(str(e))

    dev.during = during
    chan.release()
    dev.during = None
    assert seen == ["dma0chan0: channel is already being released"]
    with pytest.raises(StateError, match=r"^dma0chan0: channel is not allocated \(released\?\)$"):
        chan.release()


def test_close_refuses_work_and_drops_what_is_queued(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=2))
    src = np.arange(256, dtype=np.uint8)
    dst = np.zeros(256, dtype=np.uint8)
    s, d = plat.map(src), plat.map(dst)
    a = plat.request_channel(Cap.MEMCPY)
    b = plat.request_channel(Cap.MEMCPY)
    called: list[int] = []
    tx = a.prep_dma_memcpy(d.addr, s.addr, 256)
    tx.callback = called.append
    cookie = tx.submit()
    later = b.prep_dma_memcpy(d.addr, s.addr, 256)
    plat.close()
    assert called == [] and not dst.any() and plat.devices == []
    assert isinstance(a, VirtChannel) and a.cookie_failed(cookie)
    with pytest.raises(StateError, match=r"^dma0chan1: channel is not allocated"):
        later.submit()
    with pytest.raises(StateError, match=r"^dma0chan0: channel is not allocated"):
        a.sync_wait(cookie, timeout=None)  # after close() it returns at once


def test_sync_wait_with_no_timeout_returns_when_close_drops_the_work(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    n = 32 << 20
    src = np.ones(n, dtype=np.uint8)
    dst = np.zeros(n, dtype=np.uint8)
    s, d = plat.map(src), plat.map(dst)
    chan = plat.request_channel(Cap.MEMCPY)
    cookies = [chan.prep_dma_memcpy(d.addr, s.addr, n).submit() for _ in range(32)]
    got: list[Status] = []
    waiter = threading.Thread(target=lambda: got.append(chan.sync_wait(cookies[-1], timeout=None)), daemon=True)
    waiter.start()
    while not (chan.waitq.waiters or got):
        plat.run_for(0.001)
    plat.close()
    waiter.join(30.0)
    assert not waiter.is_alive() and got == [Status.ERROR]


# --- 2. capabilities the kernel checks ----------------------------------------------------------------------
def test_slave_config_needs_the_config_op_not_the_slave_bit(plat: Platform) -> None:
    dev = plat.register_device(CyclicOnly())
    assert isinstance(dev, CyclicOnly)
    with plat.request_channel(Cap.CYCLIC) as chan:
        cfg = SlaveConfig(dst_addr=0x100, dst_addr_width=BusWidth.BYTES_2, dst_maxburst=8)
        chan.slave_config(cfg)
        assert dev.configs == [cfg] and chan.config == cfg
        caps = chan.get_slave_caps()
        assert (caps.directions, caps.max_burst, caps.cmd_terminate) == (
            frozenset({TransferDirection.MEM_TO_DEV}), 8, False)


def test_get_slave_caps_is_enxio_without_slave_or_cyclic_or_directions(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))

    class NoDirections(CyclicOnly):
        directions = frozenset()

    plat.register_device(NoDirections())
    with plat.request_channel(Cap.MEMCPY) as chan:
        with pytest.raises(NotSupportedError, match=r"^dma0 has neither SLAVE nor CYCLIC: no slave caps$") as e:
            chan.get_slave_caps()
        assert e.value.errno == errno.ENXIO
    with plat.request_channel(Cap.CYCLIC) as chan:
        with pytest.raises(NotSupportedError, match=r"^dma1 reports no directions: no slave caps$") as e:
            chan.get_slave_caps()
        assert e.value.errno == errno.ENXIO


def test_prep_repeat_needs_the_repeat_capability(plat: Platform) -> None:
    class Repeating(MemcpyEngine):
        cap_mask = MemcpyEngine.cap_mask | Cap.REPEAT

    plat.register_device(MemcpyEngine(channels=1))
    plat.register_device(Repeating(channels=1))
    xt = InterleavedTemplate(src_start=0x1000, dst_start=0x2000, numf=2, sgl=(DataChunk(16),))
    with plat.request_channel(Cap.INTERLEAVE) as chan:
        with pytest.raises(NotSupportedError, match=r"^dma0 does not support REPEAT \(PREP_REPEAT\)$") as e:
            chan.prep_interleaved_dma(xt, PrepFlags.PREP_REPEAT)
        assert e.value.errno == errno.ENXIO
        assert chan.prep_interleaved_dma(xt).flags == PrepFlags(0)
    with plat.request_channel(Cap.INTERLEAVE | Cap.REPEAT) as chan:
        assert chan.prep_interleaved_dma(xt, PrepFlags.PREP_REPEAT).flags == PrepFlags.PREP_REPEAT


# --- 4. reuse is CTRL_REUSE -----------------------------------------------------------------------------------
def test_reuse_flag_from_prep_and_eperm_where_the_channel_cannot_reuse(plat: Platform) -> None:
    class NoReuse(MemcpyEngine):
        descriptor_reuse = False

    plat.register_device(NoReuse(channels=1))
    plat.register_device(MemcpyEngine(channels=1))
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, dtype=np.uint8)
    s, d = plat.map(src), plat.map(dst)
    with plat.request_channel(Cap.MEMCPY) as chan:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
        with pytest.raises(StateError, match=r"^dma0chan0 cannot reuse descriptors \(descriptor_reuse is False\)$") \
                as e:
            tx.set_reuse()
        assert e.value.errno == errno.EPERM and tx.flags == PrepFlags(0)
    with plat.request_channel(Cap.MEMCPY) as chan:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, 64, PrepFlags.CTRL_REUSE | PrepFlags.CTRL_ACK)
        assert tx.test_reuse() and tx.reuse
        first = tx.submit()
        assert chan.sync_wait(first) is Status.COMPLETE
        dst[:] = 0
        assert chan.sync_wait(tx.submit()) is Status.COMPLETE and tx.flags == PrepFlags.CTRL_REUSE | PrepFlags.CTRL_ACK
        assert np.array_equal(dst, src)
        tx.clear_reuse()
        with pytest.raises(StateError, match="is not reusable; only a reusable descriptor may be freed"):
            tx.free()
        with pytest.raises(StateError, match="has completed and is not reusable"):
            tx.submit()


# --- 5. metadata ---------------------------------------------------------------------------------------------
class MetaDesc(VirtDescriptor):
    __slots__ = ("client_md", "engine_md", "md_len")

    def __init__(self, chan: VirtChannel, length: int) -> None:
        super().__init__(chan, length)
        self.client_md: Any = None
        self.engine_md = bytearray(16)
        self.md_len = 0

    def metadata_attach(self, data: Any) -> None:
        self.client_md = data

    def metadata_get_ptr(self) -> tuple[memoryview, int, int]:
        return memoryview(self.engine_md), self.md_len, len(self.engine_md)

    def metadata_set_len(self, payload_len: int) -> None:
        if not 0 <= payload_len <= len(self.engine_md):
            raise ConfigError(f"payload_len must be 0..{len(self.engine_md)}, not {payload_len!r}")
        self.md_len = payload_len


class MetaEngine(CyclicOnly):
    desc_metadata_modes = DescMetadataMode.CLIENT | DescMetadataMode.ENGINE

    def device_prep_dma_cyclic(self, chan: Channel, buf_addr: int, buf_len: int, period_len: int,
                               direction: TransferDirection, flags: PrepFlags) -> VirtDescriptor:
        assert isinstance(chan, VirtChannel)
        return chan.vchan_tx_prep(MetaDesc(chan, buf_len), flags)


def test_metadata_client_and_engine_modes_and_their_errors(plat: Platform) -> None:
    plat.register_device(MetaEngine())
    plat.register_device(CyclicOnly())
    cfg = SlaveConfig(dst_addr=0x100, dst_addr_width=BusWidth.BYTES_2)
    with plat.request_channel(Cap.CYCLIC) as chan:
        chan.slave_config(cfg)
        assert chan.is_metadata_mode_supported(DescMetadataMode.CLIENT)
        assert chan.is_metadata_mode_supported(DescMetadataMode.ENGINE)
        tx = chan.prep_dma_cyclic(0x1000, 64, 32, TransferDirection.MEM_TO_DEV)
        assert isinstance(tx, MetaDesc)
        assert tx.metadata_mode is DescMetadataMode.NONE
        tx.attach_metadata(b"hdr")
        assert (tx.client_md, tx.metadata_mode) == (b"hdr", DescMetadataMode.CLIENT)
        with pytest.raises(ConfigError, match=r"uses DESC_METADATA_CLIENT; metadata modes cannot be mixed, not "
                                              r"DESC_METADATA_ENGINE$") as e:
            tx.set_metadata_len(2)
        assert e.value.errno == errno.EINVAL
        tx2 = chan.prep_dma_cyclic(0x1000, 64, 32, TransferDirection.MEM_TO_DEV)
        buf, payload, max_len = tx2.get_metadata_ptr()
        assert (payload, max_len) == (0, 16)
        buf[:4] = b"\x01\x02\x03\x04"
        tx2.set_metadata_len(4)
        assert tx2.get_metadata_ptr()[1:] == (4, 16) and bytes(tx2.engine_md[:4]) == b"\x01\x02\x03\x04"
        with pytest.raises(ConfigError, match="metadata modes cannot be mixed"):
            tx2.attach_metadata(b"x")
    with plat.request_channel(Cap.CYCLIC, lambda c, p: c.device.name == p, "dma1") as chan:
        chan.slave_config(cfg)
        assert chan.name == "dma1chan0" and not chan.is_metadata_mode_supported(DescMetadataMode.ENGINE)
        tx = chan.prep_dma_cyclic(0x1000, 64, 32, TransferDirection.MEM_TO_DEV)
        with pytest.raises(NotSupportedError, match=r"^dma1chan0 does not support DESC_METADATA_CLIENT$") as e:
            tx.attach_metadata(b"hdr")
        assert e.value.errno == ENOTSUPP == 524


def test_metadata_mode_supported_without_the_descriptor_op_is_enotsupp(plat: Platform) -> None:
    class Claims(CyclicOnly):
        desc_metadata_modes = DescMetadataMode.ENGINE

    plat.register_device(Claims())
    with plat.request_channel(Cap.CYCLIC) as chan:
        chan.slave_config(SlaveConfig(dst_addr=0x100, dst_addr_width=BusWidth.BYTES_2))
        tx = chan.prep_dma_cyclic(0x1000, 64, 32, TransferDirection.MEM_TO_DEV)
        with pytest.raises(NotSupportedError, match=r"^VirtDescriptor has no metadata get_ptr op$") as e:
            tx.get_metadata_ptr()
        assert e.value.errno == ENOTSUPP


# --- 6. residue at DESCRIPTOR granularity -------------------------------------------------------------------
def test_descriptor_granularity_reports_residue_0_while_in_progress(plat: Platform) -> None:
    class Coarse(CyclicOnly):
        residue_granularity = ResidueGranularity.DESCRIPTOR

    plat.register_device(Coarse())
    plat.register_device(CyclicOnly())
    for dev, want in (("dma0", 0), ("dma1", 4096)):
        with plat.request_channel(Cap.CYCLIC, lambda c, p: c.device.name == p, dev) as chan:
            chan.slave_config(SlaveConfig(dst_addr=0x100, dst_addr_width=BusWidth.BYTES_2))
            cookie = chan.prep_dma_cyclic(0x1000, 4096, 1024, TransferDirection.MEM_TO_DEV).submit()
            chan.issue_pending()
            st, state = chan.tx_status(cookie)
            assert (st, state.residue) == (Status.IN_PROGRESS, want)
            chan.prep_dma_cyclic(0x1000, 4096, 1024, TransferDirection.MEM_TO_DEV).submit()  # the next one stays


# --- 12. Python manners -------------------------------------------------------------------------------------
def test_enums_read_as_their_names() -> None:
    assert [str(Status.COMPLETE), f"{Result.ABORTED}", "%s" % TransferDirection.MEM_TO_DEV] == [  # noqa: UP031
        "COMPLETE", "ABORTED", "MEM_TO_DEV"]
    assert f"{BusWidth.BYTES_4!s} {int(BusWidth.BYTES_4)}" == "BYTES_4 4"
    assert Status.COMPLETE == 0 and repr(Status.ERROR) == "<Status.ERROR: 3>"


def test_tx_status_on_a_released_channel_is_a_state_error(plat: Platform) -> None:
    plat.register_device(MemcpyEngine(channels=1))
    chan = plat.request_channel(Cap.MEMCPY)
    chan.release()
    with pytest.raises(StateError, match=r"^dma0chan0: channel is not allocated \(released\?\)$") as e:
        chan.tx_status(2)
    assert e.value.errno == errno.EPERM
