"""The DMA address space: an IOMMU over mapped Python buffers.

Buffers are mapped (``dma_map_single`` / ``dma_map_sg``) to integer DMA addresses. Engines touch memory only
through :meth:`AddressSpace.pin` / :meth:`AddressSpace.resolve`, which find the live mapping by bisection and
check its direction, so a bad address becomes a :class:`DmaFault` instead of a stray access.

Addresses are never reused: a stale address stays a fault for the life of the space.
"""

from __future__ import annotations

import bisect
import ctypes
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, overload

import numpy as np

from . import _check, _native
from ._enums import DataDirection
from ._errors import ConfigError, MappingError
from ._records import SgEntry

__all__ = ["PAGE_SIZE", "AddressSpace", "CopyOp", "DmaFault", "Mapping", "Scatterlist"]

_memmove = ctypes.memmove
_memset = ctypes.memset
_bisect_right = bisect.bisect_right
#: Copies up to this size are a memoryview slice assignment with the GIL and the space lock held: about 80 ns
#: against about 300 ns for a ``ctypes.memmove`` call, and the GIL is held for a microsecond at most.
GIL_COPY = 16 * 1024
#: Copies and fills up to this size run with the space lock held (cheaper than a pin); bigger ones pin their
#: mappings and drop the lock, so that several channels copy at once.
SMALL_COPY = GIL_COPY

PAGE_SIZE = 4096
_COLD = (0, 0, memoryview(b""), 0)
_NO_ARRAY = np.zeros(0, dtype=np.uint8)  # no mapping: the range test fails for every non-empty access
_BASE_ADDR = 0x1_0000_0000
#: Where a space that narrows its DMA mask below its first address starts instead (inside a 32-bit window).
_LOW_BASE = 0x1000_0000


class CopyOp(Protocol):
    """One copy for :meth:`AddressSpace.copy_many`: ``length`` bytes from DMA address ``src`` to ``dst``. A
    driver's descriptor can be one, so that a run of copies allocates nothing per copy."""

    @property
    def dst(self) -> int: ...
    @property
    def src(self) -> int | None: ...
    @property
    def length(self) -> int: ...


class DmaFault(Exception):
    """An engine touched memory it may not: no live mapping, past its end, or against its direction."""

    def __init__(self, addr: int, length: int, write: bool, reason: str) -> None:
        self.addr = addr
        self.length = length
        self.write = write
        self.reason = reason
        kind = "write" if write else "read"
        super().__init__(f"DMA {kind} of {length} bytes at {addr:#x}: {reason}")


_FIELD_NAMES = re.compile(r":[^:]*:")  # the ':name:' of each field of a struct format


def _holds_objects(fmt: str) -> bool:
    """True when a buffer format has a Python object field ('O'): numpy dtype=object, a structured dtype with an
    object field, a ctypes.py_object array. A DMA write into one would overwrite live pointers."""
    return "O" in _FIELD_NAMES.sub("", fmt)


def _as_bytes_view(buf: Any) -> tuple[memoryview, ...]:
    """The views of ``buf`` to map: the last one 1-D with format "B"; all are released at unmap."""
    try:
        mv = memoryview(buf)
    except TypeError:
        raise MappingError(f"cannot map {type(buf).__name__!r}: not a buffer") from None
    try:
        if _holds_objects(mv.format):
            raise MappingError(f"cannot map a buffer of Python objects (format {mv.format!r})")
        if not mv.c_contiguous:
            raise MappingError(f"cannot map a non-contiguous buffer of shape {mv.shape!r}")
        if mv.nbytes == 0:
            raise MappingError("cannot map an empty buffer (0 bytes)")
        return (mv, mv.cast("B")) if (mv.format != "B" or mv.ndim != 1) else (mv,)
    except BaseException:
        mv.release()
        raise


