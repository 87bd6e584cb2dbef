"""Hostile input and concurrency (issue 7): every case here failed before the fix it pins.

Each bad value is refused at the call that took it with an exception naming it; a fault during a transfer is a
result on that descriptor; a second thread on a SoC gets StateError and changes nothing; one submit wins.
"""

from __future__ import annotations

import ctypes
import gc
import math
import mmap
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    DataChunk,
    DataDirection,
    InterleavedTemplate,
    MappingError,
    Platform,
    PrepFlags,
    Result,
    SgEntry,
    SlaveConfig,
    StateError,
    Status,
    TransferDirection,
    TxResult,
)
from dmaengine.cli import main
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.sim import Adc, I2s, Soc, Uart
from dmaengine.tools.info import exercise
from dmaengine.tools.perf import parse_sizes

M2D = TransferDirection.MEM_TO_DEV
D2M = TransferDirection.DEV_TO_MEM


@dataclass
class World:
    """A threaded platform and a simulated SoC, each with a channel and mapped buffers."""

    plat: Platform
    chan: Any
    src: np.ndarray
    dst: np.ndarray
    s: Any
    d: Any
    soc: Soc
    tx_chan: Any  # uart0's TX channel, configured
    ring: Any  # a mapping on the SoC


@pytest.fixture
def w() -> Iterator[World]:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=1))
    src = np.arange(4096, dtype=np.uint32).astype(np.uint8)
    dst = np.zeros(4096, dtype=np.uint8)
    soc = Soc()
    uart = soc.peripheral("uart0")
    tx_chan = soc.request_chan("uart0", "tx")
    tx_chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))
    ring = soc.map(np.zeros(4096, dtype=np.uint8), DataDirection.TO_DEVICE)
    with plat:
        chan = plat.request_channel(Cap.MEMCPY | Cap.MEMSET | Cap.INTERLEAVE | Cap.MEMCPY_SG)
        yield World(plat, chan, src, dst, plat.map(src), plat.map(dst), soc, tx_chan, ring)


# --- 1. no interpreter crash: buffers of Python objects are refused ------------------------------------------
@pytest.mark.parametrize(("make", "fmt"), [
    (lambda: np.array([object(), "x", 3], dtype=object), "O"),
    (lambda: np.zeros(4, dtype=[("a", "O"), ("b", "i4")]), "T{O:a:i:b:}"),
    (lambda: (ctypes.py_object * 4)(), "<O"),
])
def test_map_refuses_buffers_of_python_objects(make: Callable[[], Any], fmt: str) -> None:
    buf = make()
    with Platform() as plat:
        with pytest.raises(MappingError, match=rf"^cannot map a buffer of Python objects \(format {fmt!r}\)$".replace(
                "{", r"\{").replace("}", r"\}")):
            plat.map(buf)
        with pytest.raises(MappingError, match=r"^cannot map a buffer of Python objects"):
            plat.map_sg([np.zeros(8, np.uint8), buf])
        assert plat.address_space.mappings() == []
        # A structured dtype whose field is *named* O holds no object: it maps.
        ok = np.zeros(3, dtype=[("O", "i4"), ("o", "f8")])
        with plat.map(ok) as m:
            assert m.length == 36


# --- 2. bad DataChunk / template values at prep; the SoC survives any descriptor ------------------------------
@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"size": 1.5}, r"^chunk size must be > 0, not 1\.5$"),
    ({"size": True}, r"^chunk size must be > 0, not True$"),
    ({"size": 4, "icg": 0.5}, r"^chunk icg must be >= 0, not 0\.5$"),
    ({"size": 4, "dst_icg": -1}, r"^chunk dst_icg must be >= 0, not -1$"),
    ({"size": 4, "src_icg": "2"}, r"^chunk src_icg must be >= 0, not '2'$"),
    ({"size": None}, r"^chunk size must be > 0, not None$"),
])
def test_a_bad_data_chunk_is_refused(kwargs: dict[str, Any], msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        DataChunk(**kwargs)


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"numf": 2.5}, r"^numf must be >= 1, not 2\.5$"),
    ({"numf": True}, r"^numf must be >= 1, not True$"),
    ({"src_start": -1}, r"^src_start must be a DMA address \(int >= 0\), not -1$"),
    ({"dst_start": "0"}, r"^dst_start must be a DMA address \(int >= 0\), not '0'$"),
    ({"dir": 9}, r"^dir must be a TransferDirection \(MEM_TO_MEM, .*\), not 9$"),
    ({"src_inc": "yes"}, r"^src_inc must be True or False, not 'yes'$"),
    ({"dst_sgl": 1}, r"^dst_sgl must be True or False, not 1$"),
    ({"sgl": None}, r"^sgl must be a sequence of DataChunk, not None$"),
    ({"sgl": [(4, 0)]}, r"^sgl entries must be DataChunk, not \(4, 0\)$"),
    ({"frame_size": 1.5}, r"^frame_size must be len\(sgl\) = 1, not 1\.5$"),
])
def test_a_bad_interleaved_template_value_is_refused(kwargs: dict[str, Any], msg: str) -> None:
    args: dict[str, Any] = {"src_start": 0, "dst_start": 0, "sgl": [DataChunk(4)], **kwargs}
    with pytest.raises(ConfigError, match=msg):
        InterleavedTemplate(**args)


