"""The threaded memory engine: real bytes, off the calling thread, at memory bandwidth.

Each channel has a worker thread that takes issued descriptors in batches and copies with ``memmove`` (the GIL
is released during each big copy), touching memory only through the platform's address space, so a bad address
ends that descriptor with READ_FAILED or WRITE_FAILED. A batch completes under one lock acquisition; the
device's bottom-half thread runs the callbacks. Written with the public provider API and the virt helper only.

Large copies are whole: one ``memmove`` per segment up to :data:`CHUNK` (1 GiB), so the C library takes its
large-copy (non-temporal) path, and a run of whole single-segment copies (at most CHUNK bytes in all) moves in
one call to the address space with the GIL released and no Python between the copies
(``AddressSpace.copy_large``); a pause or terminate takes effect at the next segment, run or :data:`CHUNK`
boundary, that is within the time 1 GiB of copying takes (about 0.1-0.2 s at 5-10 GB/s). Small copies, bursts
and small segments never wait on that bound: they end within microseconds.

The per-descriptor path of small copies: the channel's ``prep_dma_memcpy`` builds a small copy in one call
(:func:`_fast_prep`), :meth:`MemcpyDescriptor.submit` queues it in one call, the worker copies runs of them with
``AddressSpace.copy_many`` and completes each batch at once, and the bottom half calls the callbacks. With the
compiled core (``dmaengine._cnative``) each of these is C; the Python code here is the specification and the
fallback. Neither tests anything for tracing per descriptor: installing a recorder swaps the generic, traced
prep and submit in (:func:`_on_trace`).

Round trips without hand-offs: a waiter (``sync_wait``, ``wait_async``) that finds small issued work on a channel
whose worker is idle does that work itself (:meth:`MemcpyChannel.cookie_status`), in order, under the same
rules as the worker; completion still goes through the bottom half, so callbacks never run on the caller's
thread.

Whatever a descriptor holds, the worker never dies: an unexpected error while moving a descriptor's bytes ends
that descriptor with ``Result.ABORTED`` (logged), and the engine goes on with the next one.

Hybrid polling: a worker that runs out of issued work after a short batch (:data:`POLL_AFTER_BATCH`) keeps
polling for new work for :data:`IDLE_POLL_S` (50 µs) before it blocks, yielding the CPU and the GIL on every
turn (``os.sched_yield``), like a kernel driver polling its ring for a moment before re-enabling its interrupt.
A client that issues again within that window costs no thread wake-up. The poll is bounded in time: an idle
channel's worker is blocked, not spinning.

Ordering: one worker runs a channel's descriptors strictly one after the other, in issue order, so
``PREP_FENCE`` (a descriptor sees every byte of the ones before it) holds on every channel. Channels are
independent of each other, as in Linux.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, cast

import numpy as np

from dmaengine import (
    Cap,
    ConfigError,
    InterleavedTemplate,
    PrepFlags,
    ResidueGranularity,
    Result,
    SgEntry,
    Status,
    SumCheckResult,
    TransferDirection,
    TxResult,
    TxState,
    _native,
    is_complete,
)
from dmaengine.provider import (
    AddressSpace,
    Channel,
    DescState,
    DmaDevice,
    DmaFault,
    check_index,
    in_bottom_half,
    pair_sg,
    trace_event,
    tracing,
)
from dmaengine.virt import VirtChannel, VirtDescriptor

from . import _raid_ops
from ._raid_ops import RaidDescriptor, run_raid, run_small
from ._raid_ops import _small as _raid_small

__all__ = ["BurstDescriptor", "MemcpyChannel", "MemcpyDescriptor", "MemcpyEngine"]

log = logging.getLogger("dmaengine")

#: Largest piece copied in one ``memmove`` between two checks for pause and terminate. A segment up to this size
#: is copied whole: the C library switches to its large-copy (non-temporal) path only for large calls, and 32 MiB
#: pieces of a 256 MiB copy ran at 0.5-0.6x one whole ``numpy.copyto``. pause() and synchronize() wait for at
#: most one piece: about 0.1-0.2 s for 1 GiB at 5-10 GB/s.
CHUNK = 1024 * 1024 * 1024
#: The most channels of one engine (each has a worker thread).
MAX_CHANNELS = 1024
#: Most descriptors a worker takes from the issued list at once.
BATCH = 256
#: The same in pure Python, where a batch of small copies costs a few numpy calls whatever its size: fewer,
#: larger batches spread that cost thinner (a batch of 2048 copies of RUN_COPY bytes is 32 MiB, a few ms).
PURE_BATCH = 2048
#: Single copies up to this size go through the address space in runs (one lock for the run): the copy is a
#: memoryview assignment, cheaper than its own lock and lookup. A run holds at most BATCH of them (4 MiB).
RUN_COPY = 16 * 1024
#: Pure Python hands a run of at least this many small copies to the address space as arrays (one burst).
ARRAY_RUN = 32
_MAX_ADDR = 1 << 62  # addresses of a burst stay below this (as _burst.MAX_ADDR)
#: How long an idle worker polls for new issued work before it blocks (seconds). 0 disables the poll.
IDLE_POLL_S = 50e-6 if hasattr(os, "sched_yield") else 0.0
#: The worker polls only after a batch of at most this many descriptors: a client that issues one or a few at a
#: time waits on each, and a wake-up would double its latency; one that issues hundreds at a time is better
#: served by a worker that blocks at once and leaves it the GIL.
POLL_AFTER_BATCH = 8
#: A waiter does issued work itself (on an idle channel) when the first descriptors add up to at most this many
#: bytes: copying 64 KiB costs less than the two thread hand-offs (~13 µs) it saves. 0 disables it.
INLINE_BYTES = 64 * 1024
#: A blocking waiter (``sync_wait``) on a channel whose worker is idle also does its own descriptor itself, whatever
#: its size, when it is the last issued one, only small work (INLINE_BYTES) is ahead of it (work queued behind it
#: stays the worker's: a running waiter keeps the worker off) and its timeout leaves it a second per this many
#: bytes (CHUNK at most; a timeout of None leaves CHUNK): it would only block meanwhile, and the two thread
#: hand-offs it saves cost 0.2-0.5 ms on a loaded machine (1-2% of a 256 MiB copy). Memory moves at 5-20 GB/s,
#: so the timeout is kept with a wide margin. 0 disables it.
WAIT_INLINE_BYTES_PER_S = 1_000_000_000

_yield = getattr(os, "sched_yield", None)  # releases the GIL and the CPU, returns at once when nobody waits
_perf = time.perf_counter
_COMPLETE = Status.COMPLETE
_PREPARED = DescState.PREPARED
_NOERROR = Result.NOERROR
_READ_FAILED = Result.READ_FAILED
_WRITE_FAILED = Result.WRITE_FAILED
_ABORTED = Result.ABORTED


_SUBMITTED = DescState.SUBMITTED
_DONE = DescState.DONE
# What the per-descriptor fast path reads from the framework (the compiled core gets the same).
_consts = _native.memcpy_consts()
_trace_vars: dict[str, object] = _consts["trace_dict"]
_flags_cache: dict[int, PrepFlags] = _consts["flags_cache"]
_py_submit: Callable[[VirtDescriptor], int] = _consts["submit"]
_MIN_COOKIE: int = _consts["MIN_COOKIE"]
_MAX_COOKIE: int = _consts["MAX_COOKIE"]

#: The most spare descriptors a channel keeps for its one-call prep in pure Python (see
#: :meth:`MemcpyChannel._bottom_half_py`): about the small copies a client prepares in one GIL slice (5 ms).
DESC_POOL = 8192
# Whether nobody but the bottom half holds a descriptor is read from its reference count, where that count is
# exact: CPython with a GIL, before 3.14 (whose borrowed references leave some out). Elsewhere no pool.
_getrefcount: Callable[[object], int] | None = (
    sys.getrefcount if sys.implementation.name == "cpython" and sys.version_info < (3, 14)
    and getattr(sys, "_is_gil_enabled", lambda: True)() else None)


def _loop_refs() -> int:
    """The reference count of an object that only a deque holds, read inside a ``for`` loop over that deque, as
    :meth:`MemcpyChannel._bottom_half_py` reads it (the deque, the loop variable, the call's argument)."""
    if _getrefcount is None:
        return -1
    refs = _getrefcount
    done = deque([object()])
    for vd in done:
        return refs(vd)
    return -1


_LOOP_REFS = _loop_refs()
#: struct.Struct(f"{3 * k}n") by k: packs a run's destinations, sources and lengths as int64
#: (MemcpyChannel._copy_run_as_burst). "n" (ssize_t, where it has 64 bits) converts an int faster than "q" and
#: refuses a float or None the same way.
_packers: dict[int, struct.Struct] = {}
_PACK_INT = "n" if struct.calcsize("n") == 8 else "q"


def _fault_result(f: Exception, vd: VirtDescriptor) -> Result:
    """The result of an op that failed with ``f``: READ_FAILED or WRITE_FAILED for a :class:`DmaFault`, ABORTED
    (logged) for any other error, which only a descriptor holding values no prep accepts can cause."""
    if isinstance(f, DmaFault):
        return _WRITE_FAILED if f.write else _READ_FAILED
    log.error("%s: descriptor %r ended ABORTED: %r", vd.chan.name, vd, f)
    return _ABORTED


class MemcpyDescriptor(VirtDescriptor):
    """Segments ``(dst, src, size)``; ``src`` is None for a fill of ``value``. A small single copy (at most
    RUN_COPY bytes), which the worker copies in runs with ``AddressSpace.copy_many``, has its addresses in
    ``dst`` and ``src`` and no segments (no allocation but the descriptor); for anything else ``src`` is None.

    ``done`` counts the bytes moved while the descriptor runs (pause and resume continue from it); it is back
    to 0 once the descriptor has ended, completed or terminated, so that a reused descriptor starts afresh.
    """

    __slots__ = ("done", "dst", "segs", "src", "value")

    def __init__(self, chan: MemcpyChannel, segs: Sequence[tuple[int, int | None, int]], length: int,
                 value: int = 0, flags: int = 0) -> None:
        VirtDescriptor.__init__(self, chan, length, flags)
        self.segs = segs
        self.value = value
        self.done = 0
        self.dst = 0
        self.src: int | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.tx_submit is not VirtDescriptor.tx_submit:
            cls.submit = _py_submit  # type: ignore[method-assign,assignment]  # a tx_submit of its own: the generic submit calls it

    def submit(self) -> int:
        """``dmaengine_submit`` (:meth:`Descriptor.submit`), with ``VirtDescriptor.tx_submit`` inlined for a
        prepared descriptor on an accepting channel; anything else (a reused descriptor, an error to raise, a
        lost race) is :meth:`Descriptor.submit`'s. It tests nothing for tracing: while a trace records,
        ``MemcpyDescriptor.submit`` is :meth:`Descriptor.submit` (see :func:`_on_trace`). With the compiled core
        this is C (``_cnative``'s submit); this is its specification."""
        if self.state is _PREPARED:
            vc: MemcpyChannel = self.chan  # type: ignore[assignment]
            lock = vc.lock
            lock.acquire()
            try:
                if self.state is _PREPARED and vc._accepting:
                    cookie = vc.cookie + 1
                    if cookie > _MAX_COOKIE or cookie < _MIN_COOKIE:
                        cookie = _MIN_COOKIE
                    vc.cookie = cookie
                    self.cookie = cookie
                    self.state = _SUBMITTED
                    self.result = _NOERROR
                    self.residue = 0
                    vc.desc_submitted.append(self)
                    vc.n_submitted += 1
                    return cookie
            finally:
                lock.release()
        return _py_submit(self)

    @classmethod
    def small_copy(cls, chan: MemcpyChannel, dst: int, src: int, length: int, flags: PrepFlags) -> MemcpyDescriptor:
        """A descriptor for one small copy ``op``, built without the ``__init__`` chain: this runs once per
        descriptor on the hottest path, and three nested ``__init__`` calls cost a third of it. Sets exactly
        what ``__init__`` sets (tests/test_memcpy_engine.py compares the two)."""
        vd = cls.__new__(cls)
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
        vd.segs = ()
        vd.value = 0
        vd.done = 0
        vd.dst = dst
        vd.src = src
        return vd


_small_copy = MemcpyDescriptor.small_copy.__func__  # type: ignore[attr-defined]


class BurstDescriptor(MemcpyDescriptor):
    """A burst: ``count`` independent copies, one cookie, one callback (``prep_dma_memcpy_burst``).

    ``dst_addrs``, ``src_addrs`` and ``lengths`` are int64 arrays of one entry per op. Once the descriptor has
    ended, ``op_status`` holds one :class:`~dmaengine.Result` code per op (``uint8``): NOERROR, or READ_FAILED /
    WRITE_FAILED for an op whose source or destination faulted (it moved no byte; the others ran). The
    descriptor's own result is that of its first failed op (NOERROR when none failed), and its residue the bytes
    of the failed ops. Ops run in order, as a loop of ``memmove`` would.

    A scatterlist copy of small segments (``prep_dma_memcpy_sg``) runs as a burst with ``one_transfer`` set: it
    stops at its first fault, as one transfer does, and its residue counts every byte from there on.
    """

    __slots__ = ("dst_addrs", "lengths", "one_transfer", "op_status", "src_addrs")

    def __init__(self, chan: MemcpyChannel, dst: np.ndarray, src: np.ndarray, lengths: np.ndarray,
                 flags: int = 0, one_transfer: bool = False) -> None:
        MemcpyDescriptor.__init__(self, chan, (), int(lengths.sum()), 0, flags)
        self.dst_addrs = dst
        self.src_addrs = src
        self.lengths = lengths
        self.one_transfer = one_transfer
        self.op_status = np.zeros(len(lengths), dtype=np.uint8)

    @classmethod
    def pieces(cls, chan: MemcpyChannel, dst: np.ndarray, src: np.ndarray, lengths: np.ndarray,
               flags: PrepFlags, one_transfer: bool) -> BurstDescriptor:
        """``cls(chan, dst, src, lengths, flags, one_transfer)`` for flags already made :class:`PrepFlags`,
        built without the ``__init__`` chain (a scatterlist copy of small segments, prepared per round trip):
        sets exactly what ``__init__`` sets (tests/test_memcpy_native.py compares the two)."""
        core = _native.core
        length = core.total(lengths) if core is not None else int(np.add.reduce(lengths))
        vd = _small_copy(cls, chan, 0, 0, length, flags)
        vd.src = None
        vd.dst_addrs = dst
        vd.src_addrs = src
        vd.lengths = lengths
        vd.one_transfer = one_transfer
        vd.op_status = np.zeros(len(lengths), dtype=np.uint8)
        return vd

    @property
    def count(self) -> int:
        """How many ops the burst holds."""
        return len(self.lengths)


class MemcpyChannel(VirtChannel):
    """A memory-to-memory channel with its own worker thread."""

    def __init__(self) -> None:
        super().__init__()
        # Control waits (pause, synchronize) wait on _cv for _busy_gen to change; _ctl_waiters counts them so
        # that the worker notifies only when someone waits.
        self._cv = threading.Condition(self.lock)
        self._ctl_waiters = 0
        # The worker blocks on _kick (held while it runs) after setting _sleeping under the lock; whoever
        # clears _sleeping under the lock releases _kick once. Cheaper than a Condition on the hot path.
        self._kick = threading.Lock()
        self._kick.acquire()
        self._sleeping = False
        self._stop = False
        self._hw_paused = False
        self._busy_gen = -1  # the terminate generation the worker (or a waiter) is busy in, or -1 when idle
        self._inline = False  # a waiter runs a batch itself (see cookie_status); the worker keeps off meanwhile
        self._gen = 0
        self._thread: threading.Thread | None = None
        self._fast_prep: Callable[..., MemcpyDescriptor] | None = None
        self._fast_sg_prep: Callable[..., MemcpyDescriptor] | None = None
        self._plain_wait = False  # sync_wait may take its short cuts (start() decides)
        self._pool: list[MemcpyDescriptor] | None = None  # pure Python's spare small copies (start() decides)
        self._space: AddressSpace | None = None  # the platform's address space (start() reads it)

    def cookie_status(self, cookie: int) -> Status:
        """:meth:`vchan_tx_status`'s status without its lock: cookies only move forward and each read is atomic,
        as in the kernel's lock-free ``dma_cookie_status``.

        Waiters poll this. Like a kernel driver that reaps completions in its ``tx_status`` (ioat), a waiter that
        finds small issued work (at most :data:`INLINE_BYTES`) on a channel whose worker is idle does that work
        itself, in order, and completes it through the bottom half: no thread hand-off to the worker and back."""
        if is_complete(cookie, self.completed_cookie, self.cookie) is _COMPLETE:
            return Status.ERROR if self.cookie_failed(cookie) else _COMPLETE
        if self.paused:
            return Status.PAUSED
        if (self._busy_gen < 0 and self.desc_issued and INLINE_BYTES and not self._inline and self._run_inline()
                and is_complete(cookie, self.completed_cookie, self.cookie) is _COMPLETE):
            return Status.ERROR if self.cookie_failed(cookie) else _COMPLETE
        return Status.IN_PROGRESS

    def sync_wait(self, cookie: int, timeout: float | None = 5.0) -> Status:
        """:meth:`Channel.sync_wait`, with two short cuts that change no answer, taken only on a live channel,
        outside bottom halves, while no trace records and for a timeout that is None or a float >= 0 (anything
        else is the generic path's, with its errors):

        - a cookie that has already ended, with nothing submitted left to issue, returns its status at once (a
          loop of waits on many ended cookies costs well under a microsecond each);
        - otherwise the submitted work is issued and, when the worker is idle and the first issued descriptors
          are small (see :meth:`cookie_status`), done on the calling thread before any thread is woken; the
          worker is woken for whatever is left. A waiter whose timeout leaves it a second per
          :data:`WAIT_INLINE_BYTES_PER_S` bytes (1 GB) also does its own descriptor this way, whatever its size
          (:data:`CHUNK` at most), when it is the last issued one and only small work is ahead of it: it would
          only block meanwhile. Then, if the cookie has not ended, the generic wait.
        """
        if (cookie.__class__ is int and self._plain_wait and _trace_vars["recorder"] is None and self.client_count
                and (timeout is None or (timeout.__class__ is float and timeout >= 0.0)) and not in_bottom_half()):
            if not self.desc_submitted and is_complete(cookie, self.completed_cookie, self.cookie) is _COMPLETE:
                return Status.ERROR if self.cookie_failed(cookie) else _COMPLETE
            if INLINE_BYTES and self._busy_gen < 0 and not self._inline:
                rate = WAIT_INLINE_BYTES_PER_S
                limit = (0 if not rate else CHUNK if timeout is None or timeout * rate >= CHUNK
                         else int(timeout * rate))
                # Issue, and take the head of the issued list to run here, under one lock hold; whatever is not
                # taken (someone runs already, or it is not small) is the worker's, woken for it.
                with self.lock:
                    batch = ((self._take_inline(limit, cookie) if limit > INLINE_BYTES else self._take_inline())
                             if self.vchan_issue_pending() else None)
                    if batch is None and self.desc_issued:
                        self.wake_worker()
                if batch is not None:
                    self._run_taken(batch)
                if is_complete(cookie, self.completed_cookie, self.cookie) is _COMPLETE:
                    return Status.ERROR if self.cookie_failed(cookie) else _COMPLETE
        return Channel.sync_wait(self, cookie, timeout)

    def _run_inline(self, limit: int = INLINE_BYTES, upto: int | None = None) -> bool:
        """Run the first issued descriptors on the calling thread if the worker is idle and they are small (at
        most :data:`INLINE_BYTES` in all); True when it ran some. Never from a bottom half (a callback's thread is
        the device's). A blocking waiter passes a larger ``limit`` and its cookie as ``upto``: when its own
        descriptor is the last issued one and only small work (INLINE_BYTES in all) is ahead of it, it runs
        that and its own, which may take the total up to ``limit`` bytes (work queued behind it stays the
        worker's, which a waiter that runs would keep off meanwhile)."""
        if in_bottom_half():
            return False
        with self.lock:
            batch = self._take_inline(limit, upto)
        if batch is None:
            return False
        self._run_taken(batch)
        return True

    def _take_inline(self, limit: int = INLINE_BYTES, upto: int | None = None) -> list[MemcpyDescriptor] | None:
        """The head of the issued list that :meth:`_run_inline` runs (see there), marked as run by the caller
        (``_busy_gen`` and ``_inline`` set), or None (nothing marked). The caller runs it with
        :meth:`_run_taken`, outside bottom halves. Caller holds ``vc.lock``."""
        issued = self.desc_issued
        if self._busy_gen >= 0 or self._inline or self._hw_paused or self._stop or not issued:
            return None
        nbytes = 0
        k = 0
        reached = upto is None
        last = issued[-1]
        for vd in issued:
            n = vd.length
            if n.__class__ is not int:  # whatever it holds, the worker ends it
                break
            nbytes += n
            if k == BATCH or (nbytes > INLINE_BYTES
                              and (reached or nbytes > limit or vd.cookie != upto or vd is not last)):
                break  # past the small head, only the waiter's own descriptor, and only with nothing behind it
            k += 1
            if vd.cookie == upto:
                reached = True
        if not k:
            return None
        batch = cast("list[MemcpyDescriptor]", [last] if k == 1 == len(issued) else list(islice(issued, k)))
        self._busy_gen = self._gen
        self._inline = True
        return batch

    def _run_taken(self, batch: list[MemcpyDescriptor]) -> None:
        """Run a batch that :meth:`_take_inline` took, complete what ended through the bottom half, and hand
        whatever is left (or came meanwhile) to the worker."""
        gen = self._busy_gen
        issued = self.desc_issued
        ended = 0
        try:
            ended = self._work_guarded(batch, gen, self._space or self.device.platform.address_space)
        finally:
            with self.lock:
                self._inline = False
                if self._gen == gen and ended:
                    self._complete(batch if ended == len(batch) else batch[:ended], issued)
                self._busy_gen = -1
                if self._ctl_waiters:
                    self._cv.notify_all()
                if issued and not self._hw_paused:
                    self.wake_worker()  # what is left (or came meanwhile) is the worker's

    def desc_residue(self, vd: VirtDescriptor) -> int:
        assert isinstance(vd, (MemcpyDescriptor, RaidDescriptor))
        return vd.length - vd.done

    # --- worker -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread; give the channel its one-call prep of copies (compiled when the core
        is there; see :meth:`use_fast_prep`)."""
        if (type(self).prep_dma_memcpy is Channel.prep_dma_memcpy
                and type(self.device).device_prep_dma_memcpy is MemcpyEngine.device_prep_dma_memcpy):
            # The one-call prep (compiled when the core is there); anything else is
            # Channel.prep_dma_memcpy's.
            slow = Channel.prep_dma_memcpy.__get__(self)
            core = _native.core
            n = self.n_submitted  # a new MemcpyPrep counts from 0 (see _n_submitted)
            if core is not None:
                self._fast_prep = core.MemcpyPrep(self, slow)
            else:
                if _getrefcount is not None and not self.device.desc_metadata_modes:
                    self._pool = []  # a pooled descriptor never had metadata attached: none can be
                self._fast_prep = _fast_prep(self, slow, self._pool)
            self.n_submitted = n
        if (_native.core is not None and type(self).prep_dma_memcpy_sg is Channel.prep_dma_memcpy_sg
                and type(self.device).device_prep_dma_memcpy_sg_pieces
                is MemcpyEngine.device_prep_dma_memcpy_sg_pieces
                and _and(self.device.cap_mask, Cap.MEMCPY_SG)):
            self._fast_sg_prep = _fast_sg_prep(self, Channel.prep_dma_memcpy_sg.__get__(self))
        if self._fast_prep is not None or self._fast_sg_prep is not None:
            _fast_chans.add(self)
            self.use_fast_prep(_trace_vars["recorder"] is None)
        cls = type(self)
        self._plain_wait = (cls.issue_pending is Channel.issue_pending
                            and cls.cookie_status is MemcpyChannel.cookie_status
                            and type(self.device).device_issue_pending is MemcpyEngine.device_issue_pending)
        self._space = self.device.platform.address_space
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._thread.start()

    def use_fast_prep(self, on: bool) -> None:
        """Make the one-call preps this channel's ``prep_dma_memcpy`` and ``prep_dma_memcpy_sg`` (``on``), or
        :meth:`Channel.prep_dma_memcpy` and :meth:`Channel.prep_dma_memcpy_sg` (while a trace records)."""
        for name, fast in (("prep_dma_memcpy", self._fast_prep), ("prep_dma_memcpy_sg", self._fast_sg_prep)):
            if on and fast is not None:
                self.__dict__[name] = fast
            else:
                self.__dict__.pop(name, None)

    def _complete(self, vds: list[MemcpyDescriptor], issued: deque[VirtDescriptor] | None = None) -> None:
        """:meth:`vchan_cookie_complete_batch`, compiled when the core is there and no trace records; first
        takes as many descriptors off the left of ``issued`` (they are ``vds``) when given. Caller holds
        ``vc.lock``."""
        core = _native.core
        if core is None:
            if tracing():
                if issued is not None:
                    popleft = issued.popleft
                    for _ in range(len(vds)):
                        popleft()
                self.vchan_cookie_complete_batch(vds)  # type: ignore[arg-type]
            else:
                self._complete_batch(vds, issued)
        elif _wired and not tracing():
            core.complete_batch(self, vds, issued)
        else:
            if issued is not None:
                popleft = issued.popleft
                for _ in range(len(vds)):
                    popleft()
            if core is not None:
                core.track(vds)  # submitted untraced: the compiled submit untracked them
            self.vchan_cookie_complete_batch(vds)  # type: ignore[arg-type]

    def _complete_batch(self, vds: list[MemcpyDescriptor], issued: deque[VirtDescriptor] | None) -> None:
        """Pure Python's :meth:`_complete` while no trace records: :meth:`vchan_cookie_complete_batch`, in as few
        passes over the batch as it takes; a batch with a failed descriptor is that method's. Caller holds
        ``vc.lock``."""
        k = len(vds)
        if not k:
            return
        if issued is not None:
            if len(issued) == k:
                issued.clear()
            else:
                popleft = issued.popleft
                for _ in range(k):
                    popleft()
        if [vd.result for vd in vds].count(_NOERROR) != k:
            self.vchan_cookie_complete_batch(vds)  # type: ignore[arg-type]
            return
        last = vds[-1].cookie
        nbytes = 0
        calls = 0
        for vd in vds:
            vd.cookie = 0
            vd.state = _DONE
            nbytes += vd.length
            if vd.callback is not None or vd.callback_result is not None:
                calls += 1
        self.completed_cookie = last
        completed = self.desc_completed
        if calls == k:
            completed.extend(vds)
        elif calls:
            completed.extend([vd for vd in vds if vd.callback is not None or vd.callback_result is not None])
        self.n_memcpy += k
        self.n_bytes += nbytes
        self.n_completed += k
        if completed:
            self.device.schedule_bottom_half(self)
        self.waitq.wake()

    def vchan_dma_desc_free_list(self, descs: Iterable[VirtDescriptor]) -> None:
        """:meth:`VirtChannel.vchan_dma_desc_free_list`; with the compiled core, the dropped descriptors are
        tracked by the cycle collector again (its submit untracks a descriptor while the channel holds it)."""
        core = _native.core
        if core is not None:
            descs = list(descs)
            core.track(descs)
        VirtChannel.vchan_dma_desc_free_list(self, descs)

    def bottom_half(self) -> None:
        """:meth:`VirtChannel.bottom_half`; with the compiled core and no trace, its callback loop runs in C (a
        callback that raises is logged and counted at once, and the next one runs)."""
        core = _native.core
        if core is None and not tracing():
            self._bottom_half_py()
            return
        if core is None or not _wired or tracing():
            if core is not None:
                with self.lock:  # the compiled completion left them untracked until called back
                    core.track(self.desc_completed)
            VirtChannel.bottom_half(self)
            return
        period, done = self._take_completed()
        if done:
            core.call_back(done, self._callback_raised)
        if done or period:
            self.waitq.wake()  # a waiter may test what the callbacks did

    def _take_completed(self) -> tuple[bool, deque[VirtDescriptor] | None]:
        """The first part of both bottom halves: takes the completed list (None when empty) and the cyclic
        descriptor's pending period under the lock, and calls that period back. Returns whether there was a
        period and the list; the caller calls the list back and wakes the waiters when either was there."""
        with self.lock:
            cyc = self.cyclic
            self.cyclic = None
            done: deque[VirtDescriptor] | None = self.desc_completed
            if done:
                self.desc_completed = deque()
            else:
                done = None
        if cyc is None:
            return False, done
        self._call_back(cyc)
        return True, done

    def free_chan_resources(self) -> None:
        """:meth:`VirtChannel.free_chan_resources`, and the pool of spare descriptors goes too."""
        VirtChannel.free_chan_resources(self)
        pool = self._pool
        if pool:
            pool.clear()

    def _bottom_half_py(self) -> None:
        """Pure Python's :meth:`bottom_half` while no trace records: :meth:`VirtChannel.bottom_half`'s loop, and
        each small copy that nobody but this loop holds any more once it has been called back goes to the
        channel's pool of descriptors (:data:`DESC_POOL`), its callback fields cleared, for the channel's
        one-call prep to use again: a stream of small copies then allocates no descriptor in steady state, and
        the cycle collector has nothing new to look at."""
        period, done = self._take_completed()
        if done:
            pool = self._pool
            if pool is None or len(pool) >= DESC_POOL:
                pool = None
            cls = MemcpyDescriptor
            refs = _getrefcount
            for vd in done:
                try:
                    cbr = vd.callback_result
                    if cbr is not None:
                        cbr(vd.callback_param, TxResult(vd.result, vd.residue))
                    else:
                        cb = vd.callback
                        if cb is not None:
                            cb(vd.callback_param)
                except BaseException:  # even SystemExit or KeyboardInterrupt: the rest of the batch is still called
                    self.n_callback_errors += 1
                    log.exception("%s: callback of %r raised", self.name, vd)
                # Held by ``done`` and this loop only (the count ``_LOOP_REFS`` measured): nobody else can reach it.
                if pool is not None and vd.__class__ is cls and refs(vd) == _LOOP_REFS:  # type: ignore[misc]
                    vd.callback = None
                    vd.callback_param = None
                    vd.callback_result = None
                    pool.append(vd)
                    if len(pool) >= DESC_POOL:
                        pool = None
        if done or period:
            self.waitq.wake()  # a waiter may test what the callbacks did

    def _callback_raised(self, vd: VirtDescriptor, exc: BaseException) -> None:
        self.n_callback_errors += 1
        log.error("%s: callback of %r raised", self.name, vd, exc_info=exc)

    def stop(self) -> None:
        with self.lock:
            self._stop = True
            self.wake_worker()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def wake_worker(self) -> None:
        """Unblock the worker if it sleeps. Caller holds ``vc.lock``."""
        if self._sleeping:
            self._sleeping = False
            self._kick.release()

    def wait_idle(self, busy: Callable[[], bool]) -> None:
        """Wait until ``busy()`` is false; the worker notifies when it leaves a batch. Caller holds ``vc.lock``."""
        self._ctl_waiters += 1
        try:
            while busy():
                self._cv.wait()
        finally:
            self._ctl_waiters -= 1

    def _idle(self, poll: bool) -> list[MemcpyDescriptor] | None:
        """Poll for new work for IDLE_POLL_S if ``poll``, yielding on every turn, then block until woken.
        Returns the next batch when the poll found one (taken under the same lock hold), else None."""
        issued = self.desc_issued
        if poll and _yield is not None and IDLE_POLL_S:
            end = _perf() + IDLE_POLL_S
            # Racy reads, only to end the poll early; the lock below decides.
            while not (self._stop or (issued and not self._hw_paused and not self._inline)) and _perf() < end:
                _yield()
        with self.lock:
            if self._stop:
                return None
            if issued and not self._hw_paused and not self._inline:
                return self._take()
            self._sleeping = True
        self._kick.acquire()
        return None

    def _take(self) -> list[MemcpyDescriptor] | None:
        """The next batch (and mark the worker busy in this generation), or None (and mark it idle).
        Caller holds ``vc.lock``."""
        if self._inline:
            return None  # a waiter runs the head of the list; it wakes the worker for the rest
        issued = self.desc_issued
        if not issued or self._hw_paused:
            self._busy_gen = -1
            if self._ctl_waiters:
                self._cv.notify_all()
            return None
        if self._ctl_waiters and self._busy_gen != self._gen:
            self._cv.notify_all()  # synchronize() waits for the worker to leave the old generation
        self._busy_gen = self._gen
        limit = BATCH if _native.core is not None else PURE_BATCH
        return cast("list[MemcpyDescriptor]", list(issued) if len(issued) <= limit else list(islice(issued, limit)))

    def _run(self) -> None:
        lock, issued = self.lock, self.desc_issued
        space = self.device.platform.address_space
        complete = self._complete
        take = self._take
        with lock:
            batch = take()
        last = 0  # descriptors in the last batch
        while True:
            if batch is None:
                if self._stop:
                    return
                batch = self._idle(0 < last <= POLL_AFTER_BATCH)
                last = 0
                if batch is None:
                    with lock:
                        batch = None if self._stop else take()
                continue
            gen = self._busy_gen
            last = len(batch)
            ended = self._work_guarded(batch, gen, space)
            # Complete this batch and take the next one under the same lock hold.
            with lock:
                if self._gen == gen and ended:
                    complete(batch if ended == len(batch) else batch[:ended], issued)
                batch = None if self._stop else take()
            if batch is None and last <= POLL_AFTER_BATCH and _yield is not None:
                _yield()  # let a polling waiter see the completion now, before this thread's bookkeeping

    def _work_guarded(self, batch: list[MemcpyDescriptor], gen: int, space: AddressSpace) -> int:
        """:meth:`_work`, and should anything escape it (a bug, not one descriptor's fault: those are results
        already), the batch ends ABORTED: the worker never dies and every cookie ends."""
        try:
            return self._work(batch, gen, space)
        except BaseException:
            log.exception("%s: engine error; the batch of %d descriptors ends ABORTED", self.name, len(batch))
            for vd in batch:
                vd.result = _ABORTED
                vd.residue = vd.length
                vd.done = 0
            return len(batch)

    def _work(self, batch: list[MemcpyDescriptor], gen: int, space: AddressSpace) -> int:
        """Move the bytes of ``batch`` in order; returns how many descriptors ended (their ``result`` and
        ``residue`` set), fewer than all when pause or terminate stopped it. Runs of small single copies go to
        the address space in one call; anything else goes chunk by chunk through :meth:`_execute`."""
        if tracing():  # one descriptor at a time, so that each trace slice ends when its own bytes have moved
            return self._work_traced(batch, gen, space)
        return self._work_untraced(batch, gen, space)

    def _work_untraced(self, batch: list[MemcpyDescriptor], gen: int, space: AddressSpace) -> int:
        if len(batch) == 1 and batch[0].__class__ is BurstDescriptor:  # one burst (a waiter's scatterlist copy)
            if self._gen != gen or self._hw_paused:
                return 0
            burst = cast(BurstDescriptor, batch[0])
            try:
                burst.result = self._burst(burst, space)
            except Exception as e:  # values no prep accepts (arrays changed by hand): it ends, the engine goes on
                burst.result = _fault_result(e, burst)
                burst.residue = burst.length
            burst.done = 0
            return 1
        if _native.core is not None:  # a batch of small copies only: one C call, no look at each op here
            if self._gen != gen or self._hw_paused:
                return 0
            done = space.copy_small(batch)
            if done is not None:
                faults = done[0]
                if faults is not None:
                    for vd, f in zip(batch, faults):
                        if f is not None:
                            vd.result = _fault_result(f, vd)
                            vd.residue = vd.length
                return len(batch)
        srcs = [vd.src for vd in batch]
        n = len(srcs)
        if n >= ARRAY_RUN and _native.core is None:  # pure Python: a run of small copies as arrays
            if self._gen != gen or self._hw_paused:
                return 0
            if self._copy_run_as_burst(batch, srcs, space):  # (it declines a run with anything else in it)
                return n
        if None not in srcs:  # the common case: every descriptor is a small copy, one call for them all
            if self._gen != gen or self._hw_paused:
                return 0
            faults = space.copy_many(batch)
            if faults is not None:
                for vd, f in zip(batch, faults):
                    if f is not None:
                        vd.result = _fault_result(f, vd)
                        vd.residue = vd.length
            return n
        i = 0
        while i < n:
            if self._gen != gen or self._hw_paused:
                break
            if srcs[i] is not None:
                try:
                    j = srcs.index(None, i)
                except ValueError:
                    j = n
                faults = space.copy_many(batch[i:j])
                if faults is not None:
                    for vd, f in zip(batch[i:j], faults):
                        if f is not None:
                            vd.result = _fault_result(f, vd)
                            vd.residue = vd.length
                i = j
                continue
            vd = batch[i]
            if _raid_small(vd):  # a run of small xor / pq work, the GIL released once for it all
                i = run_small(batch, i, space)
                continue
            if vd.__class__ is MemcpyDescriptor and not vd.done:
                j = self._large_run(batch, i, space)
                if j > i:
                    i = j
                    continue
            try:
                res = self._burst(vd, space) if vd.__class__ is BurstDescriptor else self._execute(vd, space, gen)
            except Exception as e:  # a descriptor holding values no prep accepts: it ends, the engine goes on
                vd.result = _fault_result(e, vd)
                vd.residue = vd.length
                vd.done = 0
                i += 1
                continue
            if res is None:  # stopped part-way by pause or terminate
                break
            vd.result = res
            if vd.__class__ is not BurstDescriptor:
                vd.residue = vd.length - vd.done
            vd.done = 0
            i += 1
        return i

    @staticmethod
    def _copy_run_as_burst(run: list[MemcpyDescriptor], srcs: list[int | None], space: AddressSpace) -> bool:
        """Pure Python's way with a long run of small single copies: their addresses go to the address space as
        arrays (one resolution for the run, and one numpy gather when the copies commute), where ``copy_many``
        would take them one by one; a faulted op ends READ_FAILED or WRITE_FAILED as there. A run of one length
        (the common one) goes to ``copy_uniform``, any other to ``copy_burst``. False (nothing done) when a field
        is not a plain int in range: ``copy_many`` then takes the run."""
        k = len(run)
        lens = [vd.length for vd in run]
        dsts = [vd.dst for vd in run]
        packer = _packers.get(k)
        if packer is None:
            packer = _packers[k] = struct.Struct(f"{3 * k}{_PACK_INT}")
        try:  # every field a plain int in range (struct refuses a float, None, a str), in one call
            a = np.frombuffer(packer.pack(*dsts, *srcs, *lens), np.int64)
        except Exception:  # struct.error, or whatever a field's __index__ raises: copy_many takes the run
            return False
        d, s_, n = a[:k], a[k : 2 * k], a[2 * k :]
        n0 = lens[0]
        try:
            if lens.count(n0) == k:
                status = space.copy_uniform(d, s_, n0)
            else:
                if int(n.min()) <= 0 or min(int(d.min()), int(s_.min())) < 0 \
                        or max(int(d.max()), int(s_.max())) >= _MAX_ADDR or int(n.max()) > RUN_COPY:
                    return False
                status = space.copy_burst(d, s_, n)
        except ValueError:  # copy_uniform's refusal of an address or a length out of range: nothing done
            return False
        if status is not None:
            for j in np.flatnonzero(status).tolist():
                vd = run[j]
                vd.result = Result(int(status[j]))
                vd.residue = vd.length
        return True

    @staticmethod
    def _large_run(batch: list[MemcpyDescriptor], i: int, space: AddressSpace) -> int:
        """Copy the run of whole single-segment copies that starts at ``batch[i]`` (at most :data:`CHUNK` bytes
        in all, or one copy) in one call to the address space, which moves them with the GIL released and no
        Python between them; returns the index after the run (``i`` when ``batch[i]`` is not such a copy).
        Two channels copying at once then run as two plain threads would."""
        ops: list[tuple[int, int, int]] = []
        total = 0
        j = i
        n = len(batch)
        while j < n:
            vd = batch[j]
            segs = vd.segs
            if vd.__class__ is not MemcpyDescriptor or vd.done or len(segs) != 1:
                break
            op = segs[0]
            dst, src, size = op
            if (dst.__class__ is not int or src.__class__ is not int or size.__class__ is not int or size <= 0
                    or size > CHUNK):
                break  # a copy bigger than CHUNK goes piece by piece (pause and terminate look in between)
            if ops and total + size > CHUNK:
                break
            total += size
            ops.append(op)  # type: ignore[arg-type]  # src is an int: checked above
            j += 1
        if not ops:
            return i
        faults = space.copy_large(ops)
        for k in range(i, j):
            vd = batch[k]
            f = None if faults is None else faults[k - i]
            if f is None:
                vd.result = _NOERROR
                vd.residue = 0
            else:
                vd.result = _fault_result(f, vd)
                vd.residue = vd.length
        return j

    @staticmethod
    def _burst(vd: BurstDescriptor, space: AddressSpace) -> Result:
        """Run a burst whole; sets ``op_status`` and ``residue``, returns the first failed op's result."""
        status = space.copy_burst(vd.dst_addrs, vd.src_addrs, vd.lengths, vd.one_transfer)
        if status is None:
            vd.op_status.fill(0)
            vd.residue = 0
            return _NOERROR
        vd.op_status = status
        failed = status != 0
        first = int(np.argmax(failed))
        vd.residue = int(vd.lengths[first:].sum() if vd.one_transfer else vd.lengths[failed].sum())
        return Result(int(status[first]))

    def _work_traced(self, batch: list[MemcpyDescriptor], gen: int, space: AddressSpace) -> int:
        """:meth:`_work` while a trace records: the same copies one descriptor at a time, each between its
        "start" and its "end" event, so that each slice ends when its own bytes have moved."""
        for i, vd in enumerate(batch):
            if self._gen != gen or self._hw_paused:
                return i
            trace_event("start", self, vd.cookie)
            if self._work_untraced([vd], gen, space) == 0:  # stopped part-way by pause or terminate
                return i
            trace_event("end", self, vd.cookie, {"result": vd.result.name})
        return len(batch)

    def _execute(self, vd: MemcpyDescriptor, space: AddressSpace, gen: int) -> Result | None:
        if isinstance(vd, RaidDescriptor):  # xor / pq work: drivers/_raid_ops.py
            return run_raid(vd, space, lambda: self._gen != gen or self._hw_paused)
        copy = space.copy
        fill = space.fill
        pos = 0
        for dst, src, size in vd.segs:
            if pos + size <= vd.done:  # finished before a pause
                pos += size
                continue
            off = vd.done - pos
            while off < size:
                if off and (self._gen != gen or self._hw_paused):
                    return None
                n = min(CHUNK, size - off)
                try:
                    if src is None:
                        fill(dst + off, vd.value, n)
                    else:
                        copy(dst + off, src + off, n)
                except DmaFault as f:
                    return Result.WRITE_FAILED if f.write else Result.READ_FAILED
                off += n
                vd.done += n
            pos += size
        return Result.NOERROR


