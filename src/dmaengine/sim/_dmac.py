"""The DMA controller model: channels, request lines, bursts, a shared bus, descriptor fetch latency, interrupts.

Semantics (burst by burst): a channel loads a program (its descriptor's linked-list items) after
``fetch_latency_ns``; before each burst it waits for its request line (memory-to-memory work is always ready);
ready channels are granted the bus round-robin in channel order; a burst of ``beats`` beats holds the bus for
``ceil(beats * bus_width_bytes / bus_bytes_per_s)`` seconds (one bus cycle per beat, however narrow the beat:
``bus_bytes_per_s`` is what the bus moves at full width) and its bytes land when it ends. Memory-to-memory work
moves full-width beats in bursts of up to ``mem_burst`` beats. A peripheral asks for a burst when its FIFO has
``max(threshold, burst)`` bytes of room (TX) or data (RX).

Speed: while a channel's peripheral runs steadily, the model does not simulate bursts. It plans the item (one
segment or period) in closed form from the peripheral's clock, schedules one event at its end, computes residue
from the clock on demand, and moves the bytes lazily (``sync``) before any client code runs. A memory-to-memory
channel is planned when it is alone; several peripheral flows are planned together when no two of their bursts
would meet on the bus in the planned window (else they go burst by burst until that instant has passed); a lone
cyclic flow continues its plan from period to period. Anything that could change the timing (another channel
starts, pause, terminate, new RX data, an unmap) drops plans back to burst by burst at the current instant, so
both paths give the same result (``Soc(fast=False)`` never plans; the tests compare the two).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dmaengine import ConfigError, Result, TransferDirection
from dmaengine.provider import DmaFault

from ._kernel import PRIO_HW, Event
from ._periph import Port, RxPort, TxPort
from ._plan import ItemPlan, RoundRobinRun, first_collision

if TYPE_CHECKING:
    from ._lane import PeriodLane
    from ._soc import Soc

__all__ = ["Dmac", "Irq", "Item", "Program"]

M2M = TransferDirection.MEM_TO_MEM
M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM
#: The defaults: bytes of one bus word (a 32-bit bus), and the longest memory-to-memory burst in words.
WORD = 4
MEM_BURST = 16
#: After a failed joint plan, the first and the longest wait before the next try.
PLAN_BACKOFF_NS = 10_000
PLAN_BACKOFF_MAX_NS = 10_000_000


class Irq(enum.Enum):
    """What a channel interrupt says."""

    PERIOD = "period"  # an item with its interrupt bit ended (cyclic period)
    DONE = "done"  # the program ended
    ERROR = "error"  # a bus error stopped the program


class Item:
    """One linked-list item: ``length`` bytes from ``src`` to ``dst`` (``src`` None: fill with ``value``)."""

    __slots__ = ("dst", "irq", "length", "src", "value")

    def __init__(self, src: int | None, dst: int, length: int, irq: bool = False, value: int = 0) -> None:
        self.src = src
        self.dst = dst
        self.length = length
        self.irq = irq
        self.value = value


class Program:
    """What a driver writes into a channel's registers: items, direction, peripheral width and burst (a
    memory-to-memory program moves the controller's full bus words in its memory bursts whatever they say)."""

    __slots__ = ("burst", "cyclic", "direction", "items", "port", "total", "width")

    def __init__(self, items: list[Item], direction: TransferDirection, width: int = WORD,
                 burst: int = MEM_BURST, port: Port | None = None, cyclic: bool = False) -> None:
        if not items:
            raise ConfigError("a program needs at least one item, not []")
        self.items = items
        self.direction = direction
        self.width = width
        self.burst = burst
        self.port = port
        self.cyclic = cyclic
        self.total = sum(i.length for i in items)


class _State(enum.Enum):
    IDLE = 0
    FETCH = 1
    WAITREQ = 2
    WAITBUS = 3
    BURST = 4
    STEADY = 5
    HALTED = 6


