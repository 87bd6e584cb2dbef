"""dmatest's xor and pq threads (drivers/dma/dmatest.c, ``DMA_XOR`` and ``DMA_PQ``).

A channel whose device has XOR gets ``-xor<N>`` threads, one with PQ ``-pq<N>`` threads, beside its copy threads,
as the kernel adds them. An xor test xors ``xor_sources`` source buffers (forced odd, at most ``max_xor``) into one
destination; a pq test computes P and Q of ``pq_sources`` sources (forced odd, at most ``dma_maxpq``) with every
coefficient 1. Every source holds the same pattern and the count is odd, so each destination must equal a source:
the kernel's copy patterns verify all buffers, with its lines and its summary.
"""

# The kernel's printf formats are kept verbatim, as in dmatest.py.
# ruff: noqa: UP031

from __future__ import annotations

import errno
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dmaengine import Cap, Channel, DataDirection, DmaError, Mapping, Platform, PrepFlags

from ._runner import Loop, clock_of
from .dmatest import DmatestParams, DmatestThread

__all__ = ["RaidDmatestThread", "min_odd", "raid_threads"]


def min_odd(x: int, y: int) -> int:
    """The kernel's ``min_odd``: ``min(x, y)``, made odd by taking one off.

    >>> min_odd(3, 16), min_odd(5, 4)
    (3, 3)
    """
    val = min(x, y)
    return val if val % 2 else val - 1


@dataclass(eq=False)
class RaidDmatestThread(DmatestThread):  # same counters, draws and summary
    """One dmatest xor or pq thread on one channel."""

    op: str = "xor"

    def __post_init__(self) -> None:
        self.is_memset = False
        self.polled = self.params.polled
        self.name = f"{self.chan.name}-{self.op}{self.index}"

    def _tests(self) -> Loop:
        """``dmatest_func`` for DMA_XOR / DMA_PQ: a generator that yields when it waits for the engine
        (:meth:`DmatestThread.loop` runs it, then prints the summary)."""
        from .dmatest import (
            PATTERN_COPY,
            PATTERN_DST,
            PATTERN_SRC,
            PR_FMT,
            init_dsts,
            init_srcs,
            verify,
        )

        p = self.params
        chan: Channel = self.chan
        dev = chan.device
        if self.op == "xor":
            src_cnt, dst_cnt = min_odd(p.xor_sources | 1, dev.max_xor), 1
            align = p.alignment if p.alignment >= 0 else dev.xor_align
        else:
            src_cnt, dst_cnt = min_odd(p.pq_sources | 1, dev.dma_maxpq(0)), 2
            align = p.alignment if p.alignment >= 0 else dev.pq_align
        buf_size = p.test_buf_size
        if 1 << align > buf_size:
            self._say(PR_FMT + "%u-byte buffer too small for %d-byte alignment" % (buf_size, 1 << align))
            self.ret = -errno.ENOMEM  # the kernel's thread gives up with the ret it started with
            return
        if src_cnt < 1:
            self._say(PR_FMT + "%s: device cannot take %s sources" % (self.name, self.op))
            self.ret = -22
            return
        clock = clock_of(self.plat)
        timeout = None if p.timeout_ms < 0 else p.timeout_ms / 1000.0
        flags = PrepFlags.CTRL_ACK if self.polled else PrepFlags.CTRL_ACK | PrepFlags.PREP_INTERRUPT
        srcs = [np.zeros(buf_size, dtype=np.uint8) for _ in range(src_cnt)]
        dsts = [np.zeros(buf_size, dtype=np.uint8) for _ in range(dst_cnt)]
        coefs = bytes([1] * src_cnt)
        filltime = comparetime = 0.0
        maps: list[Mapping] = []
        try:
            smaps = [self.plat.map(s, DataDirection.TO_DEVICE) for s in srcs]
            maps += smaps
            dmaps = [self.plat.map(d, DataDirection.BIDIRECTIONAL) for d in dsts]
            maps += dmaps
            t_start = clock()
            while not self.stop.is_set() and not (p.iterations and self.total_tests >= p.iterations):
                length, src_off, dst_off = self._next_test(buf_size, align)
                if not p.noverify:
                    t = clock()
                    for s in srcs:
                        init_srcs(s, src_off, length, False)
                    for d in dsts:
                        init_dsts(d, dst_off, length, False)
                    filltime += clock() - t
                sa = [m.addr + src_off for m in smaps]
                try:
                    if self.op == "xor":
                        tx = chan.prep_dma_xor(dmaps[0].addr + dst_off, sa, length, flags)
                    else:
                        tx = chan.prep_dma_pq((dmaps[0].addr + dst_off, dmaps[1].addr + dst_off), sa, coefs, length,
                                              flags)
                except DmaError as e:
                    self._result("prep error", src_off, dst_off, length, -e.errno)
                    self.failed_tests += 1
                    continue
                completed = yield from self._run_one(tx, src_off, dst_off, length, timeout)
                if not completed:
                    continue
                if p.noverify:
                    self._verbose("test passed", src_off, dst_off, length, 0)
                    continue
                t = clock()
                name, log = self.name, self._say
                src_end, dst_end = src_off + length, dst_off + length
                copy = PATTERN_SRC | PATTERN_COPY
                errors = 0
                for s in srcs:
                    errors += (verify(s, 0, src_off, 0, PATTERN_SRC, True, False, name, log)
                               + verify(s, src_off, src_end, src_off, copy, True, False, name, log)
                               + verify(s, src_end, buf_size, src_end, PATTERN_SRC, True, False, name, log))
                for d in dsts:
                    errors += (verify(d, 0, dst_off, 0, PATTERN_DST, False, False, name, log)
                               + verify(d, dst_off, dst_end, src_off, copy, False, False, name, log)
                               + verify(d, dst_end, buf_size, dst_end, PATTERN_DST, False, False, name, log))
                comparetime += clock() - t
                if errors:
                    self._result("data error", src_off, dst_off, length, errors)
                    self.failed_tests += 1
                else:
                    self._verbose("test passed", src_off, dst_off, length, 0)
            elapsed = clock() - t_start
        finally:
            for m in maps:
                if m.live:
                    m.unmap()
        self.runtime_us = max(0, round((elapsed - filltime - comparetime) * 1e6))


def raid_threads(plat: Platform, chan: Channel, params: DmatestParams, log: Callable[[str], None],
                 stop: threading.Event, seed: int) -> list[RaidDmatestThread]:
    """The xor threads, then the pq threads, that dmatest adds on ``chan`` (``threads_per_chan`` of each kind
    its device has the capability for), as ``dmatest_add_channel`` does after the copy threads."""
    out = []
    mask = chan.device.cap_mask
    for op, cap in (("xor", Cap.XOR), ("pq", Cap.PQ)):
        if mask & cap:
            for i in range(params.threads_per_chan):
                out.append(RaidDmatestThread(plat, chan, i, params, log, stop,
                                             rng=random.Random(f"{seed}:{chan.name}:{op}{i}"), op=op))
    return out
