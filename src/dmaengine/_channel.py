"""The client face of a channel and of a descriptor (``struct dma_chan``, ``struct dma_async_tx_descriptor``).

The client methods check their arguments, then dispatch to the device's ``device_*`` ops. Drivers subclass
:class:`Channel` (usually through :class:`dmaengine.virt.VirtChannel`) and :class:`Descriptor`.
"""

from __future__ import annotations

import asyncio
import enum
import errno as _errno
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _burst, _check, _trace
from ._context import WaitQueue, _local, in_bottom_half
from ._enums import Cap, DescMetadataMode, PrepFlags, Status, TransferDirection
from ._errors import ENOTSUPP, ConfigError, NotSupportedError, StateError
from ._raidops import RaidChannelOps
from ._records import (
    ChannelStats,
    InterleavedTemplate,
    SgEntry,
    SlaveCaps,
    SlaveConfig,
    TxResult,
    TxState,
)

if TYPE_CHECKING:
    from ._device import DmaDevice

__all__ = ["Channel", "DescState", "Descriptor"]

Callback = Callable[[Any], None]
CallbackResult = Callable[[Any, TxResult], None]


class DescState(enum.IntEnum):
    """Life of a descriptor: prepared, submitted (has a cookie), issued, done (completed or terminated), freed."""

    PREPARED = 0
    SUBMITTED = 1
    ISSUED = 2
    DONE = 3
    FREED = 4


# Hot paths compare states with ``is`` against these instead of looking the members up on the class.
_PREPARED = DescState.PREPARED
_DONE = DescState.DONE
_FREED = DescState.FREED
_IN_PROGRESS = Status.IN_PROGRESS
_CTRL_REUSE = PrepFlags.CTRL_REUSE
_CTRL_ACK = PrepFlags.CTRL_ACK
_MEMCPY = int(Cap.MEMCPY)

_and = int.__and__  # ``Cap & Cap`` builds an enum member (~0.5 µs); this tests the bits of a mask as an int

#: PrepFlags for each int seen so far: constructing an IntFlag costs about 0.5 µs, a dict hit 30 ns.
_prep_flags_cache: dict[int, PrepFlags] = {0: PrepFlags(0)}


#: Every defined PrepFlags bit; a flags value with any other bit is refused.
_ALL_PREP_FLAGS = sum(PrepFlags)


def prep_flags(flags: int) -> PrepFlags:
    """``PrepFlags(flags)``, cached for plain ints (flag combinations are few); ConfigError for a bool, a
    non-integer or an undefined bit."""
    if flags.__class__ is int:
        pf = _prep_flags_cache.get(flags)
        if pf is None:
            if flags < 0 or flags & ~_ALL_PREP_FLAGS:
                raise ConfigError(f"flags must be PrepFlags bits, not {flags!r}")
            pf = PrepFlags(flags)
            if len(_prep_flags_cache) < 4096:
                _prep_flags_cache[flags] = pf
        return pf
    if flags.__class__ is PrepFlags:
        if flags & ~_ALL_PREP_FLAGS:
            raise ConfigError(f"flags must be PrepFlags bits, not {flags!r}")
        return flags
    return prep_flags(_check.index("flags", flags, 0, what="PrepFlags bits"))


