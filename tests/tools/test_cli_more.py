"""The command line: Ctrl-C through a real process and real signals, platforms from the current directory,
waveforms, dmatest JSON, perf outputs, --help."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmaengine.cli import main
from dmaengine.tools._runner import STOP_GRACE_S

#: A platform module of the user's: its engine never starts a copy of STUCK_AT bytes or more. It says so, once, on
#: stderr, when ``say_at`` descriptors wait, the stuck one first (the test waits for that line rather than
#: sleeping): ``make`` says it at the first (perf: one loop), ``three`` once dmatest's three threads on the
#: channel (copy0, xor0, pq0) each have a test in flight. Saying it at the first of dmatest's threads raced: a
#: thread still starting under load saw the first Ctrl-C before its first test and summarised "0 tests".
STUCK = """
import sys

from dmaengine import Platform
from dmaengine.drivers.memcpy import MemcpyEngine

STUCK_AT = 1024


class Stuck(MemcpyEngine):
    def __init__(self, *args, say_at=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.say_at = say_at
        self.said = False

    def device_issue_pending(self, chan):
        with chan.lock:
            first = chan.desc_submitted[0] if chan.desc_submitted else None
            stuck = first is not None and first.length >= STUCK_AT
            say = stuck and not self.said and len(chan.desc_submitted) >= self.say_at
            self.said = self.said or say
        if say:
            sys.stderr.write("stuck\\n")
            sys.stderr.flush()
        if stuck:
            return
        super().device_issue_pending(chan)


def make():
    plat = Platform()
    plat.register_device(Stuck(1, dev_name="stuck"))
    return plat


def three():
    plat = Platform()
    plat.register_device(Stuck(1, dev_name="stuck", say_at=3))
    return plat


def broken():
    return {}["no such key"]
"""


@pytest.fixture
def board_dir(tmp_path: Path) -> Path:
    (tmp_path / "stuckboard.py").write_text(STUCK)
    (tmp_path / "badimport.py").write_text("import no_such_module_here\n")
    (tmp_path / "raising.py").write_text("raise RuntimeError('board file is broken')\n")
    return tmp_path


#: dmatest's threads on the stuck engine's one channel: it has MEMCPY, XOR and PQ.
THREADS = ("copy", "xor", "pq")


def _run(cwd: Path, *argv: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "dmaengine", *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _second_ctrl_c(proc: subprocess.Popen[str], what: str) -> tuple[str, str, float]:
    """Wait until the driver is stuck, press Ctrl-C (check its line comes at once, while the run still hangs),
    press it again; returns the output and how long the process took to end after the second press."""
    assert proc.stderr is not None
    assert proc.stderr.readline() == "stuck\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stderr.readline() == f"dmaengine: stopping after {what} in flight (Ctrl-C again to abort)\n"
    assert proc.poll() is None  # still stuck
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err, time.monotonic() - t0


def test_second_ctrl_c_aborts_a_stuck_dmatest_at_once_and_still_summarises(board_dir: Path) -> None:
    proc = _run(board_dir, "test", "--platform", "stuckboard:three", "--timeout", "-1", "--test-buf-size",
                "4096", "--transfer-size", "2048", "--json", "r.json")
    out, err, took = _second_ctrl_c(proc, "the tests")
    assert proc.returncode == 130, err
    assert took < STOP_GRACE_S  # no grace wait for loops that will never end
    # the test in flight counts (the kernel counts a test when it starts); it never ended: no runtime, no rate.
    # Each thread's summary comes once, and nothing after the table.
    summaries = [f"dmatest: dma0chan0-{t}0: summary 1 tests, 0 failures 0.00 iops 0 KB/s (0)" for t in THREADS]
    assert out.splitlines() == [
        "dmatest: Added 3 threads using dma0chan0",
        "dmatest: Started 3 threads using dma0chan0",
        *summaries,
        "dmatest on stuckboard:three (wall-clock rates)      ",  # padded to the table's width
        "┏━━━━━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━┳━━━━━━┳━━━━━━┓",
        "┃ thread          ┃ tests ┃ failures ┃ iops ┃ KB/s ┃",
        "┡━━━━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━╇━━━━━━╇━━━━━━┩",
        *(f"│ dma0chan0-{t + '0':<6}│     1 │        0 │ 0.00 │    0 │" for t in THREADS),
        "└─────────────────┴───────┴──────────┴──────┴──────┘",
    ]
    assert err == "dmaengine test: wrote r.json\ndmaengine: interrupted\n"
    doc = json.loads((board_dir / "r.json").read_text())
    assert doc["interrupted"] is True
    assert [(t["name"], t["tests"], t["summary"]) for t in doc["threads"]] == [
        (f"dma0chan0-{t}0", 1, s) for t, s in zip(THREADS, summaries, strict=True)]


def test_second_ctrl_c_during_perf_keeps_the_sizes_measured(board_dir: Path) -> None:
    proc = _run(board_dir, "perf", "--platform", "stuckboard:make", "--sizes", "64,128,1024,2048", "--seconds", "0.05",
                "--ring-size", "8", "--no-baseline", "--json", "p.json", "--csv", "p.csv", "--plot", "p.svg")
    out, err, took = _second_ctrl_c(proc, "the size")
    assert proc.returncode == 130, err
    assert took < STOP_GRACE_S + 10  # (then matplotlib draws the plot)
    assert "stopped after 2 of 4 sizes" in out
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    assert [(r[0], r[-1]) for r in rows] == [("64", "yes"), ("128", "yes")]
    assert err == ("dmaengine perf: wrote p.json\ndmaengine perf: wrote p.csv\ndmaengine perf: wrote p.svg\n"
                   "dmaengine: interrupted\n")
    doc = json.loads((board_dir / "p.json").read_text())
    assert [p["size"] for p in doc["points"]] == [64, 128]
    assert [r["size"] for r in csv.DictReader((board_dir / "p.csv").open())] == ["64", "128"]
    assert (board_dir / "p.svg").read_text().lstrip().startswith("<?xml")


def test_platform_module_from_the_current_directory_and_its_errors_are_its_own(
        board_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(board_dir)
    for name in ("stuckboard", "badimport", "raising"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert main(["summary", "--platform", "stuckboard:make"]) == 0
    assert capsys.readouterr().out == "dma0 (stuck): number of channels: 1\n"
    assert str(board_dir) not in sys.path  # the current directory is searched only while the module loads
    for spec, line in [
        ("stuckboard:broken", "dmaengine: error: error in platform factory stuckboard:broken: KeyError: 'no such key'"),
        ("stuckboard:nothere", "dmaengine: error: --platform stuckboard:nothere: module 'stuckboard' has no function "
                            "'nothere'"),
        ("badimport:make", "dmaengine: error: error in platform module badimport: ModuleNotFoundError: No module "
                           "named 'no_such_module_here'"),
        ("raising:make", "dmaengine: error: error in platform module raising: RuntimeError: board file is broken"),
    ]:
        assert main(["summary", "--platform", spec]) == 2
        assert capsys.readouterr().err == line + "\n"
    for name in ("stuckboard", "badimport", "raising"):
        sys.modules.pop(name, None)


def test_vcd_on_the_simulated_soc_and_refused_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dmaengine.sim")
    pytest.importorskip("vcd")
    vcd = tmp_path / "run.vcd"
    assert main(["test", "--platform", "sim", "--iterations", "3", "--max-channels", "1", "--vcd", str(vcd)]) == 0
    err = capsys.readouterr().err
    assert err == f"dmaengine: waveform written to {vcd} (open it in GTKWave or Surfer)\n"
    text = vcd.read_text()
    assert "$timescale 1 ns $end" in text and "$var wire 1 " in text and " ch0_busy $end" in text
    assert main(["summary", "--vcd", str(tmp_path / "x.vcd")]) == 2
    assert capsys.readouterr().err == ("dmaengine: error: --vcd needs a simulated SoC (--platform sim), not "
                                       "--platform default\n")


def test_duplicate_outputs_and_plot_formats_are_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    same = str(tmp_path / "out")
    assert main(["perf", "--seconds", "60", "--json", same, "--csv", same]) == 2
    assert capsys.readouterr().err == f"dmaengine: error: --json and --csv would both write {same}\n"
    assert main(["test", "--iterations", "0", "--trace", same, "--json", same]) == 2
    assert capsys.readouterr().err == f"dmaengine: error: --trace and --json would both write {same}\n"
    bad = str(tmp_path / "p.xyz")
    assert main(["perf", "--seconds", "60", "--plot", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dmaengine: error: --plot cannot write 'xyz' files, not {bad!r} (formats: ")
    assert "png" in err and "svg" in err


def test_plot_without_an_extension_is_a_png_and_says_its_name(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    stem = tmp_path / "perfplot"
    assert main(["perf", "--platform", "vplat:make", "--sizes", "64,4096", "--seconds", "0.0001", "--ring-size", "4",
                 "--no-baseline", "--plot", str(stem), "--json", str(tmp_path / "p.json")]) == 0
    err = capsys.readouterr().err
    assert f"dmaengine perf: wrote {stem}.png\n" in err
    assert Path(f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["params"]["warmup"] == pytest.approx(0.00001)  # the effective warm-up, not null
    ctx = doc["context"]
    assert set(ctx) == {"dmaengine", "platform", "clock", "python", "host", "cpu_count", "date"}
    assert (ctx["platform"], ctx["clock"], ctx["cpu_count"]) == ("vplat:make", "virtual", os.cpu_count())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", ctx["date"])


def test_dmatest_json_has_per_thread_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.json"
    assert main(["test", "--platform", "vplat:make", "--iterations", "2", "--norandom", "--test-buf-size", "1024",
                 "--json", str(path)]) == 0
    assert capsys.readouterr().err == f"dmaengine test: wrote {path}\n"
    doc = json.loads(path.read_text())
    assert doc["tool"] == "dmaengine test" and doc["interrupted"] is False
    assert doc["params"]["iterations"] == 2 and doc["params"]["test_buf_size"] == 1024
    (t,) = doc["threads"]
    # 1 KiB copies of 2 us each on the timed engine: 500000 tests per second of virtual time
    assert t == {"name": "dma0chan0-copy0", "channel": "dma0chan0", "tests": 2, "failures": 0,
                 "iops": 500000.0, "kbs": 500000, "runtime_us": 4, "bytes": 2048, "ret": 0,
                 "summary": "dmatest: dma0chan0-copy0: summary 2 tests, 0 failures 500000.00 iops 500000 KB/s (0)"}


def test_stats_at_80_columns_never_cuts_a_channel_name_and_hints_when_all_is_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "wide.py").write_text(
        "from dmaengine import Platform\nfrom dmaengine.drivers.memcpy import MemcpyEngine\n\n"
        "def make():\n    plat = Platform()\n    plat.register_device(MemcpyEngine(12))\n    return plat\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    try:
        assert main(["stats", "--platform", "wide:make"]) == 0
        out = capsys.readouterr().out
        assert max(len(line) for line in out.splitlines()[:-1]) <= 80
        names = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│ dma")]
        assert names == [f"dma0chan{i}" for i in range(12)]
        assert out.splitlines()[-1] == ("(every counter is 0: no client has used these channels in this process; "
                                        "'dmaengine stats --memcpy 100' copies on each free channel first)")
        assert main(["stats", "--platform", "wide:make", "--memcpy", "1"]) == 0
        assert "every counter is 0" not in capsys.readouterr().out
    finally:
        sys.modules.pop("wide", None)


def test_summary_on_the_simulated_soc_lists_the_slave_map_and_the_peripherals(
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dmaengine.sim")
    assert main(["summary", "--platform", "sim"]) == 0
    assert capsys.readouterr().out == (
        "dma0 (sim-dmac): number of channels: 8\n"
        "\n"
        "slave map (dma_slave_map):\n"
        " uart0    tx  -> dma0 request line 0   FIFO 32 B at 0x40000000\n"
        " uart0    rx  -> dma0 request line 1   FIFO 32 B at 0x40000004\n"
        " uart1    tx  -> dma0 request line 2   FIFO 32 B at 0x40001000\n"
        " uart1    rx  -> dma0 request line 3   FIFO 32 B at 0x40001004\n"
        " i2s0     tx  -> dma0 request line 4   FIFO 64 B at 0x40002000\n"
        " i2s0     rx  -> dma0 request line 5   FIFO 64 B at 0x40002004\n"
        " adc0     rx  -> dma0 request line 6   FIFO 32 B at 0x40003004\n"
        "peripherals:\n"
        " uart0    Uart: 115200 baud\n"
        " uart1    Uart: 115200 baud\n"
        " i2s0     I2s: 48000 Hz, 2 channels, 2 B samples\n"
        " adc0     Adc: 8000 Hz, 2 B samples, 12 bits, 50.0 Hz signal\n"
        "virtual time: 0 ns\n")


@pytest.mark.parametrize("command", ["test", "perf", "summary", "stats", "raid6", "audio", "uart"])
def test_help_lists_trace_and_says_no_empty_defaults(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    if command in ("audio", "uart"):
        pytest.importorskip("dmaengine.sim")
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrap argparse's lines
    assert "--trace FILE.json" in out and "--trace-limit N" in out
    for noise in ("(default: None)", "(default: False)", "(default: )"):
        assert noise not in out
    if command in ("test", "perf", "summary", "stats"):
        assert "(default: default)" in out and "--vcd FILE.vcd" in out


def test_trace_limit_keeps_the_last_events_and_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import dmaengine.trace

    path = tmp_path / "t.json.gz"
    assert main(["test", "--platform", "vplat:make", "--iterations", "5", "--norandom", "--test-buf-size", "1024",
                 "--trace", str(path), "--trace-limit", "10"]) == 0
    err = capsys.readouterr().err
    assert err == (f"dmaengine: trace of 10 events written to {path} (open it in https://ui.perfetto.dev)\n"
                   "dmaengine: warning: the trace kept the last 10 of 26 events (16 dropped); raise --trace-limit "
                   "to keep more\n")
    doc = dmaengine.trace.load(path)
    assert [e["name"] for e in doc["traceEvents"] if e["ph"] == "i"][-1] == "terminate (idle)"
    assert main(["summary", "--trace", str(path), "--trace-limit", "0"]) == 2
    assert capsys.readouterr().err == ("dmaengine summary: error: argument --trace-limit: must be a whole number "
                                       ">= 1, not '0' (see 'dmaengine summary --help')\n")


def test_the_plot_shows_gbps_and_mops_the_parameters_and_which_clock(tmp_path: Path) -> None:
    mpl = pytest.importorskip("matplotlib")
    from dmaengine.tools.perf import PerfParams, PerfPoint, save_plot

    def point(size: int, mops: float) -> PerfPoint:
        return PerfPoint(size=size, channels=1, ops=1, seconds=1.0, mops=mops, gbps=mops * size * 8 / 1e3,
                         cpu_ops=1, cpu_seconds=1.0, cpu_mops=mops / 2, cpu_gbps=mops * size * 4 / 1e3,
                         verified=True, errors=0, clock="virtual")

    params = PerfParams(sizes=[64, 65536], kick_batch=8, ring_size=16, seconds=0.5)
    with mpl.rc_context({"svg.fonttype": "none"}):  # text stays text
        written = save_plot(tmp_path / "p.svg", [point(64, 2.0), point(65536, 0.05)], "dmaengine perf on sim", params)
    svg = Path(written).read_text()
    for text in ("throughput (Gbps)", "operations (MOps)", "DMA engine, virtual time (simulated)",
                 "CPU memmove baseline (host, wall clock)", "1 channel(s), ring 16, kick batch 8, 0.5 s per size"):
        assert text in svg, text
    assert "mathdefault{10^{-1}" in svg  # a log axis (the MOps span 0.025..2: linear would put 64 KiB on zero)
