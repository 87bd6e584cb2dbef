"""The controller driver: an ordinary provider on the virt-dma helper that programs the :class:`Dmac` model the
way a kernel driver writes registers. It uses only the public provider API."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    DescMetadataMode,
    InterleavedTemplate,
    PrepFlags,
    ResidueGranularity,
    Result,
    SgEntry,
    SlaveCaps,
    SlaveConfig,
    Status,
    TransferDirection,
    TxState,
    _trace,
)
from dmaengine._native import core
from dmaengine.provider import Channel, DescState, DmaDevice, pair_sg, trace_event
from dmaengine.virt import VirtChannel, VirtDescriptor

from ._dmac import MEM_BURST as _MEM_BURST
from ._dmac import WORD as _WORD
from ._dmac import Dmac, Irq, Item, Program
from ._periph import Port
from ._raid import RaidJob, raid_program

__all__ = ["DmaRequest", "SimChannel", "SimDescriptor", "SimDmaDevice"]

log = logging.getLogger("dmaengine")

M2M = TransferDirection.MEM_TO_MEM
M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM
_PERIOD = Irq.PERIOD
_DONE = Irq.DONE
#: PREP_REPEAT as a plain int, tested with int's own ``&`` (an IntFlag ``&`` is a Python-level call per program end)
_REPEAT = int(PrepFlags.PREP_REPEAT)
_int_and = int.__and__
_NO_FLAGS = PrepFlags(0)
_PREPARED = DescState.PREPARED
_NOERROR = Result.NOERROR
_MD_NONE = DescMetadataMode.NONE
_new = object.__new__
#: What the period interrupt inlines while a channel's class keeps it (a subclass's own is called).
_CYCLIC_CB = VirtChannel.vchan_cyclic_callback
_SCHEDULE_BH = DmaDevice.schedule_bottom_half
_COMPLETE, _ERROR, _PAUSED, _IN_PROGRESS = Status.COMPLETE, Status.ERROR, Status.PAUSED, Status.IN_PROGRESS


@dataclass(frozen=True, slots=True)
class DmaRequest:
    """A slave-map filter parameter: the controller (``dma0``) and the peripheral's request line."""

    controller: str
    line: int


#: The engine's metadata record of a finished transfer (DEV_TO_MEM and MEM_TO_MEM): the virtual instant it ended
#: (ns), the bytes it moved and its :class:`~dmaengine.Result`, little-endian.
METADATA_RECORD = struct.Struct("<QII")
#: Bytes of the engine's metadata buffer of each descriptor (DESC_METADATA_ENGINE's ``max_len``).
METADATA_MAX_LEN = 64