def test_the_simulated_soc_ends_a_descriptor_holding_garbage_and_goes_on() -> None:
    """A program changed after prep (here: a float length) ends that descriptor with READ_FAILED; the SoC, the
    channel and the next descriptor are unharmed."""
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src = np.arange(256, dtype=np.uint16).astype(np.uint8)
    dst = np.zeros(256, dtype=np.uint8)
    s, d = soc.map(src), soc.map(dst)
    results: list[TxResult] = []
    bad = chan.prep_dma_memcpy(d.addr, s.addr, 128)
    bad.program.items[0].length = 1.5  # type: ignore[attr-defined]
    bad.callback_result = lambda _p, r: results.append(r)
    c1 = bad.submit()
    good = chan.prep_dma_memcpy(d.addr + 128, s.addr + 128, 128)
    c2 = good.submit()
    assert chan.sync_wait(c2) == Status.COMPLETE
    assert chan.tx_status(c1)[0] == Status.ERROR
    chan.synchronize()
    assert results == [TxResult(Result.READ_FAILED, 128)]
    assert dst[:128].tobytes() == bytes(128) and dst[128:].tobytes() == src[128:].tobytes()
    soc.run_for(0.001)
    assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 128).submit()) == Status.COMPLETE
    assert dst.tobytes() == src.tobytes()


