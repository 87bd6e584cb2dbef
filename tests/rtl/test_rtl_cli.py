"""``dmaengine test --platform rtl``: the kernel's dmatest against the RTL controller."""

from __future__ import annotations

import re

import pytest

from dmaengine.cli import main

pytest.importorskip("dmaengine.rtl")


def test_dmatest_on_rtl_passes(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", "--platform", "rtl", "--test-buf-size", "1024", "--iterations", "100", "--seed", "1"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    assert "dma0chan0-copy0: summary 100 tests, 0 failures 183150.17 iops 89743 KB/s (0)\n" in out
    assert "dma0chan1-copy0: summary 100 tests, 0 failures 179211.46 iops 91397 KB/s (0)\n" in out
    assert "dmatest on rtl (virtual-time rates)" in out


def test_dmatest_on_a_broken_variant_exits_1_with_the_kernels_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", "--platform", "rtl:drop-last-write", "--test-buf-size", "1024", "--iterations", "3",
               "--seed", "1", "--max-channels", "1"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "dma0chan0-copy0: result #1: 'data error' with src_off=0x179 dst_off=0x1fb len=0x119 (4)\n" in out
    assert re.search(r"^dma0chan0-copy0: summary 3 tests, 3 failures ", out, re.M)
    assert "dmaengine test: 3 of 3 tests failed on dma0chan0-copy0" in err


def test_an_unknown_variant_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", "rtl:nope"]) == 2
    _, err = capsys.readouterr()
    assert "--platform rtl:VARIANT takes one of good, drop-last-write, ignore-bus-error, not 'nope'" in err