class SimDescriptor(VirtDescriptor):
    """A descriptor holding the program it will load into the controller (and, for xor / pq work, the job that
    combines what the program reads: sim/_raid.py), and its metadata (see :class:`SimDmaDevice`)."""

    __slots__ = ("job", "md_buf", "md_client", "md_len", "program")

    def __init__(self, chan: SimChannel, program: Program, job: RaidJob | None = None,
                 flags: PrepFlags = _NO_FLAGS) -> None:
        if flags.__class__ is PrepFlags:
            # VirtDescriptor.__init__(self, chan, program.total, flags), inlined (one frame less per descriptor):
            # the same fields (tests/sim/test_sim_client_path.py compares them).
            self.chan = chan
            self.cookie = 0
            self.flags = flags
            self.callback = None
            self.callback_param = None
            self.callback_result = None
            self.state = _PREPARED
            self.length = program.total
            self.result = _NOERROR
            self.residue = 0
            self.done_cookie = 0
        else:
            VirtDescriptor.__init__(self, chan, program.total, flags)
        self.program = program
        self.job = job
        self.md_client: Any = None
        self.md_buf: bytearray | None = None
        self.md_len = 0
        # Read by ``metadata_mode`` at every start and end: set, it is found without an AttributeError raised
        # and caught (the base class leaves it unset until the first metadata call).
        self._metadata_mode = _MD_NONE

    def metadata_attach(self, data: Any) -> None:
        """DESC_METADATA_CLIENT: keep the client's buffer (sent for MEM_TO_DEV, filled otherwise)."""
        try:
            view = memoryview(data)
        except TypeError:
            raise ConfigError(f"metadata must be a bytes-like object, not {data!r}") from None
        if self.program.direction is not M2D and (view.readonly or view.nbytes < METADATA_RECORD.size):
            raise ConfigError(f"metadata buffer for {self.program.direction.name} must be writable and hold "
                              f"{METADATA_RECORD.size} bytes, not {data!r}")
        self.md_client = view.cast("B")

    def _engine_buf(self) -> bytearray:
        if self.md_buf is None:
            self.md_buf = bytearray(METADATA_MAX_LEN)
        return self.md_buf

    def metadata_get_ptr(self) -> tuple[memoryview, int, int]:
        """DESC_METADATA_ENGINE: the descriptor's own buffer of METADATA_MAX_LEN bytes."""
        return memoryview(self._engine_buf()), self.md_len, METADATA_MAX_LEN

    def metadata_set_len(self, payload_len: int) -> None:
        """DESC_METADATA_ENGINE: the bytes of the buffer to send (MEM_TO_DEV)."""
        if not isinstance(payload_len, int) or isinstance(payload_len, bool) or \
                not 0 <= payload_len <= METADATA_MAX_LEN:
            raise ConfigError(f"payload_len must be 0..{METADATA_MAX_LEN}, not {payload_len!r}")
        self._engine_buf()
        self.md_len = payload_len

    def metadata_out(self) -> bytes | None:
        """The metadata a MEM_TO_DEV transfer sends, if any."""
        if self.md_client is not None:
            return bytes(self.md_client)
        if self.md_buf is not None and self.md_len:
            return bytes(self.md_buf[: self.md_len])
        return None

    def metadata_in(self, now_ns: int, result: Result, residue: int) -> None:
        """Write the engine's record of the ended transfer where the client's metadata goes."""
        mode = self.metadata_mode
        if mode is DescMetadataMode.CLIENT:
            METADATA_RECORD.pack_into(self.md_client, 0, now_ns, self.length - residue, int(result))
        elif mode is DescMetadataMode.ENGINE:
            METADATA_RECORD.pack_into(self._engine_buf(), 0, now_ns, self.length - residue, int(result))
            self.md_len = METADATA_RECORD.size


class SimChannel(VirtChannel):
    """A channel of the simulated controller; ``dreq_line`` is set by the slave-map filter."""

    __slots__ = ("running",)  # (read by the period runner every period; see VirtChannel.__slots__)

    def __init__(self) -> None:
        super().__init__()
        self.dreq_line: int | None = None
        self.running: SimDescriptor | None = None

    def _done(self, cookie: int) -> Callable[[], bool]:
        """What ``sync_wait`` tests after every event: ``cookie_status(cookie) != IN_PROGRESS`` (complete, failed
        or paused), read without the lock and without building a status: a Soc runs on one thread, and the
        waiter tests it between events, never during one."""

        def done() -> bool:
            if self.paused:
                return True
            last, used = self.completed_cookie, self.cookie  # is_complete(), inlined
            if last <= used:
                return cookie <= last or cookie > used
            return cookie <= last and cookie > used

        return done

    def _issue_for_wait(self) -> None:
        """``sync_wait``'s issue_pending, skipped where it would do nothing: nothing submitted, and the hardware
        runs the first issued descriptor or none is issued (a released channel still gets its StateError; with
        a trace recorder ``sync_wait`` calls issue_pending itself, for its "issue" event)."""
        if self.desc_submitted or (self.running is None and self.desc_issued) or not self.client_count:
            self.issue_pending()

    def cookie_status(self, cookie: int) -> Status:
        """The status ``tx_status`` gives for ``cookie``, without its residue: waiters poll it after every event,
        and the residue would make the controller account the running program's bursts each time."""
        lock = self.lock
        lock.acquire()  # (not ``with``: a waiter asks once per wait, and ``with`` costs about twice as much)
        try:
            last, used = self.completed_cookie, self.cookie  # is_complete(), inlined
            if ((cookie <= last or cookie > used) if last <= used else (cookie <= last and cookie > used)):
                return _ERROR if cookie in self._errors else _COMPLETE
        finally:
            lock.release()
        return _PAUSED if self.paused else _IN_PROGRESS

    def desc_residue(self, vd: VirtDescriptor) -> int:
        """Burst-granular: the bytes the running program has not moved yet (this pass, for cyclic)."""
        if vd is self.running:
            dev = self.device
            assert isinstance(dev, SimDmaDevice)
            return vd.length - dev.hw.progress(self.chan_id)
        return vd.length


