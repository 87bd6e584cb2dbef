"""Boards from a device tree: the shipped boards run the README's UART and audio examples with exact bytes and
times, the round trip to DTS (and DTB) keeps topology and timing, and every bad board is one exact line."""

from __future__ import annotations

import difflib
import pathlib
import re
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import (
    BusWidth,
    ConfigError,
    DataDirection,
    NoChannelError,
    Platform,
    SlaveConfig,
    Status,
    TransferDirection,
)
from dmaengine.sim import DtNode, DtsError, Models, Peripheral, Soc, Uart
from dmaengine.testing import ConformanceSuite

ROOT = pathlib.Path(__file__).resolve().parents[2]
BOARDS = ROOT / "examples" / "boards"
DEFAULT = BOARDS / "default.dts"
TWO = BOARDS / "two-controllers.dts"
SHARED = BOARDS / "shared-channels.dts"
needs_cpp = pytest.mark.skipif(shutil.which("cpp") is None, reason="needs the C preprocessor (cpp)")


def run_uart(soc: Soc, name: str) -> tuple[bytes, int, int, int, int]:
    """The README's UART example on peripheral ``name``: (line bytes, first and last byte's start, DMA done, idle)."""
    uart = soc.peripheral(name)
    assert isinstance(uart, Uart)
    msg = np.frombuffer(b"hello, world\r\n", dtype=np.uint8)
    with soc.request_chan(name, "tx") as chan, soc.map(msg, DataDirection.TO_DEVICE) as m:
        chan.slave_config(SlaveConfig(direction=TransferDirection.MEM_TO_DEV, dst_addr=uart.tx_fifo_addr,
                                      dst_addr_width=BusWidth.BYTES_1, dst_maxburst=1))
        cookie = chan.prep_slave_single(m.addr, len(msg), TransferDirection.MEM_TO_DEV).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        done = soc.now_ns
        soc.run_until_idle()
    return uart.output, uart.output_ns[0], uart.output_ns[-1], done, soc.now_ns


def run_audio(soc: Soc, name: str, width: int = 4, burst: int = 8) -> tuple[int, int, list[int], int]:
    """The docs' cyclic audio example for 100 ms: (residue, bytes played, first period callbacks, underruns); the
    played bytes are checked to be the ring, in order."""
    codec = soc.peripheral(name)
    aud = soc.request_chan(name, "tx")
    aud.slave_config(SlaveConfig(dst_addr=codec.tx_fifo_addr, dst_addr_width=BusWidth(width), dst_maxburst=burst))
    period, periods = 1024 * 4, 4
    ring = (np.arange(period * periods) % 251).astype(np.uint8)
    rm = soc.map(ring, DataDirection.TO_DEVICE)
    calls: list[int] = []
    desc = aud.prep_dma_cyclic(rm.addr, ring.nbytes, period, TransferDirection.MEM_TO_DEV)
    desc.callback = lambda _: calls.append(soc.now_ns)
    cyc = desc.submit()
    aud.issue_pending()
    soc.run_for(0.1)
    status, state = aud.tx_status(cyc)
    assert status == Status.IN_PROGRESS
    played = np.frombuffer(codec.played, dtype=np.uint8)  # type: ignore[attr-defined]
    assert (played == np.resize(ring, len(played))).all()
    aud.terminate_sync()
    aud.release()
    return state.residue, len(played), calls[:3], codec.underruns  # type: ignore[attr-defined]


# --- the shipped boards -------------------------------------------------------------------------------------
DEFAULT_UART = (b"hello, world\r\n", 110, 1_128_582, 240, 1_215_387)
DEFAULT_AUDIO = (13_504, 19_200, [20_980_426, 42_313_760, 63_647_093], 0)


@pytest.mark.parametrize("fast", [True, False])
def test_the_default_board_gives_soc_s_nanoseconds(fast: bool) -> None:
    assert run_uart(Soc(fast=fast), "uart0") == DEFAULT_UART
    assert run_uart(Soc.from_dts(DEFAULT, fast=fast), "uart0") == DEFAULT_UART
    assert run_audio(Soc(fast=fast), "i2s0") == DEFAULT_AUDIO
    assert run_audio(Soc.from_dts(DEFAULT, fast=fast), "i2s0") == DEFAULT_AUDIO