# --- 3 and 4. values that failed deep inside, and nonsense silently accepted ---------------------------------
NAN = float("nan")
CASES: list[tuple[str, Callable[[World], Any], type[Exception], str]] = [
    # records
    ("SlaveConfig(dst_maxburst=1.5)", lambda w: SlaveConfig(dst_maxburst=1.5), ConfigError,
     r"^dst_maxburst must be an int >= 0, not 1\.5$"),
    ("SlaveConfig(dst_addr_width=None)", lambda w: SlaveConfig(dst_addr_width=None), ConfigError,  # type: ignore
     r"^dst_addr_width must be a BusWidth \(UNDEFINED, BYTES_1, .*\), not None$"),
    ("SlaveConfig(src_addr='x')", lambda w: SlaveConfig(src_addr="x"), ConfigError,  # type: ignore
     r"^src_addr must be a DMA address \(int >= 0\), not 'x'$"),
    ("SlaveConfig(device_fc='yes')", lambda w: SlaveConfig(device_fc="yes"), ConfigError,  # type: ignore
     r"^device_fc must be True or False, not 'yes'$"),
    ("SlaveConfig(src_port_window_size=-1)", lambda w: SlaveConfig(src_port_window_size=-1), ConfigError,
     r"^src_port_window_size must be an int >= 0, not -1$"),
    ("SlaveConfig(src_maxburst=True)", lambda w: SlaveConfig(src_maxburst=True), ConfigError,
     r"^src_maxburst must be an int >= 0, not True$"),
    ("SlaveConfig(direction=7)", lambda w: SlaveConfig(direction=7), ConfigError,  # type: ignore
     r"^direction must be a TransferDirection"),
    ("SgEntry(0, 2.5)", lambda w: SgEntry(0, 2.5), ConfigError, r"^length must be a positive int, not 2\.5$"),  # type: ignore
    ("SgEntry(True, 4)", lambda w: SgEntry(True, 4), ConfigError,
     r"^addr must be a DMA address \(int >= 0\), not True$"),
    # memory
    ("map_sg(None)", lambda w: w.plat.map_sg(None), ConfigError,  # type: ignore
     r"^bufs must be an iterable of buffers, not None$"),
    ("map(buf, 7)", lambda w: w.plat.map(bytearray(8), 7), ConfigError,  # type: ignore
     r"^direction must be a DataDirection \(BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE\), not 7$"),
    # platform
    ("register_device(None)", lambda w: w.plat.register_device(None), ConfigError,  # type: ignore
     r"^register_device takes a DmaDevice, not None$"),
    ("request_channel('x')", lambda w: w.plat.request_channel("x"), ConfigError,  # type: ignore
     r"^mask must be a Cap mask, not 'x'$"),
    ("request_channel(filter_fn=5)", lambda w: w.plat.request_channel(Cap.MEMCPY, 5), ConfigError,  # type: ignore
     r"^filter_fn must be callable or None, not 5$"),
    ("request_chan(None, 'tx')", lambda w: w.soc.request_chan(None, "tx"), ConfigError,  # type: ignore
     r"^devname must be a str, not None$"),
    ("MemcpyEngine(channels=True)", lambda w: MemcpyEngine(channels=True), ConfigError,
     r"^channels must be an int >= 1, not True$"),
    ("MemcpyEngine(channels=2.0)", lambda w: MemcpyEngine(channels=2.0), ConfigError,  # type: ignore
     r"^channels must be an int >= 1, not 2\.0$"),
    ("run_for('1')", lambda w: w.plat.run_for("1"), ConfigError,  # type: ignore
     r"^seconds must be a finite number >= 0, not '1'$"),
    ("run_for(nan)", lambda w: w.plat.run_for(NAN), ConfigError, r"^seconds must be a finite number >= 0, not nan$"),
    # preps
    ("prep_dma_memcpy(length=True)", lambda w: w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, True), ConfigError,
     r"^length must be a positive int, not True$"),
    ("prep_dma_memcpy(dst=2.0**33)", lambda w: w.chan.prep_dma_memcpy(2.0**33, w.s.addr, 8), ConfigError,
     r"^dst must be a DMA address \(int >= 0\), not 8589934592\.0$"),
    ("prep_dma_memcpy(flags=1<<20)", lambda w: w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 8, 1 << 20), ConfigError,
     r"^flags must be PrepFlags bits, not 1048576$"),
    ("prep_dma_memcpy(flags=True)", lambda w: w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 8, True), ConfigError,
     r"^flags must be PrepFlags bits, not True$"),
    ("prep_dma_memcpy(flags=-1)", lambda w: w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 8, -1), ConfigError,
     r"^flags must be PrepFlags bits, not -1$"),
    ("prep_dma_memcpy(flags='x')", lambda w: w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 8, "x"), ConfigError,
     r"^flags must be PrepFlags bits, not 'x'$"),
    ("prep_dma_memset(value=True)", lambda w: w.chan.prep_dma_memset(w.d.addr, True, 8), ConfigError,
     r"^value must be a byte 0\.\.255, not True$"),
    ("prep_dma_memset(value=1.0)", lambda w: w.chan.prep_dma_memset(w.d.addr, 1.0, 8), ConfigError,
     r"^value must be a byte 0\.\.255, not 1\.0$"),
    ("prep_dma_memcpy_sg(None, ...)", lambda w: w.chan.prep_dma_memcpy_sg(None, [SgEntry(w.s.addr, 8)]),
     ConfigError, r"^dst_sgl must be a sequence of SgEntry, not None$"),
    ("prep_dma_memcpy_sg(tuples)", lambda w: w.chan.prep_dma_memcpy_sg([(w.d.addr, 8)], [SgEntry(w.s.addr, 8)]),
     ConfigError, r"^dst_sgl entries must be SgEntry, not \(\d+, 8\)$"),
    ("prep_interleaved_dma(flags=1<<12)", lambda w: w.chan.prep_interleaved_dma(
        InterleavedTemplate(w.s.addr, w.d.addr, sgl=[DataChunk(4)]), 1 << 12), ConfigError,
     r"^flags must be PrepFlags bits, not 4096$"),
    ("prep_slave_sg(tuples)", lambda w: w.tx_chan.prep_slave_sg([(w.ring.addr, 4)], M2D), ConfigError,
     r"^sgl entries must be SgEntry, not \(\d+, 4\)$"),
    ("prep_slave_sg(None)", lambda w: w.tx_chan.prep_slave_sg(None, M2D), ConfigError,
     r"^sgl must be a sequence of SgEntry, not None$"),
    ("prep_slave_single(direction=True)", lambda w: w.tx_chan.prep_slave_single(w.ring.addr, 4, True), ConfigError,
     r"^direction must be MEM_TO_DEV, DEV_TO_MEM or DEV_TO_DEV, not True$"),
    ("prep_slave_single(length=4.0)", lambda w: w.tx_chan.prep_slave_single(w.ring.addr, 4.0, M2D), ConfigError,
     r"^length must be a positive int, not 4\.0$"),
    ("prep_dma_cyclic(period_len=2.0)", lambda w: w.tx_chan.prep_dma_cyclic(w.ring.addr, 64, 2.0, M2D), ConfigError,
     r"^period_len must be a positive int, not 2\.0$"),
    ("prep_dma_cyclic(buf_len=True)", lambda w: w.tx_chan.prep_dma_cyclic(w.ring.addr, True, 1, M2D), ConfigError,
     r"^buf_len must be a positive int, not True$"),
    # waits
    ("sync_wait(timeout='1')", lambda w: w.chan.sync_wait(1, timeout="1"), ConfigError,
     r"^timeout must be None, inf or a number of seconds >= 0, not '1'$"),
    ("sync_wait(cookie='1')", lambda w: w.chan.sync_wait("1"), ConfigError, r"^cookie must be an int, not '1'$"),
    ("tx_status(None)", lambda w: w.chan.tx_status(None), ConfigError, r"^cookie must be an int, not None$"),
    ("soc sync_wait(timeout='1')", lambda w: w.tx_chan.sync_wait(1, timeout="1"), ConfigError,
     r"^timeout must be None, inf or a number of seconds >= 0, not '1'$"),
    # the simulated SoC and its peripherals
    ("Soc(peripherals=5)", lambda w: Soc(peripherals=5), ConfigError,  # type: ignore
     r"^peripherals must be an iterable of Peripheral or None, not 5$"),
    ("Soc(fast='no')", lambda w: Soc(fast="no"), ConfigError, r"^fast must be True or False, not 'no'$"),  # type: ignore
    ("Soc(trace=1)", lambda w: Soc(trace=1), ConfigError, r"^trace must be True or False, not 1$"),  # type: ignore
    ("Soc(channels=True)", lambda w: Soc(channels=True), ConfigError, r"^channels must be an int >= 1, not True$"),
    ("Soc(channels=2.5)", lambda w: Soc(channels=2.5), ConfigError,  # type: ignore
     r"^channels must be an int >= 1, not 2\.5$"),
    ("Soc(bus_width_bytes=True)", lambda w: Soc(bus_width_bytes=True), ConfigError,
     r"^bus_width_bytes must be 1, 2, 4 or 8, not True$"),
    ("soc.run(inf)", lambda w: w.soc.run(math.inf), ConfigError, r"^until must be a number of seconds within"),
    ("soc.run_for(1e300)", lambda w: w.soc.run_for(1e300), ConfigError, r"^seconds must be a number of seconds"),
    ("soc.peripheral(None)", lambda w: w.soc.peripheral(None), ConfigError, r"^name must be a str, not None$"),  # type: ignore
    ("Adc(freq_hz='x')", lambda w: Adc("adc9", freq_hz="x"), ConfigError,  # type: ignore
     r"^freq_hz must be a finite number of hertz >= 0, not 'x'$"),
    ("Adc(freq_hz=nan)", lambda w: Adc("adc9", freq_hz=NAN), ConfigError,
     r"^freq_hz must be a finite number of hertz >= 0, not nan$"),
    ("Adc(waveform=5)", lambda w: Adc("adc9", waveform=5), ConfigError,  # type: ignore
     r"^waveform must be a callable or None, not 5$"),
    ("Adc(sample_width=True)", lambda w: Adc("adc9", sample_width=True), ConfigError,
     r"^sample_width must be 1, 2 or 4 bytes, not True$"),
    ("I2s(fifo_depth=None)", lambda w: I2s("i2s9", fifo_depth=None), ConfigError,  # type: ignore
     r"^fifo_depth must be a positive int, not None$"),
    ("I2s(channels=True)", lambda w: I2s("i2s9", channels=True), ConfigError,
     r"^channels must be 1, 2, 4, 6 or 8, not True$"),
    ("I2s(rx_source='')", lambda w: I2s("i2s9", rx_source=""), ConfigError,
     r"^rx_source '' is not a readable WAV file: \[Errno 2\] No such file or directory: ''$"),
    ("I2s(rx_source='a\\0b')", lambda w: I2s("i2s9", rx_source="a\0b"), ConfigError,
     r"^rx_source 'a\\x00b' is not a readable WAV file: embedded null byte$"),
    ("I2s(rx_source=5)", lambda w: I2s("i2s9", rx_source=5), ConfigError,  # type: ignore
     r"^rx_source must be a WAV path, a callable or None, not 5$"),
    ("Uart(fifo_depth='32')", lambda w: Uart("uart9", fifo_depth="32"), ConfigError,  # type: ignore
     r"^fifo_depth must be a positive int, not '32'$"),
    ("Uart(threshold=1.0)", lambda w: Uart("uart9", threshold=1.0), ConfigError,  # type: ignore
     r"^threshold must be a positive int, not 1\.0$"),
    ("Uart(baud=True)", lambda w: Uart("uart9", baud=True), ConfigError, r"^baud must be a positive int, not True$"),
]


