"""XOR and RAID-6 P+Q on the simulated controller, composed from its memory-to-memory transfers.

The controller has no xor unit, so the driver builds a program the way an engine with one would use the bus:
one item per source reads it over the bus (into the driver's scratch buffer, where the engine would hold it
internally), the engine combines what it read when the last source has crossed the bus (the interrupt of that
item), and one item per result writes it over the bus to its destination. A validate reads its sources (and the
P and Q it checks) and writes nothing; it decides at the end of the program. So an operation on ``n`` sources
of ``length`` bytes takes the bus for ``n + results`` transfers of ``length`` bytes, in virtual time, and a bad
source address is a bus error (READ_FAILED) before any result byte is written, a bad destination a WRITE_FAILED.
"""

from __future__ import annotations

import numpy as np

from .._enums import DataDirection, PrepFlags, SumCheckFlags, TransferDirection
from .._memory import Mapping
from .._platform import Platform
from .._raid6 import pq, xor_to
from .._raidops import SumCheckResult
from ._dmac import Item, Program

__all__ = ["RaidJob", "raid_program"]

_P_DIS = PrepFlags.PREP_PQ_DISABLE_P
_Q_DIS = PrepFlags.PREP_PQ_DISABLE_Q


class RaidJob:
    """What the engine does with the bytes it read: the scratch buffers that hold them, the results to write,
    and (for a validate) where to say what it found."""

    def __init__(self, plat: Platform, op: str, nsrc: int, nchk: int, nout: int, length: int, coefs: bytes,
                 flags: PrepFlags, result: SumCheckResult | None) -> None:
        self.op = op
        self.coefs = coefs
        self.flags = flags
        self.result = result
        self.ins = [np.zeros(length, np.uint8) for _ in range(nsrc + nchk)]
        self.outs = [np.zeros(length, np.uint8) for _ in range(nout)]
        self.nsrc = nsrc
        self.maps: list[Mapping] = []
        try:
            self.in_addrs = [self._map(plat, a, DataDirection.FROM_DEVICE) for a in self.ins]
            self.out_addrs = [self._map(plat, a, DataDirection.TO_DEVICE) for a in self.outs]
        except BaseException:
            self.release()
            raise

    def _map(self, plat: Platform, a: np.ndarray, direction: DataDirection) -> int:
        m = plat.map(a, direction)
        self.maps.append(m)
        return m.addr

    def compute(self) -> None:
        """Combine the sources read so far into the results (at the interrupt of the last source item)."""
        srcs = self.ins[: self.nsrc]
        old = self.ins[self.nsrc:]
        if self.op == "xor":
            xor_to(self.outs[0], srcs)
        elif self.op == "pq":
            outs = iter(self.outs)
            olds = iter(old)
            p = None if self.flags & _P_DIS else next(outs)
            q = None if self.flags & _Q_DIS else next(outs)
            cont = bool(self.flags & PrepFlags.PREP_CONTINUE)
            if cont:
                if p is not None:
                    p[...] = next(olds)
                if q is not None:
                    q[...] = next(olds)
            pq(srcs, self.coefs, p, q, accumulate=cont)

    def check(self) -> None:
        """A validate's verdict, at the end of the program: ``result.flags``."""
        assert self.result is not None
        srcs = self.ins[: self.nsrc]
        found = SumCheckFlags(0)
        if self.op == "xor_val":
            acc = np.empty_like(srcs[0])
            xor_to(acc, srcs)
            if acc.any():
                found |= SumCheckFlags.SUM_CHECK_P_RESULT
        else:
            old = iter(self.ins[self.nsrc:])
            n = srcs[0].nbytes
            p = None if self.flags & _P_DIS else np.empty(n, np.uint8)
            q = None if self.flags & _Q_DIS else np.empty(n, np.uint8)
            pq(srcs, self.coefs, p, q)
            if p is not None and not np.array_equal(p, next(old)):
                found |= SumCheckFlags.SUM_CHECK_P_RESULT
            if q is not None and not np.array_equal(q, next(old)):
                found |= SumCheckFlags.SUM_CHECK_Q_RESULT
        self.result.flags = found

    def release(self) -> None:
        """Unmap the scratch buffers (the descriptor ended, failed or was terminated)."""
        for m in self.maps:
            if m.live:
                m.unmap()
        self.maps = []


def raid_program(plat: Platform, op: str, dsts: tuple[int, ...], srcs: list[int], coefs: bytes, length: int,
                 flags: PrepFlags, result: SumCheckResult | None = None) -> tuple[Program, RaidJob]:
    """The program and the job of one xor / xor_val / pq / pq_val descriptor (``dsts``: the xor destination, or
    P and Q; for pq_val the P and Q to check)."""
    live: list[int] = []
    if op in ("pq", "pq_val"):
        if not flags & _P_DIS:
            live.append(dsts[0])
        if not flags & _Q_DIS:
            live.append(dsts[1])
    elif op == "xor":
        live = [dsts[0]]
    reads_old = op == "pq_val" or (op == "pq" and bool(flags & PrepFlags.PREP_CONTINUE))
    nchk = len(live) if reads_old else 0
    nout = len(live) if op in ("xor", "pq") else 0
    job = RaidJob(plat, op, len(srcs), nchk, nout, length, coefs, flags, result)
    reads = [*srcs, *(live if reads_old else [])]
    items = [Item(a, job.in_addrs[i], length) for i, a in enumerate(reads)]
    if nout:
        items[-1].irq = True  # the last read: combine now, before the results go out
        items += [Item(job.out_addrs[i], d, length) for i, d in enumerate(live)]
    items[-1].irq = True
    return Program(items, TransferDirection.MEM_TO_MEM), job