def test_the_default_board_is_soc_s_topology() -> None:
    a, b = Soc(), Soc.from_dts(DEFAULT)
    assert [(p.name, type(p), [(q.fifo_addr, q.line) for q in p.ports]) for p in a.peripherals] == \
        [(p.name, type(p), [(q.fifo_addr, q.line) for q in p.ports]) for p in b.peripherals]
    assert a._slave_map == b._slave_map
    assert b.address_space.map(np.zeros(1, np.uint8)).addr == a.address_space.map(np.zeros(1, np.uint8)).addr
    diff = [d for d in difflib.ndiff(a.to_dts().splitlines(), b.to_dts().splitlines()) if d[0] in "+-"]
    assert diff == ["+ ", "+ \taliases {", "+ \t\tserial0 = &uart0;", "+ \t\tserial1 = &uart1;", "+ \t};",
                    "+ \t\t\tdma-requests = <8>;"]


@pytest.mark.parametrize("fast", [True, False])
def test_two_controllers_a_peripheral_on_each(fast: bool) -> None:
    soc = Soc.from_dts(TWO, fast=fast)
    assert [(d.name, d.dev_name, len(d.channels)) for d in soc.devices] == [
        ("dma0", "40020000.dma-controller", 4), ("dma1", "40030000.dma-controller", 2)]
    # A 200 MB/s bus and a 200 ns descriptor fetch: the first byte goes out 110 ns later than on Soc().
    assert run_uart(soc, "serial@40011000") == (b"hello, world\r\n", 220, 1_128_692, 480, 1_215_497)
    chan = soc.request_chan("codec", "tx")
    assert chan.device.name == "dma1"
    chan.release()
    assert run_audio(soc, "codec") == (13_504, 19_200, [22_195_793, 43_529_127, 64_862_460], 0)


@needs_cpp
@pytest.mark.parametrize("fast", [True, False])
def test_fewer_channels_than_request_lines_are_shared(fast: bool) -> None:
    soc = Soc.from_dts(SHARED, fast=fast)
    assert run_uart(soc, "uart0") == (b"hello, world\r\n", 120, 141_179, 380, 152_029)  # 921600 baud
    assert run_audio(soc, "i2s0", width=2, burst=4) == (15_064, 17_640, [22_987_756, 46_207_710, 69_427_665], 0)
    a, b = soc.request_chan("uart1", "tx"), soc.request_chan("adc0", "rx")
    with pytest.raises(NoChannelError, match=r"^no free channel for \('uart0', 'rx'\)$"):
        soc.request_chan("uart0", "rx")
    a.release()
    c = soc.request_chan("uart0", "rx")
    assert (c.name, c.client_name) == ("dma0chan0", "uart0:rx")
    b.release()
    c.release()


def test_request_chan_by_node_name_label_alias_and_path() -> None:
    soc = Soc.from_dts(TWO)
    for name in ("console", "serial@40011000", "serial0", "/soc/serial@40011000"):
        with soc.request_chan(name, "rx") as chan:
            assert (chan.name, chan.client_name) == ("dma0chan0", "console:rx")
        assert soc.peripheral(name) is soc.peripheral("console")
    with pytest.raises(NoChannelError, match=r"^no slave map entry for \('serial@40099000', 'tx'\)$"):
        soc.request_chan("serial@40099000", "tx")


def test_a_controller_reaches_only_the_fifos_wired_to_it() -> None:
    soc = Soc.from_dts(TWO)
    uart = soc.peripheral("console")
    chan = soc.request_chan("codec", "tx")  # dma1; the console is on dma0
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1))
    buf = np.zeros(4, dtype=np.uint8)
    with soc.map(buf, DataDirection.TO_DEVICE) as m:
        cookie = chan.prep_slave_single(m.addr, 4, TransferDirection.MEM_TO_DEV).submit()
        assert chan.sync_wait(cookie) == Status.ERROR
    assert uart.output == b""


# --- round trips --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("board", [DEFAULT, TWO, pytest.param(SHARED, marks=needs_cpp)], ids=lambda p: p.stem)
def test_to_dts_round_trip_keeps_topology_and_timing(board: pathlib.Path) -> None:
    soc = Soc.from_dts(board)
    text = soc.to_dts()
    again = Soc.from_dts(text)
    assert again.to_dts() == text
    assert again.board_summary().splitlines()[1:] == soc.board_summary().splitlines()[1:]
    name = soc.peripherals[0].name
    assert run_uart(Soc.from_dts(text), name) == run_uart(Soc.from_dts(board), name)
    dtb = Soc.from_dts(soc.to_dtb())
    assert dtb.to_dts() == text
    assert run_uart(dtb, name) == run_uart(Soc.from_dts(board), name)