#: SimDmaDevice.device_prep_dma_memcpy's descriptor built by the compiled core (src/native/copy.c), or None.
_prep_memcpy: Callable[..., Any] | None = None
if core is not None:
    try:
        core.prep_setup(Item, Program, SimDescriptor, (M2M, _WORD, _MEM_BURST, _PREPARED, _NOERROR, _MD_NONE))
    except TypeError:  # a class with a slot the compiled body does not fill (added since): the Python builds them
        pass
    else:
        _prep_memcpy = core.prep_memcpy
#: True where :func:`_program_fault` is None for a plain program (compiled: src/native/copy.c), or None.
_program_ok: Callable[[Any], bool] | None = None if core is None else core.program_ok


def _program_fault(prog: Any) -> str | None:
    """Why the controller cannot fetch ``prog`` (a field that is not what the hardware holds), or None. The
    descriptor fetch of real hardware reads plain integers; here a descriptor's program is a Python object that
    its owner may have changed after prep, and a bad one ends that descriptor, not the SoC."""
    if not isinstance(prog, Program) or not isinstance(prog.items, list) or not prog.items:
        return f"not a program with items: {prog!r}"
    width, burst, items = prog.width, prog.burst, prog.items
    if width.__class__ is not int or burst.__class__ is not int or width < 1 or burst < 1:
        return f"width {width!r} and burst {burst!r} must be ints >= 1"
    if len(items) == 1:  # one item (a memcpy or memset): the loop below without its enumerate
        it = items[0]
        src = it.src
        length, dst, value = it.length, it.dst, it.value
        if (length.__class__ is int and length >= 1 and dst.__class__ is int and dst >= 0
                and (src is None or (src.__class__ is int and src >= 0)) and it.irq.__class__ is bool
                and value.__class__ is int and 0 <= value <= 255):
            return None
    for i, it in enumerate(items):
        src = it.src
        if (it.length.__class__ is not int or it.length < 1 or it.dst.__class__ is not int or it.dst < 0
                or (src is not None and (src.__class__ is not int or src < 0)) or it.irq.__class__ is not bool
                or it.value.__class__ is not int or not 0 <= it.value <= 255):
            return (f"item {i}: src {src!r}, dst {it.dst!r}, length {it.length!r}, value {it.value!r}, "
                    f"irq {it.irq!r}")
    return None


