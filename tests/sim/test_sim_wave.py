"""Waveforms of the simulated SoC: a VCD read back with pyvcd's reader, edges at the instants the timing model
says, the same bytes at the same instants with and without a waveform, and the errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, ConfigError, DataDirection, SlaveConfig, StateError, Status, TransferDirection
from dmaengine.sim import Soc, Waveform

vcd_reader = pytest.importorskip("vcd.reader")

M2D = TransferDirection.MEM_TO_DEV


def read_vcd(path: Path) -> dict[str, list[tuple[int, int | str]]]:
    """Every signal's changes ``(t_ns, value)`` by its dotted name; vectors as ints ('z' when undriven)."""
    TK = vcd_reader.TokenKind
    names: dict[str, str] = {}
    scope: list[str] = []
    out: dict[str, list[tuple[int, int | str]]] = {}
    t = 0
    with open(path, "rb") as f:
        for tok in vcd_reader.tokenize(f):
            if tok.kind is TK.TIMESCALE:
                magnitude = tok.data.magnitude
                assert (int(getattr(magnitude, "value", magnitude)), tok.data.unit.value) == (1, "ns")
            elif tok.kind is TK.SCOPE:
                scope.append(tok.data.ident)
            elif tok.kind is TK.UPSCOPE:
                scope.pop()
            elif tok.kind is TK.VAR:
                names[tok.data.id_code] = ".".join([*scope, tok.data.reference])
            elif tok.kind is TK.CHANGE_TIME:
                t = tok.data
            elif tok.kind in (TK.CHANGE_SCALAR, TK.CHANGE_VECTOR):
                v = tok.data.value
                value: int | str = v if isinstance(v, int) else (int(v) if v in ("0", "1") else v)
                changes = out.setdefault(names[tok.data.id_code], [])
                if changes and changes[-1][0] == t:
                    changes[-1] = (t, value)
                else:
                    changes.append((t, value))
    return out


def edges(changes: list[tuple[int, int | str]], value: int | str) -> list[int]:
    """The instants the signal changed to ``value`` (its initial value excluded)."""
    return [t for i, (t, v) in enumerate(changes) if i and v == value and changes[i - 1][1] != value]


def uart_tx(soc: Soc, n: int = 64) -> tuple[object, int]:
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    buf = np.arange(n, dtype=np.uint8)
    m = soc.map(buf, DataDirection.TO_DEVICE)
    cookie = chan.prep_slave_single(m.addr, n, M2D).submit()
    chan.issue_pending()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    done_ns = soc.now_ns
    soc.run_until_idle()
    return uart, done_ns


def test_uart_tx_request_line_rises_and_falls_at_the_model_instants(tmp_path: Path) -> None:
    path = tmp_path / "uart.vcd"
    soc = Soc(vcd=path)
    uart, done_ns = uart_tx(soc)
    soc.close()
    w = read_vcd(path)
    out_ns = uart.output_ns  # the instant each byte's start bit began, which frees its FIFO slot
    burst_ns = 8 * 10  # 8 one-byte beats, 10 ns per bus cycle (400 MB/s, 32-bit bus)
    # 100 ns descriptor fetch; the empty 32-byte FIFO takes 4 bursts back to back, the line starts at 180 ns
    assert out_ns[0] == 100 + burst_ns
    # then a burst each time 8 bytes of room opened (the 8th byte since the FIFO was full left)
    rises = [100] + [out_ns[7 + 8 * k] for k in range(4)]
    falls = [100 + 4 * burst_ns] + [r + burst_ns for r in rises[1:]]
    dreq = w["soc.uart0.tx_dreq"]
    assert edges(dreq, 1) == rises
    assert edges(dreq, 0) == falls
    assert falls[-1] == done_ns  # the last burst ends: the interrupt completes the cookie
    assert edges(w["soc.dma0.bus_grant"], 0) == rises
    assert edges(w["soc.dma0.bus_grant"], "z") == falls
    assert w["soc.dma0.ch0_busy"] == [(0, 1), (falls[-1], 0)]
    assert [t for t, _ in w["soc.dma0.ch0_irq"]] == [falls[-1]]
    # the FIFO level: +8 at each burst's end, -1 at each start bit, exactly then and nowhere else
    level = w["soc.uart0.tx_level"]
    expect: dict[int, int] = {}
    for t in [*(100 + burst_ns * (k + 1) for k in range(4)), *falls[1:]]:
        expect[t] = expect.get(t, 0) + 8
    for t in out_ns:
        expect[t] = expect.get(t, 0) - 1
    got = {t: v - (level[i - 1][1] if i else 0) for i, (t, v) in enumerate(level)}  # type: ignore[operator]
    assert {t: d for t, d in got.items() if t} == {t: d for t, d in expect.items() if d}
    assert level[-1] == (out_ns[-1], 0)
    for other in ("uart1.tx_dreq", "i2s0.tx_dreq", "adc0.rx_dreq", "dma0.ch1_busy"):
        assert len(w[f"soc.{other}"]) == 1  # never moved


