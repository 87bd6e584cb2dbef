"""The async_tx core (crypto/async_tx/async_tx.c): submit control, the channel table, dependencies across
channels, quiesce.

A transaction (:class:`AsyncTx`) wraps one descriptor on one channel. Its descriptor's callback is the
completion hook here: it unmaps the operation's buffers, runs the client's callback, then submits the
transactions that wait for it (``dma_run_dependencies``: a loop, never a recursion, that submits the dependents
on one channel and issues them; a dependent on another channel waits for its own parent's hook). This is the
callback-driven equivalent of the kernel's interrupt descriptor on the first channel: the link and the
decision "submit now or wait" are made under one lock, so a dependency that completes while a dependent is
being attached is never missed.
"""

from __future__ import annotations

import enum
import itertools
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._channel import Channel, Descriptor
from .._context import WaitQueue, in_bottom_half
from .._default import default_platform
from .._enums import Cap, DataDirection, PrepFlags
from .._errors import ConfigError, DmaError, StateError
from .._memory import Mapping
from .._platform import Platform
from .._records import TxResult

__all__ = [
    "ASYNC_TX_ACK",
    "ASYNC_TX_FENCE",
    "ASYNC_TX_PQ_XOR_DST",
    "ASYNC_TX_XOR_DROP_DST",
    "ASYNC_TX_XOR_ZERO_DST",
    "AsyncSubmitCtl",
    "AsyncTx",
    "AsyncTxFlags",
    "ChannelTable",
    "async_trigger_callback",
    "async_tx_issue_pending_all",
    "async_tx_quiesce",
    "init_async_submit",
]

#: The capabilities that make a channel useful to async_tx.
ASYNC_CAPS = Cap.MEMCPY | Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL


class AsyncTxFlags(enum.IntFlag):
    """``enum async_tx_flags``."""

    #: The xor destination is not a source: it is overwritten (without it, it is an implied source, ``^=``).
    ASYNC_TX_XOR_ZERO_DST = 1 << 0
    #: The destination is also ``srcs[0]``: take it as the implied source only once.
    ASYNC_TX_XOR_DROP_DST = 1 << 1
    #: The client will not use this transaction as a dependency (it may be forgotten once done).
    ASYNC_TX_ACK = 1 << 2
    #: The operation reads the result of its dependency (``DMA_PREP_FENCE`` on its descriptors).
    ASYNC_TX_FENCE = 1 << 3
    #: async_gen_syndrome: xor the new P and Q into the old ones (a read-modify-write).
    ASYNC_TX_PQ_XOR_DST = 1 << 4


ASYNC_TX_XOR_ZERO_DST = AsyncTxFlags.ASYNC_TX_XOR_ZERO_DST
ASYNC_TX_XOR_DROP_DST = AsyncTxFlags.ASYNC_TX_XOR_DROP_DST
ASYNC_TX_ACK = AsyncTxFlags.ASYNC_TX_ACK
ASYNC_TX_FENCE = AsyncTxFlags.ASYNC_TX_FENCE
ASYNC_TX_PQ_XOR_DST = AsyncTxFlags.ASYNC_TX_PQ_XOR_DST

AsyncCallback = Callable[[Any], None]


@dataclass(slots=True)
class AsyncSubmitCtl:
    """``struct async_submit_ctl``: how to submit one operation. ``chans`` is the :class:`ChannelTable` to take
    a channel from (None: the dependency's table, else the CPU does the work)."""

    flags: AsyncTxFlags = AsyncTxFlags(0)  # noqa: RUF009  # an immutable int flag
    depend_tx: AsyncTx | None = None
    cb_fn: AsyncCallback | None = None
    cb_param: Any = None
    scribble: Any = None
    chans: ChannelTable | None = None


