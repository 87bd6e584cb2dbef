"""The DMA controller in Amaranth HDL: a register file, a 32-bit memory port with byte enables, bursts, channels
granted the port round-robin, an interrupt line; and deliberately broken variants.

Register map (byte offsets, 32-bit registers; channel ``c`` at ``c * CHAN_STRIDE``):

====== ========= =================================================================================
offset name      meaning
====== ========= =================================================================================
+0x00  SRC       source address (advances as bursts complete)
+0x04  DST       destination address (advances as bursts complete)
+0x08  LEN       bytes left: written before START, reads back what is left (``len_bits`` wide)
+0x0C  CTRL      bit 0 START and bit 1 ABORT (write-only pulses), bit 2 PAUSE, bit 3 IRQ_EN
+0x10  STATUS    bit 0 BUSY (read-only), bit 1 DONE and bit 2 ERR (write 1 to clear), bit 3 ERR_WRITE
                 (the failed access was a write; read-only, cleared with ERR), bit 4 PAUSED (read-only)
+0x14  CFG       bit 0 SRC_FIXED and bit 1 DST_FIXED (that side is a peripheral FIFO register: the address does
                 not move, each beat moves WIDTH bytes in the low byte lanes), bits 2-3 log2 WIDTH (1, 2 or 4
                 bytes), bits 4-8 BURST (beats per request, 1..16), bit 9 DREQ_EN (a burst waits for request line
                 LINE), bits 10-12 LINE (0..7)
0x100  IRQ       bit ``c``: channel ``c`` has DONE or ERR with IRQ_EN (read-only)
0x104  ID        ``0xD3 << 24 | len_bits << 16 | channels << 8 | burst_words`` (read-only)
====== ========= =================================================================================

The memory port: the controller drives ``mem_valid``, ``mem_we``, ``mem_addr`` (word aligned), ``mem_sel`` (byte
enables) and ``mem_wdata``; the bus agent answers in the same cycle with ``mem_ack``, ``mem_err`` and
``mem_rdata``, sampled at the next clock edge. A burst is a read phase (the source words the chunk spans, into a
buffer) then a write phase (the destination words, realigned by a funnel shifter): one beat a cycle, up to
``burst_words`` beats each, a chunk of at most ``burst_words * 4`` bytes. As a burst ends the engine grants the
next ready channel round-robin (the same channel when no other is ready), with no idle cycle; from idle, a
grant takes one cycle. PAUSE stops a channel between bursts (a burst still in its read
phase is abandoned: reads have no effect); ABORT stops it at once. A bus error stops the channel with ERR.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from amaranth.hdl import Cat, ClockDomain, Const, Elaboratable, Module, Mux, Signal, Value

from .._errors import ConfigError

__all__ = ["CFG", "CHAN_STRIDE", "CTRL", "DST", "LEN", "REG_ID", "REG_IRQ", "SRC", "STATUS", "VARIANTS",
           "DmaController", "ExtPort", "Top"]

CHAN_STRIDE = 0x20
SRC, DST, LEN, CTRL, STATUS, CFG = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14
REG_IRQ, REG_ID = 0x100, 0x104

CTRL_START, CTRL_ABORT, CTRL_PAUSE, CTRL_IRQ_EN = 1, 2, 4, 8
ST_BUSY, ST_DONE, ST_ERR, ST_ERR_WRITE, ST_PAUSED = 1, 2, 4, 8, 16

#: The broken variants, by name: what each one gets wrong.
VARIANTS: dict[str, str] = {
    "good": "the controller as specified",
    "drop-last-write": "the last beat of every transfer writes no byte (its byte enables are 0)",
    "ignore-bus-error": "a bus error is ignored: the transfer goes on and ends DONE",
}

_IDLE, _READ, _WRITE = 0, 1, 2


class DmaController(Elaboratable):
    """The controller: ``channels`` (2..8) granted one memory port round-robin, bursts of up to ``burst_words``
    32-bit beats (1..16), a LEN register ``len_bits`` wide (8..32), and a ``variant`` from :data:`VARIANTS`.

    >>> sorted(VARIANTS)
    ['drop-last-write', 'good', 'ignore-bus-error']
    """

    def __init__(self, channels: int = 2, burst_words: int = 16, len_bits: int = 24, variant: str = "good") -> None:
        problem = None
        if not isinstance(channels, int) or isinstance(channels, bool) or not 2 <= channels <= 8:
            problem = f"channels must be an int 2..8, not {channels!r}"
        elif not isinstance(burst_words, int) or isinstance(burst_words, bool) or not 1 <= burst_words <= 16:
            problem = f"burst_words must be an int 1..16, not {burst_words!r}"
        elif not isinstance(len_bits, int) or isinstance(len_bits, bool) or not 8 <= len_bits <= 32:
            problem = f"len_bits must be an int 8..32, not {len_bits!r}"
        elif variant not in VARIANTS:
            problem = f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}"
        if problem is not None:
            self._MustUse__silence = True  # never elaborated: no "created but never used" warning
            raise ConfigError(problem)
        self.channels = channels
        self.burst_words = burst_words
        self.len_bits = len_bits
        self.variant = variant
        # The register port (the CPU side): one write per cycle, reads are combinational.
        self.reg_raddr = Signal(9)
        self.reg_waddr = Signal(9)
        self.reg_we = Signal()
        self.reg_wdata = Signal(32)
        self.reg_rdata = Signal(32)
        # The memory port (the bus side).
        self.mem_valid = Signal()
        self.mem_we = Signal()
        self.mem_addr = Signal(32)
        self.mem_sel = Signal(4)
        self.mem_wdata = Signal(32)
        self.mem_rdata = Signal(32)
        self.mem_ack = Signal()
        self.mem_err = Signal()
        #: The interrupt line (level), and whether the controller has work to clock (the simulator skips idle time).
        self.irq = Signal()
        self.busy = Signal()
        #: The request lines of the peripherals (DREQ): line ``k`` high means a burst of the FIFO side may go now.
        self.dreq = Signal(8)

    def registers(self) -> list[tuple[int, str]]:
        """``(offset, name)`` of every register."""
        regs = [(c * CHAN_STRIDE + off, f"ch{c}.{name}") for c in range(self.channels)
                for off, name in ((SRC, "SRC"), (DST, "DST"), (LEN, "LEN"), (CTRL, "CTRL"), (STATUS, "STATUS"),
                                  (CFG, "CFG"))]
        return [*regs, (REG_IRQ, "IRQ"), (REG_ID, "ID")]

    @property
    def ident(self) -> int:
        """The value of the ID register."""
        return 0xD3 << 24 | self.len_bits << 16 | self.channels << 8 | self.burst_words

    def ports(self) -> list[Signal]:
        """Every port signal (for Verilog export)."""
        return [self.reg_raddr, self.reg_waddr, self.reg_we, self.reg_wdata, self.reg_rdata, self.mem_valid,
                self.mem_we, self.mem_addr, self.mem_sel, self.mem_wdata, self.mem_rdata, self.mem_ack, self.mem_err,
                self.irq, self.busy, self.dreq]

    def elaborate(self, platform: object) -> Module:
        # Written for Amaranth's Python simulator as much as for synthesis: the combinational outputs are plain
        # expressions of registers (no chains of combinational signals, which cost the simulator a delta cycle
        # each), the channel flags are packed into vectors, and the register read decode lives in its own module.
        m = Module()
        n = self.channels
        lb = self.len_bits
        bw = self.burst_words
        burst_bytes = 4 * bw
        src = [Signal(32, name=f"ch{c}_src") for c in range(n)]
        dst = [Signal(32, name=f"ch{c}_dst") for c in range(n)]
        length = [Signal(lb, name=f"ch{c}_len") for c in range(n)]
        active = Signal(n)
        paused = Signal(n)
        irq_en = Signal(n)
        done = Signal(n)
        err = Signal(n)
        err_write = Signal(n)
        cfg = [Signal(13, name=f"ch{c}_cfg") for c in range(n)]

        # --- the engine: one burst at a time, for the granted channel ---------------------------------------
        state = Signal(2)
        ch = Signal(range(n))
        last = Signal(range(n), init=n - 1)  # the channel granted last (round-robin)
        cur_src = Signal(32)
        cur_dst = Signal(32)
        cur_len = Signal(lb)
        chunk = Signal(range(burst_bytes + 1))
        beat = Signal(range(bw + 2))
        n_rd = Signal(range(bw + 2))
        n_wr = Signal(range(bw + 2))
        rstart = Signal(2)
        wstart = Signal(2)
        final = Signal()  # this burst ends the transfer
        sfix = Signal()  # the source is a FIFO register
        dfix = Signal()  # the destination is a FIFO register
        wlog = Signal(2)  # log2 of the FIFO side's width
        buf = Signal(32 * (bw + 2))  # word k + 1 holds source word k of the burst

        def dreq_ok(c: int) -> Value:
            return ~cfg[c][9] | self.dreq.bit_select(cfg[c][10:13], 1)

        ready = active & ~paused & Cat(*[dreq_ok(c) for c in range(n)])
        ch_active = active.bit_select(ch, 1)
        ch_paused = paused.bit_select(ch, 1)
        m.d.comb += self.busy.eq((state != _IDLE) | ready.any())
        m.d.comb += self.irq.eq(((done | err) & irq_en).any())

        # Byte lanes: lane b of beat i is byte 4*i+b of the burst's words, enabled inside [start, start+chunk).
        def lanes(start: Signal) -> Value:
            pos = Cat(Const(0, 2), beat)
            return Cat(*[((pos + b) >= start) & ((pos + b) < start + chunk) for b in range(4)])

        # The funnel shifter: destination byte 4*beat+b is source byte 4*beat+b+rstart-wstart, that is byte
        # 4*beat+b+e of the buffer (e = rstart-wstart+4 is never negative: buffer word 0 is not used).
        e = (rstart - wstart + 4)[:3]
        funnel = buf.bit_select(Cat(Const(0, 5), beat) + Cat(Const(0, 3), e), 32)
        # A FIFO side moves WIDTH bytes a beat in the low lanes; its bytes are those at rstart + beat*WIDTH of the
        # buffer (memory to FIFO) or go there (FIFO to memory, where rstart is set to wstart).
        fifo_pos = Cat(Const(0, 3), (beat << wlog) + rstart + 4)
        fifo_sel = Mux(wlog == 0, 0b0001, Mux(wlog == 1, 0b0011, 0b1111))
        last_beat = beat == Mux(state == _READ, n_rd, n_wr) - 1
        wsel = lanes(wstart)
        if self.variant == "drop-last-write":
            wsel = Mux(final & last_beat, 0, wsel)
        m.d.comb += [
            # Nothing goes on the bus once the channel is aborted, nor reads once it is paused.
            self.mem_valid.eq((state != _IDLE) & ch_active & ~((state == _READ) & ch_paused)),
            self.mem_we.eq(state == _WRITE),
            self.mem_addr.eq(Cat(Const(0, 2), Mux(state == _WRITE, cur_dst[2:] + Mux(dfix, 0, beat),
                                                  cur_src[2:] + Mux(sfix, 0, beat)))),
            self.mem_sel.eq(Mux(state == _WRITE, Mux(dfix, fifo_sel, wsel), Mux(sfix, fifo_sel, lanes(rstart)))),
            self.mem_wdata.eq(Mux(dfix, buf.bit_select(fifo_pos, 32), funnel)),
        ]
        bus_err = Const(0) if self.variant == "ignore-bus-error" else self.mem_err

        def grant(g: int, s_addr: Value, d_addr: Value, left: Value) -> None:
            """Start a burst of channel ``g`` whose SRC, DST and LEN are ``s_addr``, ``d_addr``, ``left``."""
            c_sfix, c_dfix, c_wlog = cfg[g][0], cfg[g][1], cfg[g][2:4]
            c_burst = Mux(cfg[g][4:9] == 0, 1, Mux(cfg[g][4:9] > 16, 16, cfg[g][4:9]))
            so = Mux(c_sfix, 0, s_addr[:2])
            do = Mux(c_dfix, 0, d_addr[:2])
            lim_mem = burst_bytes - Mux(so > do, so, do)
            lim_fifo = c_burst << c_wlog
            lim = Mux((c_sfix | c_dfix) & (lim_fifo < lim_mem), lim_fifo, lim_mem)
            bb = Mux(left < lim, left, lim)
            m.d.sync += [
                ch.eq(g), last.eq(g), cur_src.eq(s_addr), cur_dst.eq(d_addr), cur_len.eq(left), chunk.eq(bb),
                rstart.eq(Mux(c_sfix, do, so)), wstart.eq(do), beat.eq(0), final.eq(left <= lim),
                n_rd.eq(Mux(c_sfix, bb >> c_wlog, (so + bb + 3) >> 2)),
                n_wr.eq(Mux(c_dfix, bb >> c_wlog, (do + bb + 3) >> 2)),
                sfix.eq(c_sfix), dfix.eq(c_dfix), wlog.eq(c_wlog), state.eq(_READ),
            ]

        def grant_next(after: int, current: Value | None) -> None:
            """Grant the first ready channel after ``after`` round-robin; ``current``: channel ``after`` goes on
            with the addresses its burst ends at, when this condition holds (else it is not a candidate)."""
            order = [(after + 1 + k) % n for k in range(n)]
            others = order if current is None else order[:-1]
            for i, g in enumerate(others):
                with (m.If if i == 0 else m.Elif)(ready[g]):
                    grant(g, src[g], dst[g], length[g])
            if current is not None:
                with (m.If if not others else m.Elif)(current):
                    grant(after, cur_src + Mux(sfix, 0, chunk), cur_dst + Mux(dfix, 0, chunk), cur_len - chunk)
            with m.Else():
                m.d.sync += state.eq(_IDLE)

        def fail(write: int) -> None:
            m.d.sync += state.eq(_IDLE)
            with m.Switch(ch):
                for c in range(n):
                    with m.Case(c):
                        m.d.sync += [active[c].eq(0), err[c].eq(1), err_write[c].eq(write)]

        with m.Switch(state):
            with m.Case(_IDLE):
                with m.Switch(last):
                    for lst in range(n):
                        with m.Case(lst):
                            grant_next(lst, None)
            with m.Case(_READ):
                with m.If(~ch_active | ch_paused):
                    m.d.sync += state.eq(_IDLE)  # abandon: nothing was written
                with m.Elif(self.mem_ack):
                    with m.If(bus_err):
                        fail(0)
                    with m.Else():
                        with m.If(sfix):
                            m.d.sync += buf.bit_select(fifo_pos, 32).eq(self.mem_rdata)
                        with m.Else():
                            m.d.sync += buf.word_select(beat + 1, 32).eq(self.mem_rdata)
                        with m.If(last_beat):
                            m.d.sync += [state.eq(_WRITE), beat.eq(0)]
                        with m.Else():
                            m.d.sync += beat.eq(beat + 1)
            with m.Case(_WRITE):
                with m.If(~ch_active):
                    m.d.sync += state.eq(_IDLE)  # aborted in the middle of the burst
                with m.Elif(self.mem_ack):
                    with m.If(bus_err):
                        fail(1)
                    with m.Elif(last_beat):
                        # The burst ends: write back the channel's registers and grant the next burst at once
                        # (no idle cycle between bursts).
                        with m.Switch(ch):
                            for c in range(n):
                                with m.Case(c):
                                    m.d.sync += [src[c].eq(cur_src + Mux(sfix, 0, chunk)),
                                                 dst[c].eq(cur_dst + Mux(dfix, 0, chunk)),
                                                 length[c].eq(cur_len - chunk)]
                                    with m.If(final):
                                        m.d.sync += [active[c].eq(0), done[c].eq(1)]
                                    # A FIFO side waits a cycle in IDLE: its request line must show this burst.
                                    grant_next(c, ~final & ~paused[c] & ~sfix & ~dfix)
                    with m.Else():
                        m.d.sync += beat.eq(beat + 1)

        # --- the register file: written after the engine, so a register write wins --------------------------
        wd = self.reg_wdata
        with m.If(self.reg_we):
            with m.Switch(self.reg_waddr):
                for c in range(n):
                    base = c * CHAN_STRIDE
                    with m.Case(base + SRC):
                        m.d.sync += src[c].eq(wd)
                    with m.Case(base + DST):
                        m.d.sync += dst[c].eq(wd)
                    with m.Case(base + LEN):
                        m.d.sync += length[c].eq(wd[:lb])
                    with m.Case(base + CTRL):
                        m.d.sync += [paused[c].eq(wd[2]), irq_en[c].eq(wd[3])]
                        with m.If(wd[0] | wd[1]):  # START or ABORT: a fresh state
                            m.d.sync += [active[c].eq(wd[0] & ~wd[1]), done[c].eq(0), err[c].eq(0),
                                         err_write[c].eq(0)]
                    with m.Case(base + CFG):
                        m.d.sync += cfg[c].eq(wd[:13])
                    with m.Case(base + STATUS):
                        with m.If(wd[1]):
                            m.d.sync += done[c].eq(0)
                        with m.If(wd[2]):
                            m.d.sync += [err[c].eq(0), err_write[c].eq(0)]
        readable: dict[int, Value] = {REG_IRQ: (done | err) & irq_en, REG_ID: Const(self.ident, 32)}
        for c in range(n):
            base = c * CHAN_STRIDE
            readable[base + SRC] = src[c]
            readable[base + DST] = dst[c]
            readable[base + LEN] = length[c]
            readable[base + CTRL] = Cat(Const(0, 2), paused[c], irq_en[c])
            readable[base + CFG] = cfg[c]
            readable[base + STATUS] = Cat(active[c], done[c], err[c], err_write[c], active[c] & paused[c])
        m.submodules.regs = _ReadDecode(self.reg_raddr, self.reg_rdata, readable)
        return m


class _ReadDecode(Elaboratable):
    """The register read multiplexer, in a module of its own (the simulator then runs it only for reads)."""

    def __init__(self, addr: Signal, data: Signal, readable: dict[int, Value]) -> None:
        self.addr = addr
        self.data = data
        self.readable = readable

    def elaborate(self, platform: object) -> Module:
        m = Module()
        with m.Switch(self.addr):
            for off, value in self.readable.items():
                with m.Case(off):
                    m.d.comb += self.data.eq(value)
        return m


class ExtPort:
    """The memory port as the bus agent sees it (the signals it reads and drives)."""

    def __init__(self, **signals: Signal) -> None:
        self.mem_valid = signals["mem_valid"]
        self.mem_we = signals["mem_we"]
        self.mem_addr = signals["mem_addr"]
        self.mem_sel = signals["mem_sel"]
        self.mem_wdata = signals["mem_wdata"]
        self.mem_rdata = signals["mem_rdata"]
        self.mem_ack = signals["mem_ack"]
        self.mem_err = signals["mem_err"]


class Top(Elaboratable):
    """The controller in its clock domain, for the simulator (``clk`` is driven by the bench), with the
    peripherals' windows decoded on its memory port: ``(base, peripheral, tx line, rx line)`` each, a
    :class:`~dmaengine.rtl.UartFifo`-like component in a 4 KiB window. ``ext`` is the port left to the bus agent
    (RAM); without peripherals it is the controller's own."""

    def __init__(self, ctrl: Any, peripherals: Sequence[tuple[int, Any, int, int]] = ()) -> None:
        self.ctrl = ctrl
        self.peripherals = list(peripherals)
        self.domain = ClockDomain("sync")
        if not self.peripherals:
            self.ext = ExtPort(**{k: getattr(ctrl, k) for k in ("mem_valid", "mem_we", "mem_addr", "mem_sel",
                                                                  "mem_wdata", "mem_rdata", "mem_ack", "mem_err")})
        else:
            self.ext = ExtPort(mem_valid=Signal(name="ext_valid"), mem_we=ctrl.mem_we, mem_addr=ctrl.mem_addr,
                               mem_sel=ctrl.mem_sel, mem_wdata=ctrl.mem_wdata, mem_rdata=Signal(32, name="ext_rdata"),
                               mem_ack=Signal(name="ext_ack"), mem_err=Signal(name="ext_err"))

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.domains.sync = self.domain
        ctrl = self.ctrl
        m.submodules.dut = ctrl
        if not self.peripherals:
            return m
        ext = self.ext
        hits = []
        ack, err, rdata = ext.mem_ack, ext.mem_err, ext.mem_rdata
        dreq = [Const(0, 1)] * len(ctrl.dreq)
        for i, (base, p, tx_line, rx_line) in enumerate(self.peripherals):
            m.submodules[f"periph{i}"] = p
            hit = ctrl.mem_addr[12:] == base >> 12
            hits.append(hit)
            m.d.comb += [p.bus_sel.eq(ctrl.mem_valid & hit), p.bus_we.eq(ctrl.mem_we),
                         p.bus_addr.eq(ctrl.mem_addr[:12]), p.bus_lanes.eq(ctrl.mem_sel),
                         p.bus_wdata.eq(ctrl.mem_wdata)]
            ack, err, rdata = Mux(hit, 1, ack), Mux(hit, p.bus_err, err), Mux(hit, p.bus_rdata, rdata)
            dreq[tx_line] = p.dreq_tx
            dreq[rx_line] = p.dreq_rx
        m.d.comb += [ext.mem_valid.eq(ctrl.mem_valid & ~Cat(*hits).any()), ctrl.mem_ack.eq(ack),
                     ctrl.mem_err.eq(err), ctrl.mem_rdata.eq(rdata), ctrl.dreq.eq(Cat(*dreq))]
        return m
