"""The RTL bench: Amaranth's simulator clocked by hand, one edge at a time, and the bus agent that serves the
controller's memory port and register port.

Amaranth's public simulator runs testbench coroutines on its own timeline; a Platform in virtual time needs the
opposite: the caller decides when the next clock edge happens (and skips edges while the controller is idle).
The bench keeps the simulation engine and drives the clock signal itself; signal values are read and written
through the engine's signal slots (the fast path of ``ctx.get`` / ``ctx.set``). This relies on the internals of
Amaranth 0.5 (``pyproject.toml`` pins ``amaranth<0.6``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from amaranth.hdl import Signal
from amaranth.sim import Simulator

from .._errors import ConfigError
from .._memory import AddressSpace, DmaFault

__all__ = ["Bench", "BusAgent"]

# (first enabled byte, bytes) of each contiguous byte-enable mask; None where the mask has holes.
_SEL: list[tuple[int, int] | None] = []
for _sel in range(16):
    _on = [b for b in range(4) if _sel >> b & 1]
    _SEL.append((_on[0], len(_on)) if _on and _on == list(range(_on[0], _on[-1] + 1)) else
                (0, 0) if not _on else None)


class Bench:
    """The simulator of one design whose ``sync`` domain clock is ``clk``; writes a VCD file when asked."""

    def __init__(self, design: Any, clk: Signal, vcd_path: str | os.PathLike[str] | None = None) -> None:
        self.sim = Simulator(design)
        ctxs: list[Any] = []

        async def grab(ctx: Any) -> None:
            ctxs.append(ctx)

        self.sim.add_testbench(grab)
        self._vcd: Any = None
        if vcd_path is not None:
            self._vcd = self.sim.write_vcd(os.fspath(vcd_path))
            self._vcd.__enter__()
        self.sim.advance()  # runs ``grab``: the design is elaborated and settled at its reset state
        self._engine = self.sim._engine  # the internals of amaranth 0.5 (see the module docstring)
        self._state = self._engine._state
        self._step = self._engine.step_design
        self._clk = self.slot(clk)
        self.cycles = 0

    def slot(self, sig: Signal) -> Any:
        """The engine's state of ``sig``: ``.curr`` is its settled value, ``.update(v)`` drives it (then
        :meth:`settle`)."""
        return self._state.slots[self._state.get_signal(sig)]

    def settle(self) -> None:
        """Propagate what was driven through the combinational logic."""
        self._step()

    def set_time(self, time_ns: int) -> None:
        """Stamp the next changes in the VCD file at ``time_ns``."""
        if self._vcd is not None:
            self._state.timeline.now = time_ns * 1_000_000

    def posedge(self) -> None:
        """A rising clock edge: the registers take their next values, then everything settles."""
        self._clk.update(1)
        self._step()
        self.cycles += 1

    def negedge(self) -> None:
        """The falling edge, settling whatever was driven since the rising edge."""
        self._clk.update(0)
        self._step()

    def close(self) -> None:
        """Finish the VCD file."""
        if self._vcd is not None:
            vcd, self._vcd = self._vcd, None
            vcd.__exit__(None, None, None)


class BusAgent:
    """Serves the controller's ports each cycle: memory beats through the platform's address space (an unmapped
    address or one against its mapping's direction answers ``mem_err``), register writes posted in order (one per
    cycle), register reads at once; mirrors the interrupt line; drives one-cycle strobes for the bench.

    ``ctrl`` is the controller: an Amaranth component with the ports of :class:`DmaController` and its
    ``registers()`` list; ``port`` the memory port left to the agent (default: the controller's own)."""

    def __init__(self, bench: Bench, ctrl: Any, space: AddressSpace, port: Any = None) -> None:
        self._bench = bench
        self._space = space
        self._regs = dict(ctrl.registers())
        s = bench.slot
        port = ctrl if port is None else port
        self._valid, self._we, self._addr = s(port.mem_valid), s(port.mem_we), s(port.mem_addr)
        self._sel, self._wdata = s(port.mem_sel), s(port.mem_wdata)
        self._ack, self._err, self._rdata = s(port.mem_ack), s(port.mem_err), s(port.mem_rdata)
        self._irq, self._busy = s(ctrl.irq), s(ctrl.busy)
        self._reg_waddr, self._reg_we, self._reg_wdata = s(ctrl.reg_waddr), s(ctrl.reg_we), s(ctrl.reg_wdata)
        self._reg_raddr, self._reg_rdata = s(ctrl.reg_raddr), s(ctrl.reg_rdata)
        self._writes: deque[tuple[int, int]] = deque()
        self._we_on = False
        self._strobes: list[Any] = []
        #: The interrupt handler: called when the line is high and no register write is still posted.
        self.irq_handler: Callable[[], None] | None = None
        self.beats = 0
        self.faults = 0

    # --- the CPU side -------------------------------------------------------------------------------------
    def _check(self, offset: int, what: str) -> None:
        if offset not in self._regs:
            if not isinstance(offset, int) or isinstance(offset, bool):
                raise ConfigError(f"a register offset is an int, not {offset!r}")
            raise ConfigError(f"no register at offset {offset:#x} for a {what}")

    def read(self, offset: int) -> int:
        """Read the register at ``offset`` (now: reads are combinational)."""
        self._check(offset, "read")
        self._reg_raddr.update(offset)
        self._bench.settle()
        return int(self._reg_rdata.curr)

    def write(self, offset: int, value: int) -> None:
        """Post a write of ``value`` to the register at ``offset``; it lands at a coming clock edge, after the
        writes posted before it."""
        self._check(offset, "write")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF_FFFF:
            raise ConfigError(f"a register value is a 32-bit unsigned int, not {value!r} (register "
                              f"{self._regs[offset]})")
        self._writes.append((offset, value))

    def write_pending(self, offset: int | None = None) -> bool:
        """True while a posted write (to ``offset``, or any) has not landed yet."""
        if offset is None:
            return bool(self._writes) or self._we_on
        return any(off == offset for off, _ in self._writes)

    # --- the bus side -------------------------------------------------------------------------------------
    def strobe(self, *values: tuple[Signal, int]) -> None:
        """Drive each ``(signal, value)`` now, for the next clock edge only (a one-cycle pulse), and settle."""
        for sig, value in values:
            slot = self._bench.slot(sig)
            slot.update(value)
            self._strobes.append(slot)
        self._bench.settle()

    @property
    def active(self) -> bool:
        """The controller needs clock edges: it is busy, a register write waits to land, or a strobe waits."""
        return bool(self._busy.curr) or bool(self._writes) or self._we_on or bool(self._strobes)

    @property
    def irq(self) -> bool:
        """The interrupt line."""
        return bool(self._irq.curr)

    def _post_next(self) -> None:
        if self._writes:
            off, val = self._writes.popleft()
            self._reg_waddr.update(off)
            self._reg_wdata.update(val)
            self._reg_we.update(1)
            self._we_on = True
        elif self._we_on:
            self._reg_we.update(0)
            self._we_on = False

    def cycle(self, time_ns: int) -> None:
        """One clock cycle ending at ``time_ns``: the rising edge, then the answers for the next one."""
        bench = self._bench
        if self._writes and not self._we_on:
            self._post_next()
            bench.settle()
        bench.set_time(time_ns)
        bench.posedge()
        if self._strobes:
            for slot in self._strobes:
                slot.update(0)
            self._strobes.clear()
        self._post_next()
        if self._valid.curr:
            self._serve()
        elif self._ack.curr:
            self._ack.update(0)
            self._err.update(0)
        bench.negedge()

    def _serve(self) -> None:
        """Answer the beat on the memory port (same cycle)."""
        self.beats += 1
        addr = int(self._addr.curr)
        sel = int(self._sel.curr)
        write = bool(self._we.curr)
        span = _SEL[sel]
        if span is None:  # holes in the byte enables: the span from the first to the last enabled byte
            on = [b for b in range(4) if sel >> b & 1]
            span = (on[0], on[-1] - on[0] + 1)
        lo, n = span
        err = 0
        if n:
            a = addr + lo
            try:
                if write:
                    value = (int(self._wdata.curr) >> (8 * lo)) & ((1 << (8 * n)) - 1)
                    if _SEL[sel] is None:
                        for b in range(4):
                            if sel >> b & 1:
                                self._space.resolve(addr + b, 1, True)[0] = (value >> (8 * (b - lo))) & 0xFF
                    else:
                        self._space.resolve(a, n, True)[:] = np.frombuffer(value.to_bytes(n, "little"), np.uint8)
                else:
                    value = int.from_bytes(self._space.resolve(a, n, False).tobytes(), "little")
                    self._rdata.update(value << (8 * lo))
            except DmaFault:
                err = 1
                self.faults += 1
        self._ack.update(1)
        self._err.update(err)