class Mapping:
    """A live mapping of one buffer: ``addr``, ``length``, ``direction``. A context manager that unmaps."""

    __slots__ = ("__weakref__", "_array", "_end", "_live", "_mv", "_pins", "_ptr", "_readable", "_space",
                 "_views", "_writable", "addr", "direction", "length")

    def __init__(self, space: AddressSpace, addr: int, array: np.ndarray, direction: DataDirection) -> None:
        self._space = space
        self.addr = addr
        self.length = int(array.nbytes)
        self.direction = direction
        self._array = array
        self._mv: memoryview = array.data  # 1-D, format "B": slice assignment is a memmove
        self._ptr: int = array.ctypes.data
        self._end = addr + self.length
        # The access rights, as plain bools for the lookup on the hot path.
        self._readable = direction != DataDirection.FROM_DEVICE
        self._writable = direction != DataDirection.TO_DEVICE
        self._live = True
        self._pins = 0
        #: The memoryviews that hold the buffer's export; released at unmap, so the CPU owns the buffer again.
        self._views: tuple[memoryview, ...] = ()

    def _release(self) -> None:
        """Drop every reference to the buffer (after unmap, no pin left): the owner may resize or close it."""
        self._mv.release()
        self._array = _NO_ARRAY
        for v in reversed(self._views):
            try:
                v.release()
            except BufferError:  # someone still holds a view of it (a resolve() slice): it goes when they do
                pass
        self._views = ()

    @property
    def live(self) -> bool:
        """True until :meth:`unmap`."""
        return self._live

    @property
    def end(self) -> int:
        """One past the last DMA address of the mapping."""
        return self.addr + self.length

    def unmap(self) -> None:
        """``dma_unmap_single``: waits for engine accesses in progress, then no engine may touch it again."""
        self._space.unmap(self)

    def __enter__(self) -> Mapping:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self.unmap()

    def __repr__(self) -> str:
        state = "" if self._live else ", unmapped"
        return f"Mapping(addr={self.addr:#x}, length={self.length}, {self.direction.name}{state})"


class Scatterlist(Sequence[SgEntry]):
    """The result of ``map_sg``: a sequence of :class:`SgEntry`, one per buffer, unmapped together."""

    def __init__(self, mappings: list[Mapping]) -> None:
        self.mappings = mappings
        self._entries = [SgEntry(m.addr, m.length) for m in mappings]

    @overload
    def __getitem__(self, i: int) -> SgEntry: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[SgEntry]: ...
    def __getitem__(self, i: int | slice) -> SgEntry | Sequence[SgEntry]:
        return self._entries[i]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[SgEntry]:
        return iter(self._entries)

    @property
    def length(self) -> int:
        """Total bytes of all segments."""
        return sum(e.length for e in self._entries)

    def unmap(self) -> None:
        """``dma_unmap_sg``."""
        for m in self.mappings:
            if m.live:
                m.unmap()

    def __enter__(self) -> Scatterlist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmap()

    def __repr__(self) -> str:
        return f"Scatterlist({self._entries!r})"


