"""Fuzz every public constructor and prep with values of every wrong type (issue 7).

Each example replaces one or two arguments of a good call with a hostile value (None, bools, nan, inf, huge and
negative ints, strings, bytes, lists, tuples, dicts, objects, complex, numpy scalars). The call either succeeds
(a numpy integer is an integer; a huge address is an address) or raises the documented error, a DmaError
(ConfigError for a bad argument, MappingError for a buffer that cannot be mapped; TimeoutError from a wait).
Never another exception, never a hang, never a crash; afterwards both the threaded platform and the simulated
SoC still copy. Bounded by the Hypothesis profile (tests/conftest.py); DMAENGINE_SOAK_SCALE=N runs N times more.
Also: lost and doubled completions when threads submit concurrently (and race to submit the same descriptors).
"""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmaengine import (
    BusWidth,
    Cap,
    Channel,
    DataChunk,
    DataDirection,
    DmaError,
    InterleavedTemplate,
    Mapping,
    Platform,
    Scatterlist,
    SgEntry,
    SlaveConfig,
    StateError,
    Status,
    TransferDirection,
    TxResult,
)
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.sim import Adc, I2s, Soc, Uart
from dmaengine.tools.dmatest import DmatestParams
from dmaengine.tools.perf import PerfParams, parse_sizes

SCALE = max(1, int(os.environ.get("DMAENGINE_SOAK_SCALE", "1")))
EXAMPLES = settings.default.max_examples * SCALE
M2D = TransferDirection.MEM_TO_DEV

#: What the fuzz and the concurrency test counted, for the closing note (printed by the last test with -s).
FIGURES: Counter[str] = Counter()

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 3, 2**31, 2**64, -(2**63), 10**12]),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.lists(st.integers(-3, 3), max_size=3),
    st.tuples(st.integers(0, 9), st.integers(0, 9)),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.complex_numbers(max_magnitude=1e6),
    st.builds(object),
    st.builds(np.float64, st.floats(allow_nan=True)),
    st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.sampled_from([np.bool_(True), np.uint8(255), np.int8(-1), np.float32("nan"), math.inf, -math.inf]),
)


@dataclass
class World:
    plat: Platform
    chan: Channel
    s: Mapping
    d: Mapping
    soc: Soc
    tx: Channel  # uart0 TX, configured
    ring: Mapping
    smem: Channel
    ss: Mapping
    sd: Mapping
    done_cookie: int
    soc_done_cookie: int


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=1))
    chan = plat.request_channel(Cap.MEMCPY)
    src, dst = np.arange(4096, dtype=np.uint32).astype(np.uint8), np.zeros(4096, dtype=np.uint8)
    s, d = plat.map(src, DataDirection.TO_DEVICE), plat.map(dst, DataDirection.FROM_DEVICE)
    done = chan.prep_dma_memcpy(d.addr, s.addr, 64).submit()
    assert chan.sync_wait(done) == Status.COMPLETE
    soc = Soc()
    uart = soc.peripheral("uart0")
    tx = soc.request_chan("uart0", "tx")
    tx.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))
    ring = soc.map(np.zeros(4096, dtype=np.uint8), DataDirection.TO_DEVICE)
    smem = soc.request_channel(Cap.MEMCPY)
    ss = soc.map(np.arange(256, dtype=np.uint8), DataDirection.TO_DEVICE)
    sd = soc.map(np.zeros(256, dtype=np.uint8), DataDirection.FROM_DEVICE)
    soc_done = smem.prep_dma_memcpy(sd.addr, ss.addr, 64).submit()
    assert smem.sync_wait(soc_done) == Status.COMPLETE
    yield World(plat, chan, s, d, soc, tx, ring, smem, ss, sd, done, soc_done)
    plat.close()


def _xt(w: World, **kw: Any) -> InterleavedTemplate:
    args: dict[str, Any] = {"src_start": w.s.addr, "dst_start": w.d.addr, "numf": 2, "sgl": [DataChunk(8, 8)]}
    return InterleavedTemplate(**(args | kw))