def _fast_prep(chan: MemcpyChannel, slow: Callable[..., MemcpyDescriptor],
               pool: list[MemcpyDescriptor] | None = None) -> Callable[..., MemcpyDescriptor]:
    """The channel's one-call ``prep_dma_memcpy``: what :meth:`Channel.prep_dma_memcpy` and
    :meth:`MemcpyEngine.device_prep_dma_memcpy` do for a copy of exact ints with cached flags on a live channel
    whose device passed the device checks before, in one call; anything else is ``slow``'s (the checked path and
    its messages). It tests nothing for tracing: while a trace records, the channel uses
    :meth:`Channel.prep_dma_memcpy` (see :func:`_on_trace`). The compiled core's ``MemcpyPrep`` does the same in
    C; this is its specification. With a ``pool`` (the channel's spare descriptors, which its bottom half fills),
    a descriptor is taken from it when there is one: every field is set all the same."""
    new = MemcpyDescriptor.__new__
    cls = MemcpyDescriptor
    cache = _flags_cache
    pop = pool.pop if pool is not None else None

    def prep_dma_memcpy(dst: int, src: int, length: int, flags: int = 0) -> MemcpyDescriptor:
        if (dst.__class__ is int and src.__class__ is int and length.__class__ is int and flags.__class__ is int
                and length > 0 and dst >= 0 and src >= 0 and chan.client_count
                and chan._memcpy_plain is chan.device):
            pf = cache.get(flags)
            if pf is not None:
                if pool:
                    try:
                        vd = pop()  # type: ignore[misc]
                    except IndexError:  # another thread took the last one
                        vd = new(cls)
                else:
                    vd = new(cls)
                vd.chan = chan
                vd.cookie = 0
                vd.flags = pf
                vd.callback = None
                vd.callback_param = None
                vd.callback_result = None
                vd.state = _PREPARED
                vd.length = length
                vd.result = _NOERROR
                vd.residue = 0
                vd.done_cookie = 0
                vd.value = 0
                vd.done = 0
                if length > RUN_COPY:  # one segment, as device_prep_dma_memcpy makes it
                    vd.segs = ((dst, src, length),)
                    vd.dst = 0
                    vd.src = None
                else:
                    vd.segs = ()
                    vd.dst = dst
                    vd.src = src
                return vd
        return slow(dst, src, length, flags)

    prep_dma_memcpy.__doc__ = Channel.prep_dma_memcpy.__doc__
    return prep_dma_memcpy


