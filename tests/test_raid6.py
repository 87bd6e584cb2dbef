"""RAID-6 arithmetic against an independent, straightforward implementation (one byte at a time, shift and
reduce, as lib/raid6's reference code reads), known vectors, and every recovery case."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import _raid6 as raid6_mod
from dmaengine import raid6
from dmaengine._native import core


def slow_mul(a: int, b: int) -> int:
    """GF(2^8) product with the polynomial 0x11d, bit by bit."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
        b >>= 1
    return r


def slow_pq(data: list[bytes]) -> tuple[bytes, bytes]:
    """P and Q of the data blocks, byte by byte: P = xor D_i, Q = sum g^i D_i with g = 2."""
    n = len(data[0])
    p, q = bytearray(n), bytearray(n)
    for i, block in enumerate(data):
        g = 1
        for _ in range(i):
            g = slow_mul(g, 2)
        for j in range(n):
            p[j] ^= block[j]
            q[j] ^= slow_mul(g, block[j])
    return bytes(p), bytes(q)


def test_tables_match_the_slow_product() -> None:
    for a in range(256):
        for b in (0, 1, 2, 3, 0x1D, 0x80, 0x8E, 0xFF, a):
            assert raid6.gf_mul(a, b) == slow_mul(a, b)
    assert all(slow_mul(a, int(raid6.INV[a])) == 1 for a in range(1, 256))
    assert [int(x) for x in raid6.EXP[:10]] == [1, 2, 4, 8, 16, 32, 64, 128, 29, 58]
    assert raid6.POLY == 0x11D


def test_known_vector() -> None:
    """Three blocks of four bytes, P and Q worked out by hand: Q = D0 + 2*D1 + 4*D2."""
    data = [np.array(d, np.uint8) for d in ([1, 0, 0x80, 0xFF], [1, 1, 0x80, 0xFF], [0, 1, 0x40, 0xFF])]
    p, q = np.zeros(4, np.uint8), np.zeros(4, np.uint8)
    raid6.gen_syndrome(data, p, q)
    assert p.tolist() == [0, 0, 0x40, 0xFF]
    # byte 0: 1 ^ 2*1 = 3; byte 1: 2 ^ 4 = 6; byte 2: 0x80 ^ 2*0x80 ^ 4*0x40 = 0x80 ^ 0x1d ^ 0x1d = 0x80;
    # byte 3: 0xff ^ 2*0xff ^ 4*0xff
    assert q.tolist() == [3, 6, 0x80, 0xFF ^ slow_mul(2, 0xFF) ^ slow_mul(4, 0xFF)]


@pytest.mark.parametrize(("ndata", "length"), [(1, 8), (4, 64), (8, 4096), (20, 1000), (3, 7)])
def test_gen_syndrome_matches_the_slow_one(ndata: int, length: int) -> None:
    rng = np.random.default_rng(ndata * 1000 + length)
    data = [rng.integers(0, 256, length, dtype=np.uint8) for _ in range(ndata)]
    p, q = np.zeros(length, np.uint8), np.zeros(length, np.uint8)
    raid6.gen_syndrome(data, p, q)
    sp, sq = slow_pq([bytes(d) for d in data])
    assert bytes(p) == sp and bytes(q) == sq


def test_none_blocks_count_as_zeros_and_keep_their_index() -> None:
    rng = np.random.default_rng(3)
    data = [rng.integers(0, 256, 64, dtype=np.uint8) for _ in range(5)]
    p, q = np.zeros(64, np.uint8), np.zeros(64, np.uint8)
    raid6.gen_syndrome([data[0], None, data[2], None, data[4]], p, q)
    zero = bytes(64)
    sp, sq = slow_pq([bytes(data[0]), zero, bytes(data[2]), zero, bytes(data[4])])
    assert bytes(p) == sp and bytes(q) == sq


def test_pq_with_any_coefficients_and_continue() -> None:
    rng = np.random.default_rng(4)
    srcs = [rng.integers(0, 256, 40, dtype=np.uint8) for _ in range(3)]
    coefs = [0x8E, 0, 0xC3]  # high exponents and a zero: the table path
    p, q = np.zeros(40, np.uint8), np.zeros(40, np.uint8)
    raid6.pq(srcs, coefs, p, q)
    want_q = [slow_mul(0x8E, a) ^ slow_mul(0xC3, c) for a, c in zip(srcs[0].tolist(), srcs[2].tolist())]
    assert q.tolist() == want_q
    assert (p == srcs[0] ^ srcs[1] ^ srcs[2]).all()
    raid6.pq(srcs, coefs, p, q, accumulate=True)  # adding the same again cancels
    assert not p.any() and not q.any()