def init_async_submit(flags: int = 0, depend_tx: AsyncTx | None = None, cb_fn: AsyncCallback | None = None,
                      cb_param: Any = None, scribble: Any = None, *,
                      chans: ChannelTable | None = None) -> AsyncSubmitCtl:
    """``init_async_submit``: the submit control record of one async_tx call.

    ``depend_tx`` runs first (its result is visible to this operation); ``cb_fn(cb_param)`` runs when this
    operation is done, in the engine's bottom half, or before the call returns when the CPU did the work."""
    if not isinstance(flags, int) or isinstance(flags, bool) or flags < 0 or flags & ~0x1F:
        raise ConfigError(f"flags must be AsyncTxFlags, not {flags!r}")
    if depend_tx is not None and not isinstance(depend_tx, AsyncTx):
        raise ConfigError(f"depend_tx must be an AsyncTx or None, not {depend_tx!r}")
    if cb_fn is not None and not callable(cb_fn):
        raise ConfigError(f"cb_fn must be callable or None, not {cb_fn!r}")
    if chans is not None and not isinstance(chans, ChannelTable):
        raise ConfigError(f"chans must be a ChannelTable or None, not {chans!r}")
    return AsyncSubmitCtl(AsyncTxFlags(flags), depend_tx, cb_fn, cb_param, scribble, chans)


_open_tables: weakref.WeakSet[ChannelTable] = weakref.WeakSet()


