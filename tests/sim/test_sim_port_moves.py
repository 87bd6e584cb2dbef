"""The ports' steady calls that the compiled schedule does itself (sim.c's port code, ``BusCore.set_ports``): the
exact SampledRx (I2S receiver, ADC), _UartRx, _I2sTx and _UartTx, moved through ``BusCore.take_move`` against
``Dmac._sched_move`` calling the port's Python method on a twin; every case that is not the plain one (a subclass,
a clock that is not a TickClock, a short FIFO, another source, a replaced method, hostile attribute values) must
give what the Python method gives. And a busy SoC's fast run against ``Soc(fast=False)`` (both ways)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_sim_bus_native import _outcome  # (tests/sim is on the path, as pytest runs it)
from test_sim_lane_moves import _schedules

from dmaengine import BusWidth, SlaveConfig, TransferDirection, _native
from dmaengine.sim import Adc, I2s, Soc, Uart
from dmaengine.sim._bus import NEVER, Lane
from dmaengine.sim._capture import TickRuns
from dmaengine.sim._dmac import Dmac, Item, Program, _HwChannel
from dmaengine.sim._i2s import SampledRx, _BlockSource, _I2sTx
from dmaengine.sim._kernel import TickClock
from dmaengine.sim._periph import Port
from dmaengine.sim._uart import _UartTx

needs_core = pytest.mark.skipif(_native.core is None, reason="the compiled core is not loaded")
M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM
TAKES = [5, 35, 91, 92, 150, 151, 400, 1000, 1003, 1011, 1021, 1031, 2500]  # landings every 10 ns from 11, 8 bytes each
KINDS = {"i2s_rx": 0, "adc": 0, "uart_rx": 1, "i2s_tx": 2, "uart_tx": 3}  # (BusCore.port_calls's order)


class _Clock(TickClock):
    """A clock that is not exactly a TickClock (the same ticks)."""

    __slots__ = ()


class _Runs(TickRuns):
    """Runs of a subclass (their append is the method's)."""

    __slots__ = ()


def _frames(first: int, count: int) -> bytes:
    return bytes((first * 4 + i * 7) & 255 for i in range(count * 4))


def _port(kind: str) -> Port:
    """A port of ``kind``, running on a fast clock (a tick every 3-5 ns) so that every take moves its bytes."""
    if kind in ("i2s_rx", "i2s_tx"):
        codec = I2s("i2s0", fifo_depth=64)
        port: Port = codec.rx if kind == "i2s_rx" else codec.tx  # type: ignore[assignment]
        # (TX: two frames every 10 ns from 2 ns, as the bytes land: every take plays the FIFO out exactly)
        port.clock = TickClock(0, 3, 1, offset=1) if kind == "i2s_rx" else TickClock(2, 5, 1)
    elif kind == "adc":
        port = Adc("adc0").rx  # type: ignore[assignment]
        port.clock = TickClock(0, 2, 1, offset=1)
    else:
        uart = Uart("uart0")
        port = uart.rx if kind == "uart_rx" else uart.tx  # type: ignore[assignment]
        port.clock = TickClock(0, 1, 1, offset=1) if kind == "uart_rx" else TickClock(0, 10, 1)
        if kind == "uart_rx":
            port.pending += bytes(range(256)) * 4  # type: ignore[attr-defined]
    port.ticks_done = 0
    return port


def _clock(x: object) -> object:
    """A clock as what it is (the twins' clocks are other objects), anything else as itself."""
    return (x.epoch_ns, x.num, x.den, x.offset) if isinstance(x, TickClock) else x


def _state(port: Port) -> tuple[Any, ...]:
    """Everything the port and its peripheral hold."""
    out: list[Any] = [type(port).__name__, bytes(port.fifo), port.ticks_done]
    c = port.clock
    out.append(None if c is None else (type(c).__name__, c.epoch_ns, c.num, c.den, c.offset))
    for a in ("entered", "popped", "overruns", "written", "drained", "pending"):
        v = getattr(port, a, None)
        out.append(bytes(v) if isinstance(v, bytearray) else v)
    o: Any = port.owner
    if isinstance(o, I2s):
        cap = o._played
        out += [[type(x).__name__ for x in cap._chunks], cap.data(), cap.total, cap.dropped, o._underruns]
    if isinstance(o, Uart):
        runs = o._out_ns._runs
        out += [type(o._out_ns).__name__, type(runs).__name__, o._out.data(), o._out.total,
                [[_clock(x) for x in r] if isinstance(r, list) else r for r in runs]]
    return tuple(out)


def _channel(port: Port) -> tuple[_HwChannel, list[bytearray]]:
    tx = isinstance(port, (_I2sTx, _UartTx)) or port.direction is M2D
    ch = _HwChannel(0)
    items = [Item(0x1000, 0x2000, 16), Item(0x1010, 0x2010, 24)]
    ch.prog = Program(items, M2D if tx else D2M, port=port, cyclic=True)
    mem = [bytearray((j * 31 + k * 5) & 255 for j in range(it.length)) for k, it in enumerate(items)]
    ch.checked = ch.prog
    ch.mvs = [memoryview(b) for b in mem]
    return ch, mem


def _moves(make: Callable[[], Port], mutate: Callable[[Port], None] | None = None,
           between: Callable[[Port, int], None] | None = None) -> tuple[int, ...]:
    """The same takes through the compiled core and through ``Dmac._sched_move`` (each on its own twin port):
    equal outcomes, ports, peripherals and memory after each; the compiled core's port calls of each kind."""
    _, native = _schedules([Lane(0, NEVER, 8, 10, 8, 1)])
    pc, pp = make(), make()
    if mutate is not None:
        mutate(pc)
        mutate(pp)
    chc, memc = _channel(pc)
    chp, memp = _channel(pp)
    movers = [Dmac._sched_mover(chc)]
    dm = object.__new__(Dmac)
    fallbacks: list[int] = []

    def move(pos: int, n: int, last: int) -> None:
        fallbacks.append(pos)
        Dmac._sched_move(dm, chc, n, last)

    before = native.core.port_calls()
    landed = 0
    for t in TAKES:
        if between is not None:
            between(pc, t)
            between(pp, t)
        k = max(0, (t - 1) // 10) - landed  # the bursts landed by t, not taken yet
        a = _outcome(Dmac._sched_move, dm, chp, 8 * k, 10 * (landed + k) + 1) if k else ("ok", None)
        b = _outcome(native.core.take_move, 0, t, movers, move, Dmac._sched_store)
        landed += k
        assert (a[0], a[1:] if a[0] == "raised" else None) == (b[0], b[1:] if b[0] == "raised" else None)
        assert _state(pc) == _state(pp)
        assert memc == memp
        assert (chc.item_idx, chc.item_off, chc.done) == (chp.item_idx, chp.item_off, chp.done)
        if a[0] == "raised":
            break
    assert fallbacks == []
    return tuple(x - y for x, y in zip(native.core.port_calls(), before, strict=True))


@needs_core
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_plain_ports_steady_calls_are_the_methods(kind: str) -> None:
    calls = _moves(lambda: _port(kind))
    assert calls[KINDS[kind]] >= 7 and sum(calls) == calls[KINDS[kind]]  # the compiled core did them


def _sub(port: Port) -> None:
    class Sub(type(port)):  # type: ignore[misc]
        __slots__ = ()

    port.__class__ = Sub


def _slow_clock(port: Port) -> None:
    c = port.clock
    assert c is not None
    port.clock = _Clock(c.epoch_ns, c.num, c.den, c.offset)


_HELD: list[memoryview] = []  # buffers exported for a test's lifetime


# (kind, mutation, whether the compiled core still does the call itself)
NOT_PLAIN: list[tuple[str, str, Callable[[Port], None], bool]] = [
    ("i2s_rx", "a subclass", _sub, False),
    ("uart_rx", "a subclass", _sub, False),
    ("i2s_tx", "a subclass", _sub, False),
    ("uart_tx", "a subclass", _sub, False),
    ("adc", "a clock that is not a TickClock", _slow_clock, False),
    ("uart_rx", "a clock that is not a TickClock", _slow_clock, True),  # (its line runs dry: then no clock)
    ("i2s_tx", "a clock that is not a TickClock", _slow_clock, False),
    ("uart_tx", "a clock that is not a TickClock", _slow_clock, False),
    ("i2s_rx", "no clock", lambda p: setattr(p, "clock", None), False),
    ("uart_rx", "no clock", lambda p: setattr(p, "clock", None), True),
    ("i2s_tx", "no clock", lambda p: setattr(p, "clock", None), True),
    ("i2s_tx", "a short FIFO (underruns)", lambda p: setattr(p, "clock", TickClock(0, 1, 1)), True),
    ("i2s_tx", "a codec slower than the bus", lambda p: setattr(p, "clock", TickClock(0, 6, 1)), True),
    ("uart_tx", "a line faster than the bus", lambda p: setattr(p, "clock", TickClock(0, 1, 1)), True),
    ("i2s_tx", "a capture at its bound", lambda p: setattr(p.owner, "_played", type(p.owner._played)(40)), True),
    ("i2s_rx", "another source", lambda p: setattr(p, "source", _frames), True),
    ("i2s_rx", "a source giving a bytearray",
     lambda p: setattr(p, "source", lambda f, c: bytearray(_frames(f, c))), True),
    ("i2s_rx", "a source giving too little", lambda p: setattr(p, "source", lambda f, c: _frames(f, c)[:-1]), True),
    ("i2s_rx", "a source giving no bytes", lambda p: setattr(p, "source", lambda f, c: 7), True),
    ("i2s_rx", "a block source of its own", lambda p: setattr(p, "source", _BlockSource(_frames, 4)), True),
    ("i2s_rx", "a block that is a bytearray",
     lambda p: (setattr(p.source, "_stop", 10**6), setattr(p.source, "_block", bytearray(range(200)))), False),
    ("i2s_rx", "a block past its frames",
     lambda p: (setattr(p.source, "_stop", 10**6), setattr(p.source, "_block", b"ab")), True),
    ("adc", "a caller's waveform", lambda p: setattr(p.owner, "waveform", lambda n: n * 3), True),
    ("adc", "the sine's parameters changed", lambda p: setattr(p.owner, "freq_hz", 75.0), True),
    ("i2s_rx", "ticks_done past 64 bits", lambda p: setattr(p, "ticks_done", 1 << 70), False),
    ("uart_rx", "ticks_done a float", lambda p: setattr(p, "ticks_done", 0.0), False),
    ("i2s_tx", "ticks_done negative", lambda p: setattr(p, "ticks_done", -5), True),
    ("i2s_tx", "a clock num of 0", lambda p: setattr(p.clock, "num", 0), False),
    ("adc", "a clock epoch that is no int", lambda p: setattr(p.clock, "epoch_ns", "0"), False),
    ("uart_rx", "a clock den past 64 bits", lambda p: setattr(p.clock, "den", 1 << 80), True),  # (then dry)
    ("i2s_rx", "a bytes FIFO", lambda p: setattr(p, "fifo", b""), False),
    ("uart_rx", "a bytes FIFO", lambda p: setattr(p, "fifo", b""), False),
    ("i2s_tx", "a list FIFO", lambda p: setattr(p, "fifo", []), False),
    ("uart_rx", "pending that is the FIFO", lambda p: setattr(p, "pending", p.fifo), False),
    ("uart_rx", "pending as bytes", lambda p: setattr(p, "pending", bytes(p.pending)), False),
    ("uart_rx", "pending exported (its front not deleted)", lambda p: _HELD.append(memoryview(p.pending)), True),
    ("i2s_tx", "a unit that is no int", lambda p: setattr(p, "unit", 4.0), False),
    ("adc", "counters that are floats", lambda p: (setattr(p, "entered", 0.5), setattr(p, "popped", 1.5)), True),
    ("uart_rx", "counters past 64 bits", lambda p: setattr(p, "entered", 1 << 70), True),
    ("i2s_tx", "counters past 64 bits", lambda p: setattr(p, "written", 1 << 90), True),
    ("uart_tx", "a capture at its bound", lambda p: setattr(p.owner, "_out", type(p.owner._out)(5)), True),
    ("uart_tx", "an output count past 64 bits", lambda p: setattr(p.owner._out, "total", 1 << 70), True),
    ("uart_tx", "runs of a subclass", lambda p: setattr(p.owner, "_out_ns", _Runs()), True),
    ("uart_tx", "runs whose last is a tuple", lambda p: p.owner._out_ns._runs.append((0, None, 0, 0)), True),
    ("uart_tx", "runs whose last has a float", lambda p: p.owner._out_ns._runs.append([0, p.clock, 0.0, 0]), True),
    ("uart_tx", "runs that are a tuple", lambda p: setattr(p.owner._out_ns, "_runs", ()), True),
]


@needs_core
@pytest.mark.parametrize("kind,what,mutate,in_c", NOT_PLAIN, ids=[f"{k}: {w}" for k, w, _, _ in NOT_PLAIN])
def test_what_is_not_the_plain_case_is_the_methods(kind: str, what: str, mutate: Callable[[Port], None],
                                                   in_c: bool) -> None:
    calls = _moves(lambda: _port(kind), mutate)
    assert (calls[KINDS[kind]] > 0) is in_c


@needs_core
@pytest.mark.parametrize("kind,name", [("i2s_rx", "_pop"), ("uart_rx", "_pop"), ("uart_rx", "_ticks"),
                                       ("i2s_tx", "_ticks"), ("uart_tx", "_ticks")])
def test_a_method_replaced_on_the_class_is_called(kind: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = type(_port(kind))
    original = getattr(cls, name)
    seen: list[Any] = []

    def spy(self: Any, *args: Any) -> Any:
        seen.append(args)
        return original(self, *args)

    monkeypatch.setattr(cls, name, spy)
    calls = _moves(lambda: _port(kind))
    assert seen  # (by both twins)
    # a receiver whose _ticks (UART) or _pop (sampled) is not the one followed is the method's; otherwise the
    # compiled core does the rest and calls the replaced method
    assert (calls[KINDS[kind]] == 0) is ((kind, name) in (("uart_rx", "_ticks"), ("i2s_rx", "_pop")))


@needs_core
def test_uart_rx_running_dry_and_fed_again_is_the_methods() -> None:
    def between(p: Port, t: int) -> None:
        if t in (400, 1003):
            p.pending += bytes(range(40)) * 3  # type: ignore[attr-defined]
            if p.clock is None:
                p.clock = TickClock(t, 1, 1, offset=1)
                p.ticks_done = 0

    def make() -> Port:
        p = _port("uart_rx")
        p.pending = bytearray(b"xyz" * 50)  # type: ignore[attr-defined]
        return p

    calls = _moves(make, between=between)
    assert calls[1] > 0


@needs_core
def test_the_port_registry_refuses_what_it_cannot_take() -> None:
    core = _native.core
    with pytest.raises(TypeError, match=r"^BusCore.set_ports: no port part named 'sampled'"):
        core.BusCore.set_ports(sampled=SampledRx)
    with pytest.raises(TypeError, match=r"^BusCore.set_ports: sampled_rx must be a class, not 3"):
        core.BusCore.set_ports(sampled_rx=3)
    with pytest.raises(TypeError, match=r"^BusCore.set_ports takes keyword arguments only"):
        core.BusCore.set_ports(SampledRx)
    assert len(core.BusCore.port_calls()) == 4


@needs_core
def test_a_port_kind_forgotten_is_the_methods() -> None:
    core = _native.core
    try:
        core.BusCore.set_ports(i2s_tx=None)
        assert _moves(lambda: _port("i2s_tx"))[2] == 0
    finally:
        core.BusCore.set_ports(i2s_tx=_I2sTx)
    assert _moves(lambda: _port("i2s_tx"))[2] > 0


def _busy(fast: bool, sim_ns: int) -> tuple[Any, ...]:
    """A small busy SoC (full-duplex I2S, the ADC, UART RX fed, UART TX), run to ``sim_ns`` in steps."""
    soc = Soc(fast=fast)
    codec, adc, uart = soc.peripheral("i2s0"), soc.peripheral("adc0"), soc.peripheral("uart0")
    rings: list[np.ndarray] = []

    def cyclic(name: str, direction: TransferDirection, addr: int, width: BusWidth, burst: int, n: int,
               period: int) -> None:
        chan = soc.request_chan(name, "tx" if direction is M2D else "rx")
        if direction is M2D:
            chan.slave_config(SlaveConfig(dst_addr=addr, dst_addr_width=width, dst_maxburst=burst))
        else:
            chan.slave_config(SlaveConfig(src_addr=addr, src_addr_width=width, src_maxburst=burst))
        ring = np.arange(n, dtype=np.uint8) if direction is M2D else np.zeros(n, dtype=np.uint8)
        rings.append(ring)
        d = chan.prep_dma_cyclic(soc.map(ring).addr, n, period, direction)
        d.submit()
        chan.issue_pending()

    cyclic("i2s0", M2D, codec.tx_fifo_addr, BusWidth.BYTES_4, 8, 480 * 4 * 2, 480 * 4 // 2)
    cyclic("i2s0", D2M, codec.rx_fifo_addr, BusWidth.BYTES_4, 8, 480 * 4 * 2, 480 * 4 // 2)
    cyclic("adc0", D2M, adc.rx_fifo_addr, BusWidth.BYTES_2, 4, 80 * 2 * 2, 80)
    cyclic("uart0", D2M, uart.rx_fifo_addr, BusWidth.BYTES_1, 1, 256, 64)
    cyclic("uart0", M2D, uart.tx_fifo_addr, BusWidth.BYTES_1, 1, 200, 50)
    out: list[Any] = []
    for k in range(1, 6):
        uart.feed(bytes(range(k, k + 13)))
        soc.run(until=sim_ns * k // 5 * 1e-9)
        out.append((bytes(np.concatenate(rings)), codec.frames_played, codec.underruns, codec.rx_overruns,
                    adc.overruns, uart.overruns, uart.bytes_sent))
    out.append((codec.played, uart.output, uart.output_ns))
    return tuple(out)


def test_a_busy_socs_bytes_and_counters_are_the_references() -> None:
    assert _busy(True, 12_000_000) == _busy(False, 12_000_000)