def _array(ndata: int, length: int, seed: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = [rng.integers(0, 256, length, dtype=np.uint8) for _ in range(ndata)]
    p, q = np.zeros(length, np.uint8), np.zeros(length, np.uint8)
    raid6.gen_syndrome(data, p, q)
    return data, p, q


@settings(max_examples=10, deadline=None)
@given(ndata=st.integers(2, 10), length=st.sampled_from([8, 24, 256, 1000]), seed=st.integers(0, 2**32 - 1))
def test_every_pair_of_failed_data_blocks_recovers(ndata: int, length: int, seed: int) -> None:
    data, p, q = _array(ndata, length, seed)
    for a, b in itertools.combinations(range(ndata), 2):
        work = [d.copy() for d in data]
        work[a][:] = 0x55
        work[b][:] = 0xAA
        raid6.two_data_recov(work, p, q, a, b)
        assert all((w == d).all() for w, d in zip(work, data)), (a, b)


@settings(max_examples=10, deadline=None)
@given(ndata=st.integers(1, 10), length=st.sampled_from([8, 100, 4096]), seed=st.integers(0, 2**32 - 1))
def test_a_data_block_and_p_recover(ndata: int, length: int, seed: int) -> None:
    data, p, q = _array(ndata, length, seed)
    for a in range(ndata):
        work = [d.copy() for d in data]
        work[a][:] = 0
        p2 = np.full_like(p, 0x33)
        raid6.datap_recov(work, p2, q, a)
        assert (p2 == p).all() and all((w == d).all() for w, d in zip(work, data)), a


def test_recovery_refuses_bad_indexes() -> None:
    data, p, q = _array(3, 8, 1)
    with pytest.raises(ValueError, match=r"^need 0 <= faila < failb < 3, not \(2, 1\)$"):
        raid6.two_data_recov(data, p, q, 2, 1)
    with pytest.raises(ValueError, match=r"^need 0 <= faila < 3, not 3$"):
        raid6.datap_recov(data, p, q, 3)


@pytest.mark.skipif(core is None, reason="the compiled core is not built (or DMAENGINE_PURE_PYTHON)")
@pytest.mark.parametrize("length", [1, 15, 16, 63, 64, 65, 127, 4096 + 37])
def test_the_compiled_batch_matches_the_pure_python_pq(length: int) -> None:
    """raid6_pq_many (the memory engine's runs of small xor / pq work) against the pure-Python pq: vector and
    tail bytes, Horner and table coefficients, a destination that is a source, accumulate, and job order (the
    second job reads what the first wrote)."""
    rng = np.random.default_rng(length)
    srcs = [rng.integers(0, 256, length, dtype=np.uint8) for _ in range(5)]
    p1, q1, p2, q2 = (rng.integers(0, 256, length, dtype=np.uint8) for _ in range(4))
    jobs = [
        (srcs, bytes(raid6.EXP[:5].tolist()), p1, q1, False),
        ([srcs[0], p1, srcs[2]], bytes([0x8E, 0, 0xC3]), p2, q2, True),
        ([p2, srcs[1]], bytes(2), p2, None, False),  # an xor into one of its sources
    ]
    want = [x.copy() for x in (p1, q1, p2, q2)]
    wp1, wq1, wp2, wq2 = want
    raid6_py_pq(srcs, bytes(raid6.EXP[:5].tolist()), wp1, wq1, False)
    raid6_py_pq([srcs[0], wp1, srcs[2]], bytes([0x8E, 0, 0xC3]), wp2, wq2, True)
    raid6_py_pq([wp2.copy(), srcs[1]], bytes(2), wp2, None, False)
    core.raid6_pq_many(jobs)
    for got, w in zip((p1, q1, p2, q2), want):
        assert got.tobytes() == w.tobytes()


def raid6_py_pq(srcs: list[np.ndarray], coefs: bytes, p: np.ndarray | None, q: np.ndarray | None,
                acc: bool) -> None:
    """The pure-Python pq (the specification), whatever the import chose."""
    saved = raid6_mod.core
    raid6_mod.core = None
    try:
        raid6.pq(srcs, coefs, p, q, accumulate=acc)
    finally:
        raid6_mod.core = saved