class ChannelTable:
    """The channels async_tx may use (``dmaengine_get`` / ``dmaengine_put``): every free channel of every
    device of ``platform`` with a capability async_tx uses (memcpy, xor, pq and their validates), or at most
    ``per_device`` of each device's. A context manager that waits for its outstanding work, then releases them.

    An operation takes the channel of its dependency when that one has the capability (the chain stays on one
    channel), else the next capable channel in turn; with none, the CPU does the work.
    """

    def __init__(self, platform: Platform | None = None, *, per_device: int | None = None,
                 client_name: str = "async_tx") -> None:
        if per_device is not None and (not isinstance(per_device, int) or isinstance(per_device, bool)
                                       or per_device < 1):
            raise ConfigError(f"per_device must be an int >= 1 or None, not {per_device!r}")
        if platform is not None and not isinstance(platform, Platform):
            raise ConfigError(f"platform must be a Platform or None (the default one), not {platform!r}")
        self.platform = platform if platform is not None else default_platform()
        self.lock = threading.Lock()
        self.waitq = WaitQueue()
        self.channels: list[Channel] = []
        self.outstanding = 0
        #: Operations done by a DMA engine and by the CPU fallback, by operation name.
        self.dma_ops: dict[str, int] = {}
        self.cpu_ops: dict[str, int] = {}
        self._turn = itertools.count()
        self._capable: dict[Cap, list[Channel]] = {}
        #: Live mappings of the buffers of operations in flight, by (address, bytes, written), with their users:
        #: a buffer in several operations at once (the data blocks of many stripes) is mapped once.
        self._mapped: dict[tuple[int, int, bool], list[Any]] = {}
        self._key_of: dict[int, tuple[int, int, bool]] = {}
        for dev in list(self.platform.devices):
            if not dev.cap_mask & ASYNC_CAPS:
                continue
            taken = 0
            for chan in dev.channels:
                if per_device is not None and taken >= per_device:
                    break
                if chan.client_count:
                    continue
                self.channels.append(self.platform.request_channel(
                    Cap(0), lambda c, want: c is want, chan, client_name=client_name))
                taken += 1
        self._closed = False
        _open_tables.add(self)

    def find_channel(self, cap: Cap, depend_tx: AsyncTx | None = None) -> Channel | None:
        """``async_tx_find_channel``: the dependency's channel when its device has ``cap``, else the next channel
        with ``cap`` in turn, else None (the CPU)."""
        if self._closed:
            raise StateError("the ChannelTable is closed")
        if depend_tx is not None and depend_tx.chan.device.cap_mask & cap and depend_tx.chan.client_count:
            return depend_tx.chan
        capable = self._capable.get(cap)
        if capable is None:
            capable = self._capable[cap] = [c for c in self.channels if c.device.cap_mask & cap]
        live = capable if all(c.client_count for c in capable) else [c for c in capable if c.client_count]
        if not live:
            return None
        return live[next(self._turn) % len(live)]

    def map_buffer(self, a: np.ndarray, write: bool, ptr: int | None = None) -> Mapping:
        """Map ``a`` (BIDIRECTIONAL when an operation writes it, else TO_DEVICE) for one more operation; the
        mapping is shared with the operations in flight that use the same memory the same way. ``ptr``: the
        address of ``a``'s first byte, when the caller knows it already."""
        key = (int(a.ctypes.data) if ptr is None else ptr, a.nbytes, write)
        with self.lock:
            hit = self._mapped.get(key)
            if hit is not None:
                hit[1] += 1
                return hit[0]
        m = self.platform.map(a, DataDirection.BIDIRECTIONAL if write else DataDirection.TO_DEVICE)
        with self.lock:
            hit = self._mapped.get(key)
            if hit is None:
                self._mapped[key] = [m, 1]
                self._key_of[id(m)] = key
                return m
            hit[1] += 1
        m.unmap()  # another thread mapped it meanwhile: use that one
        return hit[0]

    def map_buffers(self, arrays: Sequence[np.ndarray], ptrs: Sequence[int], write: bool) -> list[Mapping]:
        """:meth:`map_buffer` for each of ``arrays``, whose first bytes lie at ``ptrs``: one lock hold for the
        mappings already live, a new mapping for each of the others."""
        keys = [(ptr, a.nbytes, write) for a, ptr in zip(arrays, ptrs)]
        out: list[Mapping | None] = []
        with self.lock:
            mapped = self._mapped
            for key in keys:
                hit = mapped.get(key)
                if hit is None:
                    out.append(None)
                else:
                    hit[1] += 1
                    out.append(hit[0])
        for i, m in enumerate(out):
            if m is None:
                try:
                    out[i] = self.map_buffer(arrays[i], write, ptrs[i])
                except BaseException:
                    self.unmap_buffers([x for x in out if x is not None])
                    raise
        return out  # type: ignore[return-value]

    def unmap_buffers(self, maps: list[Mapping]) -> None:
        """One operation is done with ``maps``: unmap those no operation in flight uses any more."""
        dead = []
        with self.lock:
            for m in maps:
                key = self._key_of.get(id(m))
                hit = None if key is None else self._mapped.get(key)
                if hit is None or hit[0] is not m:
                    continue
                hit[1] -= 1
                if hit[1] == 0:
                    del self._mapped[key]  # type: ignore[arg-type]
                    del self._key_of[id(m)]
                    dead.append(m)
        for m in dead:
            if m.live:
                m.unmap()

    def count(self, op: str, dma: bool) -> None:
        """Count one operation done by DMA (``dma``) or by the CPU."""
        d = self.dma_ops if dma else self.cpu_ops
        with self.lock:
            d[op] = d.get(op, 0) + 1

    def issue_pending_all(self) -> None:
        """``dma_issue_pending_all`` over this table's channels."""
        for chan in self.channels:
            if chan.client_count:
                chan.issue_pending()

    def wait_idle(self, timeout: float | None = 5.0) -> None:
        """Issue every channel and wait until no transaction of this table is outstanding."""
        if self.outstanding:
            if in_bottom_half():
                raise StateError("waiting for async_tx work from a callback would block the bottom half")
            self.issue_pending_all()
            if not self.platform.wait_for(lambda: self.outstanding == 0, timeout, self.waitq):
                raise TimeoutError(f"{self.outstanding} async_tx transactions not done after {timeout} s")

    def close(self, timeout: float | None = 5.0) -> None:
        """``dmaengine_put``: wait for outstanding work, then release the channels."""
        if self._closed:
            return
        self.wait_idle(timeout)
        self._closed = True
        _open_tables.discard(self)
        for chan in self.channels:
            if chan.client_count:
                chan.release()

    def __enter__(self) -> ChannelTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ChannelTable {', '.join(c.name for c in self.channels) or 'CPU only'}>"