#: Cases the old checks refused already, with the same message: kept to pin one rule everywhere (all other cases
#: of CASES failed before this change).
HELD = {"MemcpyEngine(channels=2.0)", "prep_dma_memcpy(dst=2.0**33)", "prep_dma_memset(value=1.0)",
        "prep_dma_cyclic(period_len=2.0)", "Soc(channels=True)", "Soc(channels=2.5)", "Soc(bus_width_bytes=True)",
        "Uart(baud=True)"}
NEW_CASES = [c for c in CASES if c[0] not in HELD]
HELD_CASES = [c for c in CASES if c[0] in HELD]


@pytest.mark.parametrize(("call", "exc", "msg"), [c[1:] for c in NEW_CASES], ids=[c[0] for c in NEW_CASES])
def test_a_bad_value_is_refused_at_the_call_that_took_it(w: World, call: Callable[[World], Any],
                                                         exc: type[Exception], msg: str) -> None:
    _refused_and_unharmed(w, call, exc, msg)


@pytest.mark.parametrize(("call", "exc", "msg"), [c[1:] for c in HELD_CASES], ids=[c[0] for c in HELD_CASES])
def test_the_same_rule_where_it_held_already(w: World, call: Callable[[World], Any], exc: type[Exception],
                                             msg: str) -> None:
    _refused_and_unharmed(w, call, exc, msg)


