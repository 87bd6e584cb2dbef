"""The threaded memory engine: real bytes, off the calling thread, at memory bandwidth.

Each channel has a worker thread that takes issued descriptors in batches and copies with ``memmove`` (the GIL
is released during each copy), touching memory only through the platform's address space, so a bad address
ends that descriptor with READ_FAILED or WRITE_FAILED. Completions go to the device's bottom-half thread, which
runs the callbacks. Written with the public provider API and the virt helper only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import cast

from dmaengine import (
    Cap,
    ConfigError,
    InterleavedTemplate,
    PrepFlags,
    ResidueGranularity,
    Result,
    SgEntry,
    Status,
    TransferDirection,
    TxState,
    _trace,
)
from dmaengine.provider import AddressSpace, Channel, DmaDevice, DmaFault
from dmaengine.virt import VirtChannel, VirtDescriptor

__all__ = ["MemcpyChannel", "MemcpyDescriptor", "MemcpyEngine"]

#: Largest piece copied between two checks for pause and terminate.
CHUNK = 4 * 1024 * 1024
#: Most descriptors a worker takes from the issued list at once.
BATCH = 256


class MemcpyDescriptor(VirtDescriptor):
    """Segments ``(dst, src, size)``; ``src`` is None for a fill of ``value``."""

    __slots__ = ("done", "segs", "value")

    def __init__(self, chan: MemcpyChannel, segs: list[tuple[int, int | None, int]], length: int,
                 value: int = 0) -> None:
        super().__init__(chan, length)
        self.segs = segs
        self.value = value
        self.done = 0

    def tx_submit(self) -> int:
        self.done = 0  # a reused descriptor starts again from its first byte
        return super().tx_submit()


class MemcpyChannel(VirtChannel):
    """A memory-to-memory channel with its own worker thread."""

    def __init__(self) -> None:
        super().__init__()
        self._cv = threading.Condition(self.lock)
        self._stop = False
        self._hw_paused = False
        self._busy_gen = -1  # the terminate generation the worker is busy in, or -1 when idle
        self._gen = 0
        self._thread: threading.Thread | None = None

    def desc_residue(self, vd: VirtDescriptor) -> int:
        assert isinstance(vd, MemcpyDescriptor)
        return vd.length - vd.done

    # --- worker -------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self.lock:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        lock, cv, issued = self.lock, self._cv, self.desc_issued
        space = self.device.platform.address_space
        while True:
            with lock:
                while self._stop or not issued or self._hw_paused:
                    if self._stop:
                        return
                    self._busy_gen = -1
                    cv.notify_all()
                    cv.wait()
                gen = self._gen
                self._busy_gen = gen
                batch = cast(
                    "list[MemcpyDescriptor]",
                    list(issued) if len(issued) <= BATCH else [issued[i] for i in range(BATCH)],
                )
            results: list[Result] = []
            for vd in batch:
                if self._gen != gen or self._hw_paused:
                    break
                if _trace.recorder is not None:
                    _trace.emit("start", self, vd.cookie)
                res = self._execute(vd, space, gen)
                if res is None:  # stopped part-way by pause or terminate
                    break
                results.append(res)
            with lock:
                if self._gen == gen:
                    for vd, res in zip(batch, results):
                        issued.popleft()
                        self.vchan_cookie_complete(vd, res, vd.length - vd.done)
                self._busy_gen = -1
                cv.notify_all()

    def _execute(self, vd: MemcpyDescriptor, space: AddressSpace, gen: int) -> Result | None:
        copy = space.copy
        fill = space.fill
        pos = 0
        for dst, src, size in vd.segs:
            if pos + size <= vd.done:  # finished before a pause
                pos += size
                continue
            off = vd.done - pos
            while off < size:
                if off and (self._gen != gen or self._hw_paused):
                    return None
                n = min(CHUNK, size - off)
                try:
                    if src is None:
                        fill(dst + off, vd.value, n)
                    else:
                        copy(dst + off, src + off, n)
                except DmaFault as f:
                    return Result.WRITE_FAILED if f.write else Result.READ_FAILED
                off += n
                vd.done += n
            pos += size
        return Result.NOERROR


class MemcpyEngine(DmaDevice):
    """A memory-to-memory DMA engine with ``channels`` worker threads (real time)."""

    cap_mask = Cap.MEMCPY | Cap.MEMSET | Cap.MEMCPY_SG | Cap.INTERLEAVE | Cap.INTERRUPT
    directions = frozenset({TransferDirection.MEM_TO_MEM})
    residue_granularity = ResidueGranularity.SEGMENT
    descriptor_reuse = True

    def __init__(self, channels: int = 1, dev_name: str = "memcpy") -> None:
        if not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"channels must be an int >= 1, not {channels!r}")
        super().__init__([MemcpyChannel() for _ in range(channels)], dev_name=dev_name)

    def on_register(self) -> None:
        for c in self.channels:
            assert isinstance(c, MemcpyChannel)
            c.start()

    def on_unregister(self) -> None:
        for c in self.channels:
            assert isinstance(c, MemcpyChannel)
            c.stop()

    # --- prep ---------------------------------------------------------------------------------------------
    @staticmethod
    def _desc(chan: Channel, segs: list[tuple[int, int | None, int]], length: int, value: int = 0,
              flags: int = 0) -> MemcpyDescriptor:
        assert isinstance(chan, MemcpyChannel)
        return chan.vchan_tx_prep(MemcpyDescriptor(chan, segs, length, value), flags)  # type: ignore[return-value]

    def device_prep_dma_memcpy(self, chan: Channel, dst: int, src: int, length: int,
                               flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [(dst, src, length)], length, 0, flags)

    def device_prep_dma_memset(self, chan: Channel, dst: int, value: int, length: int,
                               flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [(dst, None, length)], length, value, flags)

    def device_prep_dma_memcpy_sg(self, chan: Channel, dst_sgl: list[SgEntry], src_sgl: list[SgEntry],
                                  flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, pair_segments(dst_sgl, src_sgl), sum(e.length for e in dst_sgl), 0, flags)

    def device_prep_interleaved_dma(self, chan: Channel, xt: InterleavedTemplate,
                                    flags: PrepFlags) -> MemcpyDescriptor:
        if xt.dir != TransferDirection.MEM_TO_MEM:
            raise ConfigError(f"{self.name} moves MEM_TO_MEM only, not {xt.dir!r}")
        segs: list[tuple[int, int | None, int]] = [(d, s, n) for s, d, n in xt.segments()]
        return self._desc(chan, segs, xt.length, 0, flags)

    def device_prep_dma_interrupt(self, chan: Channel, flags: PrepFlags) -> MemcpyDescriptor:
        return self._desc(chan, [], 0, 0, flags)

    # --- control ------------------------------------------------------------------------------------------
    def device_issue_pending(self, chan: Channel) -> None:
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            if chan.vchan_issue_pending() and chan._busy_gen < 0:
                chan._cv.notify()

    def device_tx_status(self, chan: Channel, cookie: int) -> tuple[Status, TxState]:
        assert isinstance(chan, MemcpyChannel)
        return chan.vchan_tx_status(cookie)

    def device_pause(self, chan: Channel) -> None:
        """Stop at the next chunk boundary; returns once the worker has stopped moving bytes."""
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._hw_paused = True
            while chan._busy_gen >= 0:
                chan._cv.wait()

    def device_resume(self, chan: Channel) -> None:
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._hw_paused = False
            chan._cv.notify_all()

    def device_terminate_all(self, chan: Channel) -> None:
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            chan._gen += 1
            chan._hw_paused = False
            chan.vchan_terminate_all()
            chan._cv.notify_all()

    def device_synchronize(self, chan: Channel) -> None:
        """Wait until the worker has left terminated work, then until the bottom half has run."""
        assert isinstance(chan, MemcpyChannel)
        with chan.lock:
            while 0 <= chan._busy_gen < chan._gen:
                chan._cv.wait()
        chan.vchan_synchronize()


def pair_segments(dst_sgl: Sequence[SgEntry], src_sgl: Sequence[SgEntry]) -> list[tuple[int, int | None, int]]:
    """Split two scatterlists of equal total length into ``(dst, src, size)`` pieces that each lie in one entry
    of both."""
    out: list[tuple[int, int | None, int]] = []
    di = si = 0
    doff = soff = 0
    while di < len(dst_sgl) and si < len(src_sgl):
        d, s = dst_sgl[di], src_sgl[si]
        n = min(d.length - doff, s.length - soff)
        out.append((d.addr + doff, s.addr + soff, n))
        doff += n
        soff += n
        if doff == d.length:
            di, doff = di + 1, 0
        if soff == s.length:
            si, soff = si + 1, 0
    return out
