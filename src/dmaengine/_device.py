"""DmaDevice and the provider helpers; :mod:`dmaengine.provider` is the public face."""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from . import _trace
from ._channel import Channel, Descriptor
from ._context import Tasklet
from ._enums import BusWidth, Cap, PrepFlags, ResidueGranularity, Status, TransferDirection
from ._errors import NotSupportedError
from ._raidops import RaidDeviceOps
from ._records import InterleavedTemplate, SgEntry, SlaveCaps, SlaveConfig, TxState

if TYPE_CHECKING:
    from ._platform import Platform


def pair_sg(dst_sgl: Sequence[SgEntry], src_sgl: Sequence[SgEntry]) -> Iterator[tuple[int, int, int]]:
    """Walk two scatterlists of equal total length together (for ``device_prep_dma_memcpy_sg``): yield
    ``(dst, src, size)`` pieces that each lie inside one entry of both lists, in order.

    >>> list(pair_sg([SgEntry(100, 3), SgEntry(200, 2)], [SgEntry(0, 1), SgEntry(10, 4)]))
    [(100, 0, 1), (101, 10, 2), (200, 12, 2)]
    """
    di = si = doff = soff = 0
    while di < len(dst_sgl) and si < len(src_sgl):
        d, s = dst_sgl[di], src_sgl[si]
        n = min(d.length - doff, s.length - soff)
        yield d.addr + doff, s.addr + soff, n
        doff += n
        soff += n
        if doff == d.length:
            di, doff = di + 1, 0
        if soff == s.length:
            si, soff = si + 1, 0


def tracing() -> bool:
    """True while a trace recorder is installed; guard :func:`trace_event` calls on hot paths with it."""
    return _trace.recorder is not None

#: The op each capability needs (dma_async_device_register's checks).
REQUIRED_OPS: dict[Cap, str] = {
    Cap.MEMCPY: "device_prep_dma_memcpy",
    Cap.MEMSET: "device_prep_dma_memset",
    Cap.MEMCPY_SG: "device_prep_dma_memcpy_sg",
    Cap.INTERLEAVE: "device_prep_interleaved_dma",
    Cap.SLAVE: "device_prep_slave_sg",
    Cap.CYCLIC: "device_prep_dma_cyclic",
    Cap.INTERRUPT: "device_prep_dma_interrupt",
    Cap.XOR: "device_prep_dma_xor",
    Cap.XOR_VAL: "device_prep_dma_xor_val",
    Cap.PQ: "device_prep_dma_pq",
    Cap.PQ_VAL: "device_prep_dma_pq_val",
    Cap.MEMSET_SG: "device_prep_dma_memset_sg",
}