def _cfg(w: World) -> SlaveConfig:
    return SlaveConfig(dst_addr=w.soc.peripheral("uart0").tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1,
                       dst_maxburst=4)


#: name -> (call(w, **kwargs), the good kwargs, extra exceptions documented for it)
TARGETS: dict[str, tuple[Callable[..., Any], Callable[[World], dict[str, Any]], tuple[type[BaseException], ...]]] = {
    "SlaveConfig": (lambda w, **k: SlaveConfig(**k), lambda w: {
        "direction": M2D, "src_addr": 0, "dst_addr": 0x4000_0000, "src_addr_width": BusWidth.BYTES_1,
        "dst_addr_width": BusWidth.BYTES_4, "src_maxburst": 1, "dst_maxburst": 4, "src_port_window_size": 0,
        "dst_port_window_size": 0, "device_fc": False}, ()),
    "SgEntry": (lambda w, **k: SgEntry(**k), lambda w: {"addr": 0, "length": 1}, ()),
    "DataChunk": (lambda w, **k: DataChunk(**k), lambda w: {"size": 4, "icg": 0, "dst_icg": 0, "src_icg": 0}, ()),
    "InterleavedTemplate": (lambda w, **k: InterleavedTemplate(**k), lambda w: {
        "src_start": 0, "dst_start": 0, "dir": TransferDirection.MEM_TO_MEM, "src_inc": True, "dst_inc": True,
        "src_sgl": False, "dst_sgl": False, "numf": 1, "frame_size": 1, "sgl": [DataChunk(4)]}, ()),
    "prep_dma_memcpy": (lambda w, **k: w.chan.prep_dma_memcpy(**k), lambda w: {
        "dst": w.d.addr, "src": w.s.addr, "length": 64, "flags": 0}, ()),
    "prep_dma_memset": (lambda w, **k: w.chan.prep_dma_memset(**k), lambda w: {
        "dst": w.d.addr, "value": 7, "length": 64, "flags": 0}, ()),
    "prep_dma_memcpy_sg": (lambda w, **k: w.chan.prep_dma_memcpy_sg(**k), lambda w: {
        "dst_sgl": [SgEntry(w.d.addr, 8)], "src_sgl": [SgEntry(w.s.addr, 8)], "flags": 0}, ()),
    "prep_interleaved_dma": (lambda w, **k: w.chan.prep_interleaved_dma(**k), lambda w: {
        "template": _xt(w), "flags": 0}, ()),
    "prep_dma_interrupt": (lambda w, **k: w.chan.prep_dma_interrupt(**k), lambda w: {"flags": 0}, ()),
    "sim prep_dma_memcpy": (lambda w, **k: w.smem.prep_dma_memcpy(**k), lambda w: {
        "dst": w.sd.addr, "src": w.ss.addr, "length": 64, "flags": 0}, ()),
    "prep_slave_sg": (lambda w, **k: w.tx.prep_slave_sg(**k), lambda w: {
        "sgl": [SgEntry(w.ring.addr, 4)], "direction": M2D, "flags": 0}, ()),
    "prep_slave_single": (lambda w, **k: w.tx.prep_slave_single(**k), lambda w: {
        "addr": w.ring.addr, "length": 4, "direction": M2D, "flags": 0}, ()),
    "prep_dma_cyclic": (lambda w, **k: w.tx.prep_dma_cyclic(**k), lambda w: {
        "buf_addr": w.ring.addr, "buf_len": 64, "period_len": 16, "direction": M2D, "flags": 0}, ()),
    "slave_config": (lambda w, **k: w.tx.slave_config(**k), lambda w: {"cfg": _cfg(w)}, ()),
    "sync_wait": (lambda w, **k: w.chan.sync_wait(**k), lambda w: {"cookie": w.done_cookie, "timeout": 0.001},
                  (TimeoutError,)),
    "sim sync_wait": (lambda w, **k: w.smem.sync_wait(**k), lambda w: {"cookie": w.soc_done_cookie,
                                                                     "timeout": 0.001}, (TimeoutError,)),
    "tx_status": (lambda w, **k: w.chan.tx_status(**k), lambda w: {"cookie": w.done_cookie}, ()),
    "map": (lambda w, **k: w.plat.map(**k), lambda w: {"buf": bytearray(16), "direction": 0}, ()),
    "map_sg": (lambda w, **k: w.soc.map_sg(**k), lambda w: {"bufs": [bytearray(16)], "direction": 0}, ()),
    "request_channel": (lambda w, **k: w.soc.request_channel(**k), lambda w: {
        "mask": Cap.MEMCPY, "filter_fn": None, "filter_param": None, "client_name": None}, ()),
    "register_device": (lambda w, **k: w.soc.register_device(**k), lambda w: {"dev": None}, ()),
    "request_chan": (lambda w, **k: w.soc.request_chan(**k), lambda w: {"devname": "uart1", "name": "tx"}, ()),
    "MemcpyEngine": (lambda w, **k: MemcpyEngine(**k), lambda w: {"channels": 2, "dev_name": "m"}, ()),
    "Soc": (lambda w, **k: Soc(**k), lambda w: {
        "channels": 2, "bus_bytes_per_s": 10**8, "fetch_latency_ns": 10, "bh_latency_ns": 10, "peripherals": [],
        "fast": True, "trace": False, "bus_width_bytes": 4, "max_burst": 8}, ()),
    "Uart": (lambda w, **k: Uart(**k), lambda w: {"name": "u", "baud": 9600, "fifo_depth": 16, "threshold": 1}, ()),
    "I2s": (lambda w, **k: I2s(**k), lambda w: {
        "name": "i", "rate_hz": 8000, "channels": 2, "sample_width": 2, "fifo_depth": 16, "threshold": 1,
        "rx_source": None}, ()),
    "Adc": (lambda w, **k: Adc(**k), lambda w: {
        "name": "a", "rate_hz": 8000, "bits": 12, "sample_width": 2, "freq_hz": 50.0, "waveform": None,
        "fifo_depth": 32, "threshold": 1}, ()),
    "soc.run_for": (lambda w, **k: w.soc.run_for(**k), lambda w: {"seconds": 0.0001}, ()),
    "soc.run": (lambda w, **k: w.soc.run(**k), lambda w: {"until": w.soc.now}, ()),
    "soc.run_until_idle": (lambda w, **k: w.soc.run_until_idle(**k), lambda w: {"timeout": 1.0}, (TimeoutError,)),
    "soc.peripheral": (lambda w, **k: w.soc.peripheral(**k), lambda w: {"name": "uart0"}, ()),
    "Uart.feed": (lambda w, **k: w.soc.peripheral("uart1").feed(**k), lambda w: {"data": b"ab"}, ()),
    "DmatestParams": (lambda w, **k: DmatestParams(**k).check(), lambda w: {
        "test_buf_size": 64, "threads_per_chan": 1, "max_channels": 0, "iterations": 1, "timeout_ms": 10,
        "alignment": -1, "transfer_size": 0, "dmatest": 0, "noverify": False, "polled": False}, ()),
    "PerfParams": (lambda w, **k: PerfParams(**k).check(), lambda w: {
        "sizes": [64], "kick_batch": 4, "ring_size": 8, "seconds": 0.1, "channels": 1, "warmup": 0.0,
        "baseline": False, "timeout": 1.0}, ()),
    "parse_sizes": (lambda w, **k: parse_sizes(**k), lambda w: {"text": "64,128"}, ()),
}


