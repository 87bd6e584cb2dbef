"""dmatest: the kernel's patterns, verification wording, result and summary lines, on real and virtual time."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
import vplat

import dmaengine
from dmaengine import ConfigError, NoChannelError
from dmaengine.tools.dmatest import (
    DmatestParams,
    init_dsts,
    init_srcs,
    persec,
    result_line,
    run_dmatest,
    summary_line,
    verify,
)

SUMMARY = re.compile(r"^dmatest: (dma\d+chan\d+-(?:copy|set|xor|pq)\d+): summary (\d+) tests, (\d+) failures "
                     r"(\d+)\.(\d\d) iops (\d+) KB/s \((-?\d+)\)$")


def run(plat: dmaengine.Platform, **kw: object) -> tuple[list, list[str]]:
    lines: list[str] = []
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            lines.append(line)

    threads = run_dmatest(plat, DmatestParams(**kw), log=log)  # type: ignore[arg-type]
    return threads, lines


# --- patterns -----------------------------------------------------------------------------------------------
def test_memcpy_patterns_are_the_kernels() -> None:
    src = np.zeros(8, np.uint8)
    dst = np.zeros(8, np.uint8)
    init_srcs(src, 2, 3, False)
    init_dsts(dst, 2, 3, False)
    assert src.tolist() == [0x9F, 0x9E, 0xDD, 0xDC, 0xDB, 0x9A, 0x99, 0x98]
    assert dst.tolist() == [0x1F, 0x1E, 0x3D, 0x3C, 0x3B, 0x1A, 0x19, 0x18]


def test_memset_patterns_use_the_fixed_index() -> None:
    src = np.zeros(6, np.uint8)
    dst = np.zeros(6, np.uint8)
    init_srcs(src, 1, 2, True)
    init_dsts(dst, 1, 2, True)
    assert src.tolist() == [0x9E, 0xDE, 0xDE, 0x9E, 0x9E, 0x9E]
    assert dst.tolist() == [0x1E, 0x3E, 0x3E, 0x1E, 0x1E, 0x1E]


def test_counter_wraps_every_32_bytes() -> None:
    src = np.zeros(40, np.uint8)
    init_srcs(src, 0, 0, False)
    assert src[0] == src[32] == 0x9F and src[31] == 0x80


def test_verify_wording_for_each_kind_of_mismatch() -> None:
    lines: list[str] = []
    src = np.zeros(8, np.uint8)
    dst = np.zeros(8, np.uint8)
    init_srcs(src, 2, 3, False)
    init_dsts(dst, 2, 3, False)
    dst[2:5] = src[2:5]
    src[0] = 0x00  # source overwritten
    dst[3] = 0x3C  # not copied (still the OVERWRITE pattern)
    dst[0] = 0x9F  # was copied (SRC bit outside the copy region)
    dst[6] = 0x18  # counter wrong
    n = verify(src, 0, 2, 0, 0x80, True, False, "t", lines.append)
    n += verify(dst, 2, 5, 2, 0xC0, False, False, "t", lines.append)
    n += verify(dst, 0, 2, 0, 0x00, False, False, "t", lines.append)
    n += verify(dst, 5, 8, 5, 0x00, False, False, "t", lines.append)
    assert n == 4
    assert lines == [
        "dmatest: t: srcbuf[0x0] overwritten! Expected 9f, got 00",
        "dmatest: t: dstbuf[0x3] not copied! Expected dc, got 3c",
        "dmatest: t: dstbuf[0x0] was copied! Expected 1f, got 9f",
        "dmatest: t: dstbuf[0x6] mismatch! Expected 19, got 18",
    ]


def test_verify_prints_32_then_suppresses() -> None:
    lines: list[str] = []
    buf = np.zeros(100, np.uint8)
    assert verify(buf, 0, 100, 0, 0x80, True, False, "t", lines.append) == 100
    assert len(lines) == 33
    assert lines[31] == "dmatest: t: srcbuf[0x1f] overwritten! Expected 80, got 00"
    assert lines[32] == "dmatest: t: 68 errors suppressed"


# --- rates and lines ----------------------------------------------------------------------------------------
def test_summary_line_matches_the_issue_example() -> None:
    assert summary_line("dma0chan0-copy0", 1000, 0, 318585, 8749 * 1024) == \
        "dmatest: dma0chan0-copy0: summary 1000 tests, 0 failures 3138.87 iops 27462 KB/s (0)"


def test_persec_is_fixed_point_and_drops_precision_like_the_kernel() -> None:
    assert persec(0, 5) == 0
    assert persec(1_000_000, 3) == 3 << 8
    assert persec(2**33, 2**33) == (1_000_000 << 2) * 2**33 * 256 // 2**31


def test_result_line_format() -> None:
    assert result_line("dma0chan0-copy0", "data error", 7, 0x10, 0x2F, 0x100, 3) == \
        "dmatest: dma0chan0-copy0: result #7: 'data error' with src_off=0x10 dst_off=0x2f len=0x100 (3)"


# --- the default platform (real threads) --------------------------------------------------------------------
def test_default_platform_two_threads_on_one_channel_pass() -> None:
    threads, lines = run(dmaengine.default_platform(), iterations=40, threads_per_chan=2, max_channels=1,
                         test_buf_size=4096)
    summaries = [SUMMARY.match(line) for line in lines if " summary " in line]
    # each thread prints its summary as it ends: in any order in real time; the engine has XOR and PQ: their threads
    assert sorted(m.group(1) for m in summaries if m) == sorted(f"dma0chan0-{kind}{i}" for kind in ("copy", "xor", "pq")
                                                                for i in (0, 1))
    for m in summaries:
        assert m is not None and m.group(2, 3, 7) == ("40", "0", "0")
    assert lines[:2] == ["dmatest: Added 6 threads using dma0chan0", "dmatest: Started 6 threads using dma0chan0"]
    assert all(t.failed_tests == 0 and t.total_len > 0 for t in threads)
    assert not dmaengine.default_platform().devices[0].channels[0].client_count  # released


def test_memset_polled_verbose() -> None:
    """A memset engine (no XOR/PQ, so one thread per channel: a polled test's terminate reaches every thread of
    its channel, as in the kernel)."""
    threads, lines = run(vplat.make(), iterations=5, dmatest=1, polled=True, verbose=True, norandom=True,
                         test_buf_size=1024)
    assert lines == [
        "dmatest: Added 1 threads using dma0chan0",
        "dmatest: Started 1 threads using dma0chan0",
        *[f"dmatest: dma0chan0-set0: result #{i}: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"
          for i in range(1, 6)],
        "dmatest: dma0chan0-set0: summary 5 tests, 0 failures 500000.00 iops 500000 KB/s (0)",
    ]
    assert lines[-1] == threads[0].summary


def test_same_seed_same_offsets_and_alignment_respected() -> None:
    kw = dict(iterations=6, max_channels=1, verbose=True, seed=42, alignment=3, test_buf_size=1000)
    _, a = run(dmaengine.default_platform(), **kw)
    _, b = run(dmaengine.default_platform(), **kw)
    ra = [line for line in a if "result #" in line]
    rb = [line for line in b if "result #" in line]
    assert sorted(ra) == sorted(rb) and len(ra) == 18  # copy0, xor0, pq0: 6 each, the threads interleave
    for line in ra:
        m = re.search(r"src_off=0x([0-9a-f]+) dst_off=0x([0-9a-f]+) len=0x([0-9a-f]+)", line)
        assert m is not None
        so, do, n = (int(x, 16) for x in m.groups())
        assert so % 8 == do % 8 == n % 8 == 0 and n > 0 and so + n <= 1000 and do + n <= 1000


def test_injected_short_copy_fails_with_the_kernels_lines() -> None:
    threads, lines = run(vplat.short_by_one(), iterations=3, norandom=True, test_buf_size=64)
    assert lines[2:5] == [
        "dmatest: dma0chan0-copy0: dstbuf[0x3f] not copied! Expected c0, got 20",
        "dmatest: dma0chan0-copy0: result #1: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (1)",
        "dmatest: dma0chan0-copy0: dstbuf[0x3f] not copied! Expected c0, got 20",
    ]
    m = SUMMARY.match(lines[-1])
    assert m is not None and m.group(1, 2, 3) == ("dma0chan0-copy0", "3", "3")
    assert threads[0].failed_tests == 3


def test_many_mismatches_are_suppressed_after_32() -> None:
    _, lines = run(vplat.short_by_40(), iterations=1, norandom=True, test_buf_size=64)
    body = lines[2:-1]
    assert len(body) == 34
    assert body[0] == "dmatest: dma0chan0-copy0: dstbuf[0x18] not copied! Expected c7, got 27"
    assert body[32] == "dmatest: dma0chan0-copy0: 8 errors suppressed"
    assert body[33] == "dmatest: dma0chan0-copy0: result #1: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (40)"


def test_bad_parameters_and_no_channel() -> None:
    with pytest.raises(ConfigError, match=r"^64-byte transfer size must be lower than 64-buffer size$"):
        run(dmaengine.default_platform(), transfer_size=64, test_buf_size=64)
    with pytest.raises(ConfigError, match=r"^dmatest must be 0 \(memcpy\) or 1 \(memset\), not 2$"):
        run(dmaengine.default_platform(), dmatest=2)
    with pytest.raises(NoChannelError,
                       match=r"^dmatest: no free channel with MEMCPY, XOR or PQ matching channel 'dma9chan0'$"):
        run(dmaengine.default_platform(), channel="dma9chan0")


def test_channel_and_device_filters() -> None:
    plat = vplat.make_two()
    threads, _ = run(plat, channel="dma0chan1", iterations=2)
    assert [t.name for t in threads] == ["dma0chan1-copy0"]
    threads, _ = run(plat, device="timed", iterations=2)
    assert [t.name for t in threads] == ["dma0chan0-copy0", "dma0chan1-copy0"]
    threads, _ = run(plat, device="dma0", max_channels=1, iterations=2)
    assert [t.name for t in threads] == ["dma0chan0-copy0"]


def test_stop_ends_an_endless_run() -> None:
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    threads = run_dmatest(dmaengine.default_platform(), DmatestParams(iterations=0, max_channels=1,
                                                                      test_buf_size=1024), log=lambda s: None,
                          stop=stop)
    timer.join()
    assert threads[0].total_tests > 0 and threads[0].failed_tests == 0


# --- virtual time (cooperative loops) -----------------------------------------------------------------------
def test_virtual_time_rates_are_exact() -> None:
    plat = vplat.make()  # 976 ns + 1 ns per byte: 2000 ns per 1024-byte copy
    _threads, lines = run(plat, iterations=100, norandom=True, test_buf_size=1024)
    assert lines[-1] == "dmatest: dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"
    assert plat.now_ns == 200_000
    _, lines = run(vplat.make(), iterations=100, norandom=True, test_buf_size=1024, polled=True)
    assert lines[-1] == "dmatest: dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"


def test_virtual_time_threads_share_a_channel_cooperatively() -> None:
    plat = vplat.make_two()
    threads, _lines = run(plat, iterations=50, threads_per_chan=3, norandom=True, test_buf_size=1024)
    assert [t.name for t in threads] == [f"dma0chan{c}-copy{i}" for c in range(2) for i in range(3)]
    assert all(t.total_tests == 50 and t.failed_tests == 0 for t in threads)
    # three threads take turns on each channel: 150 copies of 2 us each
    assert plat.now_ns == 300_000
    # the first thread's last copy ends 4 us before the third's
    assert [t.runtime_us for t in threads] == [296, 298, 300] * 2
    assert threads[0].summary == \
        "dmatest: dma0chan0-copy0: summary 50 tests, 0 failures 168918.91 iops 168918 KB/s (0)"
    assert threads[5].summary == \
        "dmatest: dma0chan1-copy2: summary 50 tests, 0 failures 166666.66 iops 166666 KB/s (0)"


def test_virtual_time_timeouts_use_virtual_time() -> None:
    plat = vplat.make_dropping()
    threads, lines = run(plat, iterations=2, norandom=True, test_buf_size=64, timeout_ms=5)
    assert lines[2:4] == [
        "dmatest: dma0chan0-copy0: result #1: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
        "dmatest: dma0chan0-copy0: result #2: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
    ]
    assert plat.now_ns == 10_000_000
    assert threads[0].failed_tests == 2


def test_on_the_simulated_soc() -> None:
    from dmaengine import sim
    soc = sim.Soc()
    t0 = soc.now
    threads, lines = run(soc, iterations=20, max_channels=1, test_buf_size=4096, seed=1)
    assert threads[0].failed_tests == 0
    m = SUMMARY.match(lines[-1])
    assert m is not None and m.group(2, 3) == ("20", "0")
    assert soc.now > t0  # virtual time advanced
    # ...but no test waited for its timeout (3 s each): the callback ended every wait at its own instant
    assert soc.now - t0 < 1.0


def test_fill_and_verify_time_is_left_out_of_the_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    from dmaengine.tools import dmatest

    plat = vplat.make()
    real_init, real_verify = dmatest.init_srcs, dmatest.verify

    def slow_init(*a: object) -> None:
        real_init(*a)  # type: ignore[arg-type]
        plat._t += 1_000_000  # filling "takes" 1 ms

    def slow_verify(*a: object) -> int:
        plat._t += 500_000  # and each region checked 0.5 ms
        return real_verify(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(dmatest, "init_srcs", slow_init)
    monkeypatch.setattr(dmatest, "verify", slow_verify)
    _, lines = run(plat, iterations=100, norandom=True, test_buf_size=1024)
    assert plat.now_ns == 100 * (2_000 + 1_000_000 + 6 * 500_000)
    assert lines[-1] == "dmatest: dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"


# --- the kernel's manners, line for line (issue 12, items 8-11) ---------------------------------------------
def _count_terminates(plat: dmaengine.Platform) -> list[str]:
    dev = plat.devices[0]
    calls: list[str] = []
    real = dev.device_terminate_all

    def counting(chan: dmaengine.Channel) -> None:
        calls.append(chan.name)
        real(chan)

    dev.device_terminate_all = counting  # type: ignore[method-assign]
    return calls


def test_polled_waits_dma_sync_waits_fixed_5_s_and_terminates_after_every_test() -> None:
    plat = vplat.make_dropping()
    calls = _count_terminates(plat)
    threads, lines = run(plat, iterations=2, norandom=True, test_buf_size=64, timeout_ms=5, polled=True)
    assert lines == [
        "dmatest: Added 1 threads using dma0chan0",
        "dmatest: Started 1 threads using dma0chan0",
        "dmatest: dma0chan0-copy0: result #1: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
        "dmatest: dma0chan0-copy0: result #2: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
        "dmatest: dma0chan0-copy0: summary 2 tests, 2 failures 0.19 iops 0 KB/s (0)",
    ]
    assert plat.now_ns == 2 * 5_000_000_000  # dma_sync_wait's 5 s, not the 5 ms timeout
    # one per polled test, one as the failed thread ends, one as its channel is released
    assert calls == ["dma0chan0"] * 4
    plat2 = vplat.make()
    calls2 = _count_terminates(plat2)
    run(plat2, iterations=3, norandom=True, test_buf_size=64, polled=True)
    assert calls2 == ["dma0chan0"] * 4  # 3 tests and the release: a thread that passed adds none


def test_alignment_failure_is_the_kernels_line_and_enomem() -> None:
    plat = vplat.make()
    calls = _count_terminates(plat)
    threads, lines = run(plat, alignment=14, test_buf_size=100)
    assert lines == [
        "dmatest: Added 1 threads using dma0chan0",
        "dmatest: Started 1 threads using dma0chan0",
        "dmatest: 100-byte buffer too small for 16384-byte alignment",
        "dmatest: dma0chan0-copy0: summary 0 tests, 0 failures 0.00 iops 0 KB/s (-12)",
    ]
    assert threads[0].ret == -12 and calls == ["dma0chan0"] * 2  # the failed thread's, the release's


def test_summaries_are_printed_as_each_thread_ends() -> None:
    _threads, lines = run(vplat.make(), iterations=3, threads_per_chan=2, norandom=True, test_buf_size=1024,
                          verbose=True)
    assert [line.split(": ", 2)[1:] for line in lines[2:]] == [
        ["dma0chan0-copy0", "result #1: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy1", "result #1: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy0", "result #2: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy1", "result #2: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy0", "result #3: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy0", "summary 3 tests, 0 failures 300000.00 iops 300000 KB/s (0)"],
        ["dma0chan0-copy1", "result #3: 'test passed' with src_off=0x0 dst_off=0x0 len=0x400 (0)"],
        ["dma0chan0-copy1", "summary 3 tests, 0 failures 250000.00 iops 250000 KB/s (0)"],
    ]


def test_channels_are_held_as_in_use_and_the_destination_is_mapped_bidirectional(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plat = vplat.make()
    seen: list[str] = []
    directions: list[dmaengine.DataDirection] = []
    real_map = plat.map

    def recording_map(buf: object, direction: dmaengine.DataDirection = dmaengine.DataDirection.BIDIRECTIONAL) \
            -> dmaengine.Mapping:
        directions.append(direction)
        return real_map(buf, direction)

    monkeypatch.setattr(plat, "map", recording_map)
    run_dmatest(plat, DmatestParams(iterations=1), log=lambda s: None,
                on_started=lambda threads: seen.append(plat.summary()))
    assert seen == ["dma0 (timed): number of channels: 1\n dma0chan0    | in-use\n"]
    assert directions == [dmaengine.DataDirection.TO_DEVICE, dmaengine.DataDirection.BIDIRECTIONAL]


def test_run_false_adds_the_threads_and_prints_the_test_list() -> None:
    plat = vplat.make_two()
    threads, lines = run(plat, run=False, threads_per_chan=2)
    assert lines == [
        "dmatest: Added 2 threads using dma0chan0",
        "dmatest: Added 2 threads using dma0chan1",
        "dmatest: 2 threads using dma0chan0",
        "dmatest: 2 threads using dma0chan1",
    ]
    assert [t.total_tests for t in threads] == [0] * 4 and plat.now_ns == 0
    assert not any(c.client_count for c in plat.channels())


def test_completion_no_order_disables_polled() -> None:
    class Unordered(vplat.TimedEngine):
        cap_mask = vplat.TimedEngine.cap_mask | dmaengine.Cap.COMPLETION_NO_ORDER

    plat = vplat.VirtualPlatform()
    plat.register_device(Unordered())
    threads, lines = run(plat, iterations=1, polled=True)
    assert lines[0] == "dmatest: DMA_COMPLETION_NO_ORDER, polled disabled"
    assert not threads[0].polled and threads[0].failed_tests == 0
