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

from amaranth.hdl import Cat, ClockDomain, Const, Elaboratable, Module, Mux, Signal, Value

from .._errors import ConfigError

__all__ = ["CHAN_STRIDE", "CTRL", "DST", "LEN", "REG_ID", "REG_IRQ", "SRC", "STATUS", "VARIANTS", "DmaController",
           "Top"]

CHAN_STRIDE = 0x20
SRC, DST, LEN, CTRL, STATUS = 0x00, 0x04, 0x08, 0x0C, 0x10
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

    def registers(self) -> list[tuple[int, str]]:
        """``(offset, name)`` of every register."""
        regs = [(c * CHAN_STRIDE + off, f"ch{c}.{name}") for c in range(self.channels)
                for off, name in ((SRC, "SRC"), (DST, "DST"), (LEN, "LEN"), (CTRL, "CTRL"), (STATUS, "STATUS"))]
        return [*regs, (REG_IRQ, "IRQ"), (REG_ID, "ID")]

    @property
    def ident(self) -> int:
        """The value of the ID register."""
        return 0xD3 << 24 | self.len_bits << 16 | self.channels << 8 | self.burst_words

    def ports(self) -> list[Signal]:
        """Every port signal (for Verilog export)."""
        return [self.reg_raddr, self.reg_waddr, self.reg_we, self.reg_wdata, self.reg_rdata, self.mem_valid,
                self.mem_we, self.mem_addr, self.mem_sel, self.mem_wdata, self.mem_rdata, self.mem_ack, self.mem_err,
                self.irq, self.busy]

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
        buf = Signal(32 * (bw + 2))  # word k + 1 holds source word k of the burst

        ready = active & ~paused
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
        last_beat = beat == Mux(state == _READ, n_rd, n_wr) - 1
        wsel = lanes(wstart)
        if self.variant == "drop-last-write":
            wsel = Mux(final & last_beat, 0, wsel)
        m.d.comb += [
            # Nothing goes on the bus once the channel is aborted, nor reads once it is paused.
            self.mem_valid.eq((state != _IDLE) & ch_active & ~((state == _READ) & ch_paused)),
            self.mem_we.eq(state == _WRITE),
            self.mem_addr.eq(Cat(Const(0, 2), Mux(state == _WRITE, cur_dst[2:], cur_src[2:]) + beat)),
            self.mem_sel.eq(Mux(state == _WRITE, wsel, lanes(rstart))),
            self.mem_wdata.eq(funnel),
        ]
        bus_err = Const(0) if self.variant == "ignore-bus-error" else self.mem_err

        def grant(g: int, s_addr: Value, d_addr: Value, left: Value) -> None:
            """Start a burst of channel ``g`` whose SRC, DST and LEN are ``s_addr``, ``d_addr``, ``left``."""
            so, do = s_addr[:2], d_addr[:2]
            lim = burst_bytes - Mux(so > do, so, do)
            bb = Mux(left < lim, left, lim)
            m.d.sync += [
                ch.eq(g), last.eq(g), cur_src.eq(s_addr), cur_dst.eq(d_addr), cur_len.eq(left), chunk.eq(bb),
                rstart.eq(so), wstart.eq(do), beat.eq(0), final.eq(left <= lim),
                n_rd.eq((so + bb + 3) >> 2), n_wr.eq((do + bb + 3) >> 2), state.eq(_READ),
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
                    grant(after, cur_src + chunk, cur_dst + chunk, cur_len - chunk)
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
                                    m.d.sync += [src[c].eq(cur_src + chunk), dst[c].eq(cur_dst + chunk),
                                                 length[c].eq(cur_len - chunk)]
                                    with m.If(final):
                                        m.d.sync += [active[c].eq(0), done[c].eq(1)]
                                    grant_next(c, ~final & ~paused[c])
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


class Top(Elaboratable):
    """The controller in its clock domain, for the simulator: ``clk`` is driven by the bench."""

    def __init__(self, dut: Elaboratable) -> None:
        self.dut = dut
        self.domain = ClockDomain("sync")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.domains.sync = self.domain
        m.submodules.dut = self.dut
        return m