def _cleanup(result: Any) -> None:
    """Undo what a call that succeeded took: a channel, a mapping."""
    if isinstance(result, Channel) and result.client_count:
        result.release()
    elif isinstance(result, Mapping | Scatterlist):
        result.unmap()


def _still_copies(w: World) -> None:
    cookie = w.chan.prep_dma_memcpy(w.d.addr, w.s.addr, 64).submit()
    assert w.chan.sync_wait(cookie, timeout=30) == Status.COMPLETE
    cookie = w.smem.prep_dma_memcpy(w.sd.addr, w.ss.addr, 64).submit()
    assert w.smem.sync_wait(cookie, timeout=1) == Status.COMPLETE


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_values_get_the_documented_error(world: World, target: str, data: st.DataObject) -> None:
    call, good, extra = TARGETS[target]
    kwargs = good(world)
    keys = data.draw(st.lists(st.sampled_from(sorted(kwargs)), min_size=1, max_size=2, unique=True), label="keys")
    if target.endswith("sync_wait") or target == "soc.run_until_idle":
        keys = keys[:1]  # a bad cookie with no time limit would wait for ever, as documented
    for key in keys:
        kwargs[key] = data.draw(HOSTILE, label=key)
    FIGURES["fuzz calls"] += 1
    try:
        result = call(world, **kwargs)
    except (DmaError, *extra):
        FIGURES["fuzz refused with the documented error"] += 1
    else:
        FIGURES["fuzz accepted (documented result)"] += 1
        _cleanup(result)
    _still_copies(world)


