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
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .._enums import Result, TransferDirection
from .._errors import ConfigError
from .._memory import DmaFault
from ._kernel import PRIO_HW, Event
from ._periph import Flow, Port, RxPort, TxPort

if TYPE_CHECKING:
    from ._soc import Soc

__all__ = ["Dmac", "Irq", "Item", "Program"]

M2M = TransferDirection.MEM_TO_MEM
M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM
#: The defaults: bytes of one bus word (a 32-bit bus), and the longest memory-to-memory burst in words.
WORD = 4
MEM_BURST = 16


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


class _Plan:
    """A closed-form plan of the rest of one item (see the module docstring)."""

    __slots__ = ("bb", "d", "d_last", "flow", "mat", "n", "n_full", "off0", "rem", "t0", "x1")

    def __init__(self, off0: int, rem: int, bb: int, d: int, t0: int, flow: Flow | None, x1: int,
                 d_last: int) -> None:
        self.off0 = off0
        self.rem = rem
        self.bb = bb
        self.d = d
        self.t0 = t0
        self.flow = flow
        self.x1 = x1
        self.n_full = rem // bb
        self.n = self.n_full + (1 if rem % bb else 0)
        self.d_last = d_last
        self.mat = 0

    def done(self, t: int) -> int:
        """Bursts finished by ``t``."""
        flow = self.flow
        if flow is not None:
            c = flow.count(t - self.d)
            if c < self.x1:
                return 0
            j = (c - self.x1) // self.bb + 1
            return j if j < self.n else self.n
        if t < self.t0:
            return 0
        j = (t - self.t0) // self.d
        if j >= self.n_full:
            j = self.n_full
            if self.n > j and t >= self.t0 + j * self.d + self.d_last:
                j += 1
        return j

    def nbytes(self, j: int) -> int:
        """Bytes moved by the first ``j`` bursts."""
        b = j * self.bb
        return b if b < self.rem else self.rem

    def start(self, j: int) -> int | None:
        """When burst ``j`` (1-based) is granted the bus; None if never."""
        if self.flow is not None:
            return self.flow.time_of(self.x1 + (j - 1) * self.bb)
        return self.t0 + (j - 1) * self.d

    def dur(self, j: int) -> int:
        return self.d if j <= self.n_full else self.d_last

    def end(self) -> int | None:
        s = self.start(self.n)
        return None if s is None else s + self.dur(self.n)