def test_soc_to_dts_is_pinned() -> None:
    text = Soc(channels=4, bus_bytes_per_s=8_000_000_000, max_burst=8, peripherals=[Uart("u", baud=9600)]).to_dts()
    assert text == """\
/dts-v1/;

/ {
\t#address-cells = <2>;
\t#size-cells = <2>;
\tmodel = "dmaengine simulated SoC";
\tcompatible = "dmaengine,sim-soc";
\tdmaengine,bh-latency-ns = <1000>;

\tmemory@100000000 {
\t\tdevice_type = "memory";
\t\treg = <0x1 0x0 0x0 0x40000000>;
\t};

\tsoc {
\t\tcompatible = "simple-bus";
\t\t#address-cells = <2>;
\t\t#size-cells = <2>;
\t\tranges;

\t\tdma0: dma-controller@40100000 {
\t\t\tcompatible = "dmaengine,sim-dmac";
\t\t\treg = <0x0 0x40100000 0x0 0x1000>;
\t\t\t#dma-cells = <1>;
\t\t\tdma-channels = <4>;
\t\t\tdmaengine,bus-bytes-per-second = <1 3705032704>;
\t\t\tdmaengine,bus-width-bytes = <4>;
\t\t\tdmaengine,max-burst = <8>;
\t\t\tdmaengine,fetch-latency-ns = <100>;
\t\t};

\t\tu: serial@40000000 {
\t\t\tcompatible = "dmaengine,sim-uart";
\t\t\treg = <0x0 0x40000000 0x0 0x1000>;
\t\t\tcurrent-speed = <9600>;
\t\t\tdmaengine,fifo-depth = <32>;
\t\t\tdmaengine,fifo-threshold = <1>;
\t\t\tdmas = <&dma0 0>, <&dma0 1>;
\t\t\tdma-names = "tx", "rx";
\t\t};
\t};
};
"""
    soc = Soc.from_dts(text)
    assert soc.dmac.hw.bus_bytes_per_s == 8_000_000_000 and soc.peripheral("u").baud == 9600


def test_a_peripheral_added_by_hand_goes_on_the_next_free_line_and_page() -> None:
    soc = Soc.from_dts(TWO)
    extra = soc.add_peripheral(Uart("extra"))
    assert (extra.tx.line, extra.tx_fifo_addr, extra.rx.line) == (6, 0x4000_2000, 7)  # type: ignore[union-attr]
    assert "dmas = <&gpdma 6>, <&gpdma 7>;" in soc.to_dts()
    assert run_uart(soc, "extra")[0] == b"hello, world\r\n"


# --- the preprocessor and blobs -----------------------------------------------------------------------------
@needs_cpp
def test_include_and_macros_go_through_cpp(tmp_path: pathlib.Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "lines.h").write_text("#define TX_LINE 3\n#define BAUD (9600 * 2)\n")
    board = DEFAULT.read_text().replace('/dts-v1/;', '/dts-v1/;\n#include "lines.h"')
    board = board.replace("<&dma0 0>", "<&dma0 TX_LINE>").replace("<&dma0 3>", "<&dma0 7>")
    board = board.replace("current-speed = <115200>", "current-speed = <BAUD>", 1)
    (tmp_path / "board.dts").write_text(board)
    soc = Soc.from_dts(tmp_path / "board.dts", include_dirs=[tmp_path / "inc"])
    uart = soc.peripheral("uart0")
    assert (uart.tx.line, uart.baud) == (3, 19200)  # type: ignore[union-attr,attr-defined]


def test_a_dtb_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "board.dtb").write_bytes(Soc.from_dts(DEFAULT).to_dtb())
    assert run_uart(Soc.from_dts(tmp_path / "board.dtb"), "uart0") == DEFAULT_UART