class DmaDevice(RaidDeviceOps):
    """A DMA controller (``struct dma_device``). Subclass it; override the ops you support. The XOR / PQ limits
    (``max_xor``, ``max_pq``, ``xor_align``, ``pq_align``) and ops come from
    :class:`~dmaengine._raidops.RaidDeviceOps`."""

    cap_mask: ClassVar[Cap] = Cap(0)
    src_addr_widths: ClassVar[frozenset[BusWidth]] = frozenset()
    dst_addr_widths: ClassVar[frozenset[BusWidth]] = frozenset()
    directions: ClassVar[frozenset[TransferDirection]] = frozenset()
    min_burst: ClassVar[int] = 0
    max_burst: ClassVar[int] = 0
    max_sg_burst: ClassVar[int] = 0
    residue_granularity: ClassVar[ResidueGranularity] = ResidueGranularity.DESCRIPTOR
    descriptor_reuse: ClassVar[bool] = False
    #: log2 of the alignment of memcpy addresses and lengths (``copy_align``), and of memset (``fill_align``).
    copy_align: ClassVar[int] = 0
    fill_align: ClassVar[int] = 0

    def __init__(self, channels: Sequence[Channel] = (), dev_name: str = "dma") -> None:
        self.channels: list[Channel] = list(channels)
        self.dev_name = dev_name
        self._platform: weakref.ref[Platform] | None = None  # set by register_device
        self.dev_id = -1
        self.name = ""
        self.tasklet: Tasklet = None  # type: ignore[assignment]
        self._bh_queue: deque[Channel] = deque()

    @property
    def platform(self) -> Platform:
        """The platform the device is registered on (None before registration and after unregistration).

        Held weakly: the device's threads must not keep a dropped platform alive, so that its finalizer can stop
        them (see :meth:`dmaengine.Platform.close`)."""
        ref = self._platform
        return ref() if ref is not None else None  # type: ignore[return-value]

    @platform.setter
    def platform(self, plat: Platform | None) -> None:
        self._platform = None if plat is None else weakref.ref(plat)

    # --- framework plumbing -------------------------------------------------------------------------------
    @classmethod
    def has_op(cls, op: str) -> bool:
        """True when the driver class overrides ``op``."""
        return getattr(cls, op) is not getattr(DmaDevice, op)

    def slave_caps(self, chan: Channel) -> SlaveCaps:
        """``dma_get_slave_caps``: the class attributes, refined by :meth:`device_caps`."""
        caps = SlaveCaps(
            src_addr_widths=frozenset(self.src_addr_widths),
            dst_addr_widths=frozenset(self.dst_addr_widths),
            directions=frozenset(self.directions),
            min_burst=self.min_burst,
            max_burst=self.max_burst,
            max_sg_burst=self.max_sg_burst,
            cmd_pause=self.has_op("device_pause"),
            cmd_resume=self.has_op("device_resume"),
            cmd_terminate=self.has_op("device_terminate_all"),
            residue_granularity=self.residue_granularity,
            descriptor_reuse=self.descriptor_reuse,
        )
        return self.device_caps(chan, caps)

    def schedule_bottom_half(self, chan: Channel) -> None:
        """Run ``chan.bottom_half()`` soon in this device's bottom half. Caller holds the channel's lock."""
        if not chan._bh_queued:
            chan._bh_queued = True
            self._bh_queue.append(chan)
            self.tasklet.schedule()

    def run_bottom_half(self) -> None:
        """The tasklet body: serve every channel that asked. Called by the platform's tasklet."""
        q = self._bh_queue
        while q:
            q.popleft().bottom_half()

    def dma_set_mask(self, mask: int) -> None:
        """``dma_set_mask``: this device reaches DMA addresses up to ``mask`` only (``0xffff_ffff``: a 32-bit
        device); from now on the platform maps every buffer below it (the address space is shared: the narrowest
        mask wins). Call it from :meth:`on_register`. MappingError when buffers are already mapped above it."""
        self.platform.address_space.set_dma_mask(mask)

    @property
    def dma_mask(self) -> int:
        """The highest DMA address the platform maps buffers at (all ones: no limit was set)."""
        return self.platform.address_space.dma_mask

    def filter(self, chan: Channel, param: Any) -> bool:
        """The slave-map filter (``dma_filter_fn``): does ``chan`` serve the slave-map entry with ``param``?

        Default: ``param`` names the channel or the device. Controllers with request lines override it."""
        return bool(param == chan.name or param == self.name)

    def on_register(self) -> None:
        """Hook: called once the device is registered (names, platform and tasklet set). Start threads here."""

    def on_unregister(self) -> None:
        """Hook: called when the device is unregistered. Stop threads here."""

    def dbg_summary_show(self) -> str | None:
        """Hook: the device's part of the debugfs summary, or None for the default lines."""
        return None

    # --- the ops (struct dma_device) ----------------------------------------------------------------------
    def device_alloc_chan_resources(self, chan: Channel) -> None:
        """A client took ``chan``."""

    def device_free_chan_resources(self, chan: Channel) -> None:
        """The client released ``chan`` (after terminate_sync)."""

    def device_caps(self, chan: Channel, caps: SlaveCaps) -> SlaveCaps:
        """Refine the caps of one channel."""
        return caps

    def device_config(self, chan: Channel, cfg: SlaveConfig) -> None:
        """Store a checked slave configuration."""
        chan.config = cfg

    def _unsupported(self, op: str) -> Any:
        raise NotSupportedError(f"{self.name or type(self).__name__} does not implement {op}")

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int, flags: PrepFlags) -> Descriptor:
        """MEMCPY: a descriptor copying ``length`` bytes from DMA address ``src`` to ``dst`` (arguments checked)."""
        return self._unsupported("device_prep_dma_memcpy")

    def device_prep_dma_memset(self, chan: Channel, dst: int, value: int, length: int, flags: PrepFlags) -> Descriptor:
        """MEMSET: a descriptor filling ``length`` bytes at ``dst`` with the byte ``value``."""
        return self._unsupported("device_prep_dma_memset")

    def device_prep_dma_memcpy_sg(
        self, chan: Channel, dst_sgl: list[SgEntry], src_sgl: list[SgEntry], flags: PrepFlags
    ) -> Descriptor:
        """MEMCPY_SG: a descriptor copying ``src_sgl`` into ``dst_sgl`` (the same total length)."""
        return self._unsupported("device_prep_dma_memcpy_sg")

    def device_prep_interleaved_dma(self, chan: Channel, xt: InterleavedTemplate, flags: PrepFlags) -> Descriptor:
        """INTERLEAVE: a descriptor for the frames and chunks of ``xt``."""
        return self._unsupported("device_prep_interleaved_dma")

    def device_prep_slave_sg(
        self, chan: Channel, sgl: list[SgEntry], direction: TransferDirection, flags: PrepFlags
    ) -> Descriptor:
        """SLAVE: a descriptor moving ``sgl`` to (MEM_TO_DEV) or from (DEV_TO_MEM) the configured FIFO."""
        return self._unsupported("device_prep_slave_sg")

    def device_prep_dma_cyclic(
        self, chan: Channel, buf_addr: int, buf_len: int, period_len: int, direction: TransferDirection,
        flags: PrepFlags,
    ) -> Descriptor:
        """CYCLIC: a descriptor looping over ``buf_len`` bytes, a callback every ``period_len``; never completes."""
        return self._unsupported("device_prep_dma_cyclic")

    def device_prep_dma_interrupt(self, chan: Channel, flags: PrepFlags) -> Descriptor:
        """INTERRUPT: a descriptor that moves nothing and calls back once the work before it is done."""
        return self._unsupported("device_prep_dma_interrupt")

    def device_issue_pending(self, chan: Channel) -> None:
        """Start the submitted descriptors of ``chan`` (they stay queued until this is called)."""
        self._unsupported("device_issue_pending")

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        """The status of ``cookie`` and, for the descriptor in flight, its residue at the device granularity."""
        return self._unsupported("device_tx_status")

    def device_pause(self, chan: Channel) -> None:
        """Stop moving bytes on ``chan``, keeping its position (cmd_pause in the slave caps)."""
        self._unsupported("device_pause")

    def device_resume(self, chan: Channel) -> None:
        """Continue a paused channel where it stopped (cmd_resume)."""
        self._unsupported("device_resume")

    def device_terminate_all(self, chan: Channel) -> None:
        """Drop every descriptor of ``chan``, in flight or queued, with no callback for them (cmd_terminate)."""
        self._unsupported("device_terminate_all")

    def device_synchronize(self, chan: Channel) -> None:
        """Wait until terminated work has stopped and callbacks returned. Default: flush the bottom half."""
        self.tasklet.flush()

    def __repr__(self) -> str:
        name = self.name or "(unregistered)"
        return f"<{type(self).__name__} {name} ({self.dev_name}) {len(self.channels)} channels>"