#: prep_dma_memcpy_sg takes the burst path when every piece of the pairing is at most this many bytes (as
#: ``_burst.SG_FAST_SEGMENT``, which tests/test_memcpy_sg.py compares).
SG_FAST_SEGMENT = 16 * 1024
_and = int.__and__
# SgEntry's member descriptors, which the compiled pairing reads at their slot offsets.
_SG_ADDR: Any = SgEntry.__dict__["addr"]
_SG_LENGTH: Any = SgEntry.__dict__["length"]
_SG_LISTS = (list, tuple)


def _fast_sg_prep(chan: MemcpyChannel, slow: Callable[..., MemcpyDescriptor]) -> Callable[..., MemcpyDescriptor]:
    """The channel's one-call ``prep_dma_memcpy_sg`` with the compiled core: what
    :meth:`Channel.prep_dma_memcpy_sg` builds for two lists (or tuples) of SgEntry that pair into small pieces,
    with cached flags, on a live channel whose device still has the capability mask it had at start and no
    copy alignment: the pairing and its total in one C pass (``_cnative.sg_pair``, whose specification is
    ``_burst.sg_pieces``) and the burst built as :meth:`BurstDescriptor.pieces` builds it. Anything else is
    ``slow``'s (the checked path and its messages). It tests nothing for tracing: while a trace records, the
    channel uses :meth:`Channel.prep_dma_memcpy_sg` (see :func:`_on_trace`)."""
    core = _native.core
    assert core is not None
    pair = core.sg_pair
    dev = chan.device
    mask = dev.cap_mask
    cache = _flags_cache
    small = _small_copy
    cls = BurstDescriptor
    empty = np.empty
    zeros = np.zeros
    i64, u8 = np.int64, np.uint8
    lists = _SG_LISTS
    a_slot, l_slot = _SG_ADDR, _SG_LENGTH

    def prep_dma_memcpy_sg(dst_sgl: Sequence[SgEntry], src_sgl: Sequence[SgEntry], flags: int = 0) -> MemcpyDescriptor:
        if (dst_sgl.__class__ in lists and src_sgl.__class__ in lists and flags.__class__ is int
                and chan.client_count and dev.cap_mask is mask and not dev.copy_align):
            pf = cache.get(flags)
            if pf is not None:
                size = len(dst_sgl) + len(src_sgl)
                out = empty((3, size), i64)
                got = pair(dst_sgl, src_sgl, a_slot, l_slot, out, SG_FAST_SEGMENT, _MAX_ADDR)
                if got is not None:
                    k, length = got
                    if k != size:
                        out = out[:, :k]
                    d, s, n = out[0], out[1], out[2]  # (unpacking would raise and format an IndexError)
                    vd = small(cls, chan, 0, None, length, pf)  # as BurstDescriptor.pieces builds it
                    vd.dst_addrs = d
                    vd.src_addrs = s
                    vd.lengths = n
                    vd.one_transfer = True
                    vd.op_status = zeros(k, u8)
                    return vd
        return slow(dst_sgl, src_sgl, flags)

    prep_dma_memcpy_sg.__doc__ = Channel.prep_dma_memcpy_sg.__doc__
    return prep_dma_memcpy_sg