# --- the registry -------------------------------------------------------------------------------------------
class Spi(Peripheral):
    """A user's peripheral model (a UART's ports stand in for its FIFOs)."""

    def __init__(self, name: str, hz: int) -> None:
        super().__init__(name)
        self.hz = hz
        inner = Uart(f"{name}_phy", baud=hz // 10)
        self.tx, self.rx = inner.tx, inner.rx


def test_a_user_model_for_a_user_compatible_and_compatibles_in_order() -> None:
    models = Models()
    models.register("acme,spi", lambda node, name: Spi(name, node.u32("spi-max-frequency")),
                    lambda p: {"spi-max-frequency": p.hz}, cls=Spi)  # type: ignore[attr-defined]
    board = DEFAULT.read_text().replace("""\
		adc0: adc@40003000 {
			compatible = "dmaengine,sim-adc";""", """\
		spi0: spi@40003000 {
			compatible = "acme,spi-v2", "acme,spi", "dmaengine,sim-adc";
			spi-max-frequency = <1000000>;""")
    soc = Soc.from_dts(board, models=models)
    spi = soc.peripheral("spi0")
    assert isinstance(spi, Spi) and spi.hz == 1_000_000
    assert 'compatible = "acme,spi-v2", "acme,spi", "dmaengine,sim-adc";' in soc.to_dts(models)
    assert Soc.from_dts(soc.to_dts(models), models=models).to_dts(models) == soc.to_dts(models)
    assert isinstance(Soc.from_dts(board).peripheral("spi0"), sim_adc())  # the built-ins only: the third one


def sim_adc() -> type:
    from dmaengine.sim import Adc

    return Adc


def test_models_refuse_bad_registrations() -> None:
    models = Models()
    with pytest.raises(Exception, match=r"^compatible 'dmaengine,sim-uart' already has a model \(pass replace=True\)$"):
        models.register("dmaengine,sim-uart", lambda node, name: Uart(name))
    with pytest.raises(Exception, match=r"^compatible must be a non-empty string without spaces, not 'a b'$"):
        models.register("a b", lambda node, name: Uart(name))
    with pytest.raises(Exception, match=r"^models must be a dmaengine.sim.Models, not 3$"):
        Soc.from_dts(DEFAULT, models=3)  # type: ignore[arg-type]


def test_user_controller_compatible() -> None:
    models = Models()
    models.register_dmac("acme,dma")
    soc = Soc.from_dts(DEFAULT.read_text().replace('"dmaengine,sim-dmac"', '"acme,dma"'), models=models)
    assert run_uart(soc, "uart0") == DEFAULT_UART


def test_summary_lists_the_wiring_and_verbose_the_nodes_not_modelled() -> None:
    soc = Soc.from_dts(TWO)
    assert soc.board_summary(verbose=True) == f"""\
board: {TWO}
dma0 /soc/dma-controller@40020000: 4 channels, 16 request lines, bus 32-bit at 200000000 B/s, bursts up to 8, \
fetch 200 ns
dma1 /soc/dma-controller@40030000: 2 channels, 4 request lines, bus 64-bit at 1600000000 B/s, bursts up to 16, \
fetch 50 ns
  console /soc/serial@40011000 tx: dma0 line 4 (/soc/dma-controller@40020000), FIFO 0x40011000
  console /soc/serial@40011000 rx: dma0 line 5 (/soc/dma-controller@40020000), FIFO 0x40011004
  codec /soc/i2s@40040000 tx: dma1 line 0 (/soc/dma-controller@40030000), FIFO 0x40040000
  codec /soc/i2s@40040000 rx: dma1 line 1 (/soc/dma-controller@40030000), FIFO 0x40040004
not modelled: 3 node(s)
  /cpus: no compatible
  /cpus/cpu@0: no model for arm,cortex-a7
  /soc/interrupt-controller@30000000: no model for arm,gic-400
"""


# --- bad boards: one line each, naming the file, the node and the property ---------------------------------
def board_with(old: str, new: str) -> str:
    text = DEFAULT.read_text()
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


UART0 = "<string>: /soc/serial@40000000"
BAD = {
    "unknown compatible": (
        ('compatible = "dmaengine,sim-uart";\n\t\t\treg = <0x0 0x40000000',
         'compatible = "acme,spi";\n\t\t\treg = <0x0 0x40000000'),
        f'{UART0}: compatible: no model for "acme,spi" (a DMA client; known: dmaengine,sim-dmac, dmaengine,sim-uart, '
        "dmaengine,sim-i2s, dmaengine,sim-adc)"),
    "phandle to a node that is not a DMA controller": (
        ("<&dma0 0>, <&dma0 1>", "<&uart1 0>, <&dma0 1>"),
        f"{UART0}: dmas: entry 0: &uart1 (/soc/serial@40001000) is not a DMA controller (no #dma-cells)"),
    "a numeric phandle that points nowhere": (
        ("<&dma0 0>, <&dma0 1>", "<0x77 0>, <&dma0 1>"),
        f"{UART0}: dmas: entry 0: phandle 0x77 points nowhere"),
    "too many cells": (
        ("<&dma0 0>, <&dma0 1>", "<&dma0 0 0>, <&dma0 1 0>"),
        f"{UART0}: dmas: wrong number of cells: entry 1 starts with 0x0, not a phandle (entry 0 has 1 + #dma-cells "
        "= <1> of /soc/dma-controller@40100000)"),
    "too few cells": (
        ("<&dma0 0>, <&dma0 1>", "<&dma0 0>, <&dma0>"),
        f"{UART0}: dmas: wrong number of cells: entry 1 for &dma0 (/soc/dma-controller@40100000) needs 1 + "
        "#dma-cells = <1> cells, has 1"),
    "a request line beyond dma-requests": (
        ("<&dma0 0>, <&dma0 1>", "<&dma0 12>, <&dma0 1>"),
        f"{UART0}: dmas: entry 0 (tx): request line 12 is beyond dma-requests = <8> of &dma0 "
        "(/soc/dma-controller@40100000)"),
    "dma-names and dmas of different lengths": (
        ('dma-names = "tx", "rx";', 'dma-names = "tx";'),
        f"{UART0}: dma-names: 1 name(s) for 2 dmas entries"),
    "dmas without dma-names": (
        ('dma-names = "tx", "rx";', ""),
        f"{UART0}: dma-names: missing: dmas has 2 entries to name"),
    "a name that is not a FIFO": (
        ('dma-names = "tx", "rx";', 'dma-names = "tx", "rx2";'),
        f'{UART0}: dma-names: "rx2" is not a FIFO of Uart (it has: "tx", "rx")'),
    "a request line wired twice": (
        ("<&dma0 2>, <&dma0 3>", "<&dma0 2>, <&dma0 1>"),
        "<string>: /soc/serial@40001000: dmas: entry 1 (rx): request line 1 of &dma0 "
        "(/soc/dma-controller@40100000) is already wired to /soc/serial@40000000 (rx)"),
    "a property of the wrong type": (
        ("current-speed = <115200>;", 'current-speed = "fast";'),
        f'{UART0}: current-speed: expected 32-bit cells (<...>), not 5 bytes "fast"'),
    "a value the model refuses": (
        ("dmaengine,channels = <2>;", "dmaengine,channels = <3>;"),
        "<string>: /soc/i2s@40002000: dmaengine,channels: channels must be 1, 2, 4, 6 or 8, not 3"),
    "a controller with two dma cells": (
        ("#dma-cells = <1>;", "#dma-cells = <2>;"),
        "<string>: /soc/dma-controller@40100000: #dma-cells: the simulated controller takes 1 cell (the request "
        "line), not 2"),
    "overlapping registers": (
        ("reg = <0x0 0x40001000 0x0 0x1000>;", "reg = <0x0 0x40000800 0x0 0x1000>;"),
        "<string>: /soc/serial@40001000: reg: <0x40000800 0x1000> overlaps the registers of /soc/serial@40000000"),
    "too many channels": (
        ("dma-channels = <8>;", "dma-channels = <100000000>;"),
        "<string>: /soc/dma-controller@40100000: dma-channels: must be 1..1024, not 100000000"),
    "a bad bus width on the bus node": (
        ("dmaengine,bus-width-bytes = <4>;", "dmaengine,bus-width-bytes = <3>;"),
        "<string>: /soc: dmaengine,bus-width-bytes: must be 1, 2, 4 or 8, not 3"),
    "a disabled controller": (
        ("dma-requests = <8>;", 'dma-requests = <8>;\n\t\t\tstatus = "disabled";'),
        f'{UART0}: dmas: entry 0: &dma0 (/soc/dma-controller@40100000) is disabled (status = "disabled")'),
    "a reg that does not fit the cells": (
        ("reg = <0x0 0x40000000 0x0 0x1000>;", "reg = <0x40000000>;"),
        f"{UART0}: reg: expected entries of 2 address + 2 size cells (#address-cells / #size-cells of /soc), not 1 "
        "cells"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_board_is_one_exact_line(case: str, tmp_path: pathlib.Path) -> None:
    (old, new), message = BAD[case]
    with pytest.raises(DtsError, match=rf"^{re.escape(message)}$"):
        Soc.from_dts(board_with(old, new))
    path = tmp_path / "board.dts"
    path.write_text(board_with(old, new))
    with pytest.raises(DtsError, match=rf"^{re.escape(message.replace('<string>', str(path), 1))}$") as info:
        Soc.from_dts(path)
    assert (info.value.file, info.value.path) == (str(path), message.split(": ")[1])


def test_a_blob_whose_phandle_points_nowhere() -> None:
    from dmaengine.sim._dts import dts_to_dtb

    blob = dts_to_dtb(board_with("<&dma0 0>, <&dma0 1>", "<0x77 0>, <&dma0 1>"))
    with pytest.raises(DtsError, match=r"^<dtb>: /soc/serial@40000000: dmas: entry 0: phandle 0x77 points nowhere$"):
        Soc.from_dts(blob)


def test_reg_is_translated_through_the_ranges_of_the_buses() -> None:
    text = board_with("\t\tranges;", "\t\tranges = <0x0 0x0 0x0 0x40000000 0x0 0x200000>;")
    for a in ("40100000", "40000000", "40001000", "40002000", "40003000"):
        text = text.replace(f"<0x0 0x{a} ", f"<0x0 0x{int(a, 16) - 0x4000_0000:x} ")
    soc = Soc.from_dts(text)
    assert [p.ports[0].fifo_addr for p in soc.peripherals] == [0x4000_0000, 0x4000_1000, 0x4000_2000, 0x4000_3004]
    with pytest.raises(DtsError, match=r"^<string>: /soc/serial@40000000: reg: address 0x200000 is outside the "
                                       r"ranges of /soc$"):
        Soc.from_dts(text.replace("reg = <0x0 0x0 0x0 0x1000>", "reg = <0x0 0x200000 0x0 0x1000>", 1))


def test_an_undefined_label_names_the_line_and_property() -> None:
    text = board_with("<&dma0 2>, <&dma0 3>", "<&dma0 2>, <&nowhere 3>")
    with pytest.raises(DtsError, match=rf"^<string>:{line_of(text, '&nowhere')}: /soc/serial@40001000: dmas: "
                                       r"&nowhere points nowhere \(no node has that label\)$"):
        Soc.from_dts(text)


def test_a_syntax_error_names_the_file_and_line(tmp_path: pathlib.Path) -> None:
    text = board_with("current-speed = <115200>;", "current-speed = <115200>")
    path = tmp_path / "board.dts"
    path.write_text(text)
    line = line_of(text, "current-speed = <115200>\n") + 1
    with pytest.raises(DtsError, match=rf"^{re.escape(str(path))}:{line}: syntax error: expected ';' or ',' "
                                       r"\(column 4\)$"):
        Soc.from_dts(path)
    with pytest.raises(DtsError, match=rf"^<string>:{line}: syntax error: expected ';' or ','"):
        Soc.from_dts(text)


@needs_cpp
def test_a_missing_include_is_a_preprocessor_error_with_its_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "board.dts"
    path.write_text('/dts-v1/;\n\n#include "nope.h"\n/ { };\n')
    with pytest.raises(DtsError, match=rf"^{re.escape(str(path))}:3: preprocessor error: nope.h: No such file or "
                                       r"directory$"):
        Soc.from_dts(path)


def test_a_file_that_is_not_there_or_a_bad_blob() -> None:
    with pytest.raises(DtsError, match=r"^nowhere.dts: cannot read: No such file or directory$"):
        Soc.from_dts("nowhere.dts")
    with pytest.raises(DtsError, match=r"^a\\0b\.dts: cannot read: embedded null byte$"):
        Soc.from_dts("a\0b.dts")
    with pytest.raises(DtsError, match=r"^<dtb>: not a valid device-tree blob: "):
        Soc.from_dts(b"\xd0\x0d\xfe\xed" + bytes(20))
    with pytest.raises(DtsError, match=r"^<string>: /: no DMA controller \(a node compatible with "
                                       r"'dmaengine,sim-dmac'\)$"):
        Soc.from_dts("/dts-v1/;\n/ { };\n")


def test_disabled_nodes_are_listed_not_built() -> None:
    soc = Soc.from_dts(board_with('compatible = "dmaengine,sim-adc";', 'compatible = "dmaengine,sim-adc";\n'
                                  '\t\t\tstatus = "disabled";'))
    assert [p.name for p in soc.peripherals] == ["uart0", "uart1", "i2s0"]
    assert soc.board_summary(verbose=True).endswith('not modelled: 1 node(s)\n  /soc/adc@40003000: status = '
                                                    '"disabled"\n')


def test_dtnode_getters() -> None:
    node = DtNode("/soc/x@0", "f.dts", props={"a": b"\x00\x00\x00\x05", "s": b"ab\x00cd\x00", "e": b""})
    assert (node.u32("a"), node.u64("a"), node.strings("s"), node.u32("zz", 7)) == (5, 5, ["ab", "cd"], 7)
    with pytest.raises(DtsError, match=r"^f.dts: /soc/x@0: zz: missing$"):
        node.u32("zz")
    with pytest.raises(DtsError, match=r"^f.dts: /soc/x@0: a: must be >= 6, not 5$"):
        node.u32("a", least=6)
    with pytest.raises(DtsError, match=r'^f.dts: /soc/x@0: s: expected one string, not 2$'):
        node.string("s")


def test_a_board_made_by_hand() -> None:
    from dmaengine.sim import Board, ControllerDesc, NodeInfo, PeripheralDesc, Wire

    ctrl = ControllerDesc(NodeInfo("/dma@0"), channels=2, requests=4)
    uart = PeripheralDesc(NodeInfo("/serial@1000", ("con",)), Uart("con"), 0x1000, (Wire("tx", 0, 3, "tx"),))
    soc = Soc.from_board(Board("hand", [ctrl], [uart]))
    assert run_uart(soc, "serial@1000") == DEFAULT_UART
    for wire, message in [(Wire("tx", 1, 3, "tx"), "con: wire 'tx' is on controller 1, but the board has 1"),
                          (Wire("tx", 0, 4, "tx"), "con: wire 'tx': request line must be 0..3 on dma0, not 4"),
                          (Wire("tx", 0, 1, "xx"), "con: wire 'tx' serves FIFO 'xx', which <Uart con> does not have")]:
        bad = PeripheralDesc(NodeInfo("/serial@1000"), Uart("con"), 0x1000, (wire,))
        with pytest.raises(ConfigError, match=rf"^{re.escape(message)}$"):
            Soc.from_board(Board("hand", [ctrl], [bad]))
    with pytest.raises(ConfigError, match=r"^hand: a board needs at least one DMA controller, not none$"):
        Soc.from_board(Board("hand"))


def test_strict_refuses_a_node_the_simulator_does_not_model() -> None:
    assert Soc.from_dts(TWO).board is not None
    with pytest.raises(DtsError, match=rf"^{re.escape(str(TWO))}: /cpus: compatible: missing \(strict\)$"):
        Soc.from_dts(TWO, strict=True)
    text = TWO.read_text().replace("cpus {", "cpus {\n\t\tstatus = \"disabled\";")
    with pytest.raises(DtsError, match=r'^<string>: /soc/interrupt-controller@30000000: compatible: no model for '
                                       r'"arm,gic-400" \(strict\)$'):
        Soc.from_dts(text, strict=True)


TOKENS = ["<", ">", ";", "{", "}", "&dma0", "&uart0", "0", "0xffffffff", '"x"', "/delete-node/ &uart0;",
          'status = "disabled";', "#dma-cells = <0>;", "dma-channels = <0>;", "=", ",", "@", "/", "[00 01]",
          "#address-cells = <0>;", "#size-cells = <3>;", "ranges = <1>;", "reg = <>;", "dmas;", "dma-names;",
          "compatible;", "current-speed = <0>;", "dmaengine,max-burst = <0>;", "dmaengine,fifo-threshold = <99>;",
          "dmaengine,bus-bytes-per-second = <0 0 1>;", "&{/soc} { };", "label: ", "/include/ \"nope\""]


@settings(deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from([*TOKENS, ""]), st.integers(0, 12)), min_size=1,
                max_size=4))
def test_a_mangled_board_is_built_or_refused_in_one_line(edits: list[tuple[float, str, int]]) -> None:
    text = DEFAULT.read_text()
    for where, token, cut in edits:
        pos = int(where * len(text))
        text = text[:pos] + token + text[pos + cut :]
    try:
        Soc.from_dts(text).to_dts()
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith("<string>")


@settings(deadline=None, max_examples=25)
@given(channels=st.integers(1, 12), bus=st.integers(1_000_000, 10_000_000_000), width=st.sampled_from([1, 2, 4, 8]),
       burst=st.integers(1, 256), fetch=st.integers(0, 5_000), bh=st.integers(0, 50_000),
       bauds=st.lists(st.integers(300, 4_000_000), min_size=1, max_size=3), depth=st.integers(1, 64),
       rate=st.integers(1_000, 192_000), i2s_ch=st.sampled_from([1, 2, 4, 6, 8]), i2s_w=st.sampled_from([1, 2, 4]))
def test_any_soc_round_trips_through_dts_with_its_timing(channels: int, bus: int, width: int, burst: int,
                                                         fetch: int, bh: int, bauds: list[int], depth: int,
                                                         rate: int, i2s_ch: int, i2s_w: int) -> None:
    from dmaengine.sim import Adc, I2s

    def make() -> Soc:
        periph: list[Peripheral] = [Uart(f"u{i}", baud=b, fifo_depth=depth) for i, b in enumerate(bauds)]
        periph += [I2s("codec", rate_hz=rate, channels=i2s_ch, sample_width=i2s_w, fifo_depth=8 * i2s_ch * i2s_w),
                   Adc("adc", rate_hz=rate, bits=8, sample_width=1, freq_hz=12.5)]
        return Soc(channels=channels, bus_bytes_per_s=bus, bus_width_bytes=width, max_burst=burst,
                   fetch_latency_ns=fetch, bh_latency_ns=bh, peripherals=periph)

    text = make().to_dts()
    again = Soc.from_dts(text)
    assert again.to_dts() == text
    assert run_uart(again, f"u{len(bauds) - 1}") == run_uart(make(), f"u{len(bauds) - 1}")


class TestTwoControllerBoardConformance(ConformanceSuite):
    """The API's semantics hold on a board with two controllers of different buses."""

    big_copy = 1024 * 1024

    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:
        soc = Soc.from_dts(TWO)
        yield soc
        soc.close()


@pytest.mark.skipif(shutil.which("dtc") is None or shutil.which("cpp") is None, reason="needs dtc and cpp")
@pytest.mark.parametrize("board", [DEFAULT, TWO, SHARED], ids=lambda p: p.stem)
def test_the_kernel_s_dtc_agrees(board: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """dtc compiles each shipped board and each to_dts output without a warning, and its blob builds the same SoC."""
    import subprocess

    pre = subprocess.run(["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp", "-I", str(BOARDS),
                          str(board)], capture_output=True, text=True, check=True).stdout
    dtb = tmp_path / "board.dtb"
    for text in (pre, Soc.from_dts(board).to_dts()):
        out = subprocess.run(["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", str(dtb), "-"], input=text,
                             capture_output=True, text=True, check=True)
        assert out.stderr == ""
        assert Soc.from_dts(dtb).to_dts() == Soc.from_dts(board).to_dts()
    name = Soc.from_dts(board).peripherals[0].name
    assert run_uart(Soc.from_dts(dtb), name) == run_uart(Soc.from_dts(board), name)


def test_a_node_name_on_two_buses_is_ambiguous_and_a_user_model_s_refusal_names_the_node() -> None:
    text = board_with("""\t\tuart1: serial@40001000 {""", """\t\tbus2 {
\t\t\tcompatible = "simple-bus";
\t\t\t#address-cells = <2>;
\t\t\t#size-cells = <2>;
\t\t\tranges = <0x0 0x0 0x0 0x50000000 0x0 0x10000>;
\t\t\tserial@40000000 {
\t\t\t\tcompatible = "dmaengine,sim-uart";
\t\t\t\treg = <0x0 0x0 0x0 0x1000>;
\t\t\t\tdmas = <&dma0 7>;
\t\t\t\tdma-names = "tx";
\t\t\t};
\t\t};

\t\tuart1: serial@40001000 {""")
    soc = Soc.from_dts(text)
    assert soc.peripheral("/soc/bus2/serial@40000000").tx_fifo_addr == 0x5000_0000
    assert soc.peripheral("/soc/serial@40000000") is soc.peripheral("uart0")
    with pytest.raises(ConfigError, match=r"^'serial@40000000' names several nodes \(/soc/serial@40000000, "
                                          r"/soc/bus2/serial@40000000\); use a label or a path$"):
        soc.request_chan("serial@40000000", "tx")
    models = Models()
    models.register("acme,picky", lambda node, name: (_ for _ in ()).throw(ConfigError("rate_hz must be even")))
    with pytest.raises(DtsError, match=r"^<string>: /soc/adc@40003000: compatible: the model of 'acme,picky' "
                                       r"refused the node: rate_hz must be even$"):
        Soc.from_dts(board_with('"dmaengine,sim-adc"', '"acme,picky"'), models=models)
