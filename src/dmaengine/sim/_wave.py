"""Waveforms of the simulated SoC: a Value Change Dump (VCD) in virtual nanoseconds, for GTKWave or Surfer.

Signals, one scope per controller and per peripheral:

- ``soc.dma0.bus_grant``: the channel whose burst holds the memory bus (``z`` while the bus is idle);
- ``soc.dma0.chN_busy``: channel N holds a program (from when its driver starts it until it ends or is aborted);
- ``soc.dma0.chN_irq``: an event at each interrupt of channel N (period, done or error);
- ``soc.PERIPHERAL.tx_dreq`` / ``rx_dreq``: the DMA request line of a FIFO, asserted while a channel that
  serves it has its request raised (room for a burst in a TX FIFO, data for one in an RX FIFO) until the burst
  it asked for has ended;
- ``soc.PERIPHERAL.tx_level`` / ``rx_level``: the bytes in the FIFO, at every peripheral tick and burst.

Exactness: while a waveform is recorded, the controller moves data burst by burst (the reference path that
``Soc(fast=False)`` takes), so every burst and every request edge is a real event at its exact instant; its
closed-form plans resume when the recording stops. Recording off costs one None test per kernel event.

Hooks (the only places this module is wired in): ``Kernel.probe`` runs each event through :meth:`Waveform.run`;
``Soc._advance`` calls :meth:`Waveform.sample` before it runs the simulation and :meth:`Waveform.settle` after;
``Dmac.line_state`` reads a channel's lines; the controller's ``irq`` handler is wrapped while recording.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from dmaengine import ConfigError

if TYPE_CHECKING:
    from ._dmac import Dmac, Irq
    from ._periph import Port
    from ._soc import Soc

__all__ = ["Waveform"]


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
        self._t = soc.now_ns
        # The reference path while recording: no closed-form plans (those in progress go burst by burst now).
        self._fast = [d.fast for d in self._dmacs]
        self._handlers: list[Callable[[int, Irq, Any, int], None] | None] = []
        for k, d in enumerate(self._dmacs):
            d.fast = False
            d.memory_changed()  # drops every plan at the current instant
            self._handlers.append(d.irq)
            d.irq = self._irq_handler(k, d.irq)
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

    def run(self, t: int, fn: Callable[[], None]) -> None:
        """Run one kernel event at ``t``: first the peripherals' ticks before ``t``, one by one, then the event,
        then what it changed."""
        self._catch_up(t, inclusive=False)
        fn()
        self._sample(t)

    def sample(self) -> None:
        """Record what client code changed at the current instant (before the simulation runs on)."""
        self._sample(self._soc.now_ns)

    def settle(self) -> None:
        """Bring the peripherals' ticks up to now, one by one, and record the state (after the simulation ran)."""
        now = self._soc.now_ns
        self._catch_up(now, inclusive=True)
        self._sample(now)

    # --- recording ------------------------------------------------------------------------------------------
    def _change(self, t: int, var: Any, value: Any) -> None:
        if t < self._t:
            raise AssertionError(f"waveform: a change at {t} ns after one at {self._t} ns")
        self._t = t
        self._w.change(var, t, value)

    def _catch_up(self, t: int, inclusive: bool) -> None:
        """Run each port's ticks before ``t`` (or at it) one instant at a time, recording its FIFO level."""
        changes: list[tuple[int, int, Any, int]] = []
        for i, p in enumerate(self._ports):
            var = self._level[id(p)]
            while True:
                clock = p.clock
                if clock is None:
                    break
                tt = clock.time(p.ticks_done)
                if tt > t or (tt == t and not inclusive):
                    break
                p.advance(tt)
                changes.append((tt, i, var, len(p.fifo)))
        changes.sort(key=lambda c: (c[0], c[1]))
        for tt, _, var, level in changes:
            self._change(tt, var, level)

    def _sample(self, t: int) -> None:
        asserted: set[int] = set()
        for k, d in enumerate(self._dmacs):
            holder = None
            busy = self._busy[k]
            for i in range(len(d.chans)):
                is_busy, on_bus, port = d.line_state(i)
                self._change(t, busy[i], int(is_busy))
                if on_bus:
                    holder = i
                if port is not None:
                    asserted.add(id(port))
            self._change(t, self._grant[k], "z" if holder is None else holder)
        for p in self._ports:
            self._change(t, self._dreq[id(p)], int(id(p) in asserted))
            self._change(t, self._level[id(p)], len(p.fifo))

    # --- the end --------------------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True until :meth:`close`."""
        return self._file is not None

    def close(self) -> None:
        """Stop recording, write the file, give the controller back its closed-form plans. Idempotent."""
        if self._file is None:
            return
        soc = self._soc
        try:
            self.settle()
            self._w.close(soc.now_ns)
        finally:
            self._file.close()
            self._file = None
            soc.kernel.probe = None
            for d, fast, handler in zip(self._dmacs, self._fast, self._handlers):
                d.fast = fast
                d.irq = handler
            soc._wave_closed(self)

    def __enter__(self) -> Waveform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
