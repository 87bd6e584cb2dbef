"""XOR and RAID-6 P+Q work for the memory engine (:mod:`dmaengine.drivers.memcpy`).

The engine's worker calls :func:`run_raid` for a :class:`RaidDescriptor`. The work goes in steps of
:data:`STEP` bytes, so that pause and terminate stop it between steps and a resumed descriptor continues where it
stopped (``vd.done``). Each step pins every source and destination through the address space first, so a bad
address ends the descriptor with READ_FAILED or WRITE_FAILED before any byte of that step is written, as for a
copy; numpy does the arithmetic with the GIL released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dmaengine import Mapping, PrepFlags, Result, SumCheckFlags, SumCheckResult
from dmaengine._native import core
from dmaengine.provider import AddressSpace, DmaFault
from dmaengine.raid6 import pq, xor_into, xor_to
from dmaengine.virt import VirtChannel, VirtDescriptor

__all__ = ["RUN_BYTES", "STEP", "RaidDescriptor", "pq_dsts", "run_raid", "run_small"]

#: Bytes of each source done between two checks for pause and terminate.
STEP = 1024 * 1024
#: Most source bytes of one run of small xor / pq descriptors (:func:`run_small`), done with one release of the
#: GIL: about 4 ms of work, what pause and terminate may wait for.
RUN_BYTES = 16 * 1024 * 1024

XOR, XOR_VAL, PQ, PQ_VAL = "xor", "xor_val", "pq", "pq_val"

_P = SumCheckFlags.SUM_CHECK_P_RESULT
_Q = SumCheckFlags.SUM_CHECK_Q_RESULT
_NONE = SumCheckFlags(0)
_CONT = int(PrepFlags.PREP_CONTINUE)
_P_DIS = int(PrepFlags.PREP_PQ_DISABLE_P)
_Q_DIS = int(PrepFlags.PREP_PQ_DISABLE_Q)


class RaidDescriptor(VirtDescriptor):
    """One xor / xor_val / pq / pq_val operation: ``op``, the destinations ``dsts`` (P and Q for pq, None where
    disabled), the sources, the coefficients, and the result holder of a validate. It has the fields the
    engine's worker reads on each of its descriptors (``src`` None: not a small copy; ``done``: bytes done)."""

    __slots__ = ("coefs", "done", "dst", "dsts", "found", "op", "segs", "src", "srcs", "sum_result", "value")

    def __init__(self, chan: VirtChannel, op: str, dsts: tuple[int | None, ...], srcs: list[int], coefs: bytes,
                 length: int, flags: PrepFlags, sum_result: SumCheckResult | None = None) -> None:
        VirtDescriptor.__init__(self, chan, length, flags)
        self.segs = ()
        self.src = None
        self.dst = 0
        self.value = 0
        self.done = 0
        self.op = op
        self.dsts = dsts
        self.srcs = srcs
        self.coefs = coefs
        self.sum_result = sum_result
        self.found = _NONE


def pq_dsts(pq: tuple[int, int], flags: PrepFlags) -> tuple[int | None, int | None]:
    """The P and Q addresses of a pq descriptor, None for a disabled one."""
    f = int(flags)
    return (None if f & _P_DIS else pq[0], None if f & _Q_DIS else pq[1])


def run_raid(vd: RaidDescriptor, space: AddressSpace, stopped: Callable[[], bool]) -> Result | None:
    """Do ``vd`` from ``vd.done`` on; None when ``stopped()`` held between two steps (pause or terminate)."""
    length = vd.length
    cont = bool(vd.flags & PrepFlags.PREP_CONTINUE)
    while vd.done < length:
        if vd.done and stopped():
            return None
        off = vd.done
        n = min(STEP, length - off)
        pins: list[Mapping] = []
        try:
            srcs = []
            for a in vd.srcs:
                m, view = space.pin(a + off, n, False)
                pins.append(m)
                srcs.append(view)
            dsts: list[np.ndarray | None] = []
            for d in vd.dsts:
                if d is None:
                    dsts.append(None)
                    continue
                a = d
                if vd.op in (XOR_VAL, PQ_VAL) or cont:  # read as well
                    m, view = space.pin(a + off, n, False)
                    pins.append(m)
                if vd.op in (XOR_VAL, PQ_VAL):
                    dsts.append(view)
                    continue
                m, view = space.pin(a + off, n, True)
                pins.append(m)
                dsts.append(view)
        except DmaFault as f:
            return Result.WRITE_FAILED if f.write else Result.READ_FAILED
        else:
            _step(vd, srcs, dsts, cont)
        finally:
            for m in pins:
                space.unpin(m)
        vd.done += n
    if vd.sum_result is not None:
        vd.sum_result.flags = vd.found
    return Result.NOERROR