class MemcpyEngine(DmaDevice):
    """A memory-to-memory DMA engine with ``channels`` worker threads (real time)."""

    cap_mask = (Cap.MEMCPY | Cap.MEMSET | Cap.MEMCPY_SG | Cap.INTERLEAVE | Cap.INTERRUPT
                | Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL | Cap.MEMSET_SG)
    max_xor = 16
    max_pq = 16
    pq_continue = True
    directions = frozenset({TransferDirection.MEM_TO_MEM})
    residue_granularity = ResidueGranularity.SEGMENT
    descriptor_reuse = True

    def __init__(self, channels: int = 1, dev_name: str = "memcpy") -> None:
        channels = check_index("channels", channels, 1, what="an int >= 1")
        if channels > MAX_CHANNELS:
            raise ConfigError(f"channels must be at most {MAX_CHANNELS} (a thread each), not {channels!r}")
        super().__init__([MemcpyChannel() for _ in range(channels)], dev_name=dev_name)

    def on_register(self) -> None:
        for c in self.channels:
            assert isinstance(c, MemcpyChannel)
            c.start()

    def on_unregister(self) -> None:
        for c in self.channels:
            assert isinstance(c, MemcpyChannel)
            c.stop()

    # --- prep ---------------------------------------------------------------------------------------------
    @staticmethod
    def _desc(chan: Channel, segs: Sequence[tuple[int, int | None, int]], length: int, value: int = 0,
              flags: int = 0) -> MemcpyDescriptor:
        assert isinstance(chan, MemcpyChannel)
        return chan.vchan_tx_prep(MemcpyDescriptor(chan, segs, length, value), flags)  # type: ignore[return-value]

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> MemcpyDescriptor:
        # The hot prep: built in one step (vchan_tx_prep would only set chan and flags again).
        vd = MemcpyDescriptor.small_copy(chan, dst, src, length, flags)  # type: ignore[arg-type]
        if length > RUN_COPY:  # what __init__ makes of one segment
            vd.segs = ((dst, src, length),)
            vd.src = None
            vd.dst = 0
        return vd

    def device_prep_dma_memcpy_burst(self, chan: Channel, dst: np.ndarray, src: np.ndarray, lengths: np.ndarray,
                                     flags: PrepFlags) -> BurstDescriptor:
        return BurstDescriptor(chan, dst, src, lengths, flags)  # type: ignore[arg-type]

    def device_prep_dma_memset(self, chan: Channel, dst: int, value: int, length: int,
                               flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [(dst, None, length)], length, value, flags)

    def device_prep_dma_memcpy_sg(self, chan: Channel, dst_sgl: list[SgEntry], src_sgl: list[SgEntry],
                                  flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, list(pair_sg(dst_sgl, src_sgl)), sum(e.length for e in dst_sgl), 0, flags)

    def device_prep_dma_memcpy_sg_pieces(self, chan: Channel, dst: np.ndarray, src: np.ndarray, lengths: np.ndarray,
                                         flags: PrepFlags) -> MemcpyDescriptor:
        """A scatterlist copy already paired into small pieces (int64 arrays): one transfer run as a burst."""
        return BurstDescriptor.pieces(chan, dst, src, lengths, flags, True)  # type: ignore[arg-type]

    def device_prep_interleaved_dma(self, chan: Channel, xt: InterleavedTemplate,
                                    flags: PrepFlags) -> MemcpyDescriptor:
        if xt.dir != TransferDirection.MEM_TO_MEM:
            raise ConfigError(f"{self.name} moves MEM_TO_MEM only, not {xt.dir!r}")
        segs: list[tuple[int, int | None, int]] = [(d, s, n) for s, d, n in xt.segments()]
        return self._desc(chan, segs, xt.length, 0, flags)

    def device_prep_dma_interrupt(self, chan: Channel, flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [], 0, 0, flags)

    def device_prep_dma_memset_sg(self, chan: Channel, sgl: list[SgEntry], value: int,
                                  flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [(e.addr, None, e.length) for e in sgl], sum(e.length for e in sgl), value, flags)

    def device_prep_dma_xor(self, chan: Channel, dst: int, srcs: list[int], length: int,
                            flags: PrepFlags) -> RaidDescriptor:
        return RaidDescriptor(chan, _raid_ops.XOR, (dst,), srcs, b"", length, flags)  # type: ignore[arg-type]

    def device_prep_dma_xor_val(self, chan: Channel, srcs: list[int], length: int, result: SumCheckResult,
                                flags: PrepFlags) -> RaidDescriptor:
        return RaidDescriptor(chan, _raid_ops.XOR_VAL, (), srcs, b"", length, flags, result)  # type: ignore[arg-type]

    def device_prep_dma_pq(self, chan: Channel, dst: tuple[int, int], srcs: list[int], coefs: bytes, length: int,
                           flags: PrepFlags) -> RaidDescriptor:
        dsts = _raid_ops.pq_dsts(dst, flags)
        return RaidDescriptor(chan, _raid_ops.PQ, dsts, srcs, coefs, length, flags)  # type: ignore[arg-type]

    def device_prep_dma_pq_val(self, chan: Channel, pq: tuple[int, int], srcs: list[int], coefs: bytes,
                               length: int, result: SumCheckResult, flags: PrepFlags) -> RaidDescriptor:
        dsts = _raid_ops.pq_dsts(pq, flags)
        return RaidDescriptor(chan, _raid_ops.PQ_VAL, dsts, srcs, coefs, length, flags,  # type: ignore[arg-type]
                              result)

    # --- control ------------------------------------------------------------------------------------------
    def device_issue_pending(self, chan: Channel) -> None:
        vc: MemcpyChannel = chan  # type: ignore[assignment]  # ours: the framework passes our channels
        with vc.lock:
            if vc.vchan_issue_pending():
                vc.wake_worker()

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        assert isinstance(chan, MemcpyChannel)
        return chan.vchan_tx_status(cookie)

    def device_pause(self, chan: Channel) -> None:
        """Stop at the next segment or CHUNK boundary; returns once the worker (or a waiter) has stopped moving
        bytes: within one ``memmove`` of at most CHUNK bytes."""
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._hw_paused = True
            chan.wait_idle(lambda: chan._busy_gen >= 0)

    def device_resume(self, chan: Channel) -> None:
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._hw_paused = False
            chan.wake_worker()

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._gen += 1
            chan._hw_paused = False
            for vd in chan.vchan_terminate_all():
                cast(MemcpyDescriptor, vd).done = 0  # a resubmitted one starts afresh

    def device_synchronize(self, chan: Channel) -> None:
        """Wait until the worker has left terminated work, then until the bottom half has run."""
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan.wait_idle(lambda: 0 <= chan._busy_gen < chan._gen)
        chan.vchan_synchronize()