@pytest.mark.parametrize("fast", [True, False])
def test_the_waveform_changes_no_byte_and_no_instant(fast: bool, tmp_path: Path) -> None:
    plain = Soc(fast=fast)
    uart, done = uart_tx(plain)
    recorded = Soc(fast=fast, vcd=tmp_path / "u.vcd")
    uart2, done2 = uart_tx(recorded)
    assert (uart2.output, uart2.output_ns, done2) == (uart.output, uart.output_ns, done)
    recorded.close()
    assert recorded.controllers[0].fast is fast  # the closed-form plans are back


def cyclic_audio(soc: Soc, wave_from_s: float | None, path: Path) -> tuple[bytes, list[int]]:
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = (np.arange(8192, dtype=np.uint32) * 2654435761 % 251).astype(np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    tx = chan.prep_dma_cyclic(m.addr, 8192, 2048, M2D)
    periods: list[int] = []
    tx.callback = lambda _: periods.append(soc.now_ns)
    tx.submit()
    chan.issue_pending()
    if wave_from_s is None:
        soc.run(until=0.03)
    else:
        soc.run(until=wave_from_s)  # planned in closed form until here
        with soc.record_vcd(path) as wave:
            assert isinstance(wave, Waveform) and wave.recording
            soc.run(until=0.02)
        assert not wave.recording
        soc.run(until=0.03)
    chan.terminate_sync()
    return codec.played, periods


def test_recording_from_the_middle_of_a_planned_flow_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "a.vcd"
    ref = cyclic_audio(Soc(), None, path)
    got = cyclic_audio(Soc(), 0.004_321, path)
    assert got == ref
    assert len(ref[0]) == 30 * 48 * 4  # 30 ms of 16-bit stereo frames played
    assert ref[1] == [10_313_760, 20_980_426]  # the period callbacks, 1 us after their interrupts
    w = read_vcd(path)
    level = w["soc.i2s0.tx_level"]
    assert level[0][0] == 4_321_000 and level[-1][0] <= 20_000_000
    # one frame (4 bytes) leaves at each 48 kHz tick: the level moves at least that often
    assert len(level) > (20_000_000 - 4_321_000) * 48_000 // 10**9
    bursts = edges(w["soc.dma0.bus_grant"], 0)
    assert all(b - a >= 32 * 10**9 // (4 * 48_000) - 1 for a, b in itertools.pairwise(bursts))  # 8 frames apart
    assert [t for t, _ in w["soc.dma0.ch0_irq"]] == [t - 1_000 for t in ref[1] if 4_321_000 <= t - 1_000 <= 20e6]


def test_one_waveform_at_a_time_and_bad_paths(tmp_path: Path) -> None:
    soc = Soc()
    wave = soc.record_vcd(tmp_path / "a.vcd")
    with pytest.raises(StateError, match=r"^this SoC is already recording a waveform to .*a\.vcd$"):
        soc.record_vcd(tmp_path / "b.vcd")
    wave.close()
    wave.close()  # idempotent
    soc.record_vcd(tmp_path / "b.vcd").close()
    with pytest.raises(ConfigError, match=r"^record_vcd takes a file name, not 3$"):
        soc.record_vcd(3)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        Soc(vcd=tmp_path / "no" / "such.vcd")
    assert soc.kernel.probe is None


def test_without_pyvcd_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "vcd", None)  # as if pyvcd were not installed
    soc = Soc()
    with pytest.raises(ConfigError, match=r"^waveforms need pyvcd \(pip install 'dmaengine\[wave\]'\)$"):
        soc.record_vcd(tmp_path / "w.vcd")
    assert not (tmp_path / "w.vcd").exists() and soc.kernel.probe is None
    monkeypatch.undo()
    soc.record_vcd(tmp_path / "w.vcd").close()  # nothing was left half-done
    assert (tmp_path / "w.vcd").read_text().startswith("$comment a waveform of the simulated SoC $end")


# --- the fast planner draws the same waveform as the burst-by-burst reference ---------------------------------------

def i2s_cyclic(soc: Soc, until_s: float) -> None:
    codec = soc.peripheral("i2s0")
    chan = soc.request_chan("i2s0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_4, dst_maxburst=8))
    ring = (np.arange(8192, dtype=np.uint32) * 2654435761 % 251).astype(np.uint8)
    m = soc.map(ring, DataDirection.TO_DEVICE)
    chan.prep_dma_cyclic(m.addr, 8192, 2048, M2D).submit()
    chan.issue_pending()
    soc.run(until=until_s)


def memcpy_beside_audio(soc: Soc) -> None:
    """A cyclic I2S flow, then two memory-to-memory copies on two channels contending for the bus with it and
    with each other (round-robin runs of bursts on the fast path), then a UART transfer."""
    i2s_cyclic(soc, 0.0005)
    src = (np.arange(48 * 1024) % 253).astype(np.uint8)
    dsts = [np.zeros_like(src) for _ in range(2)]
    sm = soc.map(src, DataDirection.TO_DEVICE)
    cookies = []
    for d in dsts:
        chan = soc.request_channel(Cap.MEMCPY)
        dm = soc.map(d, DataDirection.FROM_DEVICE)
        cookies.append((chan, chan.prep_dma_memcpy(dm.addr, sm.addr, src.nbytes).submit()))
        chan.issue_pending()
    for chan, cookie in cookies:
        assert chan.sync_wait(cookie) == Status.COMPLETE
    assert all((d == src).all() for d in dsts)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    m = soc.map(src[:48], DataDirection.TO_DEVICE)
    cookie = chan.prep_slave_single(m.addr, 48, M2D).submit()
    chan.issue_pending()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    soc.run(until=0.0031)


SCENARIOS = {
    "uart_tx": lambda soc: uart_tx(soc),
    "i2s_cyclic": lambda soc: i2s_cyclic(soc, 0.004),
    # the recording ends 40 ns into the burst granted at 3_979_346 ns (8 beats of 10 ns from then)
    "i2s_cyclic_ends_in_a_burst": lambda soc: i2s_cyclic(soc, 0.003_979_386),
    "memcpy_beside_audio": memcpy_beside_audio,
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_fast_planner_records_the_reference_waveform_edge_for_edge(scenario: str, tmp_path: Path) -> None:
    """The same scenario recorded with the closed-form plans (bursts reported by ``Dmac.burst_probe`` when they
    are materialized) and with ``Soc(fast=False)`` (every burst an event): the same VCD, change for change."""
    waves = {}
    for fast in (True, False):
        path = tmp_path / f"{fast}.vcd"
        soc = Soc(fast=fast)
        wave = soc.record_vcd(path)
        SCENARIOS[scenario](soc)
        dmac = soc.controllers[0]
        planned = dmac.plans + dmac.runs
        wave.close()  # where the scenario ends: in a burst, for one of them
        soc.close()
        waves[fast] = read_vcd(path)
        if fast:
            assert planned > 0  # the planner did plan, while the waveform recorded
        else:
            assert planned == 0
    assert waves[True] == waves[False]
    assert sum(len(c) for c in waves[True].values()) > 50
    assert len(waves[True]["soc.dma0.bus_grant"]) > 10  # bursts were drawn
    if scenario == "i2s_cyclic_ends_in_a_burst":
        assert waves[True]["soc.dma0.bus_grant"][-1] == (3_979_346, 0)
        assert waves[True]["soc.i2s0.tx_dreq"][-1] == (3_979_346, 1)
