"""Waveforms of the simulated SoC: a Value Change Dump (VCD) in virtual nanoseconds, for GTKWave or Surfer.

Signals, one scope per controller and per peripheral:

- ``soc.dma0.bus_grant``: the channel whose burst holds the memory bus (``z`` while the bus is idle);
- ``soc.dma0.chN_busy``: channel N holds a program (from when its driver starts it until it ends or is aborted);
- ``soc.dma0.chN_irq``: an event at each interrupt of channel N (period, done or error);
- ``soc.PERIPHERAL.tx_dreq`` / ``rx_dreq``: the DMA request line of a FIFO, asserted while a channel that
  serves it has its request raised (room for a burst in a TX FIFO, data for one in an RX FIFO) until the burst
  it asked for has ended;
- ``soc.PERIPHERAL.tx_level`` / ``rx_level``: the bytes in the FIFO, at every peripheral tick and burst.

Exactness, with the controller's closed-form plans kept: the controller reports every burst when its bytes move
(``Dmac.burst_probe``: request, grant and end instants, burst by burst or, for a planned stretch, when it is
materialized), and the request lines and the bus grant are drawn from those intervals (a request line also from
the channel state at each event: a burst stepped one by one asserts it while it waits for the bus). The FIFO
levels come from the peripherals' own ticks, run one instant at a time in time order; before each tick the
controller is synced to that instant (``Dmac.sync``), so a planned burst's bytes land before the ticks after it,
and the instant it landed is drawn from its probe. Edges reach the file in time order once final: up to one burst
before the current instant at each Soc advance (a burst still on the bus reports itself when it ends), the rest
at :meth:`Waveform.close`. The waveform is edge for edge the one recorded with ``Soc(fast=False)`` (the tests
compare the two). Recording off costs one None test per kernel event and per burst.

Hooks (the only places this module is wired in): ``Kernel.probe`` runs each event through :meth:`Waveform.run`;
``Soc._advance`` calls :meth:`Waveform.sample` before it runs the simulation and :meth:`Waveform.settle` after;
``Dmac.burst_probe`` reports bursts; ``Dmac.line_state`` reads a channel's lines; the controller's ``irq`` handler
is wrapped while recording.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from dmaengine import ConfigError, TransferDirection

if TYPE_CHECKING:
    from ._dmac import Dmac, Irq
    from ._periph import Port
    from ._soc import Soc

__all__ = ["Waveform"]

M2D = TransferDirection.MEM_TO_DEV


def _writer(f: IO[str], t0: int) -> Any:
    try:
        from vcd import VCDWriter
    except ImportError:
        raise ConfigError("waveforms need pyvcd (pip install 'dmaengine[wave]')") from None
    import dmaengine

    return VCDWriter(f, timescale="1 ns", date="(virtual time)", version=f"dmaengine {dmaengine.__version__}",
                     comment="a waveform of the simulated SoC", init_timestamp=t0)


class Waveform:
    """Records a waveform of ``soc`` to ``path`` from now until :meth:`close` (a context manager).

    Made by :meth:`Soc.record_vcd` (or ``Soc(vcd=path)``); a SoC records one waveform at a time.
    """

    def __init__(self, soc: Soc, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._soc = soc
        self._file: IO[str] | None = open(self.path, "w", encoding="ascii")  # noqa: SIM115 (closed in close())
        try:
            w = self._w = _writer(self._file, soc.now_ns)
            self._ports: list[Port] = [p for per in soc.peripherals for p in per.ports]
            self._dmacs: list[Dmac] = list(soc.controllers)
            self._grant = []
            self._busy: list[list[Any]] = []
            self._irq: list[list[Any]] = []
            for k, d in enumerate(self._dmacs):
                scope = f"soc.dma{k}"
                n = len(d.chans)
                self._grant.append(w.register_var(scope, "bus_grant", "wire", size=max(1, (n - 1).bit_length()),
                                                  init="z"))
                self._busy.append([w.register_var(scope, f"ch{i}_busy", "wire", size=1, init=0) for i in range(n)])
                self._irq.append([w.register_var(scope, f"ch{i}_irq", "event") for i in range(n)])
            self._dreq = {}
            self._level = {}
            for p in self._ports:
                scope, kind = f"soc.{p.owner.name}", "tx" if p is p.owner.tx else "rx"
                self._dreq[id(p)] = w.register_var(scope, f"{kind}_dreq", "wire", size=1, init=0)
                self._level[id(p)] = w.register_var(scope, f"{kind}_level", "integer",
                                                    size=max(1, p.depth.bit_length()), init=0)
        except BaseException:
            self._file.close()
            self._file = None
            os.remove(self.path)  # no empty file left behind
            raise
        t0 = soc.now_ns
        #: The order of the variables within one instant in the file (registration order).
        self._order = {id(v): i for i, v in enumerate(
            [*self._grant, *(v for vs in self._busy for v in vs), *(v for vs in self._irq for v in vs),
             *self._dreq.values(), *self._level.values()])}
        #: Changes not written yet, ``(t, order, seq, var, value)``; the file has everything before ``_flushed``.
        self._pending: list[tuple[int, int, int, Any, Any]] = []
        self._seq = 0
        self._flushed = t0
        #: Bus grants ``(grant_ns, end_ns, channel)`` per controller and request intervals ``(request_ns, end_ns)``
        #: per port, from the bursts the controllers report; the request line each port's channels show at each
        #: sampled instant ``(t, asserted)``, and the last one before ``_flushed``.
        self._grants: list[list[tuple[int, int, int]]] = [[] for _ in self._dmacs]
        self._reqs: dict[int, list[tuple[int, int]]] = {id(p): [] for p in self._ports}
        self._asserted: dict[int, list[tuple[int, bool]]] = {id(p): [] for p in self._ports}
        self._asserted_before: dict[int, bool] = {id(p): False for p in self._ports}
        #: While the controllers are synced to an instant: the bursts whose bytes landed, by port.
        self._landed: dict[int, list[int]] | None = None
        self._handlers: list[Callable[[int, Irq, Any, int], None] | None] = []
        for k, d in enumerate(self._dmacs):
            d.sync()  # nothing before the recording is left to land in it
            d.burst_probe = self._probe(k, d)
            self._handlers.append(d.irq)
            d.irq = self._irq_handler(k, d.irq)
        for p in self._ports:
            p.advance(t0)
        soc.kernel.probe = self.run
        self.settle()

    # --- hooks ----------------------------------------------------------------------------------------------
    def _irq_handler(self, k: int, handler: Callable[[int, Irq, Any, int], None] | None
                     ) -> Callable[[int, Irq, Any, int], None]:
        def irq(idx: int, kind: Irq, result: Any, residue: int) -> None:
            self._change(self._soc.now_ns, self._irq[k][idx], True)
            if handler is not None:
                handler(idx, kind, result, residue)

        return irq

    def _probe(self, k: int, d: Dmac) -> Callable[[int, int, int, int], None]:
        def probe(idx: int, request_ns: int, grant_ns: int, end_ns: int) -> None:
            self._grants[k].append((grant_ns, end_ns, idx))
            prog = d.chans[idx].prog
            port = None if prog is None else prog.port
            if port is not None and id(port) in self._reqs:
                self._reqs[id(port)].append((request_ns, end_ns))
                if self._landed is not None:
                    self._landed.setdefault(id(port), []).append(end_ns)

        return probe

    def run(self, t: int, fn: Callable[[], None]) -> None:
        """Run one kernel event at ``t``: first the peripherals' ticks before ``t``, one instant at a time (the
        bursts planned to land before each), then the event, then what it changed."""
        self._catch_up(t, inclusive=False)
        self._sync_to(t - 1)  # not to t: the event may end a run of planned bursts, and it moves the last one itself
        fn()
        self._sync_to(t)
        self._sample(t)

    def sample(self) -> None:
        """Record what client code changed at the current instant (before the simulation runs on)."""
        now = self._soc.now_ns
        self._sync_to(now)
        self._sample(now)

    def settle(self) -> None:
        """Bring the peripherals' ticks up to now, one instant at a time, record the state (after the simulation
        ran), and write what is final."""
        now = self._soc.now_ns
        self._catch_up(now, inclusive=True)
        self._sync_to(now)
        self._sample(now)
        self._flush(now - self._longest_burst_ns())

    # --- recording ------------------------------------------------------------------------------------------
    def _change(self, t: int, var: Any, value: Any) -> None:
        if t < self._flushed:
            raise AssertionError(f"waveform: a change at {t} ns after the file reached {self._flushed} ns")
        self._pending.append((t, self._order[id(var)], self._seq, var, value))
        self._seq += 1

    def _sync_to(self, t: int) -> None:
        """Land every planned burst that ended by ``t`` (``Dmac.sync`` at ``t``, a past instant of the current
        event's, or the current one); each port's FIFO level at each instant one landed, between its ticks."""
        kernel = self._soc.kernel
        before = [(len(p.fifo), p.ticks_done) for p in self._ports]
        now = kernel.now_ns
        landed: dict[int, list[int]] = {}
        self._landed = landed
        kernel.now_ns = t  # the controller moves what has landed by t: nothing runs, nothing is scheduled
        try:
            for d in self._dmacs:
                d.sync()
        finally:
            kernel.now_ns = now
            self._landed = None
        if not landed:
            return
        for (level, ticks), p in zip(before, self._ports):
            ends = landed.get(id(p))
            if not ends:
                continue
            # The bursts of a plan are all of one size; the ticks that ran meanwhile are those at t (moving a
            # whole unit each: a plan never lets its FIFO run dry or full).
            moved = (p.ticks_done - ticks) * p.unit
            total = (len(p.fifo) - level + moved) if p.direction is M2D else (level + moved - len(p.fifo))
            each = total // len(ends)
            sign = 1 if p.direction is M2D else -1
            var = self._level[id(p)]
            for i, e in enumerate(sorted(ends)):
                if e < t:
                    self._change(max(e, self._flushed), var, level + sign * each * (i + 1))

    def _catch_up(self, t: int, inclusive: bool) -> None:
        """Run the ports' ticks before ``t`` (or at it) one instant at a time, in time order, recording each FIFO
        level; before each instant, the bursts planned to land by then."""
        ports = self._ports
        while True:
            nxt = None
            for p in ports:
                clock = p.clock
                if clock is not None:
                    tt = clock.time(p.ticks_done)
                    if nxt is None or tt < nxt:
                        nxt = tt
            if nxt is None or nxt > t or (nxt == t and not inclusive):
                return
            self._sync_to(nxt)
            for p in ports:
                clock = p.clock
                if clock is not None and clock.time(p.ticks_done) <= nxt:
                    p.advance(nxt)
                self._change(nxt, self._level[id(p)], len(p.fifo))

    def _sample(self, t: int) -> None:
        asserted: set[int] = set()
        for k, d in enumerate(self._dmacs):
            busy = self._busy[k]
            for i in range(len(d.chans)):
                is_busy, _, port = d.line_state(i)
                self._change(t, busy[i], int(is_busy))
                if port is not None:
                    asserted.add(id(port))
        for p in self._ports:
            self._asserted[id(p)].append((t, id(p) in asserted))
            self._change(t, self._level[id(p)], len(p.fifo))

    def _longest_burst_ns(self) -> int:
        """A bound on how long a burst on the bus now has held it: a burst not reported yet began after
        ``now - _longest_burst_ns()``."""
        longest = 0
        for d in self._dmacs:
            beats = d.mem_burst
            for ch in d.chans:
                prog = ch.prog
                if prog is not None and prog.burst > beats:
                    beats = prog.burst
            longest = max(longest, d.burst_ns(beats))
        return longest + 1

    def _flush(self, horizon: int) -> None:
        """Write every change before ``horizon`` (nothing reported later can come before it), in time order, the
        last value of each signal at each instant."""
        start = self._flushed
        if horizon <= start:
            return
        for k, var in enumerate(self._grant):
            grants = self._grants[k]
            for t in sorted({start, *(x for g, e, _ in grants for x in (g, e) if start <= x < horizon)}):
                holder = next((i for g, e, i in grants if g <= t < e), None)
                self._change(t, var, "z" if holder is None else holder)
            self._grants[k] = [g for g in grants if g[1] > horizon]
        for p in self._ports:
            key = id(p)
            reqs, seen = self._reqs[key], self._asserted[key]
            points = {t: on for t, on in seen if t < horizon}  # the last sample at each instant
            state = self._asserted_before[key]
            instants = sorted({start, *points, *(x for r, e in reqs for x in (r, e) if start <= x < horizon)})
            var = self._dreq[key]
            for t in instants:
                state = points.get(t, state)
                on = state or any(r <= t < e for r, e in reqs)
                self._change(t, var, int(on))
            self._asserted_before[key] = state
            self._reqs[key] = [r for r in reqs if r[1] > horizon]
            self._asserted[key] = [x for x in seen if x[0] >= horizon]
        ready = sorted(c for c in self._pending if c[0] < horizon)
        self._pending = [c for c in self._pending if c[0] >= horizon]
        last: dict[tuple[int, int], tuple[Any, Any]] = {}
        for t, order, _, var, value in ready:
            if t < start:
                continue
            slot = (t, order)
            if getattr(var.type, "value", var.type) == "event" and slot in last:
                continue  # one event per instant
            last[slot] = (var, value)
        w = self._w
        for (t, _), (var, value) in sorted(last.items(), key=lambda kv: kv[0]):
            w.change(var, t, value)
        self._flushed = horizon

    # --- the end --------------------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True until :meth:`close`."""
        return self._file is not None

    def close(self) -> None:
        """Stop recording, write the file, take the hooks back. Idempotent."""
        if self._file is None:
            return
        soc = self._soc
        try:
            self.settle()
            now = soc.now_ns
            for k, d in enumerate(self._dmacs):  # a burst on the bus now: what a sample shows of it
                d.memory_changed()  # a planned one goes burst by burst from here: it is on the bus, visible
                for i in range(len(d.chans)):
                    _, on_bus, port = d.line_state(i)
                    if on_bus:
                        grant = d._last_grant_ns  # that burst's grant
                        self._grants[k].append((grant, now + 1, i))
                        if port is not None and id(port) in self._reqs:
                            self._reqs[id(port)].append((grant, now + 1))
            self._flush(now + 1)
            self._w.close(now)
        finally:
            self._file.close()
            self._file = None
            soc.kernel.probe = None
            for d, handler in zip(self._dmacs, self._handlers):
                d.burst_probe = None
                d.irq = handler
            soc._wave_closed(self)

    def __enter__(self) -> Waveform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
