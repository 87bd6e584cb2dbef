"""``dmaengine raid6``: write, fail, rebuild, verify; output lines, exit codes, every failure pair."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from dmaengine import Platform
from dmaengine.cli import main
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.raid6 import gen_syndrome
from dmaengine.tools.raid6 import disk_names, progress_bar, run_raid6


def expected_data(seed: int, ndata: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(ndata)]


def test_the_command_on_the_default_platform(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["raid6", "--dir", str(tmp_path), "--disks", "3", "--chunk", "4096", "--stripes", "4",
               "--fail", "disk0,disk2", "--seed", "7", "--progress", "never"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"raid6: 3 data disks + P + Q, chunk 4096 bytes, 4 stripes, in {tmp_path}"
    assert re.fullmatch(r"write: 49152 bytes of data, P and Q by DMA \(pq 4\) in \d+\.\d{6} s: "
                        r"(\d+\.\d MB/s|instant)", lines[1]), lines[1]
    assert lines[2] == "fail: disk0.img (deleted), disk2.img (deleted)"
    assert re.fullmatch(r"rebuild: disk0.img, disk2.img: 32768 bytes in \d+\.\d{6} s: (\d+\.\d MB/s|instant) "
                        r"by DMA \(pq 4, sum_product 4, xor 12\)", lines[3]), lines[3]
    assert lines[4] == "verify: 4 stripes, P and Q consistent, data identical: OK"
    assert len(lines) == 5
    data = expected_data(7, 3, 16384)
    p, q = np.zeros(16384, np.uint8), np.zeros(16384, np.uint8)
    for s in range(4):
        sl = slice(s * 4096, (s + 1) * 4096)
        gen_syndrome([d[sl] for d in data], p[sl], q[sl])
    files = [np.fromfile(tmp_path / n, dtype=np.uint8) for n in disk_names(3)]
    assert all((f == w).all() for f, w in zip(files, [*data, p, q]))


def test_the_command_on_the_simulated_soc(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["raid6", "--platform", "sim", "--disks", "4", "--chunk", "1024", "--stripes", "2", "--fail", "1,q",
               "--corrupt", "--seed", "3", "--progress", "always"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "fail: disk1.img (corrupted), q.img (corrupted)\n" in out
    # Each stripe's P and Q: 4 sources read and 2 results written over the 400 MB/s bus, two channels sharing it.
    assert "write: 8192 bytes of data, P and Q by DMA (pq 2) in 0.000032 s of virtual time: 258.7 MB/s\n" in out
    # disk1 from P like RAID-5 (4 reads, 1 write), then Q (4 reads, 1 write), for each of the two stripes
    assert ("rebuild: disk1.img, q.img: 4096 bytes in 0.000052 s of virtual time: 78.6 MB/s by DMA (pq 2, xor 2)\n"
            in out)
    assert out.endswith("verify: 2 stripes, P and Q consistent, data identical: OK\n")
    assert err.endswith("\rrebuild: [" + "#" * 40 + "] 2/2 stripes\n")


@pytest.mark.parametrize("fail", [[a, b] for a, b in itertools.combinations(range(5), 2)] + [[0], [3], [4]])
def test_every_failure_is_rebuilt(tmp_path: Path, fail: list[int]) -> None:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=2))
    try:
        report = run_raid6(plat, tmp_path, ndata=3, chunk=256, stripes=3, fail=fail, corrupt=True, seed=11,
                           out=io.StringIO())
    finally:
        plat.close()
    assert report.ok and report.failed == [disk_names(3)[f] for f in fail]


def test_no_capable_channel_means_the_cpu(tmp_path: Path) -> None:
    out = io.StringIO()
    report = run_raid6(Platform(), tmp_path, ndata=2, chunk=64, stripes=2, fail=[0, 1], seed=1, out=out)
    assert report.ok
    assert report.write_by == "CPU fallback (pq 2)"
    assert report.rebuild_by == "CPU fallback (raid6_2data_recov 2)"


def test_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["raid6", "--fail", "x"]) == 2
    assert capsys.readouterr().err == ("dmaengine raid6: --fail must list disk indexes or names (disk0, p, q), "
                                       "not 'x'\n")
    assert main(["raid6", "--fail", "0,9", "--disks", "4"]) == 2
    assert capsys.readouterr().err == ("dmaengine: error: --fail must name one or two disks 0..5 (P is 4, Q 5), "
                                       "not '0,9'\n")
    assert main(["raid6", "--chunk", "0"]) == 2
    assert capsys.readouterr().err == "dmaengine: error: chunk must be an int >= 1, not 0\n"


def test_progress_bar() -> None:
    assert progress_bar(0, 4, width=4) == "[    ] 0/4 stripes"
    assert progress_bar(4, 4, width=4) == "[####] 4/4 stripes"