class AsyncTx:
    """One submitted (or waiting) async_tx transaction on one channel; what the async_* calls return.

    ``result`` is the :class:`~dmaengine.TxResult` of its descriptor once it is done; ``error`` the first failed
    result along its chain of dependencies (an operation that read a failed one's output is not right either).
    """

    __slots__ = ("acked", "cb_fn", "cb_param", "chan", "completed", "desc", "done", "error", "next", "op",
                 "parent", "result", "submitted", "table", "unmap")

    def __init__(self, table: ChannelTable, chan: Channel, desc: Descriptor, op: str) -> None:
        self.table = table
        self.chan = chan
        self.desc = desc
        self.op = op
        self.next: AsyncTx | None = None
        #: The dependency, when this one went straight to the dependency's channel behind it (its hook runs
        #: first there): read for its error, then dropped.
        self.parent: AsyncTx | None = None
        self.submitted = False
        self.completed = False  # the hook has started: dependents attached from now on are submitted directly
        self.done = False  # the hook has finished: callback run, dependents submitted
        self.acked = False
        self.result: TxResult | None = None
        self.error: TxResult | None = None
        self.cb_fn: AsyncCallback | None = None
        self.cb_param: Any = None
        self.unmap: list[Mapping] = []
        desc.callback_result = _complete
        desc.callback_param = self

    def __repr__(self) -> str:
        state = "done" if self.done else "submitted" if self.submitted else "waiting"
        return f"<AsyncTx {self.op} on {self.chan.name} {state}>"


def _submit_desc(tx: AsyncTx) -> None:
    tx.desc.submit()


def _complete(tx: AsyncTx, res: TxResult) -> None:
    """The descriptor's callback (the device's bottom half): unmap, call back, run the dependencies."""
    table = tx.table
    if tx.unmap:
        table.unmap_buffers(tx.unmap)
        tx.unmap = []
    with table.lock:
        tx.result = res
        parent = tx.parent
        tx.parent = None
        if tx.error is None and parent is not None:
            tx.error = parent.error
        if tx.error is None and res.result:
            tx.error = res
        tx.completed = True
        nxt = tx.next
        tx.next = None
    try:
        if tx.cb_fn is not None:
            tx.cb_fn(tx.cb_param)
    finally:
        try:
            _run_dependencies(nxt, tx.error)
        finally:
            with table.lock:
                tx.done = True
                table.outstanding -= 1
            table.waitq.wake()


def _run_dependencies(dep: AsyncTx | None, error: TxResult | None) -> None:
    """``dma_run_dependencies``: submit ``dep`` and the dependents chained behind it on the same channel, then
    issue that channel. A dependent on another channel stays linked to its parent, whose hook submits it."""
    if dep is None:
        return
    chan = dep.chan
    table = dep.table
    while dep is not None:
        if error is not None and dep.error is None:
            dep.error = error
        _submit_desc(dep)
        with table.lock:
            dep.submitted = True
            nxt = dep.next
            if nxt is not None and nxt.chan is chan:
                dep.next = None
            else:
                nxt = None
        error = dep.error
        dep = nxt
    if chan.client_count:
        chan.issue_pending()


def check_depend(submit: AsyncSubmitCtl) -> None:
    """Refuse a dependency that cannot be one: acked (it may already be forgotten) or already depended on
    (dependencies are 1:1)."""
    if not isinstance(submit, AsyncSubmitCtl):
        raise ConfigError(f"submit must be an AsyncSubmitCtl (from init_async_submit), not {submit!r}")
    dep = submit.depend_tx
    if dep is not None and dep.acked:
        raise StateError(f"depend_tx {dep!r} is acked: it was a dependency already, or submitted with ASYNC_TX_ACK")


def table_of(submit: AsyncSubmitCtl) -> ChannelTable | None:
    """The channel table an operation uses: the submit's, else its dependency's."""
    if submit.chans is not None:
        return submit.chans
    if submit.depend_tx is not None:
        return submit.depend_tx.table
    return None


def prep_flags_of(submit: AsyncSubmitCtl) -> PrepFlags:
    """The descriptor flags the submit asks for (``ASYNC_TX_FENCE`` becomes ``PREP_FENCE``)."""
    return _FENCED if int(submit.flags) & _FENCE else _UNFENCED


_FENCE = int(AsyncTxFlags.ASYNC_TX_FENCE)
_UNFENCED = PrepFlags.PREP_INTERRUPT
_FENCED = PrepFlags.PREP_INTERRUPT | PrepFlags.PREP_FENCE