class _HwChannel:
    __slots__ = ("abort_pending", "burst_bytes", "checked", "done", "ev", "idx", "item_idx", "item_label",
                 "item_off", "next_prog", "paused", "plan", "prog", "state", "steady_end", "views")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        #: A program whose memory was checked whole (a cyclic ring goes on period after period unchecked).
        self.checked: Program | None = None
        #: Its items' memory, resolved when it was checked (valid while ``checked`` is the running program).
        self.views: list[np.ndarray] | None = None
        #: The end of a plan (set by the controller), and its event label.
        self.steady_end: Callable[[], None] = lambda: None
        self.item_label = f"item{idx}"
        self.prog: Program | None = None
        self.next_prog: Program | None = None
        self.item_idx = 0
        self.item_off = 0
        self.done = 0
        self.state = _State.IDLE
        self.paused = False
        self.abort_pending = False
        self.ev: Event | None = None
        self.plan: ItemPlan | None = None
        self.burst_bytes = 0


IrqHandler = Callable[[int, Irq, Result, int], None]


class Dmac:
    """The controller model. A driver programs it with :meth:`start`, :meth:`pause`, :meth:`resume`,
    :meth:`abort`, reads :meth:`progress`, and receives interrupts through ``irq(chan, Irq, Result, residue)``,
    always from a hardware event, never from inside one of these calls."""

    def __init__(self, soc: Soc, channels: int = 8, bus_bytes_per_s: int = 400_000_000,
                 fetch_latency_ns: int = 100, fast: bool = True, bus_width_bytes: int = WORD,
                 mem_burst: int = MEM_BURST) -> None:
        for name, v, lo in (("channels", channels, 1), ("bus_bytes_per_s", bus_bytes_per_s, 1),
                            ("fetch_latency_ns", fetch_latency_ns, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"{name} must be an int >= {lo}, not {v!r}")
        self.soc = soc
        self.kernel = soc.kernel
        self.bus_bytes_per_s = bus_bytes_per_s
        self.fetch_latency_ns = fetch_latency_ns
        self.fast = fast
        #: Bytes of one bus beat, and the longest memory-to-memory burst in beats.
        self.bus_width_bytes = bus_width_bytes
        self.mem_burst = mem_burst
        self.chans = [_HwChannel(i) for i in range(channels)]
        for c in self.chans:
            c.steady_end = functools.partial(self._steady_end, c)
        self.irq: IrqHandler | None = None
        self._busy_until = 0
        self._waiting: list[_HwChannel] = []
        self._last_grant = -1
        self._last_grant_ns = -1
        self._plan_retry_ns = 0
        self._plan_backoff_ns = 0
        #: Bursts simulated one by one, and items planned in closed form (for tests and curiosity).
        self.bursts = 0
        self.plans = 0
        #: Memory-to-memory channels granted round-robin in a run of bursts computed, not stepped (see
        #: :meth:`_start_run`), in grant order; the run's end event.
        self._run: RoundRobinRun | None = None
        self._run_chans: list[_HwChannel] = []
        self._run_ev: Event | None = None
        #: Runs of bursts computed (for tests and curiosity).
        self.runs = 0
        self.kernel.watchers.append(self._run_watch)
        #: The lean per-period path of a lone cyclic flow (sim/_lane.py), wired by the SoC; None: plain events.
        self.lane: PeriodLane | None = None

    # --- timing -------------------------------------------------------------------------------------------
    def burst_ns(self, beats: int) -> int:
        """How long a burst of ``beats`` bus cycles holds the bus."""
        return -(-beats * self.bus_width_bytes * 1_000_000_000 // self.bus_bytes_per_s)

    def _burst_len(self, ch: _HwChannel) -> tuple[int, int]:
        """(bytes, beats) of the channel's next burst."""
        prog = ch.prog
        assert prog is not None
        rem = prog.items[ch.item_idx].length - ch.item_off
        width, burst = (self.bus_width_bytes, self.mem_burst) if prog.direction is M2M else (prog.width, prog.burst)
        bb = width * burst
        n = bb if bb < rem else rem
        return n, -(-n // width)

    # --- driver interface -----------------------------------------------------------------------------------
    def start(self, idx: int, prog: Program) -> None:
        """Load ``prog`` into channel ``idx``; it runs after the descriptor fetch latency."""
        if self._run is not None:
            self._run_settle()
        ch = self.chans[idx]
        if ch.abort_pending:
            ch.next_prog = prog
            return
        if ch.prog is not None:
            raise RuntimeError(f"channel {idx} is busy")
        ch.prog = prog
        ch.item_idx = ch.item_off = ch.done = 0
        ch.state = _State.FETCH
        self._others_changed(ch)
        k = self.kernel
        ch.ev = k.at(k.now_ns + self.fetch_latency_ns, lambda: self._fetched(ch), f"fetch{idx}", PRIO_HW)

    def aborting(self, idx: int) -> bool:
        """True while an aborted channel's last burst is still on the bus."""
        return self.chans[idx].abort_pending

    def busy(self, idx: int) -> bool:
        """True while channel ``idx`` holds a program or an aborted burst is still on the bus."""
        ch = self.chans[idx]
        return ch.prog is not None or ch.abort_pending

    def progress(self, idx: int) -> int:
        """Bytes moved by the program in this pass (cyclic: since the ring last wrapped), at burst granularity."""
        ch = self.chans[idx]
        if self._run is not None:
            self._run_materialize(self._run.done(self.kernel.now_ns))
        plan = ch.plan
        if plan is None:
            return ch.done
        j = plan.done(self.kernel.now_ns)
        return ch.done + plan.nbytes(j) - plan.nbytes(plan.materialized)

    def pause(self, idx: int) -> None:
        """Stop after the burst on the bus, if any; the request is ignored until :meth:`resume`."""
        if self._run is not None:
            self._run_settle()
        ch = self.chans[idx]
        ch.paused = True
        if ch.state is _State.STEADY:
            self._drop(ch)
        elif ch.state is _State.WAITREQ:
            self._cancel(ch)
            ch.state = _State.HALTED
        elif ch.state is _State.WAITBUS:
            self._waiting.remove(ch)
            ch.state = _State.HALTED

    def resume(self, idx: int) -> None:
        """Continue a paused channel where it stopped."""
        if self._run is not None:
            self._run_settle()
        ch = self.chans[idx]
        ch.paused = False
        if ch.state is _State.HALTED and ch.prog is not None:
            self._others_changed(ch)
            self._request(ch)

    def abort(self, idx: int) -> None:
        """Stop the channel: a burst already on the bus finishes (its bytes land), nothing after it."""
        if self._run is not None:
            self._run_settle()
        ch = self.chans[idx]
        ch.next_prog = None
        if ch.state is _State.STEADY:
            ch.paused = True  # so that the drop does not plan again
            self._drop(ch)
        ch.paused = False
        if ch.state is _State.BURST or ch.state is _State.STEADY:
            ch.abort_pending = True
            return
        self._cancel(ch)
        if ch in self._waiting:
            self._waiting.remove(ch)
        self._reset(ch)

    def sync(self) -> None:
        """Move the bytes of every planned burst finished by now (before client code looks at memory)."""
        now = self.kernel.now_ns
        if self._run is not None:
            self._run_materialize(self._run.done(now))
        for ch in self.chans:
            if ch.plan is not None:
                self._materialize(ch, now)

    def port_changed(self, port: Port) -> None:
        """A port's timing changed (fed data, stopped): re-plan channels that serve it."""
        if self._run is not None:
            self._run_settle()
        for ch in self.chans:
            prog = ch.prog
            if prog is None or prog.port is not port:
                continue
            if ch.state is _State.STEADY:
                self._drop(ch)
            elif ch.state is _State.WAITREQ:
                self._cancel(ch)
                self._request(ch)

    def memory_changed(self) -> None:
        """A mapping went away: re-plan, so that a bus error happens at its exact burst."""
        for ch in self.chans:
            ch.checked = None
        if self._run is not None:
            self._run_settle()
        for ch in self.chans:
            if ch.state is _State.STEADY:
                self._drop(ch)

    # --- burst by burst -----------------------------------------------------------------------------------
    def _cancel(self, ch: _HwChannel) -> None:
        if ch.ev is not None:
            ch.ev.cancel()
            ch.ev = None

    def _reset(self, ch: _HwChannel) -> None:
        ch.prog = None
        ch.plan = None
        ch.state = _State.IDLE
        ch.abort_pending = False
        nxt, ch.next_prog = ch.next_prog, None
        if nxt is not None:
            self.start(ch.idx, nxt)

    def _fetched(self, ch: _HwChannel) -> None:
        ch.ev = None
        prog = ch.prog
        assert prog is not None
        if isinstance(prog.port, RxPort):
            prog.port.dma_enable(self.kernel.now_ns)
        self._request(ch)

    def _request(self, ch: _HwChannel) -> None:
        """The channel wants its next burst: wait for the request line, then for the bus."""
        if ch.paused:
            ch.state = _State.HALTED
            return
        prog = ch.prog
        assert prog is not None
        port = prog.port
        if port is not None:
            now = self.kernel.now_ns
            port.advance(now)
            n, _ = self._burst_len(ch)
            need = max(port.threshold, n)
            t = port.time_when_room(need) if isinstance(port, TxPort) else port.time_when_level(need)  # type: ignore[attr-defined]
            if t != -1:
                ch.state = _State.WAITREQ
                if self._try_steady(ch):
                    return
                self._others_changed(ch)  # plans coexist only with plans
                if ch.state is not _State.WAITREQ or ch.ev is not None:
                    return  # planned together with the others meanwhile
                if t is not None:
                    ch.ev = self.kernel.at(t, lambda: self._request(ch), f"dreq{ch.idx}", PRIO_HW)
                return
        elif prog.direction is M2M and self._try_steady(ch):
            return
        ch.state = _State.WAITBUS
        self._waiting.append(ch)
        self._others_changed(ch)
        self._arbitrate()

    def _arbitrate(self) -> None:
        now = self.kernel.now_ns
        waiting = self._waiting
        if not waiting or self._busy_until > now:
            return
        last = self._last_grant
        pick = waiting[0] if len(waiting) == 1 else min(waiting, key=lambda c: (c.idx <= last, c.idx))
        waiting.remove(pick)
        self._last_grant = pick.idx
        self._last_grant_ns = now
        n, beats = self._burst_len(pick)
        end = now + self.burst_ns(beats)
        self._busy_until = end
        pick.state = _State.BURST
        pick.burst_bytes = n
        if self.fast and self._start_run(pick, now):
            return
        pick.ev = self.kernel.at(end, lambda: self._burst_end(pick), f"burst{pick.idx}", PRIO_HW)

    def _burst_end(self, ch: _HwChannel) -> None:
        ch.ev = None
        self.bursts += 1
        now = self.kernel.now_ns
        n = ch.burst_bytes
        res = self._move(ch, ch.item_off, n, now)
        if ch.abort_pending:
            self._reset(ch)
        elif res is not Result.NOERROR:
            self._fault(ch, res)
        else:
            ch.item_off += n
            ch.done += n
            self._after_burst(ch)
        self._arbitrate()

    def _after_burst(self, ch: _HwChannel, plan: ItemPlan | None = None) -> None:
        """The burst that ended now may end an item or the program; then ask for the next burst (or go on with
        ``plan``, the plan that just ended, into the next item)."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        if ch.item_off == item.length:
            ch.item_idx += 1
            ch.item_off = 0
            if ch.item_idx == len(prog.items):
                if not prog.cyclic:
                    ch.prog = None
                    ch.state = _State.IDLE
                    self._raise(ch, Irq.DONE, Result.NOERROR, 0)
                    return
                ch.item_idx = 0
                ch.done = 0
            if item.irq:
                self._raise(ch, Irq.PERIOD, Result.NOERROR, 0)
            if plan is not None and self._continue(ch, plan):
                return
        self._request(ch)

    def _continue(self, ch: _HwChannel, plan: ItemPlan) -> bool:
        """Plan the next item of a lone steady flow as the continuation of the one that just ended: same port,
        same clock, same bursts, the stream goes on where it stopped (what :meth:`_try_steady` would find)."""
        prog = ch.prog
        flow = plan.flow
        if flow is None or prog is None or ch.paused or not self.fast:
            return False
        port = prog.port
        item = prog.items[ch.item_idx]
        if port is None or port.clock is not flow.clock or item.length % plan.burst_bytes:
            return False
        halted = _State.HALTED
        for o in self.chans:
            if (o.prog is not None or o.abort_pending) and o is not ch and o.state is not halted:
                return False
        if ch.checked is not prog:  # every item's memory once, until a mapping goes away (memory_changed)
            space = self.soc.address_space
            try:
                if prog.direction is M2D:
                    views = [space.resolve(it.src, it.length, False) for it in prog.items]  # type: ignore[arg-type]
                else:
                    views = [space.resolve(it.dst, it.length, True) for it in prog.items]
            except DmaFault:
                return False
            ch.checked = prog
            ch.views = views
        now = self.kernel.now_ns
        if plan.item_offset == 0 and plan.item_bytes == item.length and plan.last_burst_ns == plan.burst_ns:
            plan.follow_on(now)
            nxt = plan
        else:
            nxt = ItemPlan(0, item.length, plan.burst_bytes, plan.burst_ns, now, flow,
                           plan.first_request_bytes + plan.bursts * plan.burst_bytes, plan.burst_ns)
        ch.plan = nxt
        ch.state = _State.STEADY
        self.plans += 1
        end = nxt.end()
        if end is not None:
            lane = self.lane
            if lane is None:
                ch.ev = self.kernel.at(end, ch.steady_end, ch.item_label, PRIO_HW)
            else:
                ch.ev = lane.schedule(ch, end, ch.steady_end, ch.item_label)
        return True

    def _raise(self, ch: _HwChannel, kind: Irq, result: Result, residue: int) -> None:
        if self.irq is not None:
            self.irq(ch.idx, kind, result, residue)

    def _fault(self, ch: _HwChannel, result: Result) -> None:
        prog = ch.prog
        assert prog is not None
        residue = prog.total - ch.done
        ch.prog = None
        ch.state = _State.IDLE
        self._raise(ch, Irq.ERROR, result, residue)

    def _move(self, ch: _HwChannel, off: int, n: int, t: int) -> Result:
        """Move ``n`` bytes at item offset ``off`` at instant ``t``; a bus error is a result."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        space = self.soc.address_space
        d = prog.direction
        try:
            if d is M2D:
                assert item.src is not None
                data = space.resolve(item.src + off, n, False)
                port = prog.port
                if not isinstance(port, TxPort):
                    return Result.WRITE_FAILED
                port.dma_write(t, data.tobytes())
            elif d is D2M:
                view = space.resolve(item.dst + off, n, True)
                port = prog.port
                if not isinstance(port, RxPort):
                    return Result.READ_FAILED
                view[:] = np.frombuffer(port.dma_read(t, n), dtype=np.uint8)
            elif item.src is None:
                space.fill(item.dst + off, item.value, n)
            else:
                space.check(item.src + off, n, False)
                space.copy(item.dst + off, item.src + off, n)
        except DmaFault as f:
            return Result.WRITE_FAILED if f.write else Result.READ_FAILED
        return Result.NOERROR

    # --- closed-form plans --------------------------------------------------------------------------------
    def _try_steady(self, ch: _HwChannel) -> bool:
        """Plan the rest of ``ch``'s item in closed form, with the items of the other active channels when they
        are peripheral flows too and no two of their bursts would meet on the bus."""
        if not self.fast or ch.paused:
            return False
        now = self.kernel.now_ns
        if self._busy_until > now:
            return False
        prog = ch.prog
        assert prog is not None
        halted, steady, waitreq = _State.HALTED, _State.STEADY, _State.WAITREQ
        others = []
        for o in self.chans:
            if (o.prog is not None or o.abort_pending) and o is not ch and o.state is not halted:
                if o.state is waitreq and o.ev is None and not o.abort_pending:
                    continue  # its request line stays low until its port changes (that drops every plan)
                if prog.direction is M2M or now < self._plan_retry_ns or o.abort_pending or o.paused:
                    return False
                if o.state is steady:
                    assert o.plan is not None
                    if o.plan.flow is None:
                        return False
                elif o.state is not waitreq:
                    return False
                others.append(o)
        plan = self._make_plan(ch, now, True)
        if plan is None:
            return False
        new = [(ch, plan)]
        if others:
            for o in others:
                if o.state is waitreq:
                    p = self._make_plan(o, now, False)
                    if p is None:
                        self._plan_failed(now, None)
                        return False
                    new.append((o, p))
            existing = [o.plan for o in others if o.plan is not None and o.state is steady]
            hit = first_collision(now, [p for _, p in new], existing)
            if hit is not None:
                self._plan_failed(now, hit)
                return False
            self._plan_backoff_ns = 0
        for c, p in new:
            if c is not ch:
                self._cancel(c)
            c.plan = p
            c.state = steady
            self.plans += 1
            end = p.end()
            if end is not None:
                c.ev = self.kernel.at(end, lambda c=c: self._steady_end(c), f"item{c.idx}", PRIO_HW)  # type: ignore[misc]
        return True

    def _plan_failed(self, now: int, hit: int | None) -> None:
        """Flows could not be planned together now (their bursts meet at ``hit``, or one of them is not steady):
        try again no sooner than ``hit``, and back off (planning is optional: burst by burst gives the same)."""
        backoff = min(max(2 * self._plan_backoff_ns, PLAN_BACKOFF_NS), PLAN_BACKOFF_MAX_NS)
        self._plan_backoff_ns = backoff
        self._plan_retry_ns = max(now + backoff, 0 if hit is None else hit)

    def _make_plan(self, ch: _HwChannel, now: int, waiting: bool) -> ItemPlan | None:
        """A plan of the rest of ``ch``'s current item from now, if its flow is steady; else None. ``waiting``:
        the caller saw that the channel's request is not asserted now."""
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        off = ch.item_off
        rem = item.length - off
        space = self.soc.address_space
        try:
            if prog.direction is M2M:
                if item.src is not None:
                    if item.src < item.dst + item.length and item.dst < item.src + item.length:
                        return None  # overlapping: copied burst by burst, as the hardware would
                    space.check(item.src + off, rem, False)
                space.check(item.dst + off, rem, True)
                word, burst = self.bus_width_bytes, self.mem_burst
                bb = word * burst
                return ItemPlan(off, rem, bb, self.burst_ns(burst), now, None, 0,
                                self.burst_ns(-(-(rem % bb) // word)))
            port = prog.port
            if port is None:
                return None
            bb = prog.width * prog.burst
            if rem % bb:
                return None
            need = max(port.threshold, bb)
            if not waiting:
                port.advance(now)
                if isinstance(port, TxPort):
                    if port.time_when_room(need) == -1:
                        return None  # asserted now: the burst is not a planned one
                elif port.time_when_level(need) == -1:  # type: ignore[attr-defined]
                    return None
            flow = port.steady_flow(now)
            if flow is None:
                return None
            m, u, depth = flow.clock.min_interval_ns, port.unit, port.depth
            d = self.burst_ns(prog.burst)
            if m <= 0 or bb // u < 1 or (bb // u) * m < d:
                return None
            w = -(-d // m)
            if isinstance(port, TxPort):
                if depth - need - u + 1 < u * w:
                    return None
                assert item.src is not None
                space.check(item.src + off, rem, False)
                x1 = port.written + need - depth
            else:
                assert isinstance(port, RxPort)
                if need + u - 1 + u * w > depth:
                    return None
                space.check(item.dst + off, rem, True)
                x1 = port.popped + need
            return ItemPlan(off, rem, bb, d, now, flow, x1, d)
        except DmaFault:
            return None

    def _materialize(self, ch: _HwChannel, t: int) -> None:
        plan = ch.plan
        assert plan is not None
        j = plan.done(t)
        m = plan.materialized
        if j <= m:
            return
        bb, size = plan.burst_bytes, plan.item_bytes
        b0, b1 = m * bb, j * bb  # plan.nbytes(m), plan.nbytes(j), inlined
        if b1 > size:
            b1 = size
            if b0 > size:
                b0 = size
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        off, n = plan.item_offset + b0, b1 - b0
        port = prog.port
        direction = prog.direction
        if direction is M2D:
            assert item.src is not None and isinstance(port, TxPort)
            views = ch.views if ch.checked is prog else None  # a cyclic ring's items, resolved once (_continue)
            if views is not None:
                port.steady_write(t, views[ch.item_idx][off : off + n].tobytes())
            else:
                port.steady_write(t, self.soc.address_space.resolve(item.src + off, n, False).tobytes())
        elif direction is D2M:
            assert isinstance(port, RxPort)
            views = ch.views if ch.checked is prog else None
            view = (views[ch.item_idx][off : off + n] if views is not None
                    else self.soc.address_space.resolve(item.dst + off, n, True))
            view[:] = np.frombuffer(port.steady_read(t, n), dtype=np.uint8)
        elif item.src is None:
            self.soc.address_space.fill(item.dst + off, item.value, n)
        else:
            self.soc.address_space.copy(item.dst + off, item.src + off, n)
        self.bursts += j - m
        plan.materialized = j
        ch.item_off = plan.item_offset + b1
        ch.done += n

    def _note_grants(self, plan: ItemPlan, now: int, idx: int) -> None:
        """Keep the round-robin pointer right: the plan's last burst that started by now was a grant."""
        j = plan.done(now)
        if j < plan.bursts:
            s = plan.start(j + 1)
            if s is not None and s <= now:
                j += 1
        if j:
            s = plan.start(j)
            assert s is not None
            if s > self._last_grant_ns:
                self._last_grant_ns = s
                self._last_grant = idx

    def _steady_end(self, ch: _HwChannel) -> None:
        ch.ev = None
        now = self.kernel.now_ns
        self._materialize(ch, now)
        plan = ch.plan
        assert plan is not None
        j = plan.bursts
        if plan.materialized == j:  # the end event (at plan.end()): its last burst was the last grant
            s = now - (plan.burst_ns if j <= plan.full_bursts else plan.last_burst_ns)
            if s > self._last_grant_ns:
                self._last_grant_ns = s
                self._last_grant = ch.idx
        else:
            self._note_grants(plan, now, ch.idx)
        ch.plan = None
        self._busy_until = now
        if ch.abort_pending:
            self._reset(ch)
        else:
            self._after_burst(ch, plan)
        if self._waiting:
            self._arbitrate()

    def _drop(self, ch: _HwChannel) -> None:
        """Leave a plan at the current instant and go on burst by burst (or let its last burst end now)."""
        plan = ch.plan
        assert plan is not None
        now = self.kernel.now_ns
        self._materialize(ch, now)
        j = plan.materialized
        if j == plan.bursts:  # the item ends at this very instant: its end event is due now and does the rest
            return
        self._note_grants(plan, now, ch.idx)
        self._cancel(ch)
        ch.plan = None
        s = plan.start(j + 1)
        if s is not None and s <= now:
            end = s + plan.duration_ns(j + 1)
            ch.state = _State.BURST
            ch.burst_bytes = plan.nbytes(j + 1) - plan.nbytes(j)
            self._busy_until = end
            ch.ev = self.kernel.at(end, lambda: self._burst_end(ch), f"burst{ch.idx}", PRIO_HW)
            return
        ch.state = _State.WAITREQ
        if ch.paused:
            ch.state = _State.HALTED
            return
        self._request(ch)

    def _others_changed(self, ch: _HwChannel) -> None:
        for o in self.chans:
            if o is not ch and o.state is _State.STEADY:
                self._drop(o)

    # --- round-robin runs of memory-to-memory bursts -----------------------------------------------------------
    def _start_run(self, pick: _HwChannel, now: int) -> bool:
        """``pick`` was just granted a burst and every other channel waiting for the bus is memory to memory: while
        nothing else happens (no other event, no item ends), they take the bus in turn, full burst after full
        burst. Compute that stretch as one :class:`RoundRobinRun` with one event at its end (and a kernel watch
        that shortens it, or turns it back into the burst it is in, when anything else is scheduled within it).
        False when there is no such stretch of at least two bursts."""
        prog = pick.prog
        assert prog is not None
        if prog.direction is not M2M:
            return False
        word, burst = self.bus_width_bytes, self.mem_burst
        bb = word * burst
        if pick.burst_bytes != bb:
            return False
        waiting = self._waiting
        for c in waiting:
            if c.prog is None or c.prog.direction is not M2M:
                return False
        for c in self.chans:
            if c.plan is not None or (c.state is _State.BURST and c is not pick):
                return False
        parts = [pick, *sorted(waiting, key=lambda c: (c.idx <= pick.idx, c.idx))]
        full = []
        for c in parts:
            assert c.prog is not None
            rem = c.prog.items[c.item_idx].length - c.item_off
            full.append(-(-rem // bb) - 1)
        d = self.burst_ns(burst)
        k = len(parts)
        n = RoundRobinRun.length(k, now, d, full, self.kernel.peek())
        if n < 2:
            return False
        run = RoundRobinRun(k, now, d, bb, n)
        # The bytes of the run: no bus error, and no channel writes what another reads or writes.
        space = self.soc.address_space
        spans: list[tuple[int, int, bool, int]] = []
        try:
            for i, c in enumerate(parts):
                assert c.prog is not None
                item = c.prog.items[c.item_idx]
                size = run.share(i, n) * bb
                if not size:
                    continue
                if item.src is not None:
                    space.check(item.src + c.item_off, size, False)
                    spans.append((item.src + c.item_off, size, False, i))
                space.check(item.dst + c.item_off, size, True)
                spans.append((item.dst + c.item_off, size, True, i))
        except DmaFault:
            return False
        spans.sort()
        reach: list[tuple[int, bool, int]] = []  # (end, write, channel) of spans seen so far that may still overlap
        for a, size, write, i in spans:
            reach = [r for r in reach if r[0] > a]
            for _, w, j in reach:
                if (w or write) and (j != i or w != write):
                    return False
            reach.append((a + size, write, i))
        self._waiting = []
        for c in parts:
            c.state = _State.BURST
        self._run = run
        self._run_chans = parts
        end = run.end_ns(n - 1)
        self._busy_until = end
        self._run_ev = self.kernel.at(end, self._run_end, "run", PRIO_HW)
        self.kernel.watch(end)
        self.runs += 1
        return True

    def _run_materialize(self, g: int) -> None:
        """Move the bytes of the run's first ``g`` bursts (those not moved yet)."""
        run = self._run
        assert run is not None
        if g <= run.materialized:
            return
        space = self.soc.address_space
        bb = run.burst_bytes
        for i, c in enumerate(self._run_chans):
            k = run.share(i, g) - run.share(i, run.materialized)
            if k <= 0:
                continue
            prog = c.prog
            assert prog is not None
            item = prog.items[c.item_idx]
            off, nbytes = c.item_off, k * bb
            if item.src is None:
                space.fill(item.dst + off, item.value, nbytes)
            else:
                space.copy(item.dst + off, item.src + off, nbytes)
            c.item_off += nbytes
            c.done += nbytes
        self.bursts += g - run.materialized
        run.materialized = g

    def _run_close(self, g: int) -> _HwChannel:
        """End the run with burst ``g`` on the bus (its bytes not moved): the state burst by burst would have then.
        Returns the channel holding burst ``g``."""
        run = self._run
        assert run is not None
        self._run_materialize(g)
        parts = self._run_chans
        holder = parts[g % run.channels]
        for c in parts:
            if c is not holder:
                c.state = _State.WAITBUS
                self._waiting.append(c)
        holder.burst_bytes = run.burst_bytes
        self._last_grant = holder.idx
        self._last_grant_ns = run.start_ns + g * run.burst_ns
        self._busy_until = run.end_ns(g)
        self._run = None
        self._run_chans = []
        return holder

    def _run_end(self) -> None:
        """The run's last burst ends now: from here on, burst by burst (the next arbitration may start a run)."""
        run = self._run
        assert run is not None
        self._run_ev = None
        holder = self._run_close(run.bursts - 1)
        self._burst_end(holder)

    def _run_settle(self) -> None:
        """Something other than the run's own bursts happens now: turn the run into the burst now on the bus."""
        run, ev = self._run, self._run_ev
        assert run is not None and ev is not None
        now = self.kernel.now_ns
        g = run.done(now)
        if g >= run.bursts:  # its end event is due now
            return
        holder = self._run_close(g)
        self._run_ev = None
        holder.ev = self.kernel.reschedule(ev, run.end_ns(g), lambda: self._burst_end(holder), f"burst{holder.idx}")

    def _run_watch(self, t: int) -> int:
        """An event is being scheduled at ``t``: a run must end before it. Returns the end of the run (-1: none)."""
        run, ev = self._run, self._run_ev
        if run is None or ev is None:
            return -1
        end = run.end_ns(run.bursts - 1)
        if t > end:
            return end
        keep = run.last_before(t)
        if keep >= run.done(self.kernel.now_ns) + 2:
            run.bursts = keep
            end = run.end_ns(keep - 1)
            self._run_ev = self.kernel.reschedule(ev, end)
            self._busy_until = end
            return end
        self._run_settle()
        return -1
    def line_state(self, idx: int) -> tuple[bool, bool, Port | None]:
        """What a waveform shows of channel ``idx`` (sim/_wave.py): whether it holds a program, whether its
        burst holds the bus, and the port whose request line it has raised (waiting for the bus or bursting),
        if any."""
        ch = self.chans[idx]
        st = ch.state
        on_bus = st is _State.BURST
        prog = ch.prog
        port = prog.port if prog is not None and (on_bus or st is _State.WAITBUS) else None
        return prog is not None or ch.abort_pending, on_bus, port

    def describe(self, idx: int) -> str:
        """A one-line state of channel ``idx`` for the debugfs summary."""
        if self._run is not None:
            self._run_settle()
        ch = self.chans[idx]
        if ch.prog is None:
            return "idle"
        kind = "cyclic" if ch.prog.cyclic else ch.prog.direction.name
        return f"{ch.state.name.lower()} {kind} {self.progress(idx)}/{ch.prog.total} B"