class Descriptor:
    """A prepared transfer. Set ``callback`` or ``callback_result``, then :meth:`submit`.

    ``flags`` are the :class:`PrepFlags` it was prepared with; ``CTRL_REUSE`` there makes it reusable
    (:meth:`set_reuse`), ``CTRL_ACK`` says the client is done with it (:meth:`ack`)."""

    # ``_metadata_mode`` is set on the first metadata call only (read with a default): nothing to do per prep.
    __slots__ = ("_metadata_mode", "callback", "callback_param", "callback_result", "chan", "cookie", "flags",
                 "state")

    def __init__(self, chan: Channel, flags: int = 0) -> None:
        self.chan = chan
        self.cookie = 0
        self.flags = flags if flags.__class__ is PrepFlags else prep_flags(flags)
        self.callback: Callback | None = None
        self.callback_param: Any = None
        self.callback_result: CallbackResult | None = None
        self.state = _PREPARED

    def submit(self) -> int:
        """``dmaengine_submit``: queue the descriptor and return its cookie. Nothing starts until issue_pending.

        Of several threads submitting one descriptor at once exactly one wins; the others get StateError (the
        provider's ``tx_submit`` repeats :meth:`check_submittable` under the channel lock). From the instant the
        channel's release begins, submissions are refused (StateError)."""
        st = self.state
        if (st is not _PREPARED and st is not _DONE) or (st is _DONE and not _and(self.flags, _CTRL_REUSE)):
            self.check_submittable()  # raises; inlined test: this runs once per descriptor
        chan = self.chan
        if not chan._accepting:
            if chan.client_count:
                raise StateError(f"{chan.name}: channel is being released; submissions are refused")
            raise StateError(f"{chan.name}: channel is not allocated (released?)")
        cookie = self.tx_submit()
        if _trace.recorder is not None:
            _trace.emit("submit", self.chan, cookie, {"desc": self})
        return cookie

    def check_submittable(self) -> None:
        """StateError unless the descriptor may be submitted now (prepared, or done and reusable). A provider's
        :meth:`tx_submit` calls it again under the channel lock, so that one of two racing submits wins."""
        st = self.state
        if st is not _PREPARED and st is not _DONE:
            if st is _FREED:
                raise StateError(f"{self!r} was freed")
            raise StateError(f"{self!r} is already submitted (cookie {self.cookie})")
        if st is _DONE and not _and(self.flags, _CTRL_REUSE):
            raise StateError(f"{self!r} has completed and is not reusable (set_reuse() before submitting)")

    def tx_submit(self) -> int:
        """Provider hook: assign the cookie and queue (``tx->tx_submit``); call :meth:`check_submittable` under
        the channel lock first."""
        raise NotImplementedError

    def desc_free(self) -> None:
        """Provider hook: release the descriptor's resources (``tx->desc_free``)."""
        self.state = DescState.FREED

    @property
    def reuse(self) -> bool:
        """True when ``CTRL_REUSE`` is among the flags (:meth:`test_reuse`)."""
        return bool(_and(self.flags, _CTRL_REUSE))

    def set_reuse(self) -> None:
        """``dmaengine_desc_set_reuse``: set ``CTRL_REUSE``, so the descriptor can be submitted again after it
        ends. :class:`StateError` (EPERM) when the channel's caps say ``descriptor_reuse`` is False.

        Preparing with ``flags=PrepFlags.CTRL_REUSE`` has the same effect. (The kernel asks
        ``dma_get_slave_caps``, which fails for a memory-only engine; the caps are read here without that
        check, so a MEMCPY engine that can reuse descriptors says so.)"""
        chan = self.chan
        if not chan.device.slave_caps(chan).descriptor_reuse:
            raise StateError(f"{chan.name} cannot reuse descriptors (descriptor_reuse is False)")
        self.flags = prep_flags(int(self.flags) | _CTRL_REUSE)

    def clear_reuse(self) -> None:
        """``dmaengine_desc_clear_reuse``: clear ``CTRL_REUSE``."""
        self.flags = prep_flags(int(self.flags) & ~_CTRL_REUSE)

    def test_reuse(self) -> bool:
        """``dmaengine_desc_test_reuse``: is ``CTRL_REUSE`` set?"""
        return bool(_and(self.flags, _CTRL_REUSE))

    def free(self) -> None:
        """``dmaengine_desc_free``: free a reusable descriptor that is not queued. :class:`StateError` (EPERM)
        when ``CTRL_REUSE`` is not set, or while it is queued."""
        if not _and(self.flags, _CTRL_REUSE):
            raise StateError(f"{self!r} is not reusable; only a reusable descriptor may be freed")
        if self.state in (DescState.SUBMITTED, DescState.ISSUED):
            raise StateError(f"{self!r} is still queued (cookie {self.cookie})")
        self.desc_free()

    # --- ack (async_tx) -----------------------------------------------------------------------------------
    def ack(self) -> None:
        """``async_tx_ack``: set ``CTRL_ACK``: the client is done with the descriptor (no dependency will be
        attached to it), so the driver may recycle it once it ends."""
        self.flags = prep_flags(int(self.flags) | _CTRL_ACK)

    def clear_ack(self) -> None:
        """``async_tx_clear_ack``: clear ``CTRL_ACK``."""
        self.flags = prep_flags(int(self.flags) & ~_CTRL_ACK)

    def test_ack(self) -> bool:
        """``async_tx_test_ack``: is ``CTRL_ACK`` set?"""
        return bool(_and(self.flags, _CTRL_ACK))

    # --- metadata (dmaengine_desc_*_metadata) -------------------------------------------------------------
    @property
    def metadata_mode(self) -> DescMetadataMode:
        """The metadata mode the first metadata call fixed (``NONE`` until then)."""
        return getattr(self, "_metadata_mode", DescMetadataMode.NONE)

    def _metadata_check_and_set(self, mode: DescMetadataMode) -> None:
        current = self.metadata_mode
        if not current:
            if not self.chan.is_metadata_mode_supported(mode):
                raise NotSupportedError(f"{self.chan.name} does not support DESC_METADATA_{mode.name}",
                                        errno=ENOTSUPP)
            self._metadata_mode = mode
        elif current != mode:
            raise ConfigError(f"{self!r} uses DESC_METADATA_{current.name}; metadata modes cannot be mixed, "
                              f"not DESC_METADATA_{mode.name}")

    def attach_metadata(self, data: Any) -> None:
        """``dmaengine_desc_attach_metadata`` (DESC_METADATA_CLIENT): hand the engine a buffer of metadata (a
        bytes-like object): for MEM_TO_DEV it is sent with the data, for DEV_TO_MEM the engine fills it by the
        time the callback runs. :class:`NotSupportedError` (ENOTSUPP) when the channel has no CLIENT mode,
        :class:`ConfigError` (EINVAL) when ENGINE mode was used on this descriptor."""
        self._metadata_check_and_set(DescMetadataMode.CLIENT)
        self.metadata_attach(data)

    def get_metadata_ptr(self) -> tuple[memoryview, int, int]:
        """``dmaengine_desc_get_metadata_ptr`` (DESC_METADATA_ENGINE): the engine's metadata buffer, the length
        of the metadata in it (``payload_len``) and its capacity (``max_len``). For MEM_TO_DEV write it, then
        :meth:`set_metadata_len`; for DEV_TO_MEM read it in the callback. Errors as :meth:`attach_metadata`."""
        self._metadata_check_and_set(DescMetadataMode.ENGINE)
        return self.metadata_get_ptr()

    def set_metadata_len(self, payload_len: int) -> None:
        """``dmaengine_desc_set_metadata_len`` (DESC_METADATA_ENGINE): how many bytes of the engine's buffer hold
        metadata for a MEM_TO_DEV transfer. Errors as :meth:`attach_metadata`; :class:`ConfigError` past
        ``max_len``."""
        self._metadata_check_and_set(DescMetadataMode.ENGINE)
        self.metadata_set_len(payload_len)

    def metadata_attach(self, data: Any) -> None:
        """Provider hook (``metadata_ops->attach``): keep the client's metadata buffer. Default: ENOTSUPP."""
        raise NotSupportedError(f"{type(self).__name__} has no metadata attach op", errno=ENOTSUPP)

    def metadata_get_ptr(self) -> tuple[memoryview, int, int]:
        """Provider hook (``metadata_ops->get_ptr``): ``(buffer, payload_len, max_len)``. Default: ENOTSUPP."""
        raise NotSupportedError(f"{type(self).__name__} has no metadata get_ptr op", errno=ENOTSUPP)

    def metadata_set_len(self, payload_len: int) -> None:
        """Provider hook (``metadata_ops->set_len``): record the metadata length. Default: ENOTSUPP."""
        raise NotSupportedError(f"{type(self).__name__} has no metadata set_len op", errno=ENOTSUPP)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.chan.name} cookie={self.cookie} {self.state.name}>"