def _period_runner() -> Callable[[Any, int], bool] | None:
    """The compiled period runner (src/native/period.c), told once which classes and functions it follows; None
    without the compiled core. It follows the code of several layers (the kernel, the lane, the controller's
    period end, this driver's interrupt, virt-dma's cyclic slot and bottom half, the SoC's tasklet), so this is
    where they meet."""
    global _RUNNER
    if _RUNNER is None and core is not None:
        import collections
        import heapq

        from dmaengine import virt

        from . import _soc  # (imported here: it imports this module)
        from ._capture import ByteCapture
        from ._dmac import _HwChannel, _State
        from ._i2s import _I2sTx
        from ._kernel import Event, TickClock
        from ._lane import PeriodLane
        from ._periph import Flow
        from ._plan import ItemPlan

        core.period_setup({
            **virt.period_consts(),
            "Event": Event, "PeriodLane": PeriodLane, "HwChannel": _HwChannel, "Dmac": Dmac,
            "period_end": Dmac._period_end, "irq": SimDmaDevice._irq, "ItemPlan": ItemPlan, "Flow": Flow,
            "TickClock": TickClock, "I2sTx": _I2sTx, "ByteCapture": ByteCapture, "M2D": M2D,
            "STEADY": _State.STEADY, "PERIOD": _PERIOD, "NOERROR": Result.NOERROR,
            "SimTasklet": _soc.SimTasklet, "HELD": _soc._HELD,
            "heappush": heapq.heappush, "heappop": heapq.heappop, "deque": collections.deque,
        })
        _RUNNER = core.period_run
    return _RUNNER


_RUNNER: Callable[[Any, int], bool] | None = None


