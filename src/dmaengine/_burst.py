"""Argument checks for bursts (``Channel.prep_dma_memcpy_burst``) and the scatterlist fast path, vectorised.

A burst is many small copies in one descriptor, in the manner of DPDK's ``rte_dma_copy`` ... ``rte_dma_submit``
with ``rte_dma_completed_status``: one prep, one cookie, one callback, a status per op. The addresses and lengths
arrive as numpy integer arrays or as sequences of ints and leave as int64 arrays, checked all at once, each
error naming the first bad value and its index.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from . import _native
from ._errors import ConfigError
from ._records import SgEntry

__all__ = ["MAX_ADDR", "SG_FAST_SEGMENT", "burst_arrays", "sg_pieces"]

#: Addresses and lengths of a burst must stay below this (so that address + length fits an int64).
MAX_ADDR = 1 << 62
_get_addr = attrgetter("addr")
_get_length = attrgetter("length")
_LISTS = (list, tuple)
# The member descriptors of SgEntry's slots, which the compiled core reads.
_ADDR_SLOT: Any = SgEntry.__dict__["addr"]
_LENGTH_SLOT: Any = SgEntry.__dict__["length"]
#: prep_dma_memcpy_sg takes the burst path when every piece of the pairing is at most this many bytes.
SG_FAST_SEGMENT = 16 * 1024


def _int_array(name: str, values: Any, what: str) -> np.ndarray:
    """``values`` as a 1-D int64 array, or ConfigError naming the first bad value."""
    if isinstance(values, np.ndarray):
        arr = values
        if arr.ndim != 1:
            raise ConfigError(f"{name} must be 1-D, not an array of shape {arr.shape!r}")
        if arr.dtype.kind not in "iu":
            bad = arr[0].item() if arr.size else None
            raise ConfigError(f"{name} must hold ints, not {arr.dtype} values such as {bad!r}")
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ConfigError(f"{name} must be a sequence or numpy array of ints, not {values!r}")
        seq = values if isinstance(values, (list, tuple)) else list(values)
        types = {*map(type, seq)}
        if not types <= {int}:
            for i, v in enumerate(seq):
                if v.__class__ is not int and (isinstance(v, bool) or not hasattr(v, "__index__")):
                    raise ConfigError(f"{name}[{i}] must be {what}, not {v!r}")
            seq = [v.__index__() for v in seq]
        try:
            arr = np.array(seq, dtype=np.int64)
        except OverflowError:
            bad = next(v for v in seq if not -MAX_ADDR <= v < MAX_ADDR)
            raise ConfigError(f"{name} value {bad!r} is out of range (0..2**62-1)") from None
    if arr.dtype != np.int64:
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= MAX_ADDR:
            raise ConfigError(f"{name} value {int(arr.max())!r} is out of range (0..2**62-1)")
        arr = arr.astype(np.int64)
    return np.ascontiguousarray(arr)


def _first_bad(name: str, arr: np.ndarray, bad: np.ndarray, what: str) -> ConfigError:
    i = int(np.argmax(bad))
    return ConfigError(f"{name}[{i}] must be {what}, not {int(arr[i])!r}")


def burst_arrays(dst: Any, src: Any, length: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the arguments of ``prep_dma_memcpy_burst`` and return them as three int64 arrays of one length.

    >>> d, s, n = burst_arrays([4096, 8192], (0, 64), 64)
    >>> d.tolist(), s.tolist(), n.tolist()
    ([4096, 8192], [0, 64], [64, 64])
    """
    addr = "a DMA address (int >= 0)"
    d = _int_array("dst", dst, addr)
    s = _int_array("src", src, addr)
    if len(d) != len(s):
        raise ConfigError(f"dst holds {len(d)} addresses but src holds {len(s)}")
    if not len(d):
        raise ConfigError("a burst must hold at least one op, not 0")
    scalar = not isinstance(length, (bool, np.ndarray, Sequence)) and hasattr(length, "__index__")
    if length.__class__ is int or scalar:
        n0 = length.__index__()
        if not 0 < n0 < MAX_ADDR:
            raise ConfigError(f"length must be a positive int, not {length!r}")
        n = np.full(len(d), n0, dtype=np.int64)
    else:
        if isinstance(length, bool):
            raise ConfigError(f"length must be a positive int, not {length!r}")
        n = _int_array("length", length, "a positive int")
        if len(n) != len(d):
            raise ConfigError(f"length holds {len(n)} values but dst holds {len(d)}")
        if n.min() <= 0 or n.max() >= MAX_ADDR:
            raise _first_bad("length", n, (n <= 0) | (n >= MAX_ADDR), "a positive int")
    for name, a in (("dst", d), ("src", s)):
        if a.min() < 0 or a.max() >= MAX_ADDR:  # two reductions; the mask only to name the bad value
            raise _first_bad(name, a, (a < 0) | (a >= MAX_ADDR), addr)
    return d, s, n