# --- concurrency: no lost, no doubled completion --------------------------------------------------------------
def test_concurrent_submitters_lose_and_double_nothing() -> None:
    """Four threads prepare, submit and issue on two channels at once; pairs of threads race to submit the same
    descriptors. Every submitted descriptor is called back exactly once and every race has exactly one winner."""
    per_thread = 500 * SCALE
    races = 200 * SCALE
    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=2))
        chans = [plat.request_channel(Cap.MEMCPY) for _ in range(2)]
        src = np.arange(1 << 16, dtype=np.uint32).astype(np.uint8)
        dst = np.zeros(1 << 16, dtype=np.uint8)
        s, d = plat.map(src, DataDirection.TO_DEVICE), plat.map(dst, DataDirection.FROM_DEVICE)
        calls: Counter[tuple[int, int]] = Counter()
        lock = threading.Lock()

        def done(param: tuple[int, int], result: TxResult) -> None:
            with lock:
                calls[param] += 1

        def submitter(t: int) -> None:
            chan = chans[t % 2]
            for i in range(per_thread):
                off = (i * 64) % (1 << 16)
                tx = chan.prep_dma_memcpy(d.addr + off, s.addr + off, 64)
                tx.callback_result = done
                tx.callback_param = (t, i)
                tx.submit()
                if i % 16 == 15:
                    chan.issue_pending()
            chan.issue_pending()

        threads = [threading.Thread(target=submitter, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        wins: Counter[int] = Counter()
        for r in range(races):
            tx = chans[0].prep_dma_memcpy(d.addr, s.addr, 64)
            tx.callback_result = done
            tx.callback_param = (-1, r)
            barrier = threading.Barrier(2)

            def race(tx: Any = tx, barrier: threading.Barrier = barrier, r: int = r) -> None:
                barrier.wait(10)
                try:
                    tx.submit()
                except StateError:
                    return
                with lock:
                    wins[r] += 1

            pair = [threading.Thread(target=race) for _ in range(2)]
            for t in pair:
                t.start()
            for t in pair:
                t.join(10)
        for chan in chans:
            last = chan.prep_dma_interrupt().submit()
            assert chan.sync_wait(last, timeout=60) == Status.COMPLETE
            chan.synchronize()
        expected = {(t, i) for t in range(4) for i in range(per_thread)} | {(-1, r) for r in range(races)}
        lost = len(expected - set(calls))
        doubled = sum(1 for n in calls.values() if n > 1)
        FIGURES["concurrent descriptors"] += len(expected)
        FIGURES["lost completions"] += lost
        FIGURES["doubled completions"] += doubled
        FIGURES["submit races"] += races
        FIGURES["submit races with one winner"] += sum(1 for r in range(races) if wins[r] == 1)
        assert (lost, doubled) == (0, 0)
        assert sorted(wins.values()) == [1] * races
        for chan in chans:
            chan.release()


def test_zz_figures() -> None:
    """The reliability figures of this module's run (``pytest -s`` shows them)."""
    print("\nreliability figures:", dict(FIGURES))
    if FIGURES["fuzz calls"]:
        assert FIGURES["fuzz calls"] == (FIGURES["fuzz refused with the documented error"]
                                         + FIGURES["fuzz accepted (documented result)"])