def _step(vd: RaidDescriptor, srcs: list[np.ndarray], dsts: list[np.ndarray | None], cont: bool) -> None:
    op = vd.op
    if op == XOR:
        dst = dsts[0]
        assert dst is not None
        xor_to(dst, srcs)  # the destination may be a source: read before written
    elif op == XOR_VAL:
        acc = srcs[0].copy()
        xor_into(acc, srcs[1:])
        if acc.any():
            vd.found |= _P
    elif op == PQ:
        pq(srcs, vd.coefs, dsts[0], dsts[1], accumulate=cont)
    else:  # PQ_VAL
        p_old, q_old = dsts
        p = None if p_old is None else np.empty_like(p_old)
        q = None if q_old is None else np.empty_like(q_old)
        pq(srcs, vd.coefs, p, q)
        if p is not None and p_old is not None and not np.array_equal(p, p_old):
            vd.found |= _P
        if q is not None and q_old is not None and not np.array_equal(q, q_old):
            vd.found |= _Q


def _small(vd: Any) -> bool:
    """True for an xor or pq descriptor of at most one :data:`STEP`, not started: :func:`run_small` takes it."""
    return vd.__class__ is RaidDescriptor and vd.op in (XOR, PQ) and vd.length <= STEP and not vd.done


def run_small(batch: list[Any], i: int, space: AddressSpace) -> int:
    """Do the run of small xor and pq descriptors that starts at ``batch[i]`` (at least that one, at most
    :data:`RUN_BYTES` of sources) and return the index after it; each ends with its ``result`` and ``residue``.

    Every buffer of the run is pinned first (a descriptor with a bad address ends READ_FAILED or WRITE_FAILED and
    writes nothing, as in :func:`run_raid`), then the arithmetic of the whole run goes in order with the GIL
    released once: the worker keeps pace with a client that holds the GIL while it submits stripe after stripe.
    """
    jobs: list[tuple[list[np.ndarray], bytes, np.ndarray | None, np.ndarray | None, bool]] = []
    done: list[RaidDescriptor] = []
    pins: list[Mapping] = []
    reads: dict[tuple[int, int], np.ndarray] = {}  # sources pinned for the run (the stripes share data blocks)
    n = len(batch)
    j = i
    total = 0
    try:
        while j < n and _small(batch[j]):
            vd: RaidDescriptor = batch[j]
            work = vd.length * len(vd.srcs)
            if j > i and total + work > RUN_BYTES:
                break
            total += work
            j += 1
            job = _pin_job(vd, space, pins, reads)
            if isinstance(job, tuple):
                jobs.append(job)
                done.append(vd)
            else:
                vd.result = job
                vd.residue = vd.length
        if jobs:
            _run_jobs(jobs, done)
    finally:
        for m in pins:
            space.unpin(m)
    return j


def _pin_job(vd: RaidDescriptor, space: AddressSpace, pins: list[Mapping], reads: dict[tuple[int, int], np.ndarray]
             ) -> tuple[list[np.ndarray], bytes, np.ndarray | None, np.ndarray | None, bool] | Result:
    """Pin ``vd``'s buffers (into ``pins``; a source already pinned for the run, in ``reads``, is used again) and
    return its job for :func:`_run_jobs`, or the fault's result."""
    n = vd.length
    cont = bool(int(vd.flags) & _CONT) and vd.op == PQ
    try:
        srcs = []
        for a in vd.srcs:
            view = reads.get((a, n))
            if view is None:
                m, view = space.pin(a, n, False)
                pins.append(m)
                reads[(a, n)] = view
            srcs.append(view)
        dsts: list[np.ndarray | None] = []
        for d in vd.dsts:
            if d is None:
                dsts.append(None)
                continue
            if cont:  # read as well
                m, view = space.pin(d, n, False)
                pins.append(m)
            m, view = space.pin(d, n, True)
            pins.append(m)
            dsts.append(view)
    except DmaFault as f:
        return Result.WRITE_FAILED if f.write else Result.READ_FAILED
    if vd.op == XOR:
        return srcs, bytes(len(srcs)), dsts[0], None, False
    return srcs, vd.coefs, dsts[0], dsts[1], cont


def _run_jobs(jobs: list[tuple[list[np.ndarray], bytes, np.ndarray | None, np.ndarray | None, bool]],
              vds: list[RaidDescriptor]) -> None:
    """P (the xor, for an xor job) and Q of every job, in order; each descriptor's result."""
    if core is not None:
        core.raid6_pq_many(jobs)
    else:
        for srcs, coefs, p, q, acc in jobs:
            pq(srcs, coefs, p, q, accumulate=acc)
    for vd in vds:
        vd.result = Result.NOERROR
        vd.residue = 0
