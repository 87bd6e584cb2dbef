"""dmatest's xor and pq threads: names, source counts, the kernel's verification and lines."""

from __future__ import annotations

import re
import threading

import pytest

from dmaengine import Cap, ConfigError, NoChannelError, Platform, PrepFlags
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.provider import Channel
from dmaengine.tools._dmatest_raid import RaidDmatestThread, min_odd
from dmaengine.tools.dmatest import DmatestParams, run_dmatest

SUMMARY = re.compile(r"^dmatest: (dma0chan0-\w+): summary (\d+) tests, (\d+) failures \d+\.\d\d iops \d+ KB/s "
                     r"\((-?\d+)\)$")


def run(plat: Platform, **kw: object) -> tuple[list, list[str]]:
    lines: list[str] = []
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            lines.append(line)

    kw.setdefault("timeout_ms", 60_000)  # not the kernel's 3 s: a loaded shared machine must not fail a copy
    try:
        threads = run_dmatest(plat, DmatestParams(**kw), log=log)  # type: ignore[arg-type]
    finally:
        plat.close()
    return threads, lines


def engine(cls: type[MemcpyEngine] = MemcpyEngine) -> Platform:
    plat = Platform()
    plat.register_device(cls(channels=1))
    return plat


def test_xor_and_pq_threads_pass_with_the_kernels_lines() -> None:
    threads, lines = run(engine(), iterations=30, test_buf_size=2048, xor_sources=5, pq_sources=4, seed=5)
    assert lines[:2] == ["dmatest: Added 3 threads using dma0chan0", "dmatest: Started 3 threads using dma0chan0"]
    got = [SUMMARY.match(line) for line in lines[2:]]
    assert sorted((m.group(1), m.group(2), m.group(3), m.group(4)) for m in got if m) == sorted([  # as each ends
        ("dma0chan0-copy0", "30", "0", "0"), ("dma0chan0-xor0", "30", "0", "0"), ("dma0chan0-pq0", "30", "0", "0")])
    xor, pq = threads[1], threads[2]
    assert isinstance(xor, RaidDmatestThread) and isinstance(pq, RaidDmatestThread)
    assert xor.total_len > 0 and pq.total_len > 0


def test_source_counts_follow_min_odd() -> None:
    assert [min_odd(x | 1, 16) for x in (0, 1, 2, 3, 4, 20)] == [1, 1, 3, 3, 5, 15]

    class Narrow(MemcpyEngine):
        max_xor = 2
        max_pq = 4

    seen: list[tuple[str, int]] = []

    class Spy(Narrow):
        def device_prep_dma_xor(self, chan: Channel, dst: int, srcs: list[int], length: int,
                                flags: PrepFlags):  # type: ignore[no-untyped-def]
            seen.append(("xor", len(srcs)))
            return super().device_prep_dma_xor(chan, dst, srcs, length, flags)

        def device_prep_dma_pq(self, chan: Channel, dst: tuple[int, int], srcs: list[int], coefs: bytes,
                               length: int, flags: PrepFlags):  # type: ignore[no-untyped-def]
            seen.append(("pq", len(srcs)))
            assert coefs == bytes([1] * len(srcs))
            return super().device_prep_dma_pq(chan, dst, srcs, coefs, length, flags)

    threads, _ = run(engine(Spy), iterations=2, test_buf_size=256, xor_sources=9, pq_sources=9, norandom=True)
    assert sorted(set(seen)) == [("pq", 3), ("xor", 1)]
    assert all(t.failed_tests == 0 for t in threads)


def test_a_wrong_xor_is_a_data_error() -> None:
    class WrongXor(MemcpyEngine):
        cap_mask = Cap.MEMCPY | Cap.XOR

        def device_prep_dma_xor(self, chan: Channel, dst: int, srcs: list[int], length: int,
                                flags: PrepFlags):  # type: ignore[no-untyped-def]
            return super().device_prep_dma_xor(chan, dst, srcs[:2], length, flags)  # an even count: zeros

    threads, lines = run(engine(WrongXor), iterations=1, test_buf_size=64, norandom=True)
    assert "dmatest: dma0chan0-xor0: dstbuf[0x0] not copied! Expected df, got 00" in lines
    assert "dmatest: dma0chan0-xor0: result #1: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (64)" in lines
    assert [t.name for t in threads] == ["dma0chan0-copy0", "dma0chan0-xor0"]
    assert threads[1].failed_tests == 1 and threads[0].failed_tests == 0


def test_bad_source_counts() -> None:
    with pytest.raises(ConfigError, match=r"^xor_sources must be >= 0, not -1$"):
        DmatestParams(xor_sources=-1).check()
    with pytest.raises(ConfigError, match=r"^pq_sources must be >= 0, not -3$"):
        DmatestParams(pq_sources=-3).check()


class XorPqOnly(MemcpyEngine):
    """A provider with XOR and PQ (and their validates) but no MEMCPY: dmatest runs only xor and pq on it."""

    cap_mask = Cap.XOR | Cap.XOR_VAL | Cap.PQ | Cap.PQ_VAL


def test_channels_with_xor_or_pq_but_no_memcpy_run_xor_and_pq_threads() -> None:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=1))
    plat.register_device(XorPqOnly(channels=2))
    threads, lines = run(plat, iterations=5, test_buf_size=1024, seed=3)
    assert lines[:3] == ["dmatest: Added 3 threads using dma0chan0", "dmatest: Added 2 threads using dma1chan0",
                         "dmatest: Added 2 threads using dma1chan1"]
    assert [t.name for t in threads] == ["dma0chan0-copy0", "dma0chan0-xor0", "dma0chan0-pq0", "dma1chan0-xor0",
                                         "dma1chan0-pq0", "dma1chan1-xor0", "dma1chan1-pq0"]
    assert all(t.failed_tests == 0 and t.total_tests == 5 for t in threads)


def test_an_xor_pq_only_platform_runs_and_max_channels_counts_every_channel() -> None:
    plat = Platform()
    plat.register_device(XorPqOnly(channels=3))
    threads, lines = run(plat, iterations=2, test_buf_size=512, max_channels=2, seed=4)
    assert lines[:2] == ["dmatest: Added 2 threads using dma0chan0", "dmatest: Added 2 threads using dma0chan1"]
    assert [t.name for t in threads] == ["dma0chan0-xor0", "dma0chan0-pq0", "dma0chan1-xor0", "dma0chan1-pq0"]
    plat = Platform()
    plat.register_device(XorPqOnly(channels=1))
    with pytest.raises(NoChannelError, match=r"^dmatest: no free channel with MEMCPY, XOR or PQ matching device "
                                             r"'dma9'$"):
        run(plat, device="dma9")