class SimDmaDevice(DmaDevice):
    """The driver of the simulated controller: SLAVE, CYCLIC, MEMCPY, MEMCPY_SG, MEMSET, INTERLEAVE, XOR, PQ, and
    REPEAT with LOAD_EOT for interleaved transfers.

    The class attributes are the caps of the default controller (a 32-bit bus, bursts up to 16); an instance
    offers those of its :class:`Dmac`: every power-of-two address width up to the bus width, bursts up to its
    longest burst.

    REPEAT (provider.rst, the display case): a descriptor prepared with ``PREP_REPEAT`` runs again when it ends
    (the controller fetches it anew: one fetch latency, then the same bursts), calling back at the end of each
    pass as a cyclic period does, until the next issued descriptor carries ``PREP_LOAD_EOT``: at the end of the
    pass in flight the repeated one completes (its callback) and the new one starts. A next descriptor without
    LOAD_EOT waits until the client terminates.

    Metadata, both modes (``desc_metadata_modes``): a MEM_TO_DEV transfer hands its metadata (the attached buffer,
    or the first ``payload_len`` bytes of the engine's) to the peripheral as the controller loads the descriptor,
    through the peripheral's ``on_tx_metadata(data, now_ns)`` when it has one (a packet interface); any other
    transfer gets the engine's record :data:`METADATA_RECORD` (when it ended, bytes moved, result) written into
    the attached buffer or the engine's buffer before its callback runs (``metadata_record``, a
    :class:`struct.Struct`; the engine's buffer holds ``metadata_max_len`` bytes)."""

    desc_metadata_modes = DescMetadataMode.CLIENT | DescMetadataMode.ENGINE
    #: The engine's metadata record (:data:`METADATA_RECORD`) and the engine buffer's size (``max_len``).
    metadata_record = METADATA_RECORD
    metadata_max_len = METADATA_MAX_LEN

    cap_mask = (Cap.SLAVE | Cap.CYCLIC | Cap.MEMCPY | Cap.MEMCPY_SG | Cap.MEMSET | Cap.INTERLEAVE
                | Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL | Cap.REPEAT | Cap.LOAD_EOT)
    max_xor = 8
    max_pq = 8
    pq_continue = True
    src_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4})
    dst_addr_widths = frozenset({BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4})
    directions = frozenset({M2M, M2D, D2M})
    min_burst = 1
    max_burst = 16
    max_sg_burst = 16
    residue_granularity = ResidueGranularity.BURST

    def __init__(self, hw: Dmac, decode: Callable[[int], Port | None], dev_name: str = "sim-dmac",
                 guard: Callable[[str], AbstractContextManager[None]] | None = None) -> None:
        super().__init__([SimChannel() for _ in hw.chans], dev_name=dev_name)
        self.hw = hw
        self._decode = decode
        #: Holds the SoC for the calling thread around each op that drives the hardware (``Soc.exclusive``).
        self.guard: Callable[[str], AbstractContextManager[None]] = guard or (lambda what: contextlib.nullcontext())
        # The same hold without a context manager, when the guard offers it (the Soc's does): ``claim(what)``
        # True when it took the hold, ``release(took)`` at the end of the block (issue_pending runs once per
        # transfer).
        self._claim: Callable[[str], bool] | None = getattr(guard, "claim", None)
        self._release: Callable[[bool], None] | None = getattr(guard, "release", None)
        hw.irq = self._irq
        hw.kernel.period_runner = _period_runner()
        self._widths = frozenset(w for w in BusWidth if w and w <= hw.bus_width_bytes and not w & (w - 1))

    def device_caps(self, chan: Channel, caps: SlaveCaps) -> SlaveCaps:
        """The address widths and bursts of this controller's bus."""
        burst = self.hw.mem_burst
        return dataclasses.replace(caps, src_addr_widths=self._widths, dst_addr_widths=self._widths,
                                   max_burst=burst, max_sg_burst=burst)

    # --- slave map ----------------------------------------------------------------------------------------
    def filter(self, chan: Channel, param: Any) -> bool:
        """The slave-map filter: a :class:`DmaRequest` for this controller; remembers the request line."""
        if not isinstance(param, DmaRequest) or param.controller != self.name:
            return False
        assert isinstance(chan, SimChannel)
        chan.dreq_line = param.line
        return True

    def device_config(self, chan: Channel, cfg: SlaveConfig) -> None:
        """Accept a checked configuration; the framework keeps it in ``chan.config`` and prep programs it."""

    def device_free_chan_resources(self, chan: Channel) -> None:
        """Forget the request line and drop what the channel still holds."""
        assert isinstance(chan, SimChannel)
        chan.dreq_line = None
        super().device_free_chan_resources(chan)

    # --- prep ---------------------------------------------------------------------------------------------
    def _desc(self, chan: Channel, program: Program, flags: int) -> SimDescriptor:
        assert isinstance(chan, SimChannel)
        vd = SimDescriptor(chan, program)
        chan.vchan_tx_prep(vd, flags)
        return vd

    def _slave_program(self, chan: Channel, segs: list[tuple[int, int]], direction: TransferDirection,
                       cyclic: bool) -> Program:
        assert isinstance(chan, SimChannel)
        cfg = chan.config
        assert isinstance(cfg, SlaveConfig)
        side = "dst" if direction is M2D else "src"
        fifo = cfg.dst_addr if direction is M2D else cfg.src_addr
        width = int(getattr(cfg, f"{side}_addr_width"))
        burst = getattr(cfg, f"{side}_maxburst") or 1
        if not width:
            raise ConfigError(f"{side}_addr_width must be set for {direction.name} on {chan.name}, not UNDEFINED")
        for _, length in segs:
            if length % width:
                raise ConfigError(f"length {length!r} is not a multiple of {side}_addr_width {width}")
        port = self._decode(fifo)
        if port is not None and port.direction != direction:
            port = None  # the wrong FIFO for this direction: a bus error at the first burst
        if port is not None and chan.dreq_line is not None and port.line != chan.dreq_line:
            raise ConfigError(f"{side}_addr {fifo:#x} is the FIFO of request line {port.line}, but {chan.name} "
                              f"serves line {chan.dreq_line}")
        last = len(segs) - 1
        if direction is M2D:
            items = [Item(a, fifo, n, cyclic or i == last) for i, (a, n) in enumerate(segs)]
        else:
            items = [Item(fifo, a, n, cyclic or i == last) for i, (a, n) in enumerate(segs)]
        return Program(items, direction, width, burst, port, cyclic)

    def device_prep_slave_sg(self, chan: Channel, sgl: list[SgEntry], direction: TransferDirection,
                             flags: PrepFlags) -> SimDescriptor:
        prog = self._slave_program(chan, [(e.addr, e.length) for e in sgl], direction, False)
        return self._desc(chan, prog, flags)

    def device_prep_dma_cyclic(self, chan: Channel, buf_addr: int, buf_len: int, period_len: int,
                               direction: TransferDirection, flags: PrepFlags) -> SimDescriptor:
        segs = [(buf_addr + off, period_len) for off in range(0, buf_len, period_len)]
        return self._desc(chan, self._slave_program(chan, segs, direction, True), flags)

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> SimDescriptor:
        # _desc, inlined (the framework hands this driver its own channels only: no isinstance test per prep), and
        # SimDescriptor(chan, Program([Item(src, dst, length, True)], M2M), None, flags) without the three
        # __init__ frames: the same slots (tests/sim/test_sim_m8e_path.py compares them).
        if flags.__class__ is not PrepFlags:
            return SimDescriptor(chan, Program([Item(src, dst, length, True)], M2M), None, flags)  # type: ignore[arg-type]
        if _prep_memcpy is not None:  # the same objects and slots, built in one compiled call (src/native/copy.c)
            return _prep_memcpy(chan, dst, src, length, flags)
        item = _new(Item)
        item.src = src
        item.dst = dst
        item.length = length
        item.irq = True
        item.value = 0
        prog = _new(Program)
        prog.items = [item]
        prog.direction = M2M
        prog.width = _WORD
        prog.burst = _MEM_BURST
        prog.port = None
        prog.cyclic = False
        prog.total = length
        vd = _new(SimDescriptor)
        vd.chan = chan
        vd.cookie = 0
        vd.flags = flags
        vd.callback = None
        vd.callback_param = None
        vd.callback_result = None
        vd.state = _PREPARED
        vd.length = length
        vd.result = _NOERROR
        vd.residue = 0
        vd.done_cookie = 0
        vd.program = prog
        vd.job = None
        vd.md_client = None
        vd.md_buf = None
        vd.md_len = 0
        vd._metadata_mode = _MD_NONE
        return vd

    def device_prep_dma_memcpy_sg(self, chan: Channel, dst_sgl: list[SgEntry], src_sgl: list[SgEntry],
                                  flags: PrepFlags) -> SimDescriptor:
        items = [Item(src, dst, n) for dst, src, n in pair_sg(dst_sgl, src_sgl)]
        items[-1].irq = True
        return self._desc(chan, Program(items, M2M), flags)

    def device_prep_dma_memset(self, chan: Channel, dst: int, value: int, length: int,
                               flags: PrepFlags) -> SimDescriptor:
        return self._desc(chan, Program([Item(None, dst, length, True, value)], M2M), flags)

    def device_prep_interleaved_dma(self, chan: Channel, xt: InterleavedTemplate,
                                    flags: PrepFlags) -> SimDescriptor:
        if xt.dir != M2M:
            raise ConfigError(f"{self.name} interleaves MEM_TO_MEM only, not {xt.dir!r}")
        items = [Item(s, d, n) for s, d, n in xt.segments()]
        items[-1].irq = True
        return self._desc(chan, Program(items, M2M), flags)

    def _raid(self, chan: Channel, op: str, dsts: tuple[int, ...], srcs: list[int], coefs: bytes, length: int,
              flags: PrepFlags, result: Any = None) -> SimDescriptor:
        prog, job = raid_program(self.platform, op, dsts, srcs, coefs, length, flags, result)
        assert isinstance(chan, SimChannel)
        vd = SimDescriptor(chan, prog, job)
        chan.vchan_tx_prep(vd, flags)
        return vd

    def device_prep_dma_xor(self, chan: Channel, dst: int, srcs: list[int], length: int,
                            flags: PrepFlags) -> SimDescriptor:
        return self._raid(chan, "xor", (dst,), srcs, b"", length, flags)

    def device_prep_dma_xor_val(self, chan: Channel, srcs: list[int], length: int, result: Any,
                                flags: PrepFlags) -> SimDescriptor:
        return self._raid(chan, "xor_val", (), srcs, b"", length, flags, result)

    def device_prep_dma_pq(self, chan: Channel, dst: tuple[int, int], srcs: list[int], coefs: bytes, length: int,
                           flags: PrepFlags) -> SimDescriptor:
        return self._raid(chan, "pq", dst, srcs, coefs, length, flags)

    def device_prep_dma_pq_val(self, chan: Channel, pq: tuple[int, int], srcs: list[int], coefs: bytes,
                               length: int, result: Any, flags: PrepFlags) -> SimDescriptor:
        return self._raid(chan, "pq_val", pq, srcs, coefs, length, flags, result)

    # --- running ------------------------------------------------------------------------------------------
    def _start_next(self, chan: SimChannel) -> None:
        """Load the first issued descriptor into the hardware. Caller holds ``chan.lock``.

        A descriptor whose program the controller cannot fetch, or whose start fails for any reason, ends at
        once with READ_FAILED (the descriptor fetch failed) and the next one starts: the SoC goes on."""
        issued = chan.desc_issued
        while issued:
            vd: SimDescriptor = issued[0]  # type: ignore[assignment]  # vchan_next_desc(), inlined
            prog = vd.program
            why = None if _program_ok is not None and _program_ok(prog) else _program_fault(prog)
            if why is None:
                chan.running = vd
                try:
                    if prog.direction is M2D and vd.metadata_mode:  # (prog is vd.program: nothing ran since)
                        self._send_metadata(vd)
                    if vd.job is not None:
                        vd.job.map()  # xor / pq scratch: mapped while the program runs (sim/_raid.py)
                    self.hw.start(chan.chan_id, vd.program)
                except Exception as e:  # never leave the channel wedged on one bad descriptor
                    chan.running = None
                    self.hw.abort(chan.chan_id)
                    if vd.job is not None:
                        vd.job.release()
                    why = f"{type(e).__name__}: {e}"
                else:
                    if _trace.recorder is not None:  # tracing(), inlined
                        trace_event("start", chan, vd.cookie)
                    return
            log.warning("%s: descriptor cookie %d ends with READ_FAILED: %s", chan.name, vd.cookie, why)
            chan.desc_issued.popleft()
            chan.vchan_cookie_complete(vd, Result.READ_FAILED, vd.length if vd.length.__class__ is int else 0)

    def device_issue_pending(self, chan: SimChannel) -> None:  # type: ignore[override]  # its own channels only
        claim, release = self._claim, self._release
        if claim is None or release is None:
            with self.guard("issue_pending"), chan.lock:
                self._issue(chan)
            return
        took = claim("issue_pending")  # ``with self.guard(...)`` without the context manager's frames
        try:
            lock = chan.lock
            lock.acquire()  # (``with chan.lock``, without the context manager's special lookups)
            try:
                if chan.desc_submitted:  # self._issue(chan), inlined
                    chan.vchan_issue_pending()
                if chan.running is None and chan.desc_issued:
                    self._start_next(chan)
            finally:
                lock.release()
        finally:
            release(took)

    def _issue(self, chan: SimChannel) -> None:
        """Issue what is submitted and start the hardware if it is idle. Caller holds the guard and
        ``chan.lock``."""
        if chan.desc_submitted:
            chan.vchan_issue_pending()
        if chan.running is None and chan.desc_issued:
            self._start_next(chan)

    def _irq(self, idx: int, kind: Irq, result: Result, residue: int) -> None:
        """The interrupt handler: a hardware event, no lock held on entry."""
        chan = self.channels[idx]
        assert isinstance(chan, SimChannel)
        lock = chan.lock
        lock.acquire()  # (``with chan.lock``, without the context manager's special lookups: once per interrupt)
        try:
            vd = chan.running
            if vd is None:
                return
            job = vd.job
            if _trace.recorder is not None:  # tracing(): the FIFO, up to date at this burst's end, a trace counter
                port = vd.program.port
                if port is not None:
                    trace_event("fifo", chan, vd.cookie, {"port": port.name, "level": len(port.fifo)})
            if kind is _PERIOD:
                if job is not None:  # the last source has crossed the bus: combine, then write the results
                    job.compute()
                    return
                if type(chan).vchan_cyclic_callback is not _CYCLIC_CB or _trace.recorder is not None:
                    chan.vchan_cyclic_callback(vd)  # (a subclass's own, or its "period" trace event)
                    return
                chan.cyclic = vd  # VirtChannel.vchan_cyclic_callback(chan, vd), inlined: once per period interrupt
                device = chan.device
                if type(device).schedule_bottom_half is _SCHEDULE_BH:
                    device.bh.schedule(chan)
                else:
                    device.schedule_bottom_half(chan)
                return
            if kind is _DONE and _int_and(vd.flags, _REPEAT) and not self._replaced(chan, vd):
                chan.vchan_cyclic_callback(vd)  # one pass ended: a callback, and the same program again
                self.hw.start(idx, vd.program)
                return
            if job is not None:
                if kind is _DONE and job.result is not None:
                    job.check()
                job.release()
            issued = chan.desc_issued
            if issued and issued[0] is vd:  # (the running descriptor is the first issued: remove() without its search)
                issued.popleft()
            else:
                issued.remove(vd)
            chan.running = None
            if getattr(vd, "_metadata_mode", _MD_NONE) and vd.program.direction is not M2D:  # vd.metadata_mode
                vd.metadata_in(self.platform.now_ns, result, residue)
            chan.vchan_cookie_complete(vd, result, residue)
            if issued:
                self._start_next(chan)
        finally:
            lock.release()

    @staticmethod
    def _send_metadata(vd: SimDescriptor) -> None:
        data = vd.metadata_out()
        port = vd.program.port
        hook = getattr(port.owner, "on_tx_metadata", None) if port is not None else None
        if data is not None and hook is not None:
            hook(data, vd.chan.device.platform.now_ns)

    @staticmethod
    def _replaced(chan: SimChannel, vd: SimDescriptor) -> bool:
        """Is the repeated ``vd`` replaced at the end of this pass: is the next issued descriptor flagged
        LOAD_EOT? Caller holds ``chan.lock``."""
        issued = chan.desc_issued
        return len(issued) > 1 and issued[0] is vd and bool(issued[1].flags & PrepFlags.PREP_LOAD_EOT)

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        assert isinstance(chan, SimChannel)
        return chan.vchan_tx_status(cookie)

    def device_pause(self, chan: Channel) -> None:
        with self.guard("pause"), chan.lock:  # type: ignore[attr-defined]
            self.hw.pause(chan.chan_id)

    def device_resume(self, chan: Channel) -> None:
        with self.guard("resume"), chan.lock:  # type: ignore[attr-defined]
            self.hw.resume(chan.chan_id)

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, SimChannel)
        with self.guard("terminate"), chan.lock:
            chan.running = None
            self.hw.abort(chan.chan_id)
            for vd in chan.vchan_terminate_all():
                if isinstance(vd, SimDescriptor) and vd.job is not None:
                    vd.job.release()

    def device_synchronize(self, chan: Channel) -> None:
        """Wait (in virtual time) until an aborted burst has left the bus, then flush the bottom half."""
        assert isinstance(chan, SimChannel)
        idx = chan.chan_id
        if self.hw.aborting(idx):
            self.platform.wait_for(lambda: not self.hw.aborting(idx), None, chan.waitq)
        chan.vchan_synchronize()

    def dbg_summary_show(self) -> str | None:
        lines = []
        for chan in self.channels:
            if chan.client_count:
                lines.append(f" {chan.name:<13}| {chan.client_name or 'in-use'} [{self.hw.describe(chan.chan_id)}]\n")
        return "".join(lines)
