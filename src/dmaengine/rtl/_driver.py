"""The driver of the RTL controller: reads and writes registers, nothing else, on the public provider API and
the virt-dma helper, the way a kernel driver is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    PrepFlags,
    ResidueGranularity,
    Result,
    SgEntry,
    SlaveConfig,
    Status,
    TransferDirection,
    TxState,
)
from dmaengine.provider import Channel, DmaDevice
from dmaengine.virt import VirtChannel, VirtDescriptor

from ._controller import CFG, CHAN_STRIDE, CTRL, DST, LEN, REG_ID, REG_IRQ, SRC, STATUS

__all__ = ["RtlChannel", "RtlDescriptor", "RtlDmaDevice", "RtlDmaRequest"]

CTRL_START, CTRL_ABORT, CTRL_PAUSE, CTRL_IRQ_EN = 1, 2, 4, 8
ST_DONE, ST_ERR, ST_ERR_WRITE = 2, 4, 8
CFG_SRC_FIXED, CFG_DST_FIXED, CFG_DREQ_EN = 1, 2, 1 << 9
DMA_MASK_32 = 0xFFFF_FFFF
M2M = TransferDirection.MEM_TO_MEM
M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM


@dataclass(frozen=True, slots=True)
class RtlDmaRequest:
    """A slave-map filter parameter: the controller (``dma0``) and the peripheral's request line."""

    controller: str
    line: int


class RtlDescriptor(VirtDescriptor):
    """What the driver writes into the channel's registers: segments ``(src, dst, length)`` one after another
    (restarted from the interrupt handler), with one CFG value; a cyclic one loops over them."""

    __slots__ = ("cfg", "cyclic", "segs")

    def __init__(self, chan: RtlChannel, segs: list[tuple[int, int, int]], cfg: int = 0,
                 cyclic: bool = False) -> None:
        super().__init__(chan, sum(n for _, _, n in segs))
        self.segs = segs
        self.cfg = cfg
        self.cyclic = cyclic


class RtlChannel(VirtChannel):
    """A channel of the RTL controller: ``running`` is the descriptor loaded into its registers, ``seg`` the
    segment in them, ``dreq_line`` the request line the slave-map filter gave it."""

    def __init__(self) -> None:
        super().__init__()
        self.running: RtlDescriptor | None = None
        self.seg = 0
        self.cfg_reg = 0  # what the CFG register holds (written only when it changes)
        self.dreq_line: int | None = None

    def desc_residue(self, vd: VirtDescriptor) -> int:
        """Burst-granular: the LEN register and the segments after it (this pass, for cyclic). Caller holds
        ``vc.lock``."""
        if vd is self.running:
            dev = self.device
            assert isinstance(dev, RtlDmaDevice)
            return dev.residue(self, vd)
        return vd.length


