"""XOR and RAID-6 P+Q on the simulated controller, composed from its memory-to-memory transfers.

The controller has no xor unit, so the driver builds a program the way an engine with one would use the bus:
one item per source reads it over the bus (into the driver's scratch buffer, where the engine would hold it
internally), the engine combines what it read when the last source has crossed the bus (the interrupt of that
item), and one item per result writes it over the bus to its destination. A validate reads its sources (and the
P and Q it checks) and writes nothing; it decides at the end of the program. So an operation on ``n`` sources
of ``length`` bytes takes the bus for ``n + results`` transfers of ``length`` bytes, in virtual time, and a bad
source address is a bus error (READ_FAILED) before any result byte is written, a bad destination a WRITE_FAILED.

The scratch buffers are mapped only while the program runs: :meth:`RaidJob.map` when the driver loads it into
the controller (their addresses go into its items then), :meth:`RaidJob.release` when it ends, fails or is
terminated. A descriptor prepared and never submitted, or freed, holds no mapping; a reusable one maps afresh
for each run.
"""

from __future__ import annotations

import numpy as np

from dmaengine import DataDirection, Mapping, Platform, PrepFlags, SumCheckFlags, SumCheckResult, TransferDirection
from dmaengine.raid6 import pq, xor_to

from ._dmac import Item, Program

__all__ = ["RaidJob", "raid_program"]

_P_DIS = PrepFlags.PREP_PQ_DISABLE_P
_Q_DIS = PrepFlags.PREP_PQ_DISABLE_Q


class RaidJob:
    """What the engine does with the bytes it read: the scratch buffers that hold them, the results to write,
    and (for a validate) where to say what it found."""

    def __init__(self, plat: Platform, op: str, nsrc: int, nchk: int, nout: int, length: int, coefs: bytes,
                 flags: PrepFlags, result: SumCheckResult | None) -> None:
        self.plat = plat
        self.op = op
        self.coefs = coefs
        self.flags = flags
        self.result = result
        self.nsrc = nsrc
        self.length = length
        self.nin = nsrc + nchk
        self.nout = nout
        #: The items that read into the scratch (their ``dst``) and write out of it (their ``src``).
        self.in_items: list[Item] = []
        self.out_items: list[Item] = []
        self.ins: list[np.ndarray] = []
        self.outs: list[np.ndarray] = []
        self.maps: list[Mapping] = []

    def map(self) -> None:
        """Map fresh scratch buffers and put their addresses in the program (it is being loaded)."""
        self.release()
        n = self.length
        self.ins = [np.zeros(n, np.uint8) for _ in range(self.nin)]
        self.outs = [np.zeros(n, np.uint8) for _ in range(self.nout)]
        try:
            for it, a in zip(self.in_items, self.ins):
                it.dst = self._map(a, DataDirection.FROM_DEVICE)
            for it, a in zip(self.out_items, self.outs):
                it.src = self._map(a, DataDirection.TO_DEVICE)
        except BaseException:
            self.release()
            raise

    def _map(self, a: np.ndarray, direction: DataDirection) -> int:
        m = self.plat.map(a, direction)
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
        """Unmap the scratch buffers (the descriptor ended, failed or was terminated). Idempotent."""
        maps, self.maps = self.maps, []
        for m in maps:
            if m.live:
                m.unmap()


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
    job.in_items = items = [Item(a, 0, length) for a in reads]  # the scratch addresses come with RaidJob.map
    if nout:
        items[-1].irq = True  # the last read: combine now, before the results go out
        job.out_items = [Item(0, d, length) for d in live]
        items += job.out_items
    items[-1].irq = True
    return Program(items, TransferDirection.MEM_TO_MEM), job
