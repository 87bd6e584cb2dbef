"""Fast against reference: random mixes of up to 8 flows sharing the bus (every peripheral port, both directions,
memcpy / memset / memcpy_sg), random bus speeds, widths, bursts and period sizes, with pause, resume, terminate,
unmap and new RX data at random instants. ``Soc(fast=True)`` (closed-form plans and shared-bus schedules) must
give exactly what ``Soc(fast=False)`` (burst by burst) gives: the bytes, every callback instant, ``tx_status`` at
random query instants, peripheral counters and line output, and every burst's channel and landing instant (the
planner's ``burst_probe`` and the bursts simulated one by one, against the reference's).

Bounded in CI; ``DMAENGINE_SOAK_SCALE=N`` runs N times more examples (see tests/test_soak.py).
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dmaengine import BusWidth, Cap, DataDirection, SlaveConfig, TransferDirection
from dmaengine.sim import Adc, I2s, Soc, Uart

SCALE = max(1, int(os.environ.get("DMAENGINE_SOAK_SCALE", "1")))
M2D, D2M = TransferDirection.MEM_TO_DEV, TransferDirection.DEV_TO_MEM
HORIZON_NS = 4_000_000

#: The suite's 120 s per test, times the soak scale.
pytestmark = pytest.mark.timeout(120 * SCALE)

#: The peripheral ports a flow can serve: (peripheral, "tx"/"rx").
PORTS = [("uart0", "tx"), ("uart0", "rx"), ("uart1", "tx"), ("uart1", "rx"), ("i2s0", "tx"), ("i2s0", "rx"),
         ("adc0", "rx")]
MEM_KINDS = ["memcpy", "memset", "memcpy_sg"]

times = st.integers(0, HORIZON_NS)
port_flow = st.fixed_dictionaries({
    "port": st.sampled_from(PORTS), "burst": st.integers(1, 8), "wide": st.booleans(),
    "cyclic": st.booleans(), "periods": st.integers(2, 4), "period_bursts": st.integers(1, 6),
    "start": times})
mem_flow = st.fixed_dictionaries({
    "kind": st.sampled_from(MEM_KINDS), "size": st.integers(1, 6000), "start": times, "repeat": st.integers(1, 3)})
ops = st.lists(st.tuples(times, st.sampled_from(["pause", "resume", "terminate", "unmap", "feed", "query"]),
                         st.integers(0, 7)), max_size=12)


def _soc(fast: bool, cfg: dict[str, Any]) -> Soc:
    peripherals = [Uart("uart0", baud=cfg["baud0"], fifo_depth=cfg["depth"]), Uart("uart1", baud=cfg["baud1"]),
                   I2s("i2s0", rate_hz=cfg["rate"], fifo_depth=cfg["i2s_depth"]), Adc("adc0", rate_hz=cfg["adc_rate"])]
    return Soc(fast=fast, peripherals=peripherals, bus_bytes_per_s=cfg["bps"], bh_latency_ns=cfg["bh"])


def simulate(fast: bool, cfg: dict[str, Any], pflows: list[dict[str, Any]], mflows: list[dict[str, Any]],
             oplist: list[tuple[int, str, int]], probe: bool = True) -> tuple[Any, ...]:
    """One random mix; ``probe``: record every burst's landing (the planner's probe), else (nothing drawn, as
    a user runs it) a digest of every buffer at each callback instead."""
    soc = _soc(fast, cfg)
    hw = soc.dmac.hw
    # Every burst's landing: those the planner computed (its probe) and those simulated one by one.
    landings: list[tuple[int, int]] = []
    if probe:
        hw.burst_probe = lambda idx, request_ns, grant_ns, end_ns: landings.append((idx, end_ns))
    calls: list[tuple[Any, ...]] = []
    flows: list[dict[str, Any]] = []  # {name, chan, cookies, map, buf}

    def look() -> int | None:
        """What client code sees of every buffer at a callback (without a probe)."""
        return None if probe else zlib.crc32(b"".join(f["buf"].tobytes() for f in flows))
    schedule: list[tuple[int, int, str, Any]] = []
    seen_ports = set()
    for i, f in enumerate(pflows):
        if f["port"] in seen_ports or len(seen_ports) + len(mflows) >= 8:  # one channel per flow, 8 channels
            continue
        seen_ports.add(f["port"])
        schedule.append((f["start"], len(schedule), "pstart", (i, f)))
    for i, f in enumerate(mflows):
        for r in range(f["repeat"]):
            schedule.append((f["start"] + r * 300_000, len(schedule), "mstart", (i, f)))
    for t, op, k in oplist:
        schedule.append((t, len(schedule), op, k))
    schedule.sort(key=lambda x: (x[0], x[1]))

    def cb(name: str) -> Any:
        return lambda _, r: calls.append((name, soc.now_ns, r.result, r.residue, look()))

    def start_port(i: int, f: dict[str, Any]) -> None:
        pname, kind = f["port"]
        p = soc.peripheral(pname)
        chan = soc.request_chan(pname, kind)
        unit = 4 if pname == "i2s0" else 2 if pname == "adc0" else 1
        width = unit if f["wide"] else (1 if unit == 1 else unit // 2 if pname == "i2s0" else unit)
        burst = f["burst"]
        if kind == "tx":
            chan.slave_config(SlaveConfig(dst_addr=p.tx_fifo_addr, dst_addr_width=BusWidth(width),
                                          dst_maxburst=burst))
        else:
            chan.slave_config(SlaveConfig(src_addr=p.rx_fifo_addr, src_addr_width=BusWidth(width),
                                          src_maxburst=burst))
        period = width * burst * f["period_bursts"]
        n = period * f["periods"]
        buf = (np.arange(n) * 7 % 251).astype(np.uint8) if kind == "tx" else np.zeros(n, dtype=np.uint8)
        m = soc.map(buf)
        direction = M2D if kind == "tx" else D2M
        name = f"{pname}.{kind}"
        if f["cyclic"]:
            d = chan.prep_dma_cyclic(m.addr, n, period, direction)
            d.callback = lambda _, name=name: calls.append((name, "period", soc.now_ns, look()))
        else:
            d = chan.prep_slave_single(m.addr, n, direction)
            d.callback_result = cb(name)
        flows.append({"name": name, "chan": chan, "cookies": [d.submit()], "map": m, "buf": buf})
        chan.issue_pending()

    mem: dict[int, dict[str, Any]] = {}

    def start_mem(i: int, f: dict[str, Any]) -> None:
        if i not in mem:
            chan = soc.request_channel(Cap.MEMCPY | Cap.MEMSET | Cap.MEMCPY_SG)
            size = f["size"]
            src = (np.arange(size) * 13 % 253).astype(np.uint8)
            dst = np.zeros(size, dtype=np.uint8)
            entry = {"name": f"mem{i}", "chan": chan, "cookies": [], "map": soc.map(dst), "buf": dst,
                     "src": soc.map(src, DataDirection.TO_DEVICE)}
            mem[i] = entry
            flows.append(entry)
        e = mem[i]
        chan, size, dst_m, src_m = e["chan"], f["size"], e["map"], e["src"]
        if not (dst_m.live and src_m.live):
            return
        if f["kind"] == "memcpy":
            d = chan.prep_dma_memcpy(dst_m.addr, src_m.addr, size)
        elif f["kind"] == "memset":
            d = chan.prep_dma_memset(dst_m.addr, len(e["cookies"]) + 1, size)
        else:
            half = size // 2
            if half == 0:
                d = chan.prep_dma_memcpy(dst_m.addr, src_m.addr, size)
            else:
                from dmaengine import SgEntry
                d = chan.prep_dma_memcpy_sg([SgEntry(dst_m.addr + half, size - half), SgEntry(dst_m.addr, half)],
                                            [SgEntry(src_m.addr, size - half), SgEntry(src_m.addr + size - half,
                                                                                      half)])
        d.callback_result = cb(e["name"])
        e["cookies"].append(d.submit())
        chan.issue_pending()

    def status() -> list[Any]:
        return [(f["name"], [f["chan"].tx_status(c) for c in f["cookies"]]) for f in flows]

    seen: list[Any] = []
    for t, _, op, arg in schedule:
        soc.run(until=max(t, soc.now_ns) / 1e9)
        if op == "pstart":
            start_port(*arg)
        elif op == "mstart":
            start_mem(*arg)
        elif op == "feed":
            soc.peripheral(f"uart{arg % 2}").feed(bytes(range(arg * 5, arg * 5 + 9)))  # type: ignore[attr-defined]
        elif op == "query":
            seen.append((soc.now_ns, status()))
        elif flows:
            f = flows[arg % len(flows)]
            chan = f["chan"]
            if op == "pause" and not chan.paused:
                chan.pause()
            elif op == "resume" and chan.paused:
                chan.resume()
            elif op == "terminate":
                chan.terminate_sync()
            elif op == "unmap" and f["map"].live:
                f["map"].unmap()
    soc.run(until=max(HORIZON_NS + 1_000_000, soc.now_ns) / 1e9)
    seen.append((soc.now_ns, status()))
    u0, u1, codec, adc = (soc.peripheral(n) for n in ("uart0", "uart1", "i2s0", "adc0"))
    periph = (u0.output, u0.output_ns, u0.overruns, u1.output, u1.output_ns, u1.overruns,  # type: ignore[attr-defined]
              codec.played, codec.underruns, codec.rx_overruns, adc.overruns)  # type: ignore[attr-defined]
    return seen, calls, [f["buf"].tobytes() for f in flows], periph, sorted(landings), (hw.plans, hw.runs)


config = st.fixed_dictionaries({
    "baud0": st.sampled_from([115_200, 1_000_000, 3_000_000]), "baud1": st.sampled_from([9600, 115_200, 12_000_000]),
    "depth": st.sampled_from([8, 16, 32, 64]), "rate": st.sampled_from([8000, 48_000, 96_000]),
    "i2s_depth": st.sampled_from([32, 64, 128]), "adc_rate": st.sampled_from([8000, 50_000, 200_000]),
    "bps": st.sampled_from([400_000_000, 100_000_000, 20_000_000]), "bh": st.sampled_from([0, 1000, 50_000])})


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
@given(cfg=config, pflows=st.lists(port_flow, max_size=7), mflows=st.lists(mem_flow, max_size=3), oplist=ops)
def test_fast_equals_burst_by_burst_on_random_mixes(cfg: dict[str, Any], pflows: list[dict[str, Any]],
                                                    mflows: list[dict[str, Any]],
                                                    oplist: list[tuple[int, str, int]]) -> None:
    fast = simulate(True, cfg, pflows, mflows, oplist)
    slow = simulate(False, cfg, pflows, mflows, oplist)
    assert fast[:-1] == slow[:-1]
    assert slow[-1] == (0, 0)
    event(f"closed-form item plans used: {fast[-1][0] > 0}")
    event(f"round-robin runs used: {fast[-1][1] > 0}")


@settings(max_examples=40 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])
@given(cfg=config, pflows=st.lists(port_flow, max_size=7), mflows=st.lists(mem_flow, max_size=3), oplist=ops)
def test_fast_equals_burst_by_burst_without_a_probe(cfg: dict[str, Any], pflows: list[dict[str, Any]],
                                                    mflows: list[dict[str, Any]],
                                                    oplist: list[tuple[int, str, int]]) -> None:
    """As above with no burst probe (a probe makes a schedule's interrupt move every lane's bytes; without one it
    moves its own lane's only, the others when client code looks): every buffer, as each callback sees it."""
    fast = simulate(True, cfg, pflows, mflows, oplist, probe=False)
    slow = simulate(False, cfg, pflows, mflows, oplist, probe=False)
    assert fast[:-1] == slow[:-1]


def busy_soc(fast: bool, sim_ms: int = 30, probe: bool = True) -> tuple[Any, ...]:
    """The benchmark's busy SoC (full-duplex I2S, ADC, UART RX fed every 10 ms, a UART TX log, a 64 KiB memcpy
    every 10 ms), ``sim_ms`` long, with ``tx_status`` queries at odd instants; ``probe``: record every burst's
    landing, else a digest of every buffer at each callback."""
    soc = Soc(fast=fast)
    hw = soc.dmac.hw
    landings: list[tuple[int, int]] = []
    if probe:
        hw.burst_probe = lambda idx, request_ns, grant_ns, end_ns: landings.append((idx, end_ns))
    codec, adc, uart0 = soc.peripheral("i2s0"), soc.peripheral("adc0"), soc.peripheral("uart0")
    calls: list[tuple[Any, ...]] = []
    chans, cookies, bufs = [], [], []

    def look() -> int | None:
        return None if probe else zlib.crc32(b"".join(b.tobytes() for b in bufs))

    def cyclic(name: str, kind: str, width: BusWidth, burst: int, ring: int, period: int) -> None:
        p = soc.peripheral(name)
        chan = soc.request_chan(name, kind)
        if kind == "tx":
            chan.slave_config(SlaveConfig(dst_addr=p.tx_fifo_addr, dst_addr_width=width, dst_maxburst=burst))
            buf = (np.arange(ring) * 7 % 251).astype(np.uint8)
        else:
            chan.slave_config(SlaveConfig(src_addr=p.rx_fifo_addr, src_addr_width=width, src_maxburst=burst))
            buf = np.zeros(ring, dtype=np.uint8)
        d = chan.prep_dma_cyclic(soc.map(buf).addr, ring, period, M2D if kind == "tx" else D2M)
        d.callback = lambda _, name=f"{name}.{kind}": calls.append((name, soc.now_ns, look()))
        chans.append(chan)
        cookies.append(d.submit())
        bufs.append(buf)

    cyclic("i2s0", "tx", BusWidth.BYTES_4, 8, 480 * 16, 480 * 4)
    cyclic("i2s0", "rx", BusWidth.BYTES_4, 8, 480 * 16, 480 * 4)
    cyclic("adc0", "rx", BusWidth.BYTES_2, 4, 640, 160)
    cyclic("uart0", "rx", BusWidth.BYTES_1, 1, 256, 64)
    tx = soc.request_chan("uart0", "tx")
    tx.slave_config(SlaveConfig(dst_addr=uart0.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    log = np.frombuffer(bytes(range(32, 127)) * 10, dtype=np.uint8)[:512].copy()
    chans.append(tx)
    cookies.append(tx.prep_slave_single(soc.map(log).addr, log.nbytes, M2D).submit())
    mc = soc.request_channel(Cap.MEMCPY)
    src = (np.arange(64 * 1024) % 249).astype(np.uint8)
    dst = np.zeros_like(src)
    bufs.append(dst)
    ms, md = soc.map(src), soc.map(dst)
    for c in chans:
        c.issue_pending()
    seen = []
    for k in range(sim_ms // 10):
        soc.run(until=k / 100)
        uart0.feed(b"hello, world\n")  # type: ignore[attr-defined]
        d = mc.prep_dma_memcpy(md.addr, ms.addr, src.nbytes)
        d.callback = lambda _: calls.append(("memcpy", soc.now_ns, look()))
        chans.append(mc)
        cookies.append(d.submit())
        mc.issue_pending()
        for q in (1_234, 77_777, 163_001, 5_000_003):
            soc.run(until=(k * 10_000_000 + q) / 1e9)
            seen.append((soc.now_ns, [c.tx_status(ck) for c, ck in zip(chans, cookies)]))
    soc.run(until=sim_ms / 1000)
    periph = (codec.played, codec.underruns, codec.rx_overruns, adc.overruns,  # type: ignore[attr-defined]
              uart0.output, uart0.output_ns, uart0.overruns)  # type: ignore[attr-defined]
    return (seen, calls, [b.tobytes() for b in bufs], dst.tobytes(), periph, sorted(landings),
            (hw.plans, hw.runs, soc.kernel.events_run))


def test_the_busy_soc_is_scheduled_and_exact() -> None:
    """Full-duplex I2S (TX and RX asking at the same instants), the ADC, UART RX and TX and a memcpy every 10 ms
    share the bus: the fast model plans them together and agrees with burst by burst on every byte, callback
    instant, status, peripheral counter and burst landing."""
    fast, slow = busy_soc(True), busy_soc(False)
    assert fast[:-1] == slow[:-1]
    plans, runs, events = fast[-1]
    assert plans > 10 and runs > 0 and slow[-1][:2] == (0, 0)
    assert events * 10 < slow[-1][2]  # not an event per burst
    assert len(fast[-2]) > 1500  # bursts landed in 30 ms


@pytest.mark.parametrize("sim_ms", [30, 60])
def test_the_busy_soc_without_a_probe_is_exact(sim_ms: int) -> None:
    """The busy SoC as a user runs it (no burst probe: a schedule's interrupt moves its own lane's bytes, the
    others move when client code looks): every buffer as each callback sees it, statuses, peripheral outputs."""
    fast, slow = busy_soc(True, sim_ms, probe=False), busy_soc(False, sim_ms, probe=False)
    assert fast[:-1] == slow[:-1]
    assert fast[-1][0] > 10 and slow[-1][:2] == (0, 0)
