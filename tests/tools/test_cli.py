"""The dmaengine command: exit codes, one-line errors, output of each subcommand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dmaengine.cli import main

SUMMARY = re.compile(r"^dmatest: dma0chan0-copy0: summary 20 tests, 0 failures \d+\.\d\d iops \d+ KB/s \(0\)$", re.M)


def _subprocess_env() -> dict[str, str]:
    return dict(os.environ, PYTHONUNBUFFERED="1",
                PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]))


def _endless_run(*extra: str) -> subprocess.Popen[str]:
    """``dmaengine test --iterations 0 --max-channels 1 --test-buf-size 1024 --timeout 60000 EXTRA``, once it has
    started (a minute per transfer, not the default 3 s: a loaded machine must not turn a slow copy into a failure
    the test did not ask for)."""
    proc = subprocess.Popen([sys.executable, "-m", "dmaengine", "test", "--iterations", "0", "--max-channels", "1",
                             "--test-buf-size", "1024", "--timeout", "60000", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True, env=_subprocess_env())
    assert proc.stdout is not None
    assert proc.stdout.readline() == "dmatest: Added 3 threads using dma0chan0\n"  # copy0, xor0, pq0
    return proc


def _wait_for_tests(proc: subprocess.Popen[str], channels: int = 1, tests: int = 20) -> None:
    """Read the child's (``--verbose``) output until each of its ``channels`` threads has passed ``tests`` tests:
    then a Ctrl-C lands in a run that is under way, whatever the machine's speed (no fixed sleep)."""
    assert proc.stdout is not None
    passed: dict[str, int] = {}
    while len(passed) < channels or min(passed.values()) < tests:
        line = proc.stdout.readline()
        assert line, "the run ended before its tests"
        m = re.match(r"^dmatest: (dma0chan\d+)-copy0: result #\d+: 'test passed'", line)
        if m:
            passed[m.group(1)] = passed.get(m.group(1), 0) + 1


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_test_on_the_default_platform(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--iterations", "20", "--max-channels", "1", "--test-buf-size", "2048"]) == 0
    out, err = capsys.readouterr()
    assert SUMMARY.search(out)
    assert "dmatest on default (wall-clock rates)" in out
    assert err == ""


def test_test_failure_exits_1_with_the_kernels_lines(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", "--platform", "vplat:short_by_one", "--iterations", "2", "--norandom",
               "--test-buf-size", "64"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "dmatest: dma0chan0-copy0: result #2: 'data error' with src_off=0x0 dst_off=0x0 len=0x40 (1)\n" in out
    assert re.search(r"^dmatest: dma0chan0-copy0: summary 2 tests, 2 failures ", out, re.M)
    assert one_line_error(err) == "dmaengine test: 2 of 2 tests failed on dma0chan0-copy0"


def test_test_in_virtual_time_with_summary_and_stats(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["test", "--platform", "vplat:make", "--iterations", "100", "--norandom", "--test-buf-size", "1024",
               "--summary", "--stats"])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "dma0 (timed): number of channels: 1\n dma0chan0    | in-use\n" in out
    assert "dmatest: dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)\n" in out
    assert "(virtual-time rates)" in out
    row = next(line for line in out.splitlines() if line.startswith("│ dma0chan0 "))
    assert [c.strip() for c in row.split("│")[1:-1]] == ["dma0chan0", "100", "102400", "no", "100", "100", "0", "0"]


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--iterations", "many"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "dmaengine test: error: argument --iterations: invalid int value: 'many' (see 'dmaengine test --help')")
    assert main(["frobnicate"]) == 2
    assert one_line_error(capsys.readouterr().err).startswith("dmaengine: error: argument COMMAND: invalid choice")
    assert main([]) == 2
    assert one_line_error(capsys.readouterr().err).startswith("dmaengine: error: the following arguments")
    assert main(["test", "--transfer-size", "99999"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "dmaengine: error: 99999-byte transfer size must be lower than 16384-buffer size")
    assert main(["test", "--channel", "dma7chan3"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "dmaengine: error: dmatest: no free channel with MEMCPY, XOR or PQ matching channel 'dma7chan3'")
    assert main(["summary", "--platform", "nosuch"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "dmaengine: error: --platform must be default, sim, rtl, dts:BOARD.dts or MODULE:FUNCTION, not 'nosuch'")
    assert main(["summary", "--platform", "nosuchmod:f"]) == 2
    assert one_line_error(capsys.readouterr().err) == (
        "dmaengine: error: --platform nosuchmod:f: no module named 'nosuchmod' (in the current directory or on "
        "the Python path)")


def test_demos_forward_their_arguments(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    import types

    seen: list[list[str]] = []
    sim = types.ModuleType("dmaengine.sim")
    demo = types.ModuleType("dmaengine.sim.uart_demo")

    def demo_main(argv: list[str]) -> int:
        seen.append(argv)
        return 3

    demo.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dmaengine.sim", sim)
    monkeypatch.setitem(sys.modules, "dmaengine.sim.uart_demo", demo)
    assert main(["uart", "--baud", "9600", "--help"]) == 3
    assert main(["uart", "--trace", str(tmp_path / "u.json"), "x"]) == 3
    assert seen == [["--baud", "9600", "--help"], ["x"]]
    assert json.loads((tmp_path / "u.json").read_text())["traceEvents"] == []


def test_help_for_newcomers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("test", "perf", "summary", "stats", "audio", "uart", "Perfetto", "exit status"):
        assert word in out
    assert main(["test", "--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--test-buf-size", "--channel", "--device", "--threads-per-chan", "--max-channels", "--iterations",
                "--timeout", "--noverify", "--norandom", "--verbose", "--alignment", "--transfer-size", "--polled",
                "--dmatest", "--trace", "--platform"):
        assert opt in out
    assert "(default: 1000)" in out and "(default: 16384)" in out


def test_summary_and_stats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", "vplat:make_two"]) == 0
    assert capsys.readouterr().out == "dma0 (timed): number of channels: 2\n"
    assert main(["stats", "--platform", "vplat:make_two", "--memcpy", "3", "--size", "100"]) == 0
    out = capsys.readouterr().out
    assert "memcpy count" in out and "bytes transferred" in out and "callback errors" in out
    assert "every counter is 0" not in out
    for chan in ("dma0chan0", "dma0chan1"):
        row = next(line for line in out.splitlines() if line.startswith(f"│ {chan} "))
        assert [c.strip() for c in row.split("│")[1:-1]] == [chan, "3", "300", "no", "3", "3", "0", "0"]
    assert main(["stats", "--memcpy", "-1"]) == 2
    capsys.readouterr()


def test_trace_option_writes_virtual_timestamps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    assert main(["test", "--platform", "vplat:make", "--iterations", "2", "--norandom", "--test-buf-size", "1024",
                 "--trace", str(path)]) == 0
    assert f"trace of 11 events written to {path}" in capsys.readouterr().err
    doc = json.loads(path.read_text())
    inst = [(e["name"], e["ts"], e["args"]["cookie"] if e["name"] in ("submit", "complete") else None)
            for e in doc["traceEvents"] if e["ph"] == "i"]
    assert inst == [
        ("prep", 0.0, None), ("submit", 0.0, 2), ("issue", 0.0, None), ("complete", 2.0, 2), ("callback", 2.0, None),
        ("prep", 2.0, None), ("submit", 2.0, 3), ("issue", 2.0, None), ("complete", 4.0, 3), ("callback", 4.0, None),
        ("terminate (idle)", 4.0, None),
    ]
    slices = [(e["name"], e["ts"], e["dur"], e["args"]) for e in doc["traceEvents"] if e["ph"] == "X"]
    assert slices == [
        ("memcpy", 0.0, 2.0, {"cookie": 2, "length": 1024, "direction": "MEM_TO_MEM", "result": "NOERROR",
                              "bytes": 1024}),
        ("memcpy", 2.0, 2.0, {"cookie": 3, "length": 1024, "direction": "MEM_TO_MEM", "result": "NOERROR",
                              "bytes": 1024}),
    ]


def test_trace_to_an_unwritable_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "no" / "such" / "dir" / "t.json"
    assert main(["summary", "--platform", "vplat:make", "--trace", str(bad)]) == 2
    assert one_line_error(capsys.readouterr().err).startswith(f"dmaengine: error: cannot write the trace to {bad}")


def test_python_dash_m_runs_the_command() -> None:
    env = _subprocess_env()
    r = subprocess.run([sys.executable, "-m", "dmaengine", "test", "--iterations", "5", "--max-channels", "1",
                        "--bogus"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "dmaengine test: error: unrecognized arguments: --bogus (see 'dmaengine test --help')\n"
    r = subprocess.run([sys.executable, "-m", "dmaengine", "summary"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0
    assert r.stdout == f"dma0 (memcpy): number of channels: {os.cpu_count()}\n"


def test_iterations_0_runs_until_ctrl_c_then_summarises() -> None:
    import signal

    proc = _endless_run("--verbose")
    _wait_for_tests(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == "dmaengine: stopping after the tests in flight (Ctrl-C again to abort)\n"
    m = re.search(r"^dmatest: dma0chan0-copy0: summary (\d+) tests, 0 failures ", out, re.M)
    assert m is not None and int(m.group(1)) > 0


def test_on_the_simulated_soc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "sim.json"
    assert main(["test", "--platform", "sim", "--iterations", "20", "--max-channels", "1", "--trace",
                 str(trace)]) == 0
    out = capsys.readouterr().out
    assert SUMMARY.search(out)
    assert "(virtual-time rates)" in out
    events = json.loads(trace.read_text())["traceEvents"]
    assert len([e for e in events if e["ph"] == "X"]) == 60  # copy0, xor0 and pq0: the controller has XOR, PQ
    assert main(["perf", "--platform", "sim", "--sizes", "64,1024", "--seconds", "0.0005", "--ring-size", "16",
                 "--no-baseline"]) == 0
    assert "DMA in virtual-time" in capsys.readouterr().out
    assert main(["summary", "--platform", "sim"]) == 0
    assert capsys.readouterr().out.startswith("dma0 (")


def test_ctrl_c_ends_an_endless_run_on_the_simulated_soc_cleanly() -> None:
    """Ctrl-C must stop the loops between tests, not inside one: no failed test, no lost runtime."""
    import signal

    for chans in ("1", "2"):
        proc = _endless_run("--platform", "sim", "--max-channels", chans, "--verbose")
        _wait_for_tests(proc, int(chans))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert err == "dmaengine: stopping after the tests in flight (Ctrl-C again to abort)\n"
        lines = re.findall(r"^dmatest: dma0chan\d-copy0: summary (\d+) tests, (\d+) failures (\d+)\.\d\d iops "
                           r"(\d+) KB/s \(0\)$", out, re.M)
        assert len(lines) == int(chans)
        for tests, failures, iops, kbs in lines:
            # 1 KiB buffers on a 32-bit bus: thousands of tests per virtual second, never a timed-out one.
            assert int(tests) > 0 and int(failures) == 0 and int(iops) > 1000 and int(kbs) > 0, out


@pytest.mark.parametrize("argv", [
    ["test", "--iterations", "0", "--trace", "{bad}"],
    ["perf", "--seconds", "60", "--json", "{bad}"],
    ["perf", "--seconds", "60", "--csv", "{bad}"],
    ["perf", "--seconds", "60", "--plot", "{bad}"],
    ["stats", "--trace", "{bad}"],
    ["uart", "--trace", "{bad}"],
])
def test_an_unwritable_output_file_is_refused_before_the_run(argv: list[str], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = str(tmp_path / "no-such-dir" / "out.json")
    assert main([a.replace("{bad}", bad) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    what = "the trace to " if "--trace" in argv else ""
    assert one_line_error(err) == f"dmaengine: error: cannot write {what}{bad}: No such file or directory"
    a_dir = str(tmp_path)
    assert main([a.replace("{bad}", a_dir) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line_error(err) == f"dmaengine: error: cannot write {what}{a_dir}: Is a directory"
    assert sorted(os.listdir(tmp_path)) == []


def test_a_thread_that_cannot_run_is_reported_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--alignment", "14", "--test-buf-size", "100", "--max-channels", "1"]) == 1
    out, err = capsys.readouterr()
    assert out.count("dmatest: 100-byte buffer too small for 16384-byte alignment\n") == 3  # copy, xor, pq
    assert "dmatest: dma0chan0-copy0: summary 0 tests, 0 failures 0.00 iops 0 KB/s (-12)\n" in out
    assert err == "".join(f"dmaengine test: dma0chan0-{kind}0 ended with error -12 (see its lines above)\n"
                          for kind in ("copy", "xor", "pq"))


def test_ctrl_c_cutting_a_finite_run_short_summarises_then_exits_130() -> None:
    import signal

    proc = _endless_run("--iterations", "1000000000", "--verbose")
    _wait_for_tests(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == "dmaengine: stopping after the tests in flight (Ctrl-C again to abort)\ndmaengine: interrupted\n"
    m = re.search(r"^dmatest: dma0chan0-copy0: summary (\d+) tests, 0 failures \d+\.\d\d iops \d+ KB/s \(0\)$",
                  out, re.M)
    assert m is not None and 0 < int(m.group(1)) < 1000000000


def test_a_buffer_too_large_for_memory_is_an_error_not_an_internal_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--test-buf-size", str(1 << 50), "--iterations", "1", "--max-channels", "1"]) == 2
    err = one_line_error(capsys.readouterr().err)
    assert err.startswith("dmaengine: error: out of memory: Unable to allocate 1.00 PiB"), err


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """``dmaengine test --verbose | head -1``: no 'Broken pipe' error, no traceback, the shell's status 141."""
    proc = subprocess.Popen([sys.executable, "-m", "dmaengine", "test", "--iterations", "3000", "--verbose",
                             "--max-channels", "1", "--test-buf-size", "1024"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_subprocess_env())
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == "dmatest: Added 3 threads using dma0chan0\n"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert err == ""


@pytest.mark.parametrize("argv", [
    ["uart", "--trace", "{t}", "--baud", "9600"],
    ["uart", "--baud", "9600", "--trace", "{t}"],
    ["uart", "--baud", "9600", "--trace={t}"],
])
def test_demo_takes_trace_anywhere_among_its_arguments(argv: list[str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.json"
    assert main([a.replace("{t}", str(trace)) for a in argv]) == 0
    out, err = capsys.readouterr()
    assert "(8N1 at 9600 baud: " in out
    names = [e["name"] for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "i"]
    assert names.count("complete") == 3 and names.count("prep") == 3
    assert err.startswith("dmaengine: trace of ")


def test_list_adds_the_threads_prints_the_test_list_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--platform", "vplat:make_two", "--list", "--threads-per-chan", "2"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("dmatest: Added 2 threads using dma0chan0\n"
                          "dmatest: Added 2 threads using dma0chan1\n"
                          "dmatest: 2 threads using dma0chan0\n"
                          "dmatest: 2 threads using dma0chan1\n", "")