class RtlDmaDevice(DmaDevice):
    """MEMCPY, SLAVE and CYCLIC on the RTL controller through ``bus`` (register reads and posted writes, an
    interrupt handler): the channel count, burst and LEN width come from the ID register; a 32-bit DMA mask.
    Scatter-gather and cyclic transfers are one segment at a time, the next programmed by the interrupt
    handler (the controller has no descriptor lists)."""

    cap_mask = Cap.MEMCPY | Cap.SLAVE | Cap.CYCLIC
    directions = frozenset({M2M, M2D, D2M})
    src_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4})
    dst_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4})
    min_burst = 1
    max_burst = 16
    max_sg_burst = 16
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

    # --- slave map ----------------------------------------------------------------------------------------
    def filter(self, chan: Channel, param: Any) -> bool:
        """The slave-map filter: an :class:`RtlDmaRequest` for this controller; remembers the request line."""
        if not isinstance(param, RtlDmaRequest) or param.controller != self.name:
            return False
        assert isinstance(chan, RtlChannel)
        chan.dreq_line = param.line
        return True

    def device_free_chan_resources(self, chan: Channel) -> None:
        assert isinstance(chan, RtlChannel)
        chan.dreq_line = None

    # --- prep ---------------------------------------------------------------------------------------------
    def _check_window(self, what: str, addr: int, length: int) -> None:
        mask = DMA_MASK_32
        if addr > mask or addr + length - 1 > mask:
            raise ConfigError(f"{what} {addr:#x} (+{length} bytes) is outside the 32-bit DMA window of "
                              f"{self.name} (mask {mask:#x})")

    def _check_len(self, length: int) -> None:
        if length > self.len_max:
            raise ConfigError(f"length {length} is beyond the LEN register of {self.name} (at most "
                              f"{self.len_max})")

    def _desc(self, chan: Channel, flags: PrepFlags, segs: list[tuple[int, int, int]], cfg: int = 0,
              cyclic: bool = False) -> RtlDescriptor:
        assert isinstance(chan, RtlChannel)
        vd = RtlDescriptor(chan, segs, cfg, cyclic)
        chan.vchan_tx_prep(vd, flags)
        return vd

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> RtlDescriptor:
        self._check_len(length)
        self._check_window("src", src, length)
        self._check_window("dst", dst, length)
        return self._desc(chan, flags, [(src, dst, length)])

    def _slave_segs(self, chan: Channel, bufs: list[tuple[int, int]],
                    direction: TransferDirection) -> tuple[list[tuple[int, int, int]], int]:
        """The segments and the CFG value of a slave transfer of ``bufs`` (address, length) in ``direction``."""
        assert isinstance(chan, RtlChannel)
        if direction not in (M2D, D2M):
            raise ConfigError(f"{self.name} moves slave data MEM_TO_DEV or DEV_TO_MEM, not {direction!r}")
        cfg = chan.config
        if not isinstance(cfg, SlaveConfig):
            raise ConfigError(f"{chan.name} has no slave configuration: call slave_config first")
        if chan.dreq_line is None:
            raise ConfigError(f"{chan.name} has no request line: get a slave channel with request_chan")
        side = "dst" if direction is M2D else "src"
        fifo = cfg.dst_addr if direction is M2D else cfg.src_addr
        width = int(getattr(cfg, f"{side}_addr_width"))
        burst = getattr(cfg, f"{side}_maxburst") or 1
        if not width:
            raise ConfigError(f"{side}_addr_width must be set for {direction.name} on {chan.name}, not UNDEFINED")
        self._check_window(f"{side}_addr", fifo, width)
        segs = []
        for addr, length in bufs:
            if length % width:
                raise ConfigError(f"length {length!r} is not a multiple of {side}_addr_width {width}")
            self._check_len(length)
            self._check_window("buffer", addr, length)
            segs.append((addr, fifo, length) if direction is M2D else (fifo, addr, length))
        fixed = CFG_DST_FIXED if direction is M2D else CFG_SRC_FIXED
        return segs, fixed | (width.bit_length() - 1) << 2 | burst << 4 | CFG_DREQ_EN | chan.dreq_line << 10

    def device_prep_slave_sg(self, chan: Channel, sgl: list[SgEntry], direction: TransferDirection,
                             flags: PrepFlags) -> RtlDescriptor:
        segs, cfg = self._slave_segs(chan, [(e.addr, e.length) for e in sgl], direction)
        return self._desc(chan, flags, segs, cfg)

    def device_prep_dma_cyclic(self, chan: Channel, buf_addr: int, buf_len: int, period_len: int,
                               direction: TransferDirection, flags: PrepFlags) -> RtlDescriptor:
        periods = [(buf_addr + off, period_len) for off in range(0, buf_len, period_len)]
        segs, cfg = self._slave_segs(chan, periods, direction)
        return self._desc(chan, flags, segs, cfg, cyclic=True)

    # --- running ------------------------------------------------------------------------------------------
    def _ctrl(self, chan: Channel) -> int:
        return CTRL_IRQ_EN | (CTRL_PAUSE if chan.paused else 0)

    def _program(self, chan: RtlChannel, vd: RtlDescriptor, seg: int) -> None:
        """Write segment ``seg`` of ``vd`` into the channel's registers and start it (clearing DONE and ERR
        first). Caller holds ``chan.lock``."""
        chan.running = vd
        chan.seg = seg
        src, dst, length = vd.segs[seg]
        base = chan.chan_id * CHAN_STRIDE
        bus = self.bus
        bus.write(base + STATUS, ST_DONE | ST_ERR)
        bus.write(base + SRC, src)
        bus.write(base + DST, dst)
        bus.write(base + LEN, length)
        if vd.cfg != chan.cfg_reg:
            bus.write(base + CFG, vd.cfg)
            chan.cfg_reg = vd.cfg
        bus.write(base + CTRL, CTRL_START | self._ctrl(chan))

    def _start_next(self, chan: RtlChannel) -> bool:
        """Load the first issued descriptor; False when there is none. Caller holds ``chan.lock``."""
        vd = chan.vchan_next_desc()
        if vd is None:
            return False
        assert isinstance(vd, RtlDescriptor)
        self._program(chan, vd, 0)
        return True

    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, RtlChannel)
        with chan.lock:
            if chan.vchan_issue_pending() and chan.running is None:
                self._start_next(chan)

    def residue(self, chan: RtlChannel, vd: RtlDescriptor) -> int:
        """What is left of running ``vd``: the LEN register (the whole segment until the driver's write of LEN
        has landed) and the segments after it. Caller holds ``chan.lock``."""
        off = chan.chan_id * CHAN_STRIDE + LEN
        seg = chan.seg
        later = sum(n for _, _, n in vd.segs[seg + 1 :])
        if self.bus.write_pending(off):
            return vd.segs[seg][2] + later
        return int(self.bus.read(off)) + later

    def _irq(self) -> None:
        """The interrupt handler: for each channel with DONE or ERR, go on with the next segment, or complete
        the descriptor and start the next one."""
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
                if not st & ST_ERR:
                    nxt = chan.seg + 1
                    if vd.cyclic:
                        if nxt == len(vd.segs):
                            nxt = 0
                        chan.vchan_cyclic_callback(vd)
                        self._program(chan, vd, nxt)
                        continue
                    if nxt < len(vd.segs):
                        self._program(chan, vd, nxt)
                        continue
                    result, residue = Result.NOERROR, 0
                else:
                    result = Result.WRITE_FAILED if st & ST_ERR_WRITE else Result.READ_FAILED
                    residue = int(bus.read(base + LEN)) + sum(n for _, _, n in vd.segs[chan.seg + 1 :])
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