class _HwChannel:
    __slots__ = ("abort_pending", "burst_bytes", "done", "ev", "idx", "item_idx", "item_off", "next_prog",
                 "paused", "plan", "prog", "state")

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.prog: Program | None = None
        self.next_prog: Program | None = None
        self.item_idx = 0
        self.item_off = 0
        self.done = 0
        self.state = _State.IDLE
        self.paused = False
        self.abort_pending = False
        self.ev: Event | None = None
        self.plan: _Plan | None = None
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
        self.irq: IrqHandler | None = None
        self._busy_until = 0
        self._waiting: list[_HwChannel] = []
        self._last_grant = -1
        self._last_grant_ns = -1
        self._plan_retry_ns = 0
        #: Bursts simulated one by one, and items planned in closed form (for tests and curiosity).
        self.bursts = 0
        self.plans = 0

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
        plan = ch.plan
        if plan is None:
            return ch.done
        j = plan.done(self.kernel.now_ns)
        return ch.done + plan.nbytes(j) - plan.nbytes(plan.mat)

    def pause(self, idx: int) -> None:
        """Stop after the burst on the bus, if any; the request is ignored until :meth:`resume`."""
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
        ch = self.chans[idx]
        ch.paused = False
        if ch.state is _State.HALTED and ch.prog is not None:
            self._others_changed(ch)
            self._request(ch)

    def abort(self, idx: int) -> None:
        """Stop the channel: a burst already on the bus finishes (its bytes land), nothing after it."""
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
        for ch in self.chans:
            if ch.plan is not None:
                self._materialize(ch, now)

    def port_changed(self, port: Port) -> None:
        """A port's timing changed (fed data, stopped): re-plan channels that serve it."""
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
        pick = min(waiting, key=lambda c: (c.idx <= last, c.idx))
        waiting.remove(pick)
        self._last_grant = pick.idx
        self._last_grant_ns = now
        n, beats = self._burst_len(pick)
        end = now + self.burst_ns(beats)
        self._busy_until = end
        pick.state = _State.BURST
        pick.burst_bytes = n
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

    def _after_burst(self, ch: _HwChannel, plan: _Plan | None = None) -> None:
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

    def _continue(self, ch: _HwChannel, plan: _Plan) -> bool:
        """Plan the next item of a lone steady flow as the continuation of the one that just ended: same port,
        same clock, same bursts, the stream goes on where it stopped (what :meth:`_try_steady` would find)."""
        prog = ch.prog
        flow = plan.flow
        if flow is None or prog is None or ch.paused or not self.fast:
            return False
        port = prog.port
        item = prog.items[ch.item_idx]
        if port is None or port.clock is not flow.clock or item.length % plan.bb:
            return False
        halted = _State.HALTED
        for o in self.chans:
            if (o.prog is not None or o.abort_pending) and o is not ch and o.state is not halted:
                return False
        try:
            if prog.direction is M2D:
                assert item.src is not None
                self.soc.address_space.check(item.src, item.length, False)
            else:
                self.soc.address_space.check(item.dst, item.length, True)
        except DmaFault:
            return False
        now = self.kernel.now_ns
        nxt = _Plan(0, item.length, plan.bb, plan.d, now, flow, plan.x1 + plan.n * plan.bb, plan.d)
        ch.plan = nxt
        ch.state = _State.STEADY
        self.plans += 1
        end = nxt.end()
        if end is not None:
            ch.ev = self.kernel.at(end, lambda: self._steady_end(ch), f"item{ch.idx}", PRIO_HW)
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
                        return False
                    new.append((o, p))
            existing = [o.plan for o in others if o.plan is not None and o.state is steady]
            hit = self._collision(now, [p for _, p in new], existing)
            if hit is not None:
                self._plan_retry_ns = hit
                return False
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

    def _make_plan(self, ch: _HwChannel, now: int, waiting: bool) -> _Plan | None:
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
                return _Plan(off, rem, bb, self.burst_ns(burst), now, None, 0, self.burst_ns(-(-(rem % bb) // word)))
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
            return _Plan(off, rem, bb, d, now, flow, x1, d)
        except DmaFault:
            return None

    @staticmethod
    def _collision(now: int, new: list[_Plan], existing: list[_Plan]) -> int | None:
        """The first instant two bursts of different plans would hold the bus together (or start together),
        within the time all the plans run; None when there is none."""
        plans = new + existing
        ends = [e for e in (p.end() for p in plans) if e is not None]
        horizon = min(ends) if ends else None
        spans: list[tuple[int, int, int]] = []
        for k, p in enumerate(plans):
            for j in range(p.done(now) + 1, p.n + 1):
                st = p.start(j)
                if st is None or (horizon is not None and st > horizon):
                    break
                spans.append((st, st + p.dur(j), k))
        spans.sort()
        for (s0, e0, k0), (s1, _, k1) in itertools.pairwise(spans):
            if s1 < e0 or (s1 == s0 and k1 != k0):
                return s0
        return None

    def _materialize(self, ch: _HwChannel, t: int) -> None:
        plan = ch.plan
        assert plan is not None
        j = plan.done(t)
        if j <= plan.mat:
            return
        b0, b1 = plan.nbytes(plan.mat), plan.nbytes(j)
        prog = ch.prog
        assert prog is not None
        item = prog.items[ch.item_idx]
        off, n = plan.off0 + b0, b1 - b0
        space = self.soc.address_space
        port = prog.port
        if prog.direction is M2D:
            assert item.src is not None and isinstance(port, TxPort)
            port.steady_write(t, space.resolve(item.src + off, n, False).tobytes())
        elif prog.direction is D2M:
            assert isinstance(port, RxPort)
            space.resolve(item.dst + off, n, True)[:] = np.frombuffer(port.steady_read(t, n), dtype=np.uint8)
        elif item.src is None:
            space.fill(item.dst + off, item.value, n)
        else:
            space.copy(item.dst + off, item.src + off, n)
        self.bursts += j - plan.mat
        plan.mat = j
        ch.item_off = plan.off0 + b1
        ch.done += n

    def _note_grants(self, plan: _Plan, now: int, idx: int) -> None:
        """Keep the round-robin pointer right: the plan's last burst that started by now was a grant."""
        j = plan.done(now)
        if j < plan.n:
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
        self._note_grants(plan, now, ch.idx)
        ch.plan = None
        self._busy_until = now
        if ch.abort_pending:
            self._reset(ch)
        else:
            self._after_burst(ch, plan)
        self._arbitrate()

    def _drop(self, ch: _HwChannel) -> None:
        """Leave a plan at the current instant and go on burst by burst (or let its last burst end now)."""
        plan = ch.plan
        assert plan is not None
        now = self.kernel.now_ns
        self._materialize(ch, now)
        j = plan.mat
        if j == plan.n:  # the item ends at this very instant: its end event is due now and does the rest
            return
        self._note_grants(plan, now, ch.idx)
        self._cancel(ch)
        ch.plan = None
        s = plan.start(j + 1)
        if s is not None and s <= now:
            end = s + plan.dur(j + 1)
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
        ch = self.chans[idx]
        if ch.prog is None:
            return "idle"
        kind = "cyclic" if ch.prog.cyclic else ch.prog.direction.name
        return f"{ch.state.name.lower()} {kind} {self.progress(idx)}/{ch.prog.total} B"
