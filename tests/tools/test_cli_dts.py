"""``--platform dts:BOARD`` on every command and demo: the simulated SoC a device tree describes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dmaengine.cli import main
from dmaengine.sim import audio_demo, uart_demo

BOARDS = Path(__file__).resolve().parents[2] / "examples" / "boards"
TWO = f"dts:{BOARDS / 'two-controllers.dts'}"
DEFAULT = f"dts:{BOARDS / 'default.dts'}"


def test_summary_shows_the_wiring_it_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", TWO]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == f"""\
dma0 (40020000.dma-controller): number of channels: 4

dma1 (40030000.dma-controller): number of channels: 2

slave map (dma_slave_map):
 console  tx  -> dma0 request line 4   FIFO 32 B at 0x40011000
 console  rx  -> dma0 request line 5   FIFO 32 B at 0x40011004
 codec    tx  -> dma1 request line 0   FIFO 64 B at 0x40040000
 codec    rx  -> dma1 request line 1   FIFO 64 B at 0x40040004
peripherals:
 console  Uart: 115200 baud
 codec    I2s: 48000 Hz, 2 channels, 2 B samples
virtual time: 0 ns

board: {BOARDS / 'two-controllers.dts'}
dma0 /soc/dma-controller@40020000: 4 channels, 16 request lines, bus 32-bit at 200000000 B/s, bursts up to 8, \
fetch 200 ns
dma1 /soc/dma-controller@40030000: 2 channels, 4 request lines, bus 64-bit at 1600000000 B/s, bursts up to 16, \
fetch 50 ns
  console /soc/serial@40011000 tx: dma0 line 4 (/soc/dma-controller@40020000), FIFO 0x40011000
  console /soc/serial@40011000 rx: dma0 line 5 (/soc/dma-controller@40020000), FIFO 0x40011004
  codec /soc/i2s@40040000 tx: dma1 line 0 (/soc/dma-controller@40030000), FIFO 0x40040000
  codec /soc/i2s@40040000 rx: dma1 line 1 (/soc/dma-controller@40030000), FIFO 0x40040004
"""


def test_summary_verbose_lists_the_nodes_not_modelled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", TWO, "--verbose"]) == 0
    assert capsys.readouterr().out.endswith("""\
not modelled: 3 node(s)
  /cpus: no compatible
  /cpus/cpu@0: no model for arm,cortex-a7
  /soc/interrupt-controller@30000000: no model for arm,gic-400
""")


def test_test_and_perf_run_on_a_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--platform", TWO, "--iterations", "5", "--max-channels", "1", "--test-buf-size",
                 "1024", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    line = r"^dmatest: dma0chan0-copy0: summary 5 tests, 0 failures \d+\.\d\d iops \d+ KB/s \(0\)$"
    assert re.search(line, out, re.M)
    assert main(["perf", "--platform", DEFAULT, "--sizes", "64,256", "--seconds", "0.001", "--no-baseline"]) == 0
    assert "dma-perf on dts:" in capsys.readouterr().out


@pytest.mark.parametrize(("spec", "message"), [
    ("dts:nope.dts", "nope.dts: cannot read: No such file or directory"),
    ("dts:", "--platform dts: needs a file, e.g. dts:examples/boards/default.dts"),
])
def test_a_bad_board_is_one_line(spec: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--platform", spec]) == 2
    assert capsys.readouterr() == ("", f"dmaengine: error: {message}\n")


def test_a_board_with_an_error_names_file_node_and_property(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.dts"
    bad.write_text((BOARDS / "default.dts").read_text().replace("<&dma0 6>", "<&dma0 9>"))
    assert main(["test", "--platform", f"dts:{bad}"]) == 2
    assert capsys.readouterr() == ("", f"dmaengine: error: {bad}: /soc/adc@40003000: dmas: entry 0 (rx): request "
                                       "line 9 is beyond dma-requests = <8> of &dma0 "
                                       "(/soc/dma-controller@40100000)\n")


def test_the_uart_demo_on_a_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert uart_demo.main(["--platform", TWO, "--device", "serial0"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("line bytes: b'\\r\\nsim login: Welcome, root!\\r\\n'\n")
    assert main(["uart", "--platform", TWO]) == 2
    assert capsys.readouterr().err == "dmaengine uart: error: no peripheral named 'uart0' (there are: console, codec)\n"


@pytest.mark.skipif(shutil.which("cpp") is None, reason="needs the C preprocessor (cpp)")
def test_the_audio_demo_on_a_board(capsys: pytest.CaptureFixture[str]) -> None:
    assert audio_demo.main(["--platform", f"dts:{BOARDS / 'shared-channels.dts'}"]) == 0
    assert capsys.readouterr().out == """\
played 44100 frames at 44100 Hz through i2s0 in 0.999978 s of virtual time
period callbacks: 43, codec underruns: 0, stale periods: 0
output is bit-identical to the input
"""


@pytest.mark.parametrize(("demo", "argv", "message"), [
    ("audio", ["--platform", "qemu"], "--platform must be sim or dts:BOARD.dts, not 'qemu'"),
    ("audio", ["--platform", TWO, "--bh-latency-us", "2"],
     "--bh-latency-us does not apply to a board (it sets dmaengine,bh-latency-ns)"),
    ("uart", ["--platform", "dts:"], "--platform must be sim or dts:BOARD.dts, not 'dts:'"),
    ("uart", ["--platform", TWO, "--device", "codec"], "'codec' is not a UART but <I2s codec>"),
])
def test_demos_refuse_a_bad_platform_in_one_line(demo: str, argv: list[str], message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main([demo, *argv]) == 2
    assert capsys.readouterr() == ("", f"dmaengine {demo}: error: {message}\n")