def sg_pieces(dst_sgl: Sequence[SgEntry],
              src_sgl: Sequence[SgEntry]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The pairing of two scatterlists (``pair_sg``) as ``(dst, src, lengths)`` int64 arrays, computed at once,
    when every entry holds plain ints in range and the two totals agree and every piece is at most
    :data:`SG_FAST_SEGMENT` bytes; None otherwise (the caller then takes the checked, general path, whose
    errors name the bad value).

    >>> d, s, n = sg_pieces([SgEntry(100, 3), SgEntry(200, 2)], [SgEntry(0, 1), SgEntry(10, 4)])
    >>> d.tolist(), s.tolist(), n.tolist()
    ([100, 101, 200], [0, 10, 12], [1, 2, 2])

    With the compiled core, lists and tuples are read and paired in one C loop (``_cnative.sg_pieces``) with the
    same answers; this function is its specification.
    """
    core = _native.core
    if core is not None and dst_sgl.__class__ in _LISTS and src_sgl.__class__ in _LISTS:
        size = len(dst_sgl) + len(src_sgl)
        out = np.empty((3, size), dtype=np.int64)
        k = core.sg_pieces(dst_sgl, src_sgl, _ADDR_SLOT, _LENGTH_SLOT, out, SG_FAST_SEGMENT, MAX_ADDR)
        if k < 0:
            return None
        return (out[0], out[1], out[2]) if k == size else (out[0, :k], out[1, :k], out[2, :k])
    if not (isinstance(dst_sgl, Sequence) and isinstance(src_sgl, Sequence) and len(dst_sgl) and len(src_sgl)
            and {*map(type, dst_sgl), *map(type, src_sgl)} == {SgEntry}):
        return None  # not two lists of SgEntry: the general path checks and names what is wrong
    da = list(map(_get_addr, dst_sgl))  # SgEntry checked its fields: ints, addr >= 0, length >= 1
    dl = list(map(_get_length, dst_sgl))
    sa = list(map(_get_addr, src_sgl))
    sl = list(map(_get_length, src_sgl))
    if len(da) == len(sa) and dl == sl:  # the common case: entries pair one to one; one array, two reductions
        try:
            table = np.array((da, sa, dl))
        except OverflowError:
            return None
        if table.dtype != np.int64:  # a field that is not an int after all
            return None
        lo, hi = table.min(axis=1).tolist(), table.max(axis=1).tolist()
        if lo[0] < 0 or lo[1] < 0 or lo[2] <= 0 or hi[2] > SG_FAST_SEGMENT or max(hi[0], hi[1]) >= MAX_ADDR:
            return None
        return table[0], table[1], table[2]
    if not {*map(type, da), *map(type, dl), *map(type, sa), *map(type, sl)} <= {int}:
        return None
    try:
        d_addr = np.array(da, dtype=np.int64)
        d_len = np.array(dl, dtype=np.int64)
        s_addr = np.array(sa, dtype=np.int64)
        s_len = np.array(sl, dtype=np.int64)
    except OverflowError:
        return None
    if (d_addr < 0).any() or (s_addr < 0).any() or (d_len <= 0).any() or (s_len <= 0).any():
        return None
    d_end = np.cumsum(d_len)
    s_end = np.cumsum(s_len)
    if d_end[-1] != s_end[-1]:
        return None
    ends = np.union1d(d_end, s_end)
    starts = np.concatenate(([0], ends[:-1]))
    lengths = ends - starts
    if int(lengths.max()) > SG_FAST_SEGMENT:
        return None
    di = np.searchsorted(d_end, starts, "right")
    si = np.searchsorted(s_end, starts, "right")
    dst = d_addr[di] + (starts - (d_end[di] - d_len[di]))
    src = s_addr[si] + (starts - (s_end[si] - s_len[si]))
    if dst.max() >= MAX_ADDR or src.max() >= MAX_ADDR:
        return None
    return dst, src, lengths
