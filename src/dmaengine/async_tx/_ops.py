"""The async_tx operations (crypto/async_tx/async_memcpy.c, async_xor.c, async_pq.c): memcpy, xor, xor
validate, RAID-6 syndrome and syndrome validate, on a capable channel or on the CPU.

Blocks are buffers (numpy arrays, bytearrays, memoryviews of one byte per element), all of one length. On the
DMA path the operation maps them on the channel's platform and unmaps them when it is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._channel import Channel, Descriptor
from .._enums import Cap, PrepFlags, SumCheckFlags
from .._errors import ConfigError
from .._memory import Mapping
from .._native import core
from .._raid6 import EXP, MUL, pq, xor_into
from .._raidops import SumCheckResult
from ._core import (
    ASYNC_TX_ACK,
    ASYNC_TX_FENCE,
    ASYNC_TX_PQ_XOR_DST,
    ASYNC_TX_XOR_DROP_DST,
    ASYNC_TX_XOR_ZERO_DST,
    AsyncSubmitCtl,
    AsyncTx,
    AsyncTxFlags,
    ChannelTable,
    async_tx_submit,
    check_depend,
    cpu_prolog,
    prep_flags_of,
    sync_epilog,
    table_of,
)

__all__ = [
    "async_gen_syndrome",
    "async_memcpy",
    "async_mult",
    "async_sum_product",
    "async_syndrome_val",
    "async_xor",
    "async_xor_val",
]

_P_DIS = int(PrepFlags.PREP_PQ_DISABLE_P)
_Q_DIS = int(PrepFlags.PREP_PQ_DISABLE_Q)
_CONT = int(PrepFlags.PREP_CONTINUE)
_P_RES = SumCheckFlags.SUM_CHECK_P_RESULT
_Q_RES = SumCheckFlags.SUM_CHECK_Q_RESULT


def _u8(name: str, buf: Any, writable: bool) -> np.ndarray:
    """``buf`` as a 1-D uint8 array over the same memory, or a ConfigError naming it."""
    if (buf.__class__ is np.ndarray and buf.dtype == np.uint8 and buf.ndim == 1 and buf.flags.c_contiguous
            and buf.nbytes and (buf.flags.writeable or not writable)):
        return buf  # the common case, as it is
    try:
        mv = memoryview(buf)
    except TypeError:
        raise ConfigError(f"{name} must be a buffer (numpy array, bytearray), not {type(buf).__name__}") from None
    if not mv.c_contiguous:
        raise ConfigError(f"{name} must be a C-contiguous buffer, not one of strides {mv.strides!r}")
    if writable and mv.readonly:
        raise ConfigError(f"{name} is read-only; a destination must be writable")
    if mv.nbytes == 0:
        raise ConfigError(f"{name} is empty (0 bytes)")
    if mv.format != "B" or mv.ndim != 1:
        mv = mv.cast("B")
    return np.frombuffer(mv, dtype=np.uint8)


def _span(a: np.ndarray) -> tuple[int, int]:
    p = int(a.ctypes.data)
    return p, p + a.nbytes


def _ptrs(arrays: Sequence[np.ndarray]) -> list[int]:
    """The address of the first byte of each array (the compiled core reads them without numpy's ``ctypes``)."""
    if core is not None:
        return core.raid6_addrs(arrays)
    return [a.__array_interface__["data"][0] for a in arrays]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (np.may_share_memory(a, b) and _span(a) == _span(b))


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    if a is b:
        return True
    if not np.may_share_memory(a, b):  # compares the bounds only: cheap
        return False
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return a0 < b1 and b0 < a1


def _lengths(length: int, blocks: Sequence[tuple[str, np.ndarray | None]], ref: str) -> None:
    for name, b in blocks:
        if b is not None and b.nbytes != length:
            raise ConfigError(f"{name} holds {b.nbytes} bytes, not {length} like {ref}")


def _no_overlap(dsts: Sequence[tuple[str, np.ndarray | None]], srcs: Sequence[tuple[str, np.ndarray | None]]) -> None:
    for dn, d in dsts:
        if d is None:
            continue
        for sn, s in srcs:
            if s is not None and _overlap(d, s):
                raise ConfigError(f"{sn} overlaps {dn} (destination and source must be apart)")


class _Maps:
    """The mappings of one operation: each array mapped once through the table (destinations BIDIRECTIONAL, as
    they may be read as sources too), released together. The operation has already replaced a source that is
    the destination's memory by the destination's array itself, so arrays are told apart by identity."""

    def __init__(self, table: ChannelTable) -> None:
        self.table = table
        self.maps: list[Mapping] = []
        self._by_id: dict[int, Mapping] = {}

    def addr(self, a: np.ndarray, write: bool) -> int:
        m = self._by_id.get(id(a))
        if m is None:
            m = self.table.map_buffer(a, write)
            self.maps.append(m)
            self._by_id[id(a)] = m
        return m.addr

    def addrs(self, arrays: Sequence[np.ndarray], ptrs: Sequence[int], write: bool) -> list[int]:
        """The DMA addresses of ``arrays`` (first bytes at ``ptrs``), mapped in one go; none mapped before."""
        fresh = [a for a in arrays if id(a) not in self._by_id]
        if len(fresh) != len(arrays):
            return [self.addr(a, write) for a in arrays]
        maps = self.table.map_buffers(arrays, ptrs, write)
        by_id = self._by_id
        for a, m in zip(arrays, maps):
            if id(a) in by_id:  # the same array twice: one mapping, used twice
                self.table.unmap_buffers([m])
            else:
                by_id[id(a)] = m
                self.maps.append(m)
        return [by_id[id(a)].addr for a in arrays]

    def release(self) -> None:
        self.table.unmap_buffers(self.maps)
        self.maps = []


def _aligned(shift: int, length: int) -> bool:
    return not length & ((1 << shift) - 1)


def _chain(table: ChannelTable, chan: Channel, submit: AsyncSubmitCtl, op: str, maps: _Maps,
           preps: Sequence[tuple[Any, ...]], prep: Any) -> AsyncTx:
    """Submit one descriptor per entry of ``preps`` (``prep(*entry, flags)``), each depending on the one before
    (``ASYNC_TX_FENCE``), the first on ``submit.depend_tx``, the last with the client's callback and ack; the
    mappings go with the last."""
    tx: AsyncTx | None = None
    try:
        for i, args in enumerate(preps):
            last = i == len(preps) - 1
            if i == 0 and last:
                sub = submit
            elif i == 0:
                sub = AsyncSubmitCtl(submit.flags & ~ASYNC_TX_ACK, submit.depend_tx, None, None, None, table)
            else:
                flags = (submit.flags | ASYNC_TX_FENCE) if last else (submit.flags | ASYNC_TX_FENCE) & ~ASYNC_TX_ACK
                sub = AsyncSubmitCtl(AsyncTxFlags(flags), tx, submit.cb_fn if last else None,
                                     submit.cb_param if last else None, None, table)
            desc: Descriptor = prep(*args, prep_flags_of(sub))
            tx = async_tx_submit(table, chan, desc, sub, op, maps.maps if last else None)
    except BaseException:
        if tx is None:
            maps.release()
        raise
    assert tx is not None
    table.count(op, True)
    return tx


def async_memcpy(dest: Any, src: Any, submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_memcpy``: copy ``src`` into ``dest`` (same length, apart). Returns the transaction, or None
    when the CPU did it (then the callback has run)."""
    check_depend(submit)
    d = _u8("dest", dest, True)
    s = _u8("src", src, False)
    _lengths(d.nbytes, [("src", s)], "dest")
    _no_overlap([("dest", d)], [("src", s)])
    table = table_of(submit)
    chan = table.find_channel(Cap.MEMCPY, submit.depend_tx) if table is not None else None
    if table is not None and chan is not None and _aligned(chan.device.copy_align, d.nbytes):
        maps = _Maps(table)
        try:
            da, sa = maps.addr(d, True), maps.addr(s, False)
        except BaseException:
            maps.release()
            raise
        return _chain(table, chan, submit, "memcpy", maps, [(da, sa, d.nbytes)], chan.prep_dma_memcpy)
    cpu_prolog(submit, "memcpy")
    d[...] = s
    sync_epilog(submit)
    return None


def async_xor(dest: Any, srcs: Sequence[Any], submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_xor``: xor ``srcs`` into ``dest``.

    With ``ASYNC_TX_XOR_ZERO_DST``, ``dest = xor(srcs)``. Without it ``dest`` is an implied source
    (``dest ^= xor(srcs)``); with ``ASYNC_TX_XOR_DROP_DST`` it is ``srcs[0]`` and counts once. The same on a
    channel and on the CPU. More sources than the device's ``max_xor`` take several descriptors, each xoring
    into ``dest`` after the one before."""
    check_depend(submit)
    d = _u8("dest", dest, True)
    ss = [_u8(f"srcs[{i}]", s, False) for i, s in enumerate(srcs)]
    if not ss:
        raise ConfigError(f"srcs must hold at least one block, not {srcs!r}")
    flags = submit.flags
    zero, drop = bool(flags & ASYNC_TX_XOR_ZERO_DST), bool(flags & ASYNC_TX_XOR_DROP_DST)
    if zero and drop:
        raise ConfigError("ASYNC_TX_XOR_ZERO_DST with ASYNC_TX_XOR_DROP_DST would zero srcs[0] before reading it")
    _lengths(d.nbytes, [(f"srcs[{i}]", s) for i, s in enumerate(ss)], "dest")
    if drop:
        if not _same(ss[0], d):
            raise ConfigError("ASYNC_TX_XOR_DROP_DST: srcs[0] must be dest itself")
        ss[0] = d
    _no_overlap([("dest", d)], [(f"srcs[{i}]", s) for i, s in enumerate(ss) if not (drop and i == 0)])
    table = table_of(submit)
    chan = table.find_channel(Cap.XOR, submit.depend_tx) if table is not None else None
    n = d.nbytes
    if table is not None and chan is not None and _aligned(chan.device.xor_align, n):
        most = chan.device.max_xor
        order = ss if (zero or drop) else [d, *ss]
        if len(order) <= most or most >= 2:
            maps = _Maps(table)
            try:
                da = maps.addr(d, True)
                addrs = [maps.addr(s, False) if s is not d else da for s in order]
            except BaseException:
                maps.release()
                raise
            preps = [(da, addrs[:most], n)]
            rest = addrs[most:]
            while rest:
                preps.append((da, [da, *rest[: most - 1]], n))
                rest = rest[most - 1:]
            return _chain(table, chan, submit, "xor", maps, preps, chan.prep_dma_xor)
    cpu_prolog(submit, "xor")
    if zero:
        d[...] = 0
    xor_into(d, ss[1:] if drop else ss)
    sync_epilog(submit)
    return None


def async_xor_val(dest: Any, srcs: Sequence[Any], result: SumCheckResult, submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_xor_val``: check that the xor of ``srcs`` (``srcs[0]`` is ``dest``, the parity) is zero;
    ``result.flags`` is 0, or ``SUM_CHECK_P_RESULT`` when it is not, once the operation is done."""
    check_depend(submit)
    d = _u8("dest", dest, False)
    ss = [_u8(f"srcs[{i}]", s, False) for i, s in enumerate(srcs)]
    if len(ss) < 2:
        raise ConfigError(f"srcs must hold at least 2 blocks, not {len(ss)}")
    if not _same(ss[0], d):
        raise ConfigError("srcs[0] must be dest itself (the parity block checked against the others)")
    if not isinstance(result, SumCheckResult):
        raise ConfigError(f"result must be a SumCheckResult, not {result!r}")
    _lengths(d.nbytes, [(f"srcs[{i}]", s) for i, s in enumerate(ss)], "dest")
    result.flags = SumCheckFlags(0)
    table = table_of(submit)
    chan = table.find_channel(Cap.XOR_VAL, submit.depend_tx) if table is not None else None
    n = d.nbytes
    if (table is not None and chan is not None and len(ss) <= chan.device.max_xor
            and _aligned(chan.device.xor_align, n)):
        maps = _Maps(table)
        try:
            addrs = [maps.addr(s, False) for s in ss]
        except BaseException:
            maps.release()
            raise
        return _chain(table, chan, submit, "xor_val", maps, [(addrs, n, result)], chan.prep_dma_xor_val)
    cpu_prolog(submit, "xor_val")
    acc = ss[0].copy()
    xor_into(acc, ss[1:])
    result.flags = _P_RES if acc.any() else SumCheckFlags(0)
    sync_epilog(submit)
    return None


def _pq_blocks(blocks: Sequence[Any], what: str) -> tuple[list[np.ndarray | None], np.ndarray | None,
                                                         np.ndarray | None, int, dict[int, int]]:
    """The data blocks, P, Q and their length, checked; and the address of each block's first byte by
    ``id``. For "gen" P and Q are destinations: writable, apart from every data block."""
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or len(blocks) < 3:
        raise ConfigError(f"blocks must be data blocks, then P, then Q (at least 3), not {blocks!r}")
    k = len(blocks) - 2
    data: list[Any] = list(blocks[:k])
    for i, b in enumerate(data):
        if b is not None and _slow(b):
            data[i] = _u8(f"blocks[{i}]", b, False)
    gen = what == "gen"
    p = None if blocks[k] is None else _u8(f"blocks[{k}] (P)", blocks[k], gen)
    q = None if blocks[k + 1] is None else _u8(f"blocks[{k + 1}] (Q)", blocks[k + 1], gen)
    if p is None and q is None:
        raise ConfigError("P and Q are both None: nothing to do")
    if k > 255:
        raise ConfigError(f"blocks holds {k} data blocks, more than the 255 of GF(2^8)")
    ref = p if p is not None else q
    assert ref is not None
    n = ref.nbytes
    live = [b for b in data if b is not None]
    nsrc = len(live)
    if q is not None:
        live.append(q)
    for b in live:
        if b.nbytes != n:  # name it, in the order the blocks come
            _lengths(n, [(f"blocks[{i}]", b) for i, b in enumerate(data)] + [(f"blocks[{k + 1}] (Q)", q)],
                     f"blocks[{k}] (P)" if p is not None else f"blocks[{k + 1}] (Q)")
    if p is not None:
        live.append(p)
    starts = _ptrs(live)
    ptr = dict(zip(map(id, live), starts))
    p0 = -1 if p is None else ptr[id(p)]
    q0 = -1 if q is None else ptr[id(q)]
    if p is not None and q is not None and q0 - n < p0 < q0 + n:
        raise ConfigError(f"blocks[{k}] (P) overlaps blocks[{k + 1}] (Q)")
    if gen:
        for d0, dn in ((p0, f"blocks[{k}] (P)"), (q0, f"blocks[{k + 1}] (Q)")):
            if d0 < 0:
                continue
            lo, hi = d0 - n, d0 + n
            for s0 in starts[:nsrc]:
                if lo < s0 < hi:  # the first such block, by index, in the message
                    i = next(i for i, b in enumerate(data) if b is not None and lo < ptr[id(b)] < hi)
                    raise ConfigError(f"blocks[{i}] overlaps {dn} (destination and source must be apart)")
    return data, p, q, n, ptr


def _slow(b: Any) -> bool:
    """False when ``b`` is already what :func:`_u8` returns for a source (a 1-D contiguous uint8 array)."""
    return not (b.__class__ is np.ndarray and b.dtype is _U8 and b.ndim == 1 and b.flags.c_contiguous and b.nbytes)


_U8 = np.dtype(np.uint8)
#: The coefficients {02}^i of the data blocks D_0..D_254.
_GEN = bytes(EXP[:255].tolist())


def async_gen_syndrome(blocks: Sequence[Any], submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_gen_syndrome``: ``blocks`` are the data blocks ``D_0..D_{n-1}``, then P, then Q; write
    ``P = xor(D_i)`` and ``Q = sum(g^i * D_i)``. A None data block counts as zeros (and keeps its index); a
    None P or Q is not computed. ``ASYNC_TX_PQ_XOR_DST`` xors the new P and Q into the old ones."""
    check_depend(submit)
    data, p, q, n, ptr = _pq_blocks(blocks, "gen")
    srcs = [b for b in data if b is not None]
    coefs = _GEN[:len(data)] if len(srcs) == len(data) else bytes(_GEN[i] for i, b in enumerate(data) if b is not None)
    xor_dst = bool(submit.flags & ASYNC_TX_PQ_XOR_DST)
    table = table_of(submit)
    chan = table.find_channel(Cap.PQ, submit.depend_tx) if table is not None and srcs else None
    if table is not None and chan is not None and _aligned(chan.device.pq_align, n):
        dev = chan.device
        base = 0
        if p is None:
            base |= _P_DIS
        if q is None:
            base |= _Q_DIS
        first_flags = base | (_CONT if xor_dst else 0)
        first, later = dev.dma_maxpq(first_flags), dev.dma_maxpq(base | _CONT)
        if first >= 1 and (len(srcs) <= first or later >= 1):
            maps = _Maps(table)
            try:
                dsts = [d for d in (p, q) if d is not None]
                da = maps.addrs(dsts, [ptr[id(d)] for d in dsts], True)
                pa = da[0] if p is not None else 0
                qa = da[-1] if q is not None else 0
                addrs = maps.addrs(srcs, [ptr[id(b)] for b in srcs], False)
            except BaseException:
                maps.release()
                raise
            preps = [((pa, qa), addrs[:first], coefs[:first], n, first_flags)]
            i = first
            while i < len(addrs):
                preps.append(((pa, qa), addrs[i:i + later], coefs[i:i + later], n, base | _CONT))
                i += later

            def prep(dst: tuple[int, int], a: list[int], c: bytes, length: int, f: int,
                     fl: PrepFlags) -> Descriptor:
                return chan.prep_dma_pq(dst, a, c, length, f | int(fl))

            return _chain(table, chan, submit, "pq", maps, preps, prep)
    cpu_prolog(submit, "pq")
    if srcs:
        pq(srcs, coefs, p, q, accumulate=xor_dst)
    elif not xor_dst:
        for x in (p, q):
            if x is not None:
                x[...] = 0
    sync_epilog(submit)
    return None


def async_syndrome_val(blocks: Sequence[Any], result: SumCheckResult, spare: Any, submit: AsyncSubmitCtl
                       ) -> AsyncTx | None:
    """``async_syndrome_val``: check P and Q (the last two of ``blocks``; a None one is not checked) against
    the data blocks; ``result.flags`` holds ``SUM_CHECK_P_RESULT`` / ``SUM_CHECK_Q_RESULT`` for the wrong ones
    once the operation is done. ``spare`` (a block, or None) is scratch for the CPU path, as in the kernel."""
    check_depend(submit)
    data, p, q, n, _ptr = _pq_blocks(blocks, "val")
    if not isinstance(result, SumCheckResult):
        raise ConfigError(f"result must be a SumCheckResult, not {result!r}")
    result.flags = SumCheckFlags(0)
    srcs = [b for b in data if b is not None]
    coefs = bytes(int(EXP[i]) for i, b in enumerate(data) if b is not None)
    table = table_of(submit)
    chan = table.find_channel(Cap.PQ_VAL, submit.depend_tx) if table is not None and srcs else None
    if (table is not None and chan is not None and len(srcs) <= chan.device.max_pq
            and _aligned(chan.device.pq_align, n)):
        flags = PrepFlags(0)
        if p is None:
            flags |= PrepFlags.PREP_PQ_DISABLE_P
        if q is None:
            flags |= PrepFlags.PREP_PQ_DISABLE_Q
        maps = _Maps(table)
        try:
            pa = maps.addr(p, False) if p is not None else 0
            qa = maps.addr(q, False) if q is not None else 0
            addrs = [maps.addr(s, False) for s in srcs]
        except BaseException:
            maps.release()
            raise

        def prep(pair: tuple[int, int], a: list[int], c: bytes, length: int, res: SumCheckResult,
                 f: PrepFlags) -> Descriptor:
            return chan.prep_dma_pq_val(pair, a, c, length, res, f | flags)

        return _chain(table, chan, submit, "pq_val", maps, [((pa, qa), addrs, coefs, n, result)], prep)
    cpu_prolog(submit, "pq_val")
    found = SumCheckFlags(0)
    pp = None if p is None else np.empty(n, np.uint8)
    qq = None if q is None else np.empty(n, np.uint8)
    if srcs:
        pq(srcs, coefs, pp, qq)
    else:
        for x in (pp, qq):
            if x is not None:
                x[...] = 0
    if pp is not None and p is not None and not np.array_equal(pp, p):
        found |= _P_RES
    if qq is not None and q is not None and not np.array_equal(qq, q):
        found |= _Q_RES
    result.flags = found
    sync_epilog(submit)
    return None


def async_sum_product(dest: Any, srcs: Sequence[Any], coefs: bytes | Sequence[int], submit: AsyncSubmitCtl
                      ) -> AsyncTx | None:
    """``async_sum_product`` (async_raid6_recov.c): ``dest = coefs[0] * srcs[0] + coefs[1] * srcs[1]`` in
    GF(2^8), on a PQ channel with P disabled, or on the CPU. ``dest`` may be one of the sources."""
    return _products("sum_product", dest, srcs, coefs, submit)


def async_mult(dest: Any, src: Any, coef: int, submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_mult`` (async_raid6_recov.c): ``dest = coef * src`` in GF(2^8); ``dest`` may be ``src``."""
    return _products("mult", dest, [src], [coef], submit)


def _products(op: str, dest: Any, srcs: Sequence[Any], coefs: bytes | Sequence[int], submit: AsyncSubmitCtl
              ) -> AsyncTx | None:
    check_depend(submit)
    d = _u8("dest", dest, True)
    ss = [_u8(f"srcs[{i}]", s, False) for i, s in enumerate(srcs)]
    try:
        cf = bytes(coefs)
    except (TypeError, ValueError):
        raise ConfigError(f"coefs must be bytes 0..255, not {coefs!r}") from None
    if len(cf) != len(ss):
        raise ConfigError(f"coefs must be {len(ss)} bytes (one per source), not {coefs!r}")
    _lengths(d.nbytes, [(f"srcs[{i}]", s) for i, s in enumerate(ss)], "dest")
    ss = [d if _same(s, d) else s for s in ss]
    _no_overlap([("dest", d)], [(f"srcs[{i}]", s) for i, s in enumerate(ss) if s is not d])
    n = d.nbytes
    table = table_of(submit)
    chan = table.find_channel(Cap.PQ, submit.depend_tx) if table is not None else None
    if table is not None and chan is not None and _aligned(chan.device.pq_align, n) and chan.device.max_pq >= len(ss):
        maps = _Maps(table)
        try:
            da = maps.addr(d, True)
            addrs = [da if s is d else maps.addr(s, False) for s in ss]
        except BaseException:
            maps.release()
            raise

        def prep(a: list[int], c: bytes, length: int, f: PrepFlags) -> Descriptor:
            return chan.prep_dma_pq((da, da), a, c, length, f | PrepFlags.PREP_PQ_DISABLE_P)

        return _chain(table, chan, submit, op, maps, [(addrs, cf, n)], prep)
    cpu_prolog(submit, op)
    acc = np.take(MUL[cf[0]], ss[0])
    for s, c in zip(ss[1:], cf[1:]):
        np.bitwise_xor(acc, np.take(MUL[c], s), out=acc)
    d[...] = acc
    sync_epilog(submit)
    return None
