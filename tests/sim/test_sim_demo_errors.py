"""The demos refuse bad arguments and unwritable files in one line (exit 2) before they simulate anything."""

from __future__ import annotations

import pathlib

import pytest

from dmaengine.cli import main as cli_main
from dmaengine.sim import audio_demo, uart_demo


@pytest.mark.parametrize(("demo", "argv", "message"), [
    ("audio", ["--periods", "0"], "--periods must be >= 2, not 0"),
    ("audio", ["--periods", "-3"], "--periods must be >= 2, not -3"),
    ("audio", ["--period-frames", "0"], "--period-frames must be >= 1, not 0"),
    ("audio", ["--app-latency-ms", "-5"], "--app-latency-ms must be >= 0, not -5.0"),
    ("audio", ["--stall-ms", "-5"], "--stall-ms must be >= 0, not -5.0"),
    ("audio", ["--bh-latency-us", "-1"], "--bh-latency-us must be >= 0, not -1.0"),
    ("audio", ["--stall-ms", "nan"], "--stall-ms must be >= 0, not nan"),
    ("audio", ["--bogus"], "unrecognized arguments: --bogus (see 'dmaengine audio --help')"),
    ("audio", ["--periods", "x"], "argument --periods: invalid int value: 'x' (see 'dmaengine audio --help')"),
    ("uart", ["--baud", "0"], "--baud must be >= 1, not 0"),
    ("uart", ["--baud", "-5"], "--baud must be >= 1, not -5"),
    ("uart", ["--bogus"], "unrecognized arguments: --bogus (see 'dmaengine uart --help')"),
])
def test_demos_refuse_bad_arguments_in_one_line(demo: str, argv: list[str], message: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    module = {"audio": audio_demo, "uart": uart_demo}[demo]
    assert module.main(argv) == 2
    assert capsys.readouterr() == ("", f"dmaengine {demo}: error: {message}\n")
    assert cli_main([demo, *argv]) == 2
    assert capsys.readouterr() == ("", f"dmaengine {demo}: error: {message}\n")


@pytest.mark.parametrize("option", ["-o", "--capture"])
def test_audio_demo_refuses_an_unwritable_output_before_playing(option: str, tmp_path: pathlib.Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "no-such-dir" / "x.wav"
    assert audio_demo.main([option, str(bad)]) == 2
    assert capsys.readouterr() == ("", f"dmaengine audio: error: cannot write {bad}: No such file or directory\n")
    assert audio_demo.main([option, str(tmp_path)]) == 2
    assert capsys.readouterr() == ("", f"dmaengine audio: error: cannot write {tmp_path}: Is a directory\n")
    assert list(tmp_path.iterdir()) == []


def test_uart_demo_at_a_slow_baud_waits_as_long_as_the_line_needs(capsys: pytest.CaptureFixture[str]) -> None:
    # 13 bytes at 10 baud take 13 s of virtual time: longer than sync_wait's default 5 s timeout.
    assert uart_demo.main(["--baud", "10"]) == 0
    text = capsys.readouterr().out
    assert "TX done: 13 bytes in 13000.0000 ms (8N1 at 10 baud: 13000.0000 ms)" in text
    assert text.endswith("line bytes: b'\\r\\nsim login: Welcome, root!\\r\\n'\n")
