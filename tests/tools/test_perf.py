"""The dma-perf sweep: size parsing, dma-perf's formulas, exact virtual-time rates, outputs, verification."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import vplat

import dmaengine
from dmaengine import ConfigError
from dmaengine.cli import main
from dmaengine.tools.perf import DEFAULT_SIZES, PerfParams, PerfPoint, gbps, mops, parse_sizes, run_perf


def test_parse_sizes() -> None:
    assert parse_sizes("64,128,...,8192") == list(DEFAULT_SIZES)
    assert parse_sizes("100,300,...,900") == [100, 300, 900]  # 300 is a multiple of 100: a ratio of 3
    assert parse_sizes("100,250,...,700") == [100, 250, 400, 550, 700]
    assert parse_sizes("64,2048,2,MUL") == [64, 128, 256, 512, 1024, 2048]
    assert parse_sizes("64,256,64,add") == [64, 128, 192, 256]
    assert parse_sizes(" 7 , 9 ") == [7, 9]
    with pytest.raises(ConfigError, match=r"^sizes must be comma-separated byte counts, not 'a,b'$"):
        parse_sizes("a,b")
    with pytest.raises(ConfigError, match=r"^sizes must be byte counts >= 1, not '0'$"):
        parse_sizes("0")
    with pytest.raises(ConfigError, match=r"^sizes '64,\.\.\.,1,2': write 'first,second,\.\.\.,last'$"):
        parse_sizes("64,...,1,2")
    with pytest.raises(ConfigError, match=r"^sizes '64,8,1,MUL': the step must be >= 2 and the start >= 1$"):
        parse_sizes("64,8,1,MUL")
    with pytest.raises(ConfigError, match=r"^sizes '64,128,\.\.\.,100': the last size must be at least the second$"):
        parse_sizes("64,128,...,100")  # would silently drop the 128 the user wrote


def test_dma_perf_formulas() -> None:
    assert mops(2_500_000) == 2.5
    assert gbps(1_000_000, 1024) == 8.192


def test_virtual_time_rate_is_exact_and_verified() -> None:
    plat = vplat.make()  # 976 ns + 1 ns per byte: a 1024-byte copy every 2 us
    (pt,) = run_perf(plat, PerfParams(sizes=[1024], seconds=0.001, warmup=0.0001, ring_size=16, kick_batch=4,
                                      baseline=False))
    assert (pt.size, pt.channels, pt.ops, pt.clock, pt.verified, pt.errors) == (1024, 1, 500, "virtual", True, 0)
    assert pt.seconds == pytest.approx(0.001)
    assert pt.mops == pytest.approx(0.5) and pt.gbps == pytest.approx(4.096)
    assert pt.cpu_ops == 0 and pt.cpu_gbps == 0


def test_two_channels_add_up() -> None:
    plat = vplat.make_two()
    (pt,) = run_perf(plat, PerfParams(sizes=[1024], seconds=0.001, warmup=0.0001, ring_size=8, kick_batch=8,
                                      channels=2, baseline=False))
    assert pt.channels == 2 and pt.ops == 1000 and pt.mops == pytest.approx(1.0)


def test_default_platform_with_baseline() -> None:
    pts = run_perf(dmaengine.default_platform(), PerfParams(sizes=[64, 4096], seconds=0.05, ring_size=64,
                                                            kick_batch=8))
    assert [p.size for p in pts] == [64, 4096]
    for p in pts:
        assert p.verified and p.errors == 0 and p.clock == "wall"
        assert p.ops > 0 and p.mops == pytest.approx(p.ops / p.seconds / 1e6)
        assert p.gbps == pytest.approx(p.mops * 1e6 * p.size * 8 / 1e9)
        assert p.cpu_ops > 0 and p.cpu_gbps > 0


def test_short_copies_fail_verification(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["perf", "--platform", "vplat:short_by_one", "--sizes", "256", "--seconds", "0.02", "--ring-size",
               "16", "--no-baseline"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert err == "dmaengine perf: verification failed at size(s) 256 (0 transfer errors)\n"
    assert "NO" in out


def test_cli_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    js, cs, png = tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.png"
    rc = main(["perf", "--platform", "vplat:make", "--sizes", "512,1024", "--seconds", "0.001", "--warmup", "0.0001",
               "--ring-size", "16", "--kick-batch", "4", "--json", str(js), "--csv", str(cs), "--plot", str(png),
               "--stats"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "DMA in virtual-time" in out and "channel counters" in out
    doc = json.loads(js.read_text())
    assert doc["tool"] == "dmaengine perf"
    assert doc["params"]["sizes"] == [512, 1024] and doc["params"]["kick_batch"] == 4
    assert [p["size"] for p in doc["points"]] == [512, 1024]
    assert set(doc["points"][0]) == set(PerfPoint.__dataclass_fields__)
    assert doc["points"][1]["mops"] == pytest.approx(0.5)
    # 512 bytes take 976 + 512 ns
    assert doc["points"][0]["mops"] == pytest.approx(1e3 / 1488, rel=0.01)
    rows = list(csv.DictReader(cs.open()))
    assert [r["size"] for r in rows] == ["512", "1024"] and rows[1]["verified"] == "True"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert err.count("dmaengine perf: wrote ") == 3


def test_bad_perf_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["perf", "--kick-batch", "0"]) == 2
    assert capsys.readouterr().err == "dmaengine: error: kick_batch must be an int >= 1, not 0\n"
    assert main(["perf", "--sizes", "x"]) == 2
    assert capsys.readouterr().err == "dmaengine: error: sizes must be comma-separated byte counts, not 'x'\n"
    assert main(["perf", "--warmup", "-1"]) == 2  # was accepted, and measured 0 MOps
    assert capsys.readouterr() == ("", "dmaengine: error: warmup must be >= 0 seconds, not -1.0\n")
    assert main(["perf", "--warmup", "nan"]) == 2
    assert capsys.readouterr() == ("", "dmaengine: error: warmup must be >= 0 seconds, not nan\n")


def test_on_the_simulated_soc() -> None:
    from dmaengine import sim
    soc = sim.Soc()
    t0 = soc.now
    pts = run_perf(soc, PerfParams(sizes=[256, 4096], seconds=0.0005, ring_size=16, kick_batch=4, baseline=False))
    assert [p.size for p in pts] == [256, 4096]
    assert all(p.verified and p.clock == "virtual" and p.ops > 0 for p in pts)
    assert soc.now > t0


def test_plot_without_matplotlib_is_refused_before_the_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert main(["perf", "--seconds", "60", "--plot", str(tmp_path / "p.png")]) == 2
    assert capsys.readouterr() == ("", "dmaengine: error: --plot needs matplotlib (pip install 'dmaengine[plot]')\n")


def test_run_perf_reports_progress_within_each_size() -> None:
    from dmaengine.sim import Soc

    seen: list[tuple[int, float]] = []
    pts = run_perf(Soc(), PerfParams(sizes=[256, 1024], seconds=0.0005, ring_size=16, kick_batch=4, baseline=False),
                   on_progress=lambda i, f: seen.append((i, f)))
    assert [pt.size for pt in pts] == [256, 1024]
    for index in (0, 1):
        fractions = [f for i, f in seen if i == index]
        assert fractions[0] == 0.0 and fractions[-1] == 1.0
        assert fractions == sorted(fractions)  # the virtual clock only goes forward
        assert len([f for f in fractions if 0.0 < f < 1.0]) >= 5  # within the size, not only at its ends


def test_ctrl_c_during_perf_on_the_simulated_soc_prints_and_writes_what_it_measured(tmp_path: Path) -> None:
    """The default sweep on --platform sim, on a terminal: wait until the progress bar shows the second size, press
    Ctrl-C; the size in flight finishes, and the table, the JSON, the CSV and the plot hold the sizes measured."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "dmaengine", "perf", "--platform", "sim", "--json", "p.json",
                             "--csv", "p.csv", "--plot", "p.svg"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.PIPE, text=True, env=env)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 120
    try:
        while b"dma-perf sweep, 128 B" not in screen:  # the bar names the size it is in
            assert time.monotonic() < deadline and proc.poll() is None, screen.decode(errors="replace")
            if select.select([master], [], [], 1.0)[0]:
                screen += os.read(master, 65536)
        assert b"dma-perf sweep, 64 B" in screen
        proc.send_signal(signal.SIGINT)
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err == ("dmaengine: stopping after the size in flight (Ctrl-C again to abort)\n"
                   "dmaengine perf: wrote p.json\ndmaengine perf: wrote p.csv\ndmaengine perf: wrote p.svg\n")
    doc = json.loads((tmp_path / "p.json").read_text())
    sizes = [pt["size"] for pt in doc["points"]]
    assert 2 <= len(sizes) < len(DEFAULT_SIZES) and sizes == list(DEFAULT_SIZES)[: len(sizes)]
    assert all(pt["verified"] and pt["clock"] == "virtual" for pt in doc["points"])
    with open(tmp_path / "p.csv", newline="") as f:
        assert [int(row["size"]) for row in csv.DictReader(f)] == sizes
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    text = screen.decode(errors="replace")
    assert f"stopped after {len(sizes)} of {len(DEFAULT_SIZES)} sizes" in text


def test_progress_bar_draws_each_new_description_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A size that ends before the bar's next tick still shows: each new description is drawn when it is set."""
    import io

    from rich.console import Console

    from dmaengine import cli

    out = io.StringIO()
    monkeypatch.setattr(cli, "_console", lambda: Console(file=out, force_terminal=True, width=100))
    with cli._progress("dma-perf sweep", 3) as update:
        for index, size in enumerate((64, 128, 256)):
            update(index, f"dma-perf sweep, {size} B")
            update(index + 0.5)  # (no new description: no extra drawing)
    text = out.getvalue()
    assert [size for size in (64, 128, 256) if f"dma-perf sweep, {size} B" in text] == [64, 128, 256]