def async_tx_submit(table: ChannelTable, chan: Channel, desc: Descriptor, submit: AsyncSubmitCtl, op: str,
                    unmap: list[Mapping] | None = None) -> AsyncTx:
    """``async_tx_submit``: submit ``desc`` on ``chan`` now, or link it behind ``submit.depend_tx`` when that
    one is on another channel or not submitted yet. Takes the callback and the ack from ``submit``."""
    tx = AsyncTx(table, chan, desc, op)
    tx.cb_fn = submit.cb_fn
    tx.cb_param = submit.cb_param
    tx.unmap = unmap or []
    dep = submit.depend_tx
    direct = True
    issue_parent = False
    with table.lock:
        table.outstanding += 1
        if dep is not None:
            if dep.acked:
                table.outstanding -= 1
                raise StateError(f"depend_tx {dep!r} is acked: it was a dependency already, or submitted with "
                                 "ASYNC_TX_ACK")
            dep.acked = True
            if dep.completed:
                tx.error = dep.error
            elif dep.submitted and dep.chan is chan:
                tx.parent = dep  # in order on one channel
            else:
                dep.next = tx  # submitted by dep's hook (or by the loop that submits dep)
                direct = False
                issue_parent = dep.submitted
    if direct:
        _submit_desc(tx)
        with table.lock:
            tx.submitted = True
    elif issue_parent and dep is not None and dep.chan.client_count:
        dep.chan.issue_pending()  # the parent must run for this one to start
    if submit.flags & ASYNC_TX_ACK:
        tx.acked = True
    return tx


def async_tx_quiesce(tx: AsyncTx | None, timeout: float | None = 5.0) -> None:
    """``async_tx_quiesce``: issue pending work and wait until ``tx`` is done (its callback has returned).
    Raises :class:`~dmaengine.DmaError` when it, or one it depended on, ended with an error."""
    if tx is None:
        return
    if tx.acked and not tx.done:
        raise StateError(f"{tx!r} is acked: it may not be waited on")
    if not tx.done:
        if in_bottom_half():
            raise StateError(f"waiting for {tx!r} from a callback would block the bottom half")
        table = tx.table
        table.issue_pending_all()
        if not table.platform.wait_for(lambda: tx.done, timeout, table.waitq):
            raise TimeoutError(f"{tx!r} not done after {timeout} s")
    tx.acked = True
    if tx.error is not None:
        raise DmaError(f"{tx!r} ended with {tx.error.result.name}" if tx.error is tx.result
                       else f"{tx!r} depended on a transaction that ended with {tx.error.result.name}")


def sync_epilog(submit: AsyncSubmitCtl) -> None:
    """``async_tx_sync_epilog``: the CPU did the work; run the callback now."""
    if submit.cb_fn is not None:
        submit.cb_fn(submit.cb_param)


def cpu_prolog(submit: AsyncSubmitCtl, op: str) -> None:
    """Before the CPU does an operation: wait for its dependency and count the operation."""
    dep = submit.depend_tx
    if dep is not None:
        async_tx_quiesce(dep)
    table = table_of(submit)
    if table is not None:
        table.count(op, False)


def async_tx_issue_pending_all(chans: ChannelTable | None = None) -> None:
    """``async_tx_issue_pending_all``: start the submitted work on every channel of ``chans`` (None: of every
    open :class:`ChannelTable`)."""
    tables = [chans] if chans is not None else list(_open_tables)
    for t in tables:
        t.issue_pending_all()


def async_trigger_callback(submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_trigger_callback``: call ``submit.cb_fn`` once ``submit.depend_tx`` is done: an interrupt
    descriptor on the dependency's channel when its device has INTERRUPT, else wait for it and call back now."""
    check_depend(submit)
    dep = submit.depend_tx
    if dep is not None and dep.chan.device.cap_mask & Cap.INTERRUPT and dep.chan.client_count:
        desc = dep.chan.prep_dma_interrupt(prep_flags_of(submit))
        dep.table.count("interrupt", True)
        return async_tx_submit(dep.table, dep.chan, desc, submit, "interrupt")
    cpu_prolog(submit, "interrupt")
    sync_epilog(submit)
    return None