def _refused_and_unharmed(w: World, call: Callable[[World], Any], exc: type[Exception], msg: str) -> None:
    with pytest.raises(exc, match=msg):
        call(w)
    # Nothing broke: both worlds still copy.
    w.src[:8] = 7
    assert w.chan.sync_wait(w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 8).submit()) == Status.COMPLETE
    assert w.dst[:8].tobytes() == bytes([7] * 8)
    assert w.tx_chan.sync_wait(w.tx_chan.prep_slave_single(w.ring.addr, 4, M2D).submit()) == Status.COMPLETE


def test_numpy_integers_are_accepted_everywhere_and_bools_nowhere(w: World) -> None:
    w.src[:] = np.arange(4096) % 251
    tx = w.chan.prep_dma_memcpy(np.uint64(w.d.addr), np.int64(w.s.addr), np.int32(100), np.uint8(PrepFlags.CTRL_ACK))
    assert w.chan.sync_wait(tx.submit()) == Status.COMPLETE
    assert w.dst[:100].tobytes() == w.src[:100].tobytes()
    assert w.chan.sync_wait(w.chan.prep_dma_memset(w.d.addr, np.uint8(9), np.int16(10)).submit()) == Status.COMPLETE
    assert w.dst[:10].tobytes() == bytes([9] * 10)
    cfg = SlaveConfig(dst_addr=np.uint32(0x4000_0000), dst_addr_width=np.int64(1), dst_maxburst=np.int8(4))
    assert (cfg.dst_addr, cfg.dst_addr_width, cfg.dst_maxburst) == (0x4000_0000, BusWidth.BYTES_1, 4)
    assert type(cfg.dst_addr) is int and type(cfg.dst_maxburst) is int
    assert SgEntry(np.uint64(5), np.int32(3)) == SgEntry(5, 3)
    xt = InterleavedTemplate(np.uint64(w.s.addr), np.uint64(w.d.addr), numf=np.int32(2), sgl=[DataChunk(np.int8(4))])
    assert xt.length == 8 and type(xt.numf) is int
    assert MemcpyEngine(channels=np.int64(2)).channels[1] is not None
    assert Soc(channels=np.int16(2), max_burst=np.uint8(4)).dmac.hw.mem_burst == 4
    assert Uart("u", baud=np.int64(9600)).baud == 9600
    with pytest.raises(ConfigError, match=r"^length must be a positive int, not np\.True_$|^length must be a "
                                          r"positive int, not True$"):
        w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, np.bool_(True))


