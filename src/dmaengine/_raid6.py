"""RAID-6 arithmetic exactly as Linux md lays P and Q on disk (lib/raid6): GF(2^8) with the polynomial
0x11d and the generator {02}.

P is the xor of the data blocks; Q is the sum of ``g^i * D_i`` over the data blocks ``D_0..D_{n-1}``. Everything
here is vectorised with numpy: multiplication by {02} works on 64-bit words (eight bytes at once, as lib/raid6's
int64 code does), multiplication by any other constant is a lookup in a 256-byte row of :data:`MUL`. No loop per
byte.

>>> d = [np.array([1, 2], np.uint8), np.array([3, 4], np.uint8)]
>>> p, q = np.zeros(2, np.uint8), np.zeros(2, np.uint8)
>>> gen_syndrome(d, p, q)
>>> p.tolist(), q.tolist()
([2, 6], [7, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._native import core

__all__ = [
    "EXP",
    "INV",
    "LOG",
    "MUL",
    "POLY",
    "datap_recov",
    "gen_syndrome",
    "gf_mul",
    "mul_into",
    "pq",
    "two_data_recov",
    "xor_into",
    "xor_to",
]

#: The field polynomial x^8 + x^4 + x^3 + x^2 + 1.
POLY = 0x11D


def _tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(512, dtype=np.uint8)
    log = np.zeros(256, dtype=np.int32)
    x = 1
    for i in range(255):  # 255 steps, once, at import: the tables themselves
        exp[i] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= POLY
    exp[255:510] = exp[0:255]
    return exp, log


#: ``EXP[i] = g^i`` for i in 0..509 (doubled so that ``EXP[LOG[a] + LOG[b]]`` needs no modulo).
#: ``LOG[a]`` for a in 1..255 (``LOG[0]`` is meaningless).
EXP, LOG = _tables()


def _mul_table() -> np.ndarray:
    a = np.arange(256)
    la = LOG[a][:, None] + LOG[a][None, :]
    table = EXP[la].astype(np.uint8)
    table[0, :] = 0
    table[:, 0] = 0
    return table


#: ``MUL[a, b] = a * b`` in GF(2^8): row ``MUL[c]`` multiplies a block by ``c`` with one lookup per byte.
MUL = _mul_table()
#: ``INV[a]`` the multiplicative inverse of a (``INV[0] = 0``).
INV = np.zeros(256, dtype=np.uint8)
INV[1:] = EXP[(255 - LOG[np.arange(1, 256)]) % 255]



def gf_mul(a: int, b: int) -> int:
    """``a * b`` in GF(2^8) for two byte values.

    >>> gf_mul(2, 0x80), gf_mul(3, 7)
    (29, 9)
    """
    return int(MUL[a, b])


def _mul2(q: np.ndarray, tmp: np.ndarray) -> None:
    """``q *= {02}`` in place (numpy's uint8 loops are SIMD: 32 bytes an instruction); ``tmp`` is scratch."""
    np.right_shift(q, 7, out=tmp)
    np.multiply(tmp, 0x1D, out=tmp)
    np.left_shift(q, 1, out=q)
    np.bitwise_xor(q, tmp, out=q)


def _shares(a: np.ndarray, srcs: Sequence[np.ndarray]) -> bool:
    return any(np.may_share_memory(a, s) for s in srcs)


def xor_into(dst: np.ndarray, srcs: Sequence[np.ndarray]) -> None:
    """``dst ^= src`` for every source (uint8 arrays of one length)."""
    if core is not None and len(srcs) > 1:
        core.raid6_xor(dst, [dst, *srcs])
        return
    for s in srcs:
        np.bitwise_xor(dst, s, out=dst)


def xor_to(dst: np.ndarray, srcs: Sequence[np.ndarray]) -> None:
    """``dst = xor(srcs)``; ``dst`` may be one of the sources (it is read before it is written)."""
    if core is not None:
        core.raid6_xor(dst, list(srcs))
    elif _shares(dst, srcs):
        acc = srcs[0].copy()
        xor_into(acc, srcs[1:])
        dst[...] = acc
    else:
        dst[...] = srcs[0]
        xor_into(dst, srcs[1:])


def mul_into(dst: np.ndarray, src: np.ndarray, coef: int, *, accumulate: bool = False) -> None:
    """``dst = coef * src`` (or ``dst ^= coef * src`` with ``accumulate``) in GF(2^8)."""
    if accumulate:
        np.bitwise_xor(dst, np.take(MUL[coef], src), out=dst)
    else:
        np.take(MUL[coef], src, out=dst)


def pq(srcs: Sequence[np.ndarray], coefs: Sequence[int], p: np.ndarray | None, q: np.ndarray | None,
       *, accumulate: bool = False) -> None:
    """``p = xor(srcs)`` and ``q = sum(coefs[i] * srcs[i])``; either may be None (not computed). With
    ``accumulate`` the old contents of ``p`` and ``q`` are implied sources (``PREP_CONTINUE``).

    A source may be the very array ``p`` or ``q`` is (it is read before it is written). Q goes by Horner's rule
    over the exponents of the coefficients (``q = q*{02} ^ sources with that exponent``, from the highest
    exponent down), the way lib/raid6 computes it, when that costs fewer passes than a table lookup per source.
    The compiled core, when there is one, does the same tile by tile without the GIL.
    """
    if core is not None and srcs and (p is not None or q is not None):
        core.raid6_pq(list(srcs), bytes(coefs), p, q, accumulate)
        return
    if q is not None:
        terms = [(int(LOG[c]), s) for s, c in zip(srcs, coefs) if c]
        aliased = accumulate or _shares(q, srcs)
        acc = np.empty_like(q) if aliased else q
        top = max((e for e, _ in terms), default=-1)
        if top < 0:
            acc[...] = 0
        elif top <= 2 * len(terms) + 8:
            by_exp: dict[int, list[np.ndarray]] = {}
            for e, s in terms:
                by_exp.setdefault(e, []).append(s)
            tmp = np.empty_like(q)
            first = by_exp.get(top, [])
            acc[...] = first[0]
            xor_into(acc, first[1:])
            for e in range(top - 1, -1, -1):
                _mul2(acc, tmp)
                xor_into(acc, by_exp.get(e, ()))
        else:
            acc[...] = 0
            for e, s in terms:
                mul_into(acc, s, int(EXP[e]), accumulate=True)
        if p is not None:
            _p(srcs, p, accumulate)
        if acc is not q:
            if accumulate:
                np.bitwise_xor(acc, q, out=acc)
            q[...] = acc
    elif p is not None:
        _p(srcs, p, accumulate)


def _p(srcs: Sequence[np.ndarray], p: np.ndarray, accumulate: bool) -> None:
    if accumulate:
        if _shares(p, srcs):
            _p_via(srcs, p, True)
        else:
            xor_into(p, srcs)
    elif not srcs:
        p[...] = 0
    elif _shares(p, srcs):
        _p_via(srcs, p, False)
    else:
        p[...] = srcs[0]
        xor_into(p, srcs[1:])


def _p_via(srcs: Sequence[np.ndarray], p: np.ndarray, accumulate: bool) -> None:
    acc = p.copy() if accumulate else np.zeros_like(p)
    xor_into(acc, srcs)
    p[...] = acc


def gen_syndrome(data: Sequence[np.ndarray | None], p: np.ndarray | None, q: np.ndarray | None) -> None:
    """md's ``gen_syndrome``: P and Q of the data blocks ``D_0..D_{n-1}`` (a None block counts as zeros and
    keeps its index, as async_gen_syndrome's NULL blocks do)."""
    srcs = [d for d in data if d is not None]
    coefs = [int(EXP[i]) for i, d in enumerate(data) if d is not None]
    if not srcs:
        for x in (p, q):
            if x is not None:
                x[...] = 0
        return
    pq(srcs, coefs, p, q)


def two_data_recov(data: list[np.ndarray], p: np.ndarray, q: np.ndarray, faila: int, failb: int) -> None:
    """Rebuild data blocks ``faila < failb`` in place from the others and P, Q (lib/raid6/recov.c)."""
    if not 0 <= faila < failb < len(data):
        raise ValueError(f"need 0 <= faila < failb < {len(data)}, not ({faila!r}, {failb!r})")
    dp, dq = data[faila], data[failb]
    rest: list[np.ndarray | None] = [None if i in (faila, failb) else d for i, d in enumerate(data)]
    gen_syndrome(rest, dp, dq)  # Pxy, Qxy: the syndrome with the missing blocks zero
    xor_into(dp, [p])  # P + Pxy
    xor_into(dq, [q])  # Q + Qxy
    coef_p = int(INV[EXP[failb - faila] ^ 1])  # raid6_gfexi[failb - faila]: 1 / (g^(y-x) + 1)
    coef_q = int(INV[EXP[faila] ^ EXP[failb]])  # raid6_gfinv[g^x + g^y]
    db = np.take(MUL[coef_p], dp)
    np.bitwise_xor(db, np.take(MUL[coef_q], dq), out=db)  # Dy = A * (P + Pxy) + B * (Q + Qxy)
    np.bitwise_xor(dp, db, out=dp)  # Dx = (P + Pxy) + Dy
    dq[...] = db


def datap_recov(data: list[np.ndarray], p: np.ndarray, q: np.ndarray, faila: int) -> None:
    """Rebuild data block ``faila`` and P in place from the other data blocks and Q (lib/raid6/recov.c)."""
    if not 0 <= faila < len(data):
        raise ValueError(f"need 0 <= faila < {len(data)}, not {faila!r}")
    dq = data[faila]
    rest: list[np.ndarray | None] = [None if i == faila else d for i, d in enumerate(data)]
    gen_syndrome(rest, p, dq)  # P without Dx, Qx
    xor_into(dq, [q])  # Q + Qx = g^x * Dx
    np.take(MUL[int(INV[EXP[faila]])], dq, out=dq)
    xor_into(p, [dq])