def _check_sgl(name: str, sgl: Sequence[SgEntry]) -> list[SgEntry]:
    if isinstance(sgl, (str, bytes)) or not hasattr(sgl, "__iter__"):
        raise ConfigError(f"{name} must be a sequence of SgEntry, not {sgl!r}")
    entries = list(sgl)
    if not entries:
        raise ConfigError(f"{name} must hold at least one entry, not {sgl!r}")
    if len(entries) > _check.MAX_SEGMENTS:
        raise ConfigError(f"{name} must hold at most {_check.MAX_SEGMENTS} entries, not {len(entries)}")
    for e in entries:
        if e.__class__ is not SgEntry and not isinstance(e, SgEntry):
            raise ConfigError(f"{name} entries must be SgEntry, not {e!r}")
    return entries


class Channel(RaidChannelOps):
    """A DMA channel as a client sees it. A context manager that releases itself. The XOR / PQ prep calls
    (``prep_dma_xor``, ``prep_dma_xor_val``, ``prep_dma_pq``, ``prep_dma_pq_val``, ``prep_dma_memset_sg``) come
    from :class:`~dmaengine._raidops.RaidChannelOps`."""

    def __init__(self) -> None:
        self.device: DmaDevice = None  # type: ignore[assignment]  # set by register_device
        self.chan_id = -1
        self.name = ""
        self.client_name: str | None = None
        self.client_count = 0
        #: True from the request until release begins: :meth:`Descriptor.submit` refuses work otherwise.
        self._accepting = False
        self.paused = False
        self.config: SlaveConfig | None = None
        self.waitq = WaitQueue()
        #: The device whose MEMCPY capability and lack of copy_align prep_dma_memcpy has checked once.
        self._memcpy_plain: DmaDevice | None = None
        # Counters; snapshot them with ``stats``.
        self.n_memcpy = 0
        self.n_bytes = 0
        self.n_submitted = 0
        self.n_completed = 0
        self.n_errors = 0
        self.n_callback_errors = 0

    # --- life ---------------------------------------------------------------------------------------------
    def _live(self) -> None:
        if self.client_count == 0:
            raise StateError(f"{self.name or 'channel'}: channel is not allocated (released?)")

    def _need(self, cap: Cap) -> None:
        self._live()
        if not _and(self.device.cap_mask, cap):
            raise NotSupportedError(f"{self.device.name} does not support {cap.name}")

    def release(self) -> None:
        """``dma_release_channel``: from the first instant submissions are refused; what is left is terminated
        (``device_terminate_all`` when the device has it), the bottom half synchronized and the channel's
        resources freed (``device_free_chan_resources``, which drops whatever a device without terminate still
        holds). Work never outlives its client: nothing submitted before release runs for the next owner, and a
        :meth:`sync_wait` on it returns (ERROR). Then the channel is free for others."""
        self._live()
        if in_bottom_half():
            raise StateError(f"{self.name}: release from a callback")
        if not self._accepting:
            raise StateError(f"{self.name}: channel is already being released")
        self._accepting = False
        self._release()

    def _release(self) -> None:
        """The body of :meth:`release`, once submissions are refused (``_accepting`` is False)."""
        dev = self.device
        try:
            if dev.has_op("device_terminate_all"):
                if _trace.recorder is not None:
                    _trace.emit("terminate", self)
                dev.device_terminate_all(self)
            dev.device_synchronize(self)
            dev.device_free_chan_resources(self)
        finally:
            self.client_count = 0
            self.client_name = None
            self.config = None
            self.paused = False
            self.waitq.wake()

    def free_chan_resources(self) -> None:
        """Provider hook that :meth:`DmaDevice.device_free_chan_resources` calls by default: drop every
        descriptor still held. Default: nothing (:class:`dmaengine.virt.VirtChannel` drops its lists)."""

    def is_metadata_mode_supported(self, mode: DescMetadataMode) -> bool:
        """``dmaengine_is_metadata_mode_supported``: does the device offer metadata ``mode``?"""
        return bool(int(self.device.desc_metadata_modes) & int(mode))

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client_count and self._accepting:  # not when a close() elsewhere is releasing it already
            self.release()

    @property
    def stats(self) -> ChannelStats:
        """A snapshot of this channel's counters."""
        return ChannelStats(
            memcpy_count=self.n_memcpy,
            bytes_transferred=self.n_bytes,
            in_use=self.client_count > 0,
            submitted=self.n_submitted,
            completed=self.n_completed,
            errors=self.n_errors,
            callback_errors=self.n_callback_errors,
        )

    # --- configuration ------------------------------------------------------------------------------------
    def get_slave_caps(self) -> SlaveCaps:
        """``dma_get_slave_caps``. :class:`NotSupportedError` (ENXIO) when the device has neither SLAVE nor
        CYCLIC, or reports no ``directions``, as the kernel answers."""
        self._live()
        dev = self.device
        if not _and(dev.cap_mask, Cap.SLAVE | Cap.CYCLIC):
            raise NotSupportedError(f"{dev.name} has neither SLAVE nor CYCLIC: no slave caps")
        if not dev.directions:
            raise NotSupportedError(f"{dev.name} reports no directions: no slave caps")
        return dev.slave_caps(self)

    def slave_config(self, cfg: SlaveConfig) -> None:
        """``dmaengine_slave_config``: checked against the device's caps (the error names the bad field), then
        handed to ``device_config``. :class:`NotSupportedError` (ENOSYS) when the device has no config op."""
        self._live()
        if not self.device.has_op("device_config"):
            raise NotSupportedError(f"{self.device.name} has no device_config", errno=_errno.ENOSYS)
        if not isinstance(cfg, SlaveConfig):
            raise ConfigError(f"slave_config takes a SlaveConfig, not {cfg!r}")
        caps = self.device.slave_caps(self)  # cfg's fields were checked when it was made
        if cfg.direction is not None and cfg.direction not in caps.directions:
            raise ConfigError(f"direction {cfg.direction!r} is not supported by {self.name}")
        for side, widths in (("src", caps.src_addr_widths), ("dst", caps.dst_addr_widths)):
            width = getattr(cfg, f"{side}_addr_width")
            if width and width not in widths:
                allowed = ", ".join(str(int(w)) for w in sorted(widths))
                raise ConfigError(f"{side}_addr_width must be one of {allowed} bytes, not {int(width)!r}")
            burst = getattr(cfg, f"{side}_maxburst")
            if burst and not caps.min_burst <= burst <= caps.max_burst:
                raise ConfigError(f"{side}_maxburst must be {caps.min_burst}..{caps.max_burst}, not {burst!r}")
        self.device.device_config(self, cfg)
        self.config = cfg

    # --- preparation --------------------------------------------------------------------------------------
    def _prepped(self, tx: Descriptor, flags: int, op: str = "", direction: TransferDirection | None = None,
                 period_len: int | None = None) -> Descriptor:
        tx.flags = prep_flags(flags)
        if _trace.recorder is not None:  # what the trace names the transfer's slices by (dmaengine.trace)
            _trace.emit("prep", self, 0, {"type": type(tx).__name__, "op": op, "desc": tx,
                                          "length": getattr(tx, "length", None), "period_len": period_len,
                                          "direction": (direction or TransferDirection.MEM_TO_MEM).name})
        return tx

    def _slave_dir(self, direction: TransferDirection) -> TransferDirection:
        if isinstance(direction, bool) or direction not in (TransferDirection.MEM_TO_DEV,
                                                            TransferDirection.DEV_TO_MEM,
                                                            TransferDirection.DEV_TO_DEV):
            raise ConfigError(f"direction must be MEM_TO_DEV, DEV_TO_MEM or DEV_TO_DEV, not {direction!r}")
        direction = TransferDirection(direction)
        if direction not in self.device.directions:
            raise ConfigError(f"direction {direction.name} is not supported by {self.name}")
        if self.config is None:
            raise ConfigError(f"{self.name}: no slave_config before a slave transfer")
        return direction

    def prep_slave_sg(self, sgl: Sequence[SgEntry], direction: TransferDirection, flags: int = 0) -> Descriptor:
        """``dmaengine_prep_slave_sg``: memory segments to or from the configured peripheral address."""
        self._need(Cap.SLAVE)
        direction = self._slave_dir(direction)
        entries = _check_sgl("sgl", sgl)
        return self._prepped(self.device.device_prep_slave_sg(self, entries, direction, prep_flags(flags)), flags,
                             "slave_sg", direction)

    def prep_slave_single(self, addr: int, length: int, direction: TransferDirection, flags: int = 0) -> Descriptor:
        """``dmaengine_prep_slave_single``: one segment."""
        self._need(Cap.SLAVE)
        return self.prep_slave_sg([SgEntry(addr, length)], direction, flags)

    def prep_dma_cyclic(
        self, buf_addr: int, buf_len: int, period_len: int, direction: TransferDirection, flags: int = 0
    ) -> Descriptor:
        """``dmaengine_prep_dma_cyclic``: a ring of periods, a callback per period, until terminated."""
        self._need(Cap.CYCLIC)
        direction = self._slave_dir(direction)
        buf_addr = _check.addr("buf_addr", buf_addr)
        buf_len = _check.length("buf_len", buf_len)
        period_len = _check.length("period_len", period_len)
        if buf_len % period_len:
            raise ConfigError(f"period_len {period_len!r} does not divide buf_len {buf_len!r}")
        if buf_len // period_len > _check.MAX_SEGMENTS:
            raise ConfigError(f"buf_len {buf_len} / period_len {period_len} must be at most {_check.MAX_SEGMENTS} "
                              f"periods, not {buf_len // period_len}")
        tx = self.device.device_prep_dma_cyclic(self, buf_addr, buf_len, period_len, direction, prep_flags(flags))
        return self._prepped(tx, flags, "cyclic", direction, period_len)

    def _check_align(self, what: str, align_shift: int, *values: int) -> None:
        if align_shift:
            mask = (1 << align_shift) - 1
            for v in values:
                if v & mask:
                    raise ConfigError(f"{what} {v!r} is not aligned to {1 << align_shift} bytes for {self.name}")

    def prep_dma_memcpy(self, dst: int, src: int, length: int, flags: int = 0) -> Descriptor:
        """``dmaengine_prep_dma_memcpy``: copy ``length`` bytes from ``src`` to ``dst``."""
        dev = self.device
        # Fast path: the same checks as the slow path below, for the common case of exact ints on a live channel
        # whose device passed the device checks before (MEMCPY, no copy_align). Anything else takes the slow
        # path and its messages.
        plain = (self.client_count and dst.__class__ is int and src.__class__ is int and length.__class__ is int
                 and dst >= 0 and src >= 0 and length > 0)
        if not (plain and self._memcpy_plain is dev):
            if plain and not dev.copy_align and _and(dev.cap_mask, _MEMCPY):
                self._memcpy_plain = dev  # the checks below would pass: the first prep of a channel, inlined
            else:
                self._need(Cap.MEMCPY)
                dst = _check.addr("dst", dst)
                src = _check.addr("src", src)
                length = _check.length("length", length)
                self._check_align("address or length", dev.copy_align, dst, src, length)
                # The device checks passed; remember when they always will (no alignment rule) for the fast path.
                self._memcpy_plain = None if dev.copy_align else dev
        pf = _prep_flags_cache.get(flags) if flags.__class__ is int else None  # prep_flags(), inlined
        if pf is None:
            pf = prep_flags(flags)
        tx = dev.device_prep_dma_memcpy(self, dst, src, length, pf)
        tx.flags = pf
        if _trace.recorder is not None:
            _trace.emit("prep", self, 0, {"type": type(tx).__name__, "op": "memcpy", "desc": tx, "length": length,
                                          "direction": "MEM_TO_MEM"})
        return tx

    def prep_dma_memset(self, dst: int, value: int, length: int, flags: int = 0) -> Descriptor:
        """``dmaengine_prep_dma_memset``: fill ``length`` bytes at ``dst`` with the byte ``value``."""
        self._need(Cap.MEMSET)
        dst = _check.addr("dst", dst)
        length = _check.length("length", length)
        value = _check.index("value", value, 0, 255, what="a byte 0..255")
        self._check_align("address or length", self.device.fill_align, dst, length)
        return self._prepped(self.device.device_prep_dma_memset(self, dst, value, length, prep_flags(flags)), flags,
                             "memset")

    def prep_interleaved_dma(self, template: InterleavedTemplate, flags: int = 0) -> Descriptor:
        """``dmaengine_prep_interleaved_dma``."""
        self._need(Cap.INTERLEAVE)
        if not isinstance(template, InterleavedTemplate):
            raise ConfigError(f"prep_interleaved_dma takes an InterleavedTemplate, not {template!r}")
        pf = prep_flags(flags)
        if _and(pf, PrepFlags.PREP_REPEAT) and not _and(self.device.cap_mask, Cap.REPEAT):
            raise NotSupportedError(f"{self.device.name} does not support REPEAT (PREP_REPEAT)")
        segments = template.numf * len(template.sgl)  # its fields were checked when it was made
        if segments > _check.MAX_SEGMENTS:
            raise ConfigError(f"numf {template.numf} x {len(template.sgl)} chunks must be at most "
                              f"{_check.MAX_SEGMENTS} segments, not {segments}")
        return self._prepped(self.device.device_prep_interleaved_dma(self, template, pf), flags,
                             "interleaved", template.dir)

    def prep_dma_memcpy_burst(self, dst: Any, src: Any, length: Any, flags: int = 0) -> Descriptor:
        """Many small copies in one descriptor (a burst): ``length`` bytes (an int, or one per op) from ``src[i]``
        to ``dst[i]``, in order; sequences or numpy arrays of ints. One cookie and one callback for the burst;
        once it has ended, the descriptor's ``op_status`` holds a :class:`Result` per op (see
        docs/client-driver.md, "Bursts")."""
        self._need(Cap.MEMCPY)
        dev = self.device
        if not dev.has_op("device_prep_dma_memcpy_burst"):
            raise NotSupportedError(f"{dev.name} does not support bursts (device_prep_dma_memcpy_burst)")
        d, s, n = _burst.burst_arrays(dst, src, length)
        if dev.copy_align:
            mask = (1 << dev.copy_align) - 1
            for name, arr in (("dst", d), ("src", s), ("length", n)):
                bad = (arr & mask) != 0
                if bad.any():
                    v = int(arr[int(bad.argmax())])
                    raise ConfigError(f"{name} {v!r} is not aligned to {1 << dev.copy_align} bytes for {self.name}")
        return self._prepped(dev.device_prep_dma_memcpy_burst(self, d, s, n, prep_flags(flags)), flags, "memcpy_burst")

    def prep_dma_memcpy_sg(self, dst_sgl: Sequence[SgEntry], src_sgl: Sequence[SgEntry], flags: int = 0) -> Descriptor:
        """``dmaengine_prep_dma_memcpy_sg``: copy the bytes of ``src_sgl`` into ``dst_sgl``."""
        self._need(Cap.MEMCPY_SG)
        dev = self.device
        if not dev.copy_align and dev.has_op("device_prep_dma_memcpy_sg_pieces"):
            pieces = _burst.sg_pieces(dst_sgl, src_sgl)  # small segments: checked and paired at once
            if pieces is not None:
                pf = prep_flags(flags)
                tx = dev.device_prep_dma_memcpy_sg_pieces(self, *pieces, pf)
                tx.flags = pf
                if _trace.recorder is not None:
                    return self._prepped(tx, flags)
                return tx
        dst = _check_sgl("dst_sgl", dst_sgl)
        src = _check_sgl("src_sgl", src_sgl)
        dlen, slen = sum(e.length for e in dst), sum(e.length for e in src)
        if dlen != slen:
            raise ConfigError(f"dst_sgl holds {dlen} bytes but src_sgl holds {slen!r}")
        return self._prepped(self.device.device_prep_dma_memcpy_sg(self, dst, src, prep_flags(flags)), flags,
                             "memcpy_sg")

    def prep_dma_interrupt(self, flags: int = 0) -> Descriptor:
        """``device_prep_dma_interrupt``: a descriptor that moves nothing and only calls back."""
        self._need(Cap.INTERRUPT)
        return self._prepped(self.device.device_prep_dma_interrupt(self, prep_flags(flags)), flags, "interrupt")

    # --- running ------------------------------------------------------------------------------------------
    def issue_pending(self) -> None:
        """``dma_async_issue_pending``: start the submitted descriptors."""
        if not self.client_count:
            self._live()  # raises
        if _trace.recorder is not None:
            _trace.emit("issue", self)
        self.device.device_issue_pending(self)

    def tx_status(self, cookie: int) -> tuple[Status, TxState]:
        """``dmaengine_tx_status``: the status of ``cookie`` and the residue in bytes (always 0 at DESCRIPTOR
        granularity). :class:`StateError` on a released channel."""
        if not self.client_count:
            raise StateError(f"{self.name or 'channel'}: channel is not allocated (released?)")
        if cookie.__class__ is not int:
            cookie = _check.index("cookie", cookie)
        return self.device.device_tx_status(self, cookie)

    def cookie_status(self, cookie: int) -> Status:
        """Provider hook: the :class:`Status` that :meth:`tx_status` would give for ``cookie``, without the
        residue. Waiters poll it; a driver may override it with a cheaper exact version (lock-free reads, as
        ``dma_cookie_status`` does). Default: ``device_tx_status``."""
        return self.device.device_tx_status(self, cookie)[0]

    def _done(self, cookie: int) -> Callable[[], bool]:
        status = self.cookie_status
        return lambda: status(cookie) != _IN_PROGRESS

    def _issue_for_wait(self) -> None:
        """What :meth:`sync_wait` does before it waits when no trace records (with one, it calls
        :meth:`issue_pending`, whose "issue" event the trace gets): :meth:`issue_pending`. A driver may skip the
        call where it would provably do nothing (the simulated controller's driver does, when nothing is
        submitted and nothing issued waits for the hardware); a released channel must still raise."""
        self.issue_pending()

    def sync_wait(self, cookie: int, timeout: float | None = 5.0) -> Status:
        """``dma_sync_wait``: issue pending, wait until ``cookie`` is not IN_PROGRESS; TimeoutError past timeout.

        The timeout rule (every wait of the package): None or ``math.inf`` waits for ever, a number >= 0 is
        seconds (on the platform's clock), a negative or nan value is a ConfigError."""
        if cookie.__class__ is not int:
            cookie = _check.index("cookie", cookie)
        limit = None if timeout is None else _check.timeout("timeout", timeout)
        if _local.depth > 0:  # in_bottom_half(), inlined
            raise StateError(f"{self.name}: sync_wait from a callback would block the bottom half")
        done = self._done(cookie)
        if _trace.recorder is None:
            self._issue_for_wait()  # last before waiting: the worker can start as soon as this thread yields
        else:
            self.issue_pending()  # the trace gets its "issue" event
        ref = self.device._platform  # self.device.platform, inlined
        plat = ref() if ref is not None else None
        if plat is None:
            raise StateError(f"{self.name}: the channel's device is not registered on a platform")
        if not plat.wait_for(done, limit, self.waitq):
            raise TimeoutError(f"{self.name}: cookie {cookie} not complete after {timeout} s")
        return self.cookie_status(cookie)

    async def wait_async(self, cookie: int, timeout: float | None = None) -> Status:
        """Await the end of ``cookie`` without blocking the event loop (issues pending first); the timeout rule
        of :meth:`sync_wait`."""
        if cookie.__class__ is not int:
            cookie = _check.index("cookie", cookie)
        limit = _check.timeout("timeout", timeout)
        plat = self.device.platform
        if not plat.realtime:
            return self.sync_wait(cookie, timeout)
        self.issue_pending()
        done = self._done(cookie)
        if done():
            return self.cookie_status(cookie)
        loop = asyncio.get_running_loop()
        ev = asyncio.Event()

        def waker() -> None:
            loop.call_soon_threadsafe(ev.set)

        wq = self.waitq
        wq.add_async(waker)  # counted under the queue's lock, with the blocking waiters
        try:
            async with asyncio.timeout(limit):
                while not done():
                    await ev.wait()
                    ev.clear()
        except TimeoutError:
            raise TimeoutError(f"{self.name}: cookie {cookie} not complete after {timeout} s") from None
        finally:
            wq.remove_async(waker)
        return self.cookie_status(cookie)

    def pause(self) -> None:
        """``dmaengine_pause``: no byte moves until :meth:`resume`; tx_status says PAUSED."""
        self._live()
        if not self.device.has_op("device_pause"):
            raise NotSupportedError(f"{self.device.name} cannot pause")
        self.device.device_pause(self)
        self.paused = True
        if _trace.recorder is not None:
            _trace.emit("pause", self)

    def resume(self) -> None:
        """``dmaengine_resume``: continue where pause stopped."""
        self._live()
        if not self.device.has_op("device_resume"):
            raise NotSupportedError(f"{self.device.name} cannot resume")
        if not self.paused:
            raise StateError(f"{self.name} is not paused")
        self.paused = False
        self.device.device_resume(self)
        if _trace.recorder is not None:
            _trace.emit("resume", self)

    def terminate_async(self) -> None:
        """``dmaengine_terminate_async``: drop every descriptor; returns at once. No callback for unfinished work."""
        self._live()
        if not self.device.has_op("device_terminate_all"):
            raise NotSupportedError(f"{self.device.name} cannot terminate")
        if _trace.recorder is not None:
            _trace.emit("terminate", self)
        self.device.device_terminate_all(self)
        self.paused = False

    def synchronize(self) -> None:
        """``dmaengine_synchronize``: wait until terminated work has stopped and running callbacks returned."""
        self._live()
        if in_bottom_half():
            raise StateError(f"{self.name}: synchronize from a callback")
        self.device.device_synchronize(self)

    def terminate_sync(self) -> None:
        """``dmaengine_terminate_sync``: terminate_async, then synchronize."""
        self._live()
        if in_bottom_half():
            raise StateError(f"{self.name}: terminate_sync from a callback")
        self.terminate_async()
        self.synchronize()

    # --- provider hook ------------------------------------------------------------------------------------
    def bottom_half(self) -> None:
        """Provider hook run by the device's bottom half when :meth:`DmaDevice.schedule_bottom_half` asked."""

    def __repr__(self) -> str:
        who = f" client={self.client_name!r}" if self.client_name else ""
        return f"<{type(self).__name__} {self.name}{who}{' in-use' if self.client_count else ''}>"