# --- 5. one SoC, two threads ---------------------------------------------------------------------------------
def _uart_run(interfere: Callable[[Soc, Any, Any, Any], None] | None) -> tuple[int, bytes, bytes, list[int]]:
    """Receive 16 bytes on uart0 while a copy's callback (inside the simulation) lets ``interfere`` run on another
    thread; returns the clock, the bytes received, the bytes copied and the clock seen by ``interfere``."""
    soc = Soc()
    uart = soc.peripheral("uart0")
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=4))
    buf = np.zeros(16, dtype=np.uint8)
    cookie = rx.prep_slave_single(soc.map(buf, DataDirection.FROM_DEVICE).addr, 16, D2M).submit()
    rx.issue_pending()
    mem = soc.request_channel(Cap.MEMCPY)
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, dtype=np.uint8)
    s, d = soc.map(src), soc.map(dst)
    seen: list[int] = []

    def in_the_simulation(_: object) -> None:
        if interfere is not None:
            t = threading.Thread(target=interfere, args=(soc, rx, mem, (s, d, cookie)))
            t.start()
            t.join(30)
        seen.append(soc.now_ns)

    tx = mem.prep_dma_memcpy(d.addr, s.addr, 64)
    tx.callback = in_the_simulation
    mem.issue_pending()
    uart.feed(b"hello, world!!!!")
    tx.submit()
    mem.issue_pending()
    assert rx.sync_wait(cookie) == Status.COMPLETE
    return soc.now_ns, buf.tobytes(), dst.tobytes(), seen


def test_a_second_thread_gets_state_error_and_changes_nothing() -> None:
    errors: list[tuple[str, str]] = []
    clocks: list[int] = []

    def interfere(soc: Soc, rx: Any, mem: Any, maps: tuple[Any, Any, int]) -> None:
        s, d, cookie = maps
        uart = soc.peripheral("uart0")
        clocks.append(soc.now_ns)
        calls: list[tuple[str, Callable[[], Any]]] = [
            ("run_for", lambda: soc.run_for(0.001)),
            ("sync_wait", lambda: rx.sync_wait(cookie, timeout=5)),
            ("issue_pending", mem.issue_pending),
            ("prep+submit+issue", lambda: (mem.prep_dma_memcpy(d.addr, s.addr, 8).submit(), mem.issue_pending())),
            ("terminate_async", rx.terminate_async),
            ("pause", rx.pause),
            ("output", lambda: uart.output),
            ("feed", lambda: uart.feed(b"zz")),
            ("sync", soc.sync),
            ("run_until_idle", soc.run_until_idle),
            ("unmap", s.unmap),
        ]
        for name, call in calls:
            try:
                call()
            except StateError as e:
                errors.append((name, str(e).split(":")[-1].strip()))
            except Exception as e:
                errors.append((name, f"{type(e).__name__}: {e}"))
            else:
                errors.append((name, "no error"))
        clocks.append(soc.now_ns)

    alone = _uart_run(None)
    contended = _uart_run(interfere)
    assert [name for name, _ in errors] == ["run_for", "sync_wait", "issue_pending", "prep+submit+issue",
                                            "terminate_async", "pause", "output", "feed", "sync", "run_until_idle",
                                            "unmap"]
    assert {why for _, why in errors} == {"the SoC is being run by another thread (a Soc is single-threaded)"}, errors
    assert clocks[0] == clocks[1] == contended[3][0]
    assert contended == alone  # the same clock, the same bytes received and copied: nothing changed


