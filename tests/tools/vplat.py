"""Test platforms for the tools.

``VirtualPlatform``: a tiny virtual-time platform (single-threaded, like the simulated SoC) with ``TimedEngine``,
a memcpy/memset engine whose every transfer takes ``latency_ns + length * ns_per_byte``; rates measured on it
are exact. ``short_by(n)``: the threaded memcpy engine, except that every copy leaves its last ``n`` bytes
uncopied (fault injection for dmatest's failure lines).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from dmaengine import Cap, Platform, PrepFlags, Result, Status, TxState
from dmaengine.drivers.memcpy import MemcpyDescriptor, MemcpyEngine
from dmaengine.provider import Channel, DmaDevice, bottom_half
from dmaengine.virt import VirtChannel, VirtDescriptor


class VirtualPlatform(Platform):
    """Virtual time in integer nanoseconds; blocking waits run the event queue."""

    realtime = False

    def __init__(self) -> None:
        super().__init__()
        self._t = 0
        self._q: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    @property
    def now_ns(self) -> int:
        return self._t

    def at(self, delay_ns: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._q, (self._t + delay_ns, next(self._seq), fn))

    def create_tasklet(self, fn: Callable[[], None], name: str) -> VTasklet:
        return VTasklet(self, fn)

    def wait_for(self, pred: Callable[[], bool], timeout: float | None, waitq: object) -> bool:
        deadline = None if timeout is None else self._t + round(timeout * 1e9)
        while not pred():
            if not self._q or (deadline is not None and self._q[0][0] > deadline):
                if deadline is not None:
                    self._t = deadline
                return pred()
            t, _, fn = heapq.heappop(self._q)
            self._t = t
            fn()
        return True


class VTasklet:
    def __init__(self, plat: VirtualPlatform, fn: Callable[[], None]) -> None:
        self.plat, self.fn, self.pending, self.running = plat, fn, False, False

    def schedule(self) -> None:
        if not self.pending:
            self.pending = True
            self.plat.at(0, self._run)

    def _run(self) -> None:
        self.pending = False
        self.running = True
        try:
            with bottom_half():
                self.fn()
        finally:
            self.running = False

    def flush(self, timeout: float | None = None) -> bool:
        return self.plat.wait_for(lambda: not self.pending, timeout, None)

    def in_context(self) -> bool:
        return self.running

    def kill(self) -> None:
        pass


class TimedChannel(VirtChannel):
    def __init__(self) -> None:
        super().__init__()
        self.busy: VirtDescriptor | None = None


class TimedDesc(VirtDescriptor):
    __slots__ = ("dst", "src", "value")
    dst: int
    src: int | None
    value: int


class TimedEngine(DmaDevice):
    """Transfers take ``latency_ns + length * ns_per_byte`` of virtual time; ``drop`` never completes them."""

    cap_mask = Cap.MEMCPY | Cap.MEMSET

    def __init__(self, channels: int = 1, latency_ns: int = 976, ns_per_byte: int = 1, drop: bool = False) -> None:
        super().__init__([TimedChannel() for _ in range(channels)], dev_name="timed")
        self.latency_ns, self.ns_per_byte, self.drop = latency_ns, ns_per_byte, drop

    def _desc(self, chan: Channel, dst: int, src: int | None, value: int, length: int,
              flags: PrepFlags) -> TimedDesc:
        assert isinstance(chan, TimedChannel)
        d = TimedDesc(chan, length)
        d.dst, d.src, d.value = dst, src, value
        return chan.vchan_tx_prep(d, flags)  # type: ignore[return-value]

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int, flags: PrepFlags) -> TimedDesc:
        return self._desc(chan, dst, src, 0, length, flags)

    def device_prep_dma_memset(self, chan: Channel, dst: int, value: int, length: int,
                               flags: PrepFlags) -> TimedDesc:
        return self._desc(chan, dst, None, value, length, flags)

    def _kick(self, chan: TimedChannel) -> None:
        if chan.busy is not None or self.drop:
            return
        vd = chan.vchan_next_desc()
        if vd is None:
            return
        chan.busy = vd
        plat = self.platform
        assert isinstance(plat, VirtualPlatform)
        plat.at(self.latency_ns + vd.length * self.ns_per_byte, lambda: self._done(chan, vd))

    def _done(self, chan: TimedChannel, vd: VirtDescriptor) -> None:
        assert isinstance(vd, TimedDesc)
        space = self.platform.address_space
        with chan.lock:
            if chan.busy is not vd:  # terminated meanwhile
                return
            chan.busy = None
            chan.desc_issued.popleft()
            if vd.src is None:
                space.fill(vd.dst, vd.value, vd.length)
            else:
                space.copy(vd.dst, vd.src, vd.length)
            chan.vchan_cookie_complete(vd, Result.NOERROR, 0)
            self._kick(chan)

    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, TimedChannel)
        with chan.lock:
            if chan.vchan_issue_pending():
                self._kick(chan)

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        assert isinstance(chan, TimedChannel)
        return chan.vchan_tx_status(cookie)

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, TimedChannel)
        with chan.lock:
            chan.busy = None
            chan.vchan_terminate_all()


def make(channels: int = 1, latency_ns: int = 976, ns_per_byte: int = 1, drop: bool = False) -> VirtualPlatform:
    """A virtual platform with one TimedEngine (``dma0``)."""
    plat = VirtualPlatform()
    plat.register_device(TimedEngine(channels, latency_ns, ns_per_byte, drop))
    return plat


def make_two() -> VirtualPlatform:
    return make(2)


def make_dropping() -> VirtualPlatform:
    return make(1, drop=True)


class ShortEngine(MemcpyEngine):
    """The threaded memcpy engine, but every copy leaves its last ``short`` bytes alone (and no xor or pq: dmatest
    runs copy threads only on it)."""

    cap_mask = MemcpyEngine.cap_mask & ~(Cap.XOR | Cap.PQ)
    short = 1

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> MemcpyDescriptor:
        return super().device_prep_dma_memcpy(chan, dst, src, max(1, length - self.short), flags)


def short_by(n: int) -> Platform:
    plat = Platform()
    eng = ShortEngine(1)
    eng.short = n
    plat.register_device(eng)
    return plat


def short_by_one() -> Platform:
    return short_by(1)


def short_by_40() -> Platform:
    return short_by(40)