class AddressSpace:
    """Sorted live mappings; lookups are a bisection (O(log n)) under one short lock."""

    def __init__(self, base: int = _BASE_ADDR) -> None:
        self._lock = threading.Lock()
        self._unpinned = threading.Condition(self._lock)
        self._starts: list[int] = []
        self._maps: list[Mapping] = []
        self._next = self._base = base
        # copy_many's last source and destination mappings (start, end, view, pointer), so that a stream of
        # copies between the same buffers skips the lookups. Read and written under the lock; unmap clears.
        self._hot_src: tuple[int, int, memoryview, int] = _COLD
        self._hot_dst: tuple[int, int, memoryview, int] = _COLD
        # copy_burst's arrays of the live mappings, rebuilt when _version (bumped by map and unmap) moves on.
        self._version = 0
        self._table: _Table | None = None
        #: The highest DMA address a device of this space can reach (``dma_set_mask``); every mapping lies below.
        self.dma_mask = (1 << 64) - 1

    def set_dma_mask(self, mask: int) -> None:
        """``dma_set_mask``: from now on every mapping lies at or below ``mask`` (all ones in its low bits, e.g.
        ``0xffff_ffff`` for a 32-bit device); the narrowest mask asked for wins. A space that has mapped nothing
        yet moves its first address into the window; MappingError when mappings already lie above it.

        >>> space = AddressSpace()
        >>> space.set_dma_mask(0xffff_ffff)
        >>> hex(space.map(bytearray(16)).addr)
        '0x10000000'
        """
        if (not isinstance(mask, int) or isinstance(mask, bool) or mask < PAGE_SIZE * 4 - 1
                or mask & (mask + 1)):
            raise MappingError(f"a DMA mask is all ones in its low bits, at least 0x3fff, not {mask!r}")
        with self._lock:
            if mask >= self.dma_mask:
                return
            if self._next > mask:
                if self._maps or self._next != self._base:
                    raise MappingError(f"mappings already lie above the DMA mask {mask:#x} (next address "
                                       f"{self._next:#x})")
                self._next = self._base = min(_LOW_BASE, (mask + 1) // 4)
            self.dma_mask = mask

    def map(self, buf: Any, direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Mapping:
        """Map ``buf`` (any C-contiguous buffer) for DMA in ``direction``."""
        direction = _check.enum_value("direction", direction, DataDirection)
        views = _as_bytes_view(buf)
        mv = views[-1]
        if mv.readonly and direction != DataDirection.TO_DEVICE:
            for v in reversed(views):
                v.release()
            raise MappingError(f"a read-only buffer maps only TO_DEVICE, not {direction.name}")
        array = np.frombuffer(mv, dtype=np.uint8)
        with self._lock:
            addr = self._next
            if addr + array.nbytes - 1 > self.dma_mask:
                raise MappingError(f"cannot map {array.nbytes} bytes at {addr:#x}: past the DMA mask "
                                   f"{self.dma_mask:#x}")
            # Leave at least one unmapped guard page between mappings, so an overrun faults.
            self._next = addr + ((array.nbytes + 2 * PAGE_SIZE - 1) // PAGE_SIZE) * PAGE_SIZE
            m = Mapping(self, addr, array, direction)
            m._views = views
            self._starts.append(addr)
            self._maps.append(m)
            self._version += 1
        return m

    def map_sg(self, bufs: Iterable[Any], direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Scatterlist:
        """Map every buffer of ``bufs``; all or none."""
        if isinstance(bufs, (str, bytes, bytearray, memoryview)) or not hasattr(bufs, "__iter__"):
            raise ConfigError(f"bufs must be an iterable of buffers, not {bufs!r}"[:200])
        maps: list[Mapping] = []
        try:
            for b in bufs:
                maps.append(self.map(b, direction))
        except BaseException:
            for m in maps:
                m.unmap()
            raise
        if not maps:
            raise MappingError("cannot map an empty scatterlist")
        return Scatterlist(maps)

    def unmap(self, m: Mapping) -> None:
        """Remove ``m``; waits until no engine holds a pin on it."""
        with self._lock:
            if not m._live or m._space is not self:
                raise MappingError(f"{m!r} is not mapped")
            i = bisect.bisect_left(self._starts, m.addr)
            del self._starts[i]
            del self._maps[i]
            m._live = False
            self._version += 1
            self._hot_src = self._hot_dst = _COLD
            while m._pins:
                self._unpinned.wait()
            m._release()  # no engine can reach it now: the lookups under this lock no longer find it

    def _find(self, addr: int, length: int, write: bool) -> Mapping:
        """The mapping that holds [addr, addr+length) with the access right; caller holds the lock."""
        i = _bisect_right(self._starts, addr) - 1
        if i >= 0:
            m = self._maps[i]
            if addr + length <= m._end and (m._writable if write else m._readable):
                return m
        raise self._fault(i, addr, length, write)

    def _fault(self, i: int, addr: int, length: int, write: bool) -> DmaFault:
        """The fault that :meth:`_find` raises for mapping index ``i``, with the reason; caller holds the lock."""
        if i < 0:
            return DmaFault(addr, length, write, "no mapping")
        m = self._maps[i]
        if addr + length > m._end:
            if addr >= m._end:
                return DmaFault(addr, length, write, "no mapping")
            return DmaFault(addr, length, write, f"past the end of {m!r}")
        if write:
            return DmaFault(addr, length, write, f"{m!r} is mapped TO_DEVICE")
        return DmaFault(addr, length, write, f"{m!r} is mapped FROM_DEVICE")

    def check(self, addr: int, length: int, write: bool) -> None:
        """Raise :class:`DmaFault` unless the access would succeed now."""
        with self._lock:
            self._find(addr, length, write)

    def resolve(self, addr: int, length: int, write: bool) -> np.ndarray:
        """A uint8 view of [addr, addr+length), or :class:`DmaFault`.

        The view is valid only while the mapping is live; a single-threaded engine (the simulator) uses it at
        once. Threaded engines use :meth:`pin` so that :meth:`unmap` waits for them.
        """
        with self._lock:
            m = self._find(addr, length, write)
            off = addr - m.addr
            return m._array[off : off + length]

    def pin(self, addr: int, length: int, write: bool) -> tuple[Mapping, np.ndarray]:
        """Like :meth:`resolve`, and hold the mapping until :meth:`unpin`; unmap waits for it."""
        with self._lock:
            m = self._find(addr, length, write)
            m._pins += 1
            off = addr - m.addr
            return m, m._array[off : off + length]

    def unpin(self, m: Mapping) -> None:
        """Release a pin taken by :meth:`pin`."""
        with self._lock:
            m._pins -= 1
            if not m._live and m._pins == 0:
                self._unpinned.notify_all()

    def copy(self, dst: int, src: int, length: int) -> None:
        """Engine copy of ``length`` bytes from DMA address ``src`` to ``dst`` (overlap allowed), or DmaFault
        before any byte moves. The GIL is released during the copy; unmap waits for it."""
        starts, maps = self._starts, self._maps
        with self._lock:
            # sm = self._find(src, length, False); dm = self._find(dst, length, True), inlined (the simulator's
            # controller moves every copy's bytes through here)
            i = _bisect_right(starts, src) - 1
            sm = maps[i] if i >= 0 else None
            if sm is None or src + length > sm._end or not sm._readable:
                raise self._fault(i, src, length, False)
            i = _bisect_right(starts, dst) - 1
            dm = maps[i] if i >= 0 else None
            if dm is None or dst + length > dm._end or not dm._writable:
                raise self._fault(i, dst, length, True)
            if length <= GIL_COPY:
                so = src - sm.addr
                do = dst - dm.addr
                dm._mv[do : do + length] = sm._mv[so : so + length]
                return
            sp = sm._ptr + (src - sm.addr)
            dp = dm._ptr + (dst - dm.addr)
            if length <= SMALL_COPY:
                _memmove(dp, sp, length)
                return
            sm._pins += 1
            dm._pins += 1
        try:
            _memmove(dp, sp, length)
        finally:
            with self._lock:  # self.unpin(sm); self.unpin(dm), under one lock
                sm._pins -= 1
                dm._pins -= 1
                if (not sm._live and sm._pins == 0) or (not dm._live and dm._pins == 0):
                    self._unpinned.notify_all()

    def can_copy(self, dst: int, src: int | None, length: int) -> bool:
        """Would a :meth:`copy` of ``length`` bytes from ``src`` to ``dst`` (``src`` None: a :meth:`fill`) find its
        memory now? :meth:`check` of both spans (without raising), in one lock; the simulator's controller asks
        it of each copy it plans."""
        starts, maps = self._starts, self._maps
        with self._lock:
            if src is not None:
                i = _bisect_right(starts, src) - 1
                if i < 0:
                    return False
                m = maps[i]
                if src + length > m._end or not m._readable:
                    return False
            i = _bisect_right(starts, dst) - 1
            if i < 0:
                return False
            m = maps[i]
            return dst + length <= m._end and m._writable

    def copy_maps(self, dst: int, src: int, length: int) -> tuple[Mapping, Mapping] | None:
        """:meth:`can_copy` of a copy (``src`` an int) that says where: the mappings that hold the destination and
        the source span, or None where :meth:`can_copy` says False. The simulator's controller keeps them for the
        compiled move of a planned copy (valid while both are live)."""
        with self._lock:
            sm = self._holder(src, src + length, False)
            if sm is None:
                return None
            dm = self._holder(dst, dst + length, True)
            return None if dm is None else (dm, sm)

    def copy_small(self, ops: list[Any]) -> tuple[list[Exception | None] | None] | None:
        """:meth:`copy_many` for a run that the compiled core takes whole (every op one of the memory engine's
        small single copies): ``(faults,)`` as :meth:`copy_many` returns ``faults``, or None (nothing done)
        without the core or when an op is not such a copy. Spares the caller a look at every op first."""
        core = _native.core
        if core is None:
            return None
        with self._lock:
            done = core.copy_many(ops, self._find, self._hot_src, self._hot_dst)
            if done is None:
                return None
            faults, self._hot_src, self._hot_dst = done
            return (faults,)

    def copy_many(self, ops: Sequence[CopyOp]) -> list[Exception | None] | None:
        """Engine copies ``op.length`` bytes from ``op.src`` to ``op.dst`` for each op in order (every ``src`` an
        int), under one lock acquisition, each like :meth:`copy` but
        with the lock held throughout: meant for runs of small copies (each at most :data:`GIL_COPY` bytes
        is a memoryview assignment; bigger ones are a ``memmove`` with the GIL released). Returns None when
        every copy succeeded, else a list with the :class:`DmaFault` of each failed op (None for the others;
        another exception for an op whose fields are not valid numbers); a failed op moves no byte and the later
        ones still run. The caller bounds the bytes of one call."""
        faults: list[Exception | None] | None = None
        find = self._find
        core = _native.core
        with self._lock:
            if core is not None and ops.__class__ is list:
                # The memory engine's own descriptors: resolved and copied in one C call (None: not those).
                done = core.copy_many(ops, find, self._hot_src, self._hot_dst)
                if done is not None:
                    faults, self._hot_src, self._hot_dst = done
                    return faults
            s_lo, s_hi, smv, s_ptr = self._hot_src
            d_lo, d_hi, dmv, d_ptr = self._hot_dst
            for i, op in enumerate(ops):
                try:  # free unless something raises: then that op failed and the next still runs
                    dst = op.dst
                    src: int = op.src  # type: ignore[assignment]  # the caller passes copies only
                    length = op.length
                    if not (s_lo <= src and src + length <= s_hi):
                        sm = find(src, length, False)
                        s_lo, s_hi, smv, s_ptr = sm.addr, sm._end, sm._mv, sm._ptr
                    if not (d_lo <= dst and dst + length <= d_hi):
                        dm = find(dst, length, True)
                        d_lo, d_hi, dmv, d_ptr = dm.addr, dm._end, dm._mv, dm._ptr
                    so = src - s_lo
                    do = dst - d_lo
                    if length <= GIL_COPY:
                        dmv[do : do + length] = smv[so : so + length]
                    else:
                        _memmove(d_ptr + do, s_ptr + so, length)
                except Exception as f:  # a DmaFault, or an op holding something that is not an address
                    faults = faults or [None] * len(ops)
                    faults[i] = f
            self._hot_src = (s_lo, s_hi, smv, s_ptr)
            self._hot_dst = (d_lo, d_hi, dmv, d_ptr)
        return faults

    def copy_large(self, ops: Sequence[tuple[int, int, int]]) -> list[Exception | None] | None:
        """Engine copies ``(dst, src, length)`` for each op in order, for runs of large copies: every op is
        resolved and its mappings pinned under one lock hold, the bytes move with the GIL released (one C loop
        with the compiled core, one ``memmove`` each without) and the pins go under one more. Returns None when
        every copy succeeded, else a list with the :class:`DmaFault` of each failed op (None for the others); a
        failed op moves no byte and the later ones still run. The caller bounds the bytes of one call (the
        worker's pause and terminate checks wait for it)."""
        faults: list[Exception | None] | None = None
        find = self._find
        pinned: dict[int, Mapping] = {}
        dps: list[int] = []
        sps: list[int] = []
        lens: list[int] = []
        with self._lock:
            # The last source and destination mappings (a run copies between the same buffers, most often): an
            # op inside them needs no look-up. Each mapping is pinned once for the run.
            s_lo = s_hi = d_lo = d_hi = s_sh = d_sh = 0
            for i, (dst, src, length) in enumerate(ops):
                if not (s_lo <= src and src + length <= s_hi and d_lo <= dst and dst + length <= d_hi):
                    try:
                        sm = find(src, length, False)
                        dm = find(dst, length, True)
                    except DmaFault as f:
                        faults = faults or [None] * len(ops)
                        faults[i] = f
                        continue
                    for m in (sm, dm):
                        if id(m) not in pinned:
                            m._pins += 1
                            pinned[id(m)] = m
                    s_lo, s_hi, s_sh = sm.addr, sm._end, sm._ptr - sm.addr
                    d_lo, d_hi, d_sh = dm.addr, dm._end, dm._ptr - dm.addr
                sps.append(src + s_sh)
                dps.append(dst + d_sh)
                lens.append(length)
        try:
            core = _native.core
            if core is not None and lens:
                core.copy_ops(np.array(dps, np.int64), np.array(sps, np.int64), np.array(lens, np.int64))
            else:
                for dp, sp, n in zip(dps, sps, lens):
                    _memmove(dp, sp, n)
        finally:
            with self._lock:
                for m in pinned.values():
                    m._pins -= 1
                    if not m._live and m._pins == 0:
                        self._unpinned.notify_all()
        return faults

    def fill(self, dst: int, value: int, length: int) -> None:
        """Engine fill of ``length`` bytes at ``dst`` with the byte ``value``, or DmaFault before any byte moves."""
        with self._lock:
            dm = self._find(dst, length, True)
            dp = dm._ptr + (dst - dm.addr)
            if length <= SMALL_COPY:
                _memset(dp, value, length)
                return
            dm._pins += 1
        try:
            _memset(dp, value, length)
        finally:
            self.unpin(dm)

    def mappings(self) -> list[Mapping]:
        """The live mappings, in address order."""
        with self._lock:
            return list(self._maps)

    def _holder(self, lo: int, hi: int, write: bool) -> Mapping | None:
        """The live mapping that holds all of [lo, hi) with the access right, else None; caller holds the lock."""
        i = _bisect_right(self._starts, lo) - 1
        if i >= 0:
            m = self._maps[i]
            if hi <= m._end and (m._writable if write else m._readable):
                return m
        return None

    def copy_burst(self, dst: np.ndarray, src: np.ndarray, lengths: np.ndarray,
                   stop_at_fault: bool = False) -> np.ndarray | None:
        """Engine copies of ``lengths[i]`` bytes from ``src[i]`` to ``dst[i]`` for every i, in order (int64
        arrays of one length), under one lock acquisition: a burst. The addresses are resolved all at once
        (a vectorised bisection over the live mappings); the copies are one C loop with the compiled core, a
        Python loop of memoryview assignments without it. Returns None when every op succeeded, else a uint8
        array of one :class:`~dmaengine.Result` code per op: 0, 1 (READ_FAILED: the source faulted) or 2
        (WRITE_FAILED: the destination did); a failed op moves no byte and the others still run, or, with
        ``stop_at_fault`` (one transfer in pieces, such as a scatterlist), the ops after it do not run either."""
        with self._lock:
            # The common burst: every source in one mapping and every destination in one mapping. Then the
            # extents decide for all ops at once.
            core = _native.core
            if core is not None:
                # Inside the mappings the last copies used (live: unmap forgets them), copied in the same call.
                hs, hd = self._hot_src, self._hot_dst
                span = core.copy_in(dst, src, lengths, hs[0], hs[1], hd[0], hd[1], hd[3] - hd[0], hs[3] - hs[0])
                if span is None:
                    return None
                s_lo, s_hi, d_lo, d_hi = span
            else:
                s_lo, s_hi = int(src.min()), int((src + lengths).max())
                d_lo, d_hi = int(dst.min()), int((dst + lengths).max())
            sm = self._holder(s_lo, s_hi, False)
            dm = self._holder(d_lo, d_hi, True) if sm is not None else None
            if sm is not None and dm is not None:
                if core is not None:
                    self._hot_src = (sm.addr, sm._end, sm._mv, sm._ptr)
                    self._hot_dst = (dm.addr, dm._end, dm._mv, dm._ptr)
                    core.copy_ops(dst, src, lengths, dm._ptr - dm.addr, sm._ptr - sm.addr)
                    return None
                so = src - sm.addr
                do = dst - dm.addr
                if not _copy_rows(sm, dm, so, do, lengths):
                    smv, dmv = sm._mv, dm._mv
                    for a, b, n in zip(so.tolist(), do.tolist(), lengths.tolist()):
                        dmv[b : b + n] = smv[a : a + n]
                return None
            t = self._table
            if t is None or t.version != self._version:
                t = self._table = _Table(self._version, self._maps)
            starts = t.starts
            si = np.searchsorted(starts, src, "right") - 1
            di = np.searchsorted(starts, dst, "right") - 1
            np.maximum(si, 0, out=si)  # index 0 for "before every mapping": its start is above, caught below
            np.maximum(di, 0, out=di)
            s_off = src - starts[si]
            d_off = dst - starts[di]
            s_ok = (s_off >= 0) & (s_off + lengths <= t.lengths[si]) & t.readable[si]
            d_ok = (d_off >= 0) & (d_off + lengths <= t.lengths[di]) & t.writable[di]
            status: np.ndarray | None = None
            if not (s_ok.all() and d_ok.all()):
                status = np.where(s_ok, np.where(d_ok, 0, 2), 1).astype(np.uint8)
                ok = s_ok & d_ok
                if stop_at_fault:
                    ok[int(np.argmin(ok)):] = False
                si, di, s_off, d_off, lengths = si[ok], di[ok], s_off[ok], d_off[ok], lengths[ok]
            if _native.core is not None:
                _native.core.copy_ops(t.ptrs[di] + d_off, t.ptrs[si] + s_off, lengths)
                return status
            views = t.views
            if len(si) and si.min() == si.max() and di.min() == di.max() and lengths.max() <= GIL_COPY:
                smv, dmv = views[int(si[0])], views[int(di[0])]  # the common case: between two buffers
                for so, do, n in zip(s_off.tolist(), d_off.tolist(), lengths.tolist()):
                    dmv[do : do + n] = smv[so : so + n]
                return status
            ptrs = t.ptrs
            for s_i, d_i, so, do, n in zip(si.tolist(), di.tolist(), s_off.tolist(), d_off.tolist(), lengths.tolist()):
                if n <= GIL_COPY:
                    views[d_i][do : do + n] = views[s_i][so : so + n]
                else:
                    _memmove(int(ptrs[d_i]) + do, int(ptrs[s_i]) + so, n)
        return status


    def copy_uniform(self, dst: np.ndarray, src: np.ndarray, length: int) -> np.ndarray | None:
        """:meth:`copy_burst` of ops that all move ``length`` bytes (``dst`` and ``src`` int64 arrays of one
        length, every address in [0, 2**62), ``length`` an int in [1, :data:`GIL_COPY`]): the same result, in
        order, with less work when every source lies in one mapping and every destination in one mapping (the
        common run of small copies between two buffers): then the ops are one numpy gather when they commute
        (no op reads bytes another writes, no two write the same bytes), else one memoryview assignment each.
        ValueError (nothing done) for an address outside [0, 2**62) or a length out of range."""
        if length.__class__ is not int or not 0 < length <= GIL_COPY:
            raise ValueError(f"copy_uniform: length must be an int in 1..{GIL_COPY}, not {length!r}")
        s_lo, s_hi = int(src.min()), int(src.max())
        d_lo, d_hi = int(dst.min()), int(dst.max())
        if s_lo < 0 or d_lo < 0 or s_hi >= _MAX_BURST_ADDR or d_hi >= _MAX_BURST_ADDR:
            raise ValueError(f"copy_uniform: addresses must lie in [0, 2**62), not {min(s_lo, d_lo):#x}.."
                             f"{max(s_hi, d_hi):#x}")
        if _native.core is None:
            s_hi += length
            d_hi += length
            with self._lock:
                sm = self._holder(s_lo, s_hi, False)
                dm = self._holder(d_lo, d_hi, True) if sm is not None else None
                if sm is not None and dm is not None:
                    so = src - sm.addr
                    do = dst - dm.addr
                    # What is read and what is written, as host addresses (two mappings may share memory).
                    r_lo, r_hi = sm._ptr + s_lo - sm.addr, sm._ptr + s_hi - sm.addr
                    w_lo, w_hi = dm._ptr + d_lo - dm.addr, dm._ptr + d_hi - dm.addr
                    if len(do) < 8 or (r_lo < w_hi and w_lo < r_hi) or not _disjoint(do, length):
                        smv, dmv = sm._mv, dm._mv  # order matters (or too few to gather): one by one
                        for a, b in zip(so.tolist(), do.tolist()):
                            dmv[b : b + length] = smv[a : a + length]
                        return None
                    _rows(dm, length)[do] = _rows(sm, length)[so]
                    return None
        return self.copy_burst(dst, src, np.full(len(dst), length, np.int64))


_MAX_BURST_ADDR = 1 << 62  # addresses of a burst stay below this: no sum the burst forms overflows int64


_VOIDS: dict[int, np.dtype[np.void]] = {}  # np.dtype(f"V{n}") by n


def _rows(m: Mapping, n: int) -> np.ndarray:
    """Every ``n``-byte window of ``m``'s buffer as one element of an ``n``-byte opaque dtype (stride 1): element
    k is bytes [k, k + n). A gather over it moves each element as one block (four times faster than rows of
    uint8)."""
    dt = _VOIDS.get(n)
    if dt is None:
        dt = _VOIDS[n] = np.dtype(f"V{n}")
    return np.ndarray((m.length - n + 1,), dt, m._mv, 0, (1,))


def _disjoint(do: np.ndarray, n: int) -> bool:
    """True when no two of the ``n``-byte ranges that start at ``do`` overlap (ascending starts, the common
    order, need no sort)."""
    if (do[1:] - do[:-1] >= n).all():  # (np.diff, without its Python-level checks)
        return True
    do = np.sort(do)
    return bool((do[1:] - do[:-1] >= n).all())


def _copy_rows(sm: Mapping, dm: Mapping, so: np.ndarray, do: np.ndarray, lengths: np.ndarray) -> bool:
    """Pure Python's fast burst: when every op has one length, no op reads bytes another writes and no two ops
    write the same bytes, the ops commute, and two numpy gathers over sliding-window views do them all. False
    (nothing done) otherwise."""
    n = int(lengths[0])
    if len(lengths) < 8 or int(lengths.min()) != int(lengths.max()):
        return False
    s_lo, s_hi = sm._ptr + int(so.min()), sm._ptr + int(so.max()) + n
    d_lo, d_hi = dm._ptr + int(do.min()), dm._ptr + int(do.max()) + n
    if s_lo < d_hi and d_lo < s_hi:  # what is read and what is written may overlap: order matters
        return False
    if len(do) > 1 and not _disjoint(do, n):
        return False
    _rows(dm, n)[do] = _rows(sm, n)[so]
    return True


class _Table:
    """The live mappings of an address space as arrays, for :meth:`AddressSpace.copy_burst`."""

    __slots__ = ("lengths", "ptrs", "readable", "starts", "version", "views", "writable")

    def __init__(self, version: int, maps: list[Mapping]) -> None:
        self.version = version
        self.starts = np.array([m.addr for m in maps] or [0], dtype=np.int64)
        self.lengths = np.array([m.length for m in maps] or [0], dtype=np.int64)
        self.readable = np.array([m._readable for m in maps] or [False], dtype=bool)
        self.writable = np.array([m._writable for m in maps] or [False], dtype=bool)
        self.ptrs = np.array([m._ptr for m in maps] or [0], dtype=np.int64)
        self.views = [m._mv for m in maps]