# --- 7. double submit: exactly one wins ----------------------------------------------------------------------
class _Rendezvous:
    """A channel lock that holds back the first two submitting threads until both are at the lock, so that both
    have passed any check made before it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(2, timeout=10)
        self.armed = True

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.armed and threading.current_thread().name.startswith("submitter"):
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_two_threads_submitting_one_descriptor_one_wins() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    chan.lock = _Rendezvous()
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, dtype=np.uint8)
    s, d = soc.map(src), soc.map(dst)
    calls: list[object] = []
    tx = chan.prep_dma_memcpy(d.addr, s.addr, 64)
    tx.callback = calls.append
    tx.callback_param = "cb"
    outcome: list[object] = []

    def submit() -> None:
        try:
            outcome.append(tx.submit())
        except StateError as e:
            outcome.append(str(e))

    threads = [threading.Thread(target=submit, name=f"submitter{i}") for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    chan.lock.armed = False
    cookies = [o for o in outcome if isinstance(o, int)]
    refused = [o for o in outcome if isinstance(o, str)]
    assert len(cookies) == 1 and len(refused) == 1, outcome
    assert refused[0] == f"<SimDescriptor dma0chan0 cookie={cookies[0]} SUBMITTED> is already submitted " \
                        f"(cookie {cookies[0]})"
    assert chan.sync_wait(cookies[0]) == Status.COMPLETE
    soc.run_until_idle()
    assert calls == ["cb"]
    assert dst.tobytes() == src.tobytes()
    # The channel is sane: the next descriptor completes.
    assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 8).submit()) == Status.COMPLETE


# --- 9. bounds -----------------------------------------------------------------------------------------------
def test_a_billion_frames_is_refused_before_anything_is_built(w: World) -> None:
    xt = InterleavedTemplate(w.s.addr, w.d.addr, numf=10**9, sgl=[DataChunk(1)])
    with pytest.raises(ConfigError, match=r"^numf 1000000000 x 1 chunks must be at most 1048576 segments, "
                                          r"not 1000000000$"):
        w.chan.prep_interleaved_dma(xt)
    soc_chan = w.soc.request_channel(Cap.INTERLEAVE)
    with pytest.raises(ConfigError, match=r"^numf 1000000000 x 1 chunks must be at most 1048576 segments"):
        soc_chan.prep_interleaved_dma(xt)


def test_a_2_to_the_40_byte_cyclic_buffer_is_refused(w: World) -> None:
    with pytest.raises(ConfigError, match=r"^buf_len 1099511627776 / period_len 4096 must be at most 1048576 "
                                          r"periods, not 268435456$"):
        w.tx_chan.prep_dma_cyclic(w.ring.addr, 2**40, 4096, M2D)


def test_a_sweep_of_a_trillion_sizes_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^sizes '2,3,\.\.\.,1000000000000': at most 1024 sizes$"):
        parse_sizes("2,3,...,1000000000000")
    with pytest.raises(ConfigError, match=r"^sizes '1,1000000000000,1,ADD': at most 1024 sizes$"):
        parse_sizes("1,1000000000000,1,ADD")
    assert len(parse_sizes("2,3,...,1025")) == 1024


# --- 10. unmap gives the buffer back ------------------------------------------------------------------------
@pytest.mark.parametrize("make", [Platform, Soc])
def test_after_unmap_the_cpu_owns_the_buffer(make: Callable[[], Platform]) -> None:
    plat = make()
    ba = bytearray(b"abc" * 100)
    m = plat.map(ba)
    with pytest.raises(BufferError):
        ba.extend(b"x")  # mapped: exported
    m.unmap()
    ba.extend(b"x")  # unmapped: the owner may resize it
    assert len(ba) == 301
    mm = mmap.mmap(-1, 8192)
    with plat.map(mm, DataDirection.FROM_DEVICE):
        pass
    mm.close()
    arr = np.zeros(64, dtype=np.uint8)
    with plat.map(arr):
        pass
    arr.resize(128, refcheck=False)
    plat.close()


# --- 11. one timeout rule ------------------------------------------------------------------------------------
def _rtl_soc() -> Platform:
    pytest.importorskip("amaranth")  # the RTL platform is an optional extra
    from dmaengine.rtl import RtlSoc

    return RtlSoc()


@pytest.mark.parametrize("make", [Platform, Soc, _rtl_soc])
def test_the_timeout_rule(make: Callable[[], Platform]) -> None:
    plat = make()
    if plat.realtime:
        plat.register_device(MemcpyEngine(channels=1))
    chan = plat.request_channel(Cap.MEMCPY)
    src, dst = np.ones(64, np.uint8), np.zeros(64, np.uint8)
    s, d = plat.map(src), plat.map(dst)
    for forever in (None, math.inf, 1e16):
        assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 64).submit(), timeout=forever) == Status.COMPLETE
    assert plat.wait_for(lambda: True, math.inf, chan.waitq)
    for bad in (-1, -0.001, NAN, -math.inf, "1", True):
        cookie = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
        with pytest.raises(ConfigError, match=r"^timeout must be None, inf or a number of seconds >= 0, not "):
            chan.sync_wait(cookie, timeout=bad)
        with pytest.raises(ConfigError, match=r"^timeout must be None, inf or a number of seconds >= 0, not "):
            plat.wait_for(lambda: False, bad, chan.waitq)
        assert chan.sync_wait(cookie) == Status.COMPLETE
    if isinstance(plat, Soc):
        plat.run_until_idle(timeout=math.inf)
        with pytest.raises(ConfigError, match=r"^timeout must be None, inf or a number of seconds >= 0, not nan$"):
            plat.run_until_idle(timeout=NAN)
    chan.release()
    plat.close()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("argv", "line"), [
    (["audio", "--stall-ms", "1e300"], "dmaengine audio: error: --stall-ms must be <= 1e+09, not 1e+300"),
    (["audio", "--bh-latency-us", "inf"], "dmaengine audio: error: --bh-latency-us must be <= 1e+09, not inf"),
    (["audio", "--app-latency-ms", "inf"], "dmaengine audio: error: --app-latency-ms must be <= 1e+09, not inf"),
    (["perf", "--seconds", "inf"], "dmaengine: error: seconds must be at most 86400 seconds, not inf"),
    (["perf", "--warmup", "1e300"], "dmaengine: error: warmup must be at most 86400 seconds, not 1e+300"),
])
def test_the_cli_never_prints_internal_error_for_a_number(argv: list[str], line: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert _one_line(err) == line


def test_a_huge_cli_timeout_means_a_long_wait_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--iterations", "3", "--max-channels", "1", "--timeout", str(10**16)]) == 0
    out, err = capsys.readouterr()
    assert "summary 3 tests, 0 failures" in out and err == ""


# --- 12. a dropped platform stops its threads ---------------------------------------------------------------
def test_a_platform_dropped_without_close_stops_its_threads() -> None:
    before = set(threading.enumerate())
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=2))
    chan = plat.request_channel(Cap.MEMCPY)
    src, dst = np.ones(64, np.uint8), np.zeros(64, np.uint8)
    s, d = plat.map(src), plat.map(dst)
    assert chan.sync_wait(chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()) == Status.COMPLETE
    started = [t for t in threading.enumerate() if t not in before]
    assert len(started) == 3  # two workers and the bottom half
    del plat, chan, s, d
    gc.collect()
    for t in started:
        t.join(10)
    assert [t.name for t in started if t.is_alive()] == []


# --- 13. the command's bounds -------------------------------------------------------------------------------
def exits_zero() -> Platform:
    """A --platform factory that ends the process instead of returning a Platform."""
    raise SystemExit(0)


def test_a_platform_factory_calling_sys_exit_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", f"{__name__}:exits_zero"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"dmaengine: error: --platform {__name__}:exits_zero: exits_zero() called sys.exit(0) instead of returning "
        "a Platform")


def test_a_hundred_thousand_threads_per_channel_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--threads-per-chan", "100000"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "dmaengine: error: threads_per_chan must be 1..256, not 100000")


def test_stats_size_allocates_the_size_not_eight_times_it() -> None:
    size = 4 << 20
    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=1))
        tracemalloc.start()
        try:
            exercise(plat, 1, size)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * size, peak  # the source and the destination, nothing 8 bytes per byte
