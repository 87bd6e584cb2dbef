"""The driver of the RTL controller: reads and writes registers, nothing else, on the public provider API and
the virt-dma helper, the way a kernel driver is written."""

from __future__ import annotations

from typing import Any

from dmaengine import Cap, ConfigError, PrepFlags, ResidueGranularity, Result, Status, TransferDirection, TxState
from dmaengine.provider import Channel, DmaDevice
from dmaengine.virt import VirtChannel, VirtDescriptor

from ._controller import CHAN_STRIDE, CTRL, DST, LEN, REG_ID, REG_IRQ, SRC, STATUS

__all__ = ["RtlChannel", "RtlDescriptor", "RtlDmaDevice"]

CTRL_START, CTRL_ABORT, CTRL_PAUSE, CTRL_IRQ_EN = 1, 2, 4, 8
ST_DONE, ST_ERR, ST_ERR_WRITE = 2, 4, 8
DMA_MASK_32 = 0xFFFF_FFFF


class RtlDescriptor(VirtDescriptor):
    """A memory-to-memory descriptor: what the driver writes into SRC, DST and LEN."""

    __slots__ = ("dst", "src")

    def __init__(self, chan: RtlChannel, dst: int, src: int, length: int) -> None:
        super().__init__(chan, length)
        self.dst = dst
        self.src = src


class RtlChannel(VirtChannel):
    """A channel of the RTL controller; ``running`` is the descriptor loaded into its registers."""

    def __init__(self) -> None:
        super().__init__()
        self.running: RtlDescriptor | None = None

    def desc_residue(self, vd: VirtDescriptor) -> int:
        """Burst-granular: the LEN register of the running descriptor. Caller holds ``vc.lock``."""
        if vd is self.running:
            dev = self.device
            assert isinstance(dev, RtlDmaDevice)
            return dev.residue(self.chan_id, vd)
        return vd.length


class RtlDmaDevice(DmaDevice):
    """MEMCPY on the RTL controller through ``bus`` (register reads and posted writes, an interrupt handler):
    the channel count, burst and LEN width come from the ID register; a 32-bit DMA mask."""

    cap_mask = Cap.MEMCPY
    directions = frozenset({TransferDirection.MEM_TO_MEM})
    residue_granularity = ResidueGranularity.BURST

    def __init__(self, bus: Any, dev_name: str = "rtl-dmac") -> None:
        ident = bus.read(REG_ID)
        if ident >> 24 != 0xD3:
            raise ConfigError(f"the controller's ID register reads {ident:#010x}, not 0xd3......")
        channels = (ident >> 8) & 0xFF
        super().__init__([RtlChannel() for _ in range(channels)], dev_name=dev_name)
        self.bus = bus
        self.len_max = (1 << ((ident >> 16) & 0xFF)) - 1
        self.burst_bytes = 4 * (ident & 0xFF)
        bus.irq_handler = self._irq

    def on_register(self) -> None:
        self.dma_set_mask(DMA_MASK_32)

    # --- prep ---------------------------------------------------------------------------------------------
    def _check_window(self, what: str, addr: int, length: int) -> None:
        mask = DMA_MASK_32
        if addr > mask or addr + length - 1 > mask:
            raise ConfigError(f"{what} {addr:#x} (+{length} bytes) is outside the 32-bit DMA window of "
                              f"{self.name} (mask {mask:#x})")

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> RtlDescriptor:
        if length > self.len_max:
            raise ConfigError(f"length {length} is beyond the LEN register of {self.name} (at most "
                              f"{self.len_max})")
        self._check_window("src", src, length)
        self._check_window("dst", dst, length)
        assert isinstance(chan, RtlChannel)
        vd = RtlDescriptor(chan, dst, src, length)
        chan.vchan_tx_prep(vd, flags)
        return vd

    # --- running ------------------------------------------------------------------------------------------
    def _ctrl(self, chan: Channel) -> int:
        return CTRL_IRQ_EN | (CTRL_PAUSE if chan.paused else 0)

    def _start_next(self, chan: RtlChannel) -> bool:
        """Load the first issued descriptor into the channel's registers (clearing DONE and ERR first); False when
        there is none. Caller holds ``chan.lock``."""
        vd = chan.vchan_next_desc()
        if vd is None:
            return False
        assert isinstance(vd, RtlDescriptor)
        chan.running = vd
        base = chan.chan_id * CHAN_STRIDE
        bus = self.bus
        bus.write(base + STATUS, ST_DONE | ST_ERR)
        bus.write(base + SRC, vd.src)
        bus.write(base + DST, vd.dst)
        bus.write(base + LEN, vd.length)
        bus.write(base + CTRL, CTRL_START | self._ctrl(chan))
        return True

    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, RtlChannel)
        with chan.lock:
            if chan.vchan_issue_pending() and chan.running is None:
                self._start_next(chan)

    def residue(self, idx: int, vd: VirtDescriptor) -> int:
        """The LEN register of channel ``idx`` (the whole length until the driver's write of LEN has landed)."""
        off = idx * CHAN_STRIDE + LEN
        if self.bus.write_pending(off):
            return vd.length
        return int(self.bus.read(off))

    def _irq(self) -> None:
        """The interrupt handler: acknowledge each channel's DONE / ERR, complete its descriptor, start the next."""
        bus = self.bus
        pending = bus.read(REG_IRQ)
        for chan in self.channels:
            if not pending >> chan.chan_id & 1:
                continue
            assert isinstance(chan, RtlChannel)
            base = chan.chan_id * CHAN_STRIDE
            st = bus.read(base + STATUS)
            with chan.lock:
                vd = chan.running
                if vd is None:
                    bus.write(base + STATUS, ST_DONE | ST_ERR)
                    continue
                if st & ST_ERR:
                    result = Result.WRITE_FAILED if st & ST_ERR_WRITE else Result.READ_FAILED
                    residue = int(bus.read(base + LEN))
                else:
                    result, residue = Result.NOERROR, 0
                chan.desc_issued.remove(vd)
                chan.running = None
                chan.vchan_cookie_complete(vd, result, residue)
                if not self._start_next(chan):  # starting the next one clears DONE and ERR as its first write
                    bus.write(base + STATUS, ST_DONE | ST_ERR)

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        assert isinstance(chan, RtlChannel)
        return chan.vchan_tx_status(cookie)

    def device_pause(self, chan: Channel) -> None:
        with chan.lock:  # type: ignore[attr-defined]
            self.bus.write(chan.chan_id * CHAN_STRIDE + CTRL, CTRL_IRQ_EN | CTRL_PAUSE)

    def device_resume(self, chan: Channel) -> None:
        with chan.lock:  # type: ignore[attr-defined]
            self.bus.write(chan.chan_id * CHAN_STRIDE + CTRL, CTRL_IRQ_EN)

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, RtlChannel)
        with chan.lock:
            chan.running = None
            self.bus.write(chan.chan_id * CHAN_STRIDE + CTRL, CTRL_ABORT)
            chan.vchan_terminate_all()

    def device_synchronize(self, chan: Channel) -> None:
        """Wait (in virtual time) until the ABORT write has landed, then flush the bottom half."""
        assert isinstance(chan, RtlChannel)
        if self.bus.write_pending():
            self.platform.wait_for(lambda: not self.bus.write_pending(), None, chan.waitq)
        chan.vchan_synchronize()
