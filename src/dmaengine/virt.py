"""The virt-dma helper (drivers/dma/virt-dma.[ch]): descriptor lists, cookies and the bottom half.

A driver's channel subclasses :class:`VirtChannel`; its descriptors subclass :class:`VirtDescriptor`.
Lock contract, as in virt-dma.h: every method whose docstring says "caller holds ``vc.lock``" must be called
with ``chan.lock`` held. Callbacks run in the device's bottom half with no channel lock held.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable

from . import _trace
from ._channel import Channel, Descriptor, DescState, prep_flags
from ._context import in_bottom_half
from ._cookie import MAX_COOKIE, MIN_COOKIE, is_complete
from ._device import DmaDevice
from ._enums import PrepFlags, ResidueGranularity, Result, Status
from ._errors import StateError
from ._records import TxResult, TxState

__all__ = ["VirtChannel", "VirtDescriptor"]

log = logging.getLogger("dmaengine")

_ERRORS_KEPT = 4096
#: The base class's bottom-half request: the completion side calls ``device.bh.schedule`` itself while a device
#: keeps this one (a device that overrides it is called as before).
_SCHEDULE_BH = DmaDevice.schedule_bottom_half

_PREPARED = DescState.PREPARED
_SUBMITTED = DescState.SUBMITTED
_ISSUED = DescState.ISSUED
_DONE = DescState.DONE
_NOERROR = Result.NOERROR


class VirtDescriptor(Descriptor):
    """A descriptor on a virt channel. ``length`` is the bytes it moves; ``result``/``residue`` say how it ended."""

    __slots__ = ("done_cookie", "length", "residue", "result")

    def __init__(self, chan: VirtChannel, length: int = 0, flags: int = 0) -> None:
        # Descriptor.__init__, inlined (one frame less per descriptor on the hot path): the same fields.
        self.chan = chan
        self.cookie = 0
        self.flags = flags if flags.__class__ is PrepFlags else prep_flags(flags)
        self.callback = None
        self.callback_param = None
        self.callback_result = None
        self.state = _PREPARED
        self.length = length
        self.result = _NOERROR
        self.residue = 0
        self.done_cookie = 0

    def tx_submit(self) -> int:
        """``vchan_tx_submit``: assign the next cookie and queue on the submitted list."""
        vc: VirtChannel = self.chan  # type: ignore[assignment]  # vchan_tx_prep made it so
        lock = vc.lock
        lock.acquire()  # not ``with``: this runs once per descriptor and ``with`` costs twice as much
        try:
            st = self.state
            if st is not _PREPARED and st is not _DONE:  # another thread's submit won the race
                self.check_submittable()
            if not vc._accepting:  # release began after submit() looked: refuse under the lock, never queue
                raise StateError(f"{vc.name}: channel is being released; submissions are refused")
            cookie = vc.cookie + 1  # next_cookie(), inlined
            if cookie > MAX_COOKIE or cookie < MIN_COOKIE:
                cookie = MIN_COOKIE
            vc.cookie = cookie
            self.cookie = cookie
            self.state = _SUBMITTED
            self.result = _NOERROR
            self.residue = 0
            vc.desc_submitted.append(self)
            vc.n_submitted += 1
        finally:
            lock.release()
        return cookie


class VirtChannel(Channel):
    """A channel with virt-dma's lists: submitted, issued, completed, terminated, and the cyclic slot."""

    # The two the cyclic path reads and writes every period, in slots (the compiled period runner reads them at a
    # fixed offset, not by a dict lookup); the rest stays in the instance dict (``Channel`` has one, so a subclass
    # may still set any attribute, and the memcpy core reads ``cookie`` and ``client_count`` from that dict).
    __slots__ = ("cyclic", "desc_completed")

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.desc_submitted: deque[VirtDescriptor] = deque()
        self.desc_issued: deque[VirtDescriptor] = deque()
        self.desc_completed: deque[VirtDescriptor] = deque()
        self.desc_terminated: deque[VirtDescriptor] = deque()
        self.cyclic: VirtDescriptor | None = None
        self.cookie = MIN_COOKIE
        self.completed_cookie = MIN_COOKIE
        self._errors: OrderedDict[int, Result] = OrderedDict()

    # --- preparation and submission -----------------------------------------------------------------------
    def vchan_tx_prep(self, vd: VirtDescriptor, flags: int = 0) -> VirtDescriptor:
        """``vchan_tx_prep``: finish a descriptor the driver built; returns it."""
        vd.chan = self
        vd.flags = flags  # type: ignore[assignment]  # the client face converts to PrepFlags
        return vd

    def vchan_issue_pending(self) -> bool:
        """Move submitted to issued; True when there is issued work. Caller holds ``vc.lock``."""
        sub = self.desc_submitted
        if sub:
            if len(sub) == 1:  # (the usual one: no loop, no extend)
                vd = sub.popleft()
                vd.state = _ISSUED
                self.desc_issued.append(vd)
                return True
            for vd in sub:
                vd.state = _ISSUED
            self.desc_issued.extend(sub)
            sub.clear()
        return bool(self.desc_issued)

    def vchan_next_desc(self) -> VirtDescriptor | None:
        """The first issued descriptor, left on the list. Caller holds ``vc.lock``."""
        return self.desc_issued[0] if self.desc_issued else None

    def vchan_find_desc(self, cookie: int) -> VirtDescriptor | None:
        """The submitted or issued descriptor with ``cookie``. Caller holds ``vc.lock``."""
        for lst in (self.desc_issued, self.desc_submitted):
            for vd in lst:
                if vd.cookie == cookie:
                    return vd
        return None

    # --- completion ---------------------------------------------------------------------------------------
    def vchan_cookie_complete(self, vd: VirtDescriptor, result: Result = Result.NOERROR, residue: int = 0) -> None:
        """``vchan_cookie_complete``: ``vd`` ended (already off the issued list); its callback runs in the bottom
        half. Caller holds ``vc.lock``."""
        cookie = vd.cookie
        self.completed_cookie = cookie
        vd.cookie = 0
        vd.done_cookie = cookie
        vd.result = result
        vd.residue = residue
        vd.state = _DONE
        if result:
            self._errors[cookie] = result
            if len(self._errors) > _ERRORS_KEPT:
                self._errors.popitem(last=False)
            self.n_errors += 1
        else:
            self.n_memcpy += 1
            self.n_bytes += vd.length
        self.n_completed += 1
        self.desc_completed.append(vd)
        if _trace.recorder is not None:
            _trace.emit("complete", self, cookie, {"result": result.name, "bytes": vd.length - residue})
        device = self.device
        if type(device).schedule_bottom_half is _SCHEDULE_BH:  # DmaDevice.schedule_bottom_half(self), inlined
            device.bh.schedule(self)
        else:
            device.schedule_bottom_half(self)
        wq = self.waitq
        if wq.waiters:
            wq.wake()
        else:
            wq._seq += 1  # WaitQueue.wake with nobody to wake, inlined

    def vchan_cookie_complete_batch(self, vds: list[VirtDescriptor]) -> None:
        """:meth:`vchan_cookie_complete` for several descriptors that ended in list order (already off the
        issued list), each with its ``result`` and ``residue`` set: one bottom-half request and one wake for
        all. A descriptor with neither ``callback`` nor ``callback_result`` skips the bottom half: it has nothing
        to call. Caller holds ``vc.lock``."""
        if not vds:
            return
        if _trace.recorder is not None:
            for vd in vds:
                vd.done_cookie = vd.cookie  # the callback event names it after the cookie reads 0
                _trace.emit("complete", self, vd.cookie, {"result": vd.result.name, "bytes": vd.length - vd.residue})
        errors = self._errors
        completed = self.desc_completed
        nbytes = nerr = 0
        cookie = 0
        for vd in vds:
            cookie = vd.cookie
            vd.cookie = 0
            vd.state = _DONE
            result = vd.result
            if result:
                errors[cookie] = result
                nerr += 1
            else:
                nbytes += vd.length
            if vd.callback_result is not None or vd.callback is not None:
                completed.append(vd)
        self.completed_cookie = cookie
        if nerr:
            while len(errors) > _ERRORS_KEPT:
                errors.popitem(last=False)
            self.n_errors += nerr
        self.n_memcpy += len(vds) - nerr
        self.n_bytes += nbytes
        self.n_completed += len(vds)
        if completed:
            self.device.schedule_bottom_half(self)
        self.waitq.wake()

    def vchan_cyclic_callback(self, vd: VirtDescriptor) -> None:
        """``vchan_cyclic_callback``: a period of cyclic ``vd`` ended. One slot: periods whose callback has not
        run yet coalesce. Caller holds ``vc.lock``."""
        self.cyclic = vd
        if _trace.recorder is not None:
            _trace.emit("period", self, vd.cookie)
        device = self.device
        if type(device).schedule_bottom_half is _SCHEDULE_BH:  # DmaDevice.schedule_bottom_half(self), inlined
            device.bh.schedule(self)
        else:
            device.schedule_bottom_half(self)

    # --- termination --------------------------------------------------------------------------------------
    def vchan_terminate_vdesc(self, vd: VirtDescriptor) -> None:
        """``vchan_terminate_vdesc``: ``vd`` was running and is dropped. Caller holds ``vc.lock``."""
        self.desc_terminated.append(vd)
        if self.cyclic is vd:
            self.cyclic = None

    def vchan_get_all_descriptors(self) -> list[VirtDescriptor]:
        """Take every descriptor off every list. Caller holds ``vc.lock``."""
        out: list[VirtDescriptor] = []
        for lst in (self.desc_submitted, self.desc_issued, self.desc_completed, self.desc_terminated):
            out.extend(lst)
            lst.clear()
        return out

    def vchan_terminate_all(self) -> list[VirtDescriptor]:
        """Drop all unfinished work and the cyclic slot; no callback runs for it. Returns what was dropped.
        Caller holds ``vc.lock`` and has stopped the hardware.

        Unlike Linux's ``vchan_get_all_descriptors``, descriptors that already completed keep their callbacks:
        only work that did not finish goes without one."""
        self.cyclic = None
        dropped: list[VirtDescriptor] = []
        for lst in (self.desc_submitted, self.desc_issued, self.desc_terminated):
            dropped.extend(lst)
            lst.clear()
        for vd in dropped:
            if vd.cookie > 0:  # not completed: its cookie reads ERROR (ABORTED) from now on
                self._errors[vd.cookie] = Result.ABORTED
        while len(self._errors) > _ERRORS_KEPT:
            self._errors.popitem(last=False)
        self.vchan_dma_desc_free_list(dropped)
        # Nothing queued is outstanding any more: waiters see every cookie as ended.
        self.completed_cookie = self.cookie
        self.waitq.wake()
        return dropped

    def vchan_free_chan_resources(self) -> list[VirtDescriptor]:
        """``vchan_free_chan_resources``: take every descriptor off every list (completed ones lose their
        callback), clear their reuse flag and free them; their cookies read ERROR and waiters wake. Returns
        them. Takes ``vc.lock``."""
        with self.lock:
            self.cyclic = None
            dropped = self.vchan_get_all_descriptors()
            for vd in dropped:
                if vd.cookie > 0:
                    self._errors[vd.cookie] = Result.ABORTED
                vd.clear_reuse()
            while len(self._errors) > _ERRORS_KEPT:
                self._errors.popitem(last=False)
            self.vchan_dma_desc_free_list(dropped)
            self.completed_cookie = self.cookie
        self.waitq.wake()
        return dropped

    def free_chan_resources(self) -> None:
        """The framework's hook at release: :meth:`vchan_free_chan_resources`."""
        self.vchan_free_chan_resources()

    def vchan_dma_desc_free_list(self, descs: Iterable[VirtDescriptor]) -> None:
        """Free dropped descriptors; reusable ones go back to the prepared state."""
        for vd in descs:
            vd.cookie = 0
            vd.state = DescState.DONE if vd.reuse else DescState.FREED

    def vchan_synchronize(self) -> None:
        """``vchan_synchronize``: wait until the bottom half has served everything asked of it so far."""
        if in_bottom_half():
            raise StateError(f"{self.name}: synchronize from a callback")
        self.device.tasklet.flush()

    # --- status -------------------------------------------------------------------------------------------
    def cookie_failed(self, cookie: int) -> bool:
        """True when completed ``cookie`` ended in a fault or was terminated (its tx_status is ERROR)."""
        return cookie in self._errors

    def desc_residue(self, vd: VirtDescriptor) -> int:
        """Bytes of ``vd`` not yet moved, for a device with SEGMENT or BURST granularity (at DESCRIPTOR
        granularity tx_status reports 0 without asking). Default: the whole length; drivers override it.
        Caller holds ``vc.lock``."""
        return vd.length

    def vchan_tx_status(self, cookie: int) -> tuple[Status, TxState]:
        """``dma_cookie_status`` plus residue of the descriptor and ERROR for a failed cookie."""
        with self.lock:
            last, used = self.completed_cookie, self.cookie
            status = is_complete(cookie, last, used)
            if status is Status.COMPLETE:
                if cookie in self._errors:
                    return Status.ERROR, TxState(last, used, 0)
                return status, TxState(last, used, 0)
            vd = self.vchan_find_desc(cookie)
            if vd is None and self.cyclic is not None and self.cyclic.cookie == cookie:
                vd = self.cyclic
            # At DESCRIPTOR granularity the residue is always 0 (dmaengine.h): the channel only knows done or not.
            residue = (self.desc_residue(vd) if vd is not None
                       and self.device.residue_granularity is not ResidueGranularity.DESCRIPTOR else 0)
        if self.paused:
            status = Status.PAUSED
        return status, TxState(last, used, residue)

    # --- the bottom half ----------------------------------------------------------------------------------
    def bottom_half(self) -> None:
        """``vchan_complete``: take the cyclic slot and the completed list under the lock, then call back
        without it."""
        lock = self.lock
        lock.acquire()  # (``with self.lock``, without the context manager's special lookups: once per bottom half)
        try:
            cyc = self.cyclic
            self.cyclic = None
            done = self.desc_completed
            if done:
                self.desc_completed = deque()
        finally:
            lock.release()
        if not done:
            if cyc is not None:
                if _trace.recorder is not None:
                    self._call_back(cyc)
                else:  # _call_back, inlined: a cyclic transfer's period callback, its hot path
                    try:
                        cbr = cyc.callback_result
                        if cbr is not None:
                            cbr(cyc.callback_param, TxResult(cyc.result, cyc.residue))
                        else:
                            cb = cyc.callback
                            if cb is not None:
                                cb(cyc.callback_param)
                    except BaseException:  # see below
                        self.n_callback_errors += 1
                        log.exception("%s: callback of %r raised", self.name, cyc)
                wq = self.waitq  # a waiter may test what the callback did: wake it
                if wq.waiters:
                    wq.wake()
                else:
                    wq._seq += 1  # WaitQueue.wake with nobody to wake, inlined (once per period)
            return
        if cyc is not None:
            self._call_back(cyc)
        if _trace.recorder is not None:
            for vd in done:
                self._call_back(vd)
            self.waitq.wake()
            return
        # The loop of _call_back, inlined: this runs once per completed descriptor.
        for vd in done:
            try:
                cbr = vd.callback_result
                if cbr is not None:
                    cbr(vd.callback_param, TxResult(vd.result, vd.residue))
                else:
                    cb = vd.callback
                    if cb is not None:
                        cb(vd.callback_param)
            except BaseException:  # even SystemExit or KeyboardInterrupt: the rest of the batch is still called
                self.n_callback_errors += 1
                log.exception("%s: callback of %r raised", self.name, vd)
        wq = self.waitq  # a waiter may test what the callbacks did: wake it
        if wq.waiters:
            wq.wake()
        else:
            wq._seq += 1  # WaitQueue.wake with nobody to wake, inlined (once per completion's bottom half)

    def _call_back(self, vd: VirtDescriptor) -> None:
        cbr = vd.callback_result
        cb = vd.callback
        if cbr is None and cb is None:
            return
        if _trace.recorder is not None:
            _trace.emit("callback", self, vd.cookie or getattr(vd, "done_cookie", 0))
        try:
            if cbr is not None:
                cbr(vd.callback_param, TxResult(vd.result, vd.residue))
            elif cb is not None:
                cb(vd.callback_param)
        except BaseException:  # see bottom_half
            self.n_callback_errors += 1
            log.exception("%s: callback of %r raised", self.name, vd)


def period_consts() -> dict[str, object]:
    """What the simulator's compiled period runner (src/native/period.c) follows of the framework: virt-dma's
    cyclic slot and bottom half, the device's bottom-half object and its queue, the wait queue, the bottom-half
    mark and the trace hook. ``sim/_driver.py`` adds its own parts and hands them to ``core.period_setup``."""
    from . import _context
    from ._device import DmaDevice

    return {
        "vchan_cyclic_callback": VirtChannel.vchan_cyclic_callback, "bottom_half": VirtChannel.bottom_half,
        "schedule_bottom_half": DmaDevice.schedule_bottom_half, "run_bottom_half": _context.BottomHalf.run,
        "BottomHalf": _context.BottomHalf, "WaitQueue": _context.WaitQueue, "TxResult": TxResult, "trace": _trace,
        "local": _context._local, "log": log,
    }