def _wire_core() -> bool:
    """Hand the compiled core the descriptor layout and the framework's constants; MemcpyDescriptor.submit is
    then the compiled one. False (nothing changed) without the core."""
    core = _native.core
    if core is None:
        return False
    slots = {}
    for name in ("chan", "cookie", "flags", "callback", "callback_param", "callback_result", "state", "length",
                 "result", "residue", "done_cookie", "segs", "value", "done", "dst", "src"):
        slots[name] = next(k.__dict__[name] for k in MemcpyDescriptor.__mro__ if name in k.__dict__)
    core.memcpy_setup(MemcpyDescriptor, (MemcpyDescriptor, BurstDescriptor), slots,
                      {**_native.memcpy_consts(), "RUN_COPY": RUN_COPY})
    MemcpyDescriptor.submit = core.submit_descriptor(MemcpyDescriptor)  # type: ignore[method-assign]
    MemcpyChannel.n_submitted = property(  # type: ignore[assignment]
        _n_submitted, _set_n_submitted, doc=_n_submitted.__doc__)
    return True


def _n_submitted(chan: MemcpyChannel) -> int:
    """How many descriptors were submitted on the channel: the compiled submit counts its own in the channel's
    ``MemcpyPrep`` (a C integer, no int object per submit); the rest are counted here."""
    fast: Any = chan.__dict__.get("_fast_prep")
    own: int = chan.__dict__.get("_n_submitted_py", 0)
    return own + int(fast.n_submitted) if type(fast) is _MemcpyPrep else own


def _set_n_submitted(chan: MemcpyChannel, value: int) -> None:
    fast: Any = chan.__dict__.get("_fast_prep")
    chan.__dict__["_n_submitted_py"] = (value - int(fast.n_submitted)
                                        if type(fast) is _MemcpyPrep else value)


_MemcpyPrep: Any = getattr(_native.core, "MemcpyPrep", None)


_wired = _wire_core()
_fast_submit = MemcpyDescriptor.submit
#: The channels with a one-call prep, which _on_trace switches.
_fast_chans: weakref.WeakSet[MemcpyChannel] = weakref.WeakSet()


def _on_trace(rec: object) -> None:
    """A trace recorder was installed (or removed): the untraced fast prep and submit, which test nothing per
    descriptor, step aside while one records (the generic ones emit the events), and come back after."""
    on = rec is None
    MemcpyDescriptor.submit = _fast_submit if on else _py_submit  # type: ignore[method-assign,assignment]
    for chan in list(_fast_chans):
        chan.use_fast_prep(on)


_consts["trace_listeners"].append(_on_trace)
_on_trace(_trace_vars["recorder"])
