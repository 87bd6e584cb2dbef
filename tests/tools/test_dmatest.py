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

SUMMARY = re.compile(r"^(dma\d+chan\d+-(?:copy|memset|xor|pq)\d+): summary (\d+) tests, (\d+) failures "
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
        "t: srcbuf[0x0] overwritten! Expected 9f, got 00",
        "t: dstbuf[0x3] not copied! Expected dc, got 3c",
        "t: dstbuf[0x0] was copied! Expected 1f, got 9f",
        "t: dstbuf[0x6] mismatch! Expected 19, got 18",
    ]


def test_verify_prints_32_then_suppresses() -> None:
    lines: list[str] = []
    buf = np.zeros(100, np.uint8)
    assert verify(buf, 0, 100, 0, 0x80, True, False, "t", lines.append) == 100
    assert len(lines) == 33
    assert lines[31] == "t: srcbuf[0x1f] overwritten! Expected 80, got 00"
    assert lines[32] == "t: 68 errors suppressed"


# --- rates and lines ----------------------------------------------------------------------------------------
def test_summary_line_matches_the_issue_example() -> None:
    assert summary_line("dma0chan0-copy0", 1000, 0, 318585, 8749 * 1024) == \
        "dma0chan0-copy0: summary 1000 tests, 0 failures 3138.87 iops 27462 KB/s (0)"


def test_persec_is_fixed_point_and_drops_precision_like_the_kernel() -> None:
    assert persec(0, 5) == 0
    assert persec(1_000_000, 3) == 3 << 8
    assert persec(2**33, 2**33) == (1_000_000 << 2) * 2**33 * 256 // 2**31


def test_result_line_format() -> None:
    assert result_line("dma0chan0-copy0", "data error", 7, 0x10, 0x2F, 0x100, 3) == \
        "dma0chan0-copy0: result #7: 'data error' with src_off=0x10 dst_off=0x2f len=0x100 (3)"


# --- the default platform (real threads) --------------------------------------------------------------------
def test_default_platform_two_threads_on_one_channel_pass() -> None:
    threads, lines = run(dmaengine.default_platform(), iterations=40, threads_per_chan=2, max_channels=1,
                         test_buf_size=4096)
    summaries = [SUMMARY.match(line) for line in lines if " summary " in line]
    assert [m.group(1) for m in summaries if m] == [f"dma0chan0-{kind}{i}" for kind in ("copy", "xor", "pq")
                                                     for i in (0, 1)]  # the engine has XOR and PQ: their threads
    for m in summaries:
        assert m is not None and m.group(2, 3, 7) == ("40", "0", "0")
    assert lines[:2] == ["dmatest: Added 6 threads using dma0chan0", "dmatest: Started 6 threads using dma0chan0"]
    assert all(t.failed_tests == 0 and t.total_len > 0 for t in threads)
    assert not dmaengine.default_platform().devices[0].channels[0].client_count  # released


def test_default_platform_memset_polled_verbose() -> None:
    threads, lines = run(dmaengine.default_platform(), iterations=5, max_channels=1, dmatest=1, polled=True,
                         verbose=True, seed=3)
    passed = [line for line in lines if "'test passed'" in line and line.startswith("dma0chan0-memset0")]
    assert [line.split(":")[1] for line in passed] == [f" result #{i}" for i in range(1, 6)]
    assert all(line.startswith("dma0chan0-memset0: ") for line in passed)
    assert threads[0].summary.startswith("dma0chan0-memset0: summary 5 tests, 0 failures ")


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
        "dma0chan0-copy0: dstbuf[0x3f] not copied! Expected c0, got 20",
        "dma0chan0-copy0: result #1: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (1)",
        "dma0chan0-copy0: dstbuf[0x3f] not copied! Expected c0, got 20",
    ]
    m = SUMMARY.match(lines[-1])
    assert m is not None and m.group(1, 2, 3) == ("dma0chan0-copy0", "3", "3")
    assert threads[0].failed_tests == 3


def test_many_mismatches_are_suppressed_after_32() -> None:
    _, lines = run(vplat.short_by_40(), iterations=1, norandom=True, test_buf_size=64)
    body = lines[2:-1]
    assert len(body) == 34
    assert body[0] == "dma0chan0-copy0: dstbuf[0x18] not copied! Expected c7, got 27"
    assert body[32] == "dma0chan0-copy0: 8 errors suppressed"
    assert body[33] == "dma0chan0-copy0: result #1: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (40)"


def test_bad_parameters_and_no_channel() -> None:
    with pytest.raises(ConfigError, match=r"^64-byte transfer size must be lower than 64-buffer size$"):
        run(dmaengine.default_platform(), transfer_size=64, test_buf_size=64)
    with pytest.raises(ConfigError, match=r"^dmatest must be 0 \(memcpy\) or 1 \(memset\), not 2$"):
        run(dmaengine.default_platform(), dmatest=2)
    with pytest.raises(NoChannelError, match=r"^dmatest: no free channel with MEMCPY matching channel 'dma9chan0'$"):
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
    assert lines[-1] == "dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"
    assert plat.now_ns == 200_000
    _, lines = run(vplat.make(), iterations=100, norandom=True, test_buf_size=1024, polled=True)
    assert lines[-1] == "dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"


def test_virtual_time_threads_share_a_channel_cooperatively() -> None:
    plat = vplat.make_two()
    threads, _lines = run(plat, iterations=50, threads_per_chan=3, norandom=True, test_buf_size=1024)
    assert [t.name for t in threads] == [f"dma0chan{c}-copy{i}" for c in range(2) for i in range(3)]
    assert all(t.total_tests == 50 and t.failed_tests == 0 for t in threads)
    # three threads take turns on each channel: 150 copies of 2 us each
    assert plat.now_ns == 300_000
    # the first thread's last copy ends 4 us before the third's
    assert [t.runtime_us for t in threads] == [296, 298, 300] * 2
    assert threads[0].summary == "dma0chan0-copy0: summary 50 tests, 0 failures 168918.91 iops 168918 KB/s (0)"
    assert threads[5].summary == "dma0chan1-copy2: summary 50 tests, 0 failures 166666.66 iops 166666 KB/s (0)"


def test_virtual_time_timeouts_use_virtual_time() -> None:
    plat = vplat.make_dropping()
    threads, lines = run(plat, iterations=2, norandom=True, test_buf_size=64, timeout_ms=5)
    assert lines[2:4] == [
        "dma0chan0-copy0: result #1: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
        "dma0chan0-copy0: result #2: 'test timed out' with src_off=0x0 dst_off=0x0 len=0x40 (0)",
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
    assert lines[-1] == "dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)"
