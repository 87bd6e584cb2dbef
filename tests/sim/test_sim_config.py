"""The simulated controller's bus width and longest burst (``Soc(bus_width_bytes=, max_burst=)``), pinned in exact
virtual time. A beat of ``bus_width_bytes`` holds the bus for ``ceil(bus_width_bytes * 1e9 / bus_bytes_per_s)``
ns: ``bus_bytes_per_s`` is the throughput at full width, so an 8-byte beat at the default 400 MB/s costs 20 ns (a
4-byte one 10 ns), and the same bus clock on a 64-bit bus is ``bus_bytes_per_s=800_000_000``."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import BusWidth, Cap, ConfigError, DataDirection, SlaveConfig, Status, TransferDirection
from dmaengine.sim import Soc

M2D = TransferDirection.MEM_TO_DEV
ALL_WIDTHS = {BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4, BusWidth.BYTES_8}


def copy_ns(soc: Soc, n: int) -> int:
    """Copy ``n`` bytes on an idle SoC; the virtual ns from submit to completion (checking the bytes)."""
    a = (np.arange(n) * 7 % 251).astype(np.uint8)
    b = np.zeros_like(a)
    with soc.request_channel(Cap.MEMCPY) as chan, soc.map(a) as ma, soc.map(b) as mb:
        t0 = soc.now_ns
        cookie = chan.prep_dma_memcpy(mb.addr, ma.addr, n).submit()
        assert chan.sync_wait(cookie) == Status.COMPLETE
        t = soc.now_ns - t0
    assert (a == b).all()
    return t


@pytest.mark.parametrize("fast", [True, False])
def test_an_8_byte_beat_costs_20_ns_at_the_default_400_mb_s(fast: bool) -> None:
    soc = Soc(fast=fast, bus_width_bytes=8)
    hw = soc.controllers[0]
    assert (hw.bus_width_bytes, hw.mem_burst) == (8, 16)
    assert hw.burst_ns(1) == 20 and hw.burst_ns(16) == 320
    # 100 bytes: one burst of ceil(100 / 8) = 13 beats = 260 ns, after the 100 ns fetch.
    assert copy_ns(soc, 100) == 100 + 260
    assert hw.bursts == 1
    # The 32-bit default moves them in 25 beats of 10 ns: bursts of 16 and 9 beats, 160 + 90 ns.
    soc = Soc(fast=fast)
    assert copy_ns(soc, 100) == 100 + 160 + 90
    assert soc.controllers[0].bursts == 2


@pytest.mark.parametrize("fast", [True, False])
def test_a_64_bit_bus_at_the_same_clock_halves_a_copy(fast: bool) -> None:
    # 100_000 bytes: 32-bit, 400 MB/s: 1562 bursts of 16 beats (160 ns) + 8 beats (80 ns) = 250_000 ns.
    soc = Soc(fast=fast)
    assert copy_ns(soc, 100_000) == 100 + 1562 * 160 + 80 == 100 + 250_000
    # 64-bit at the same 10 ns per beat (800 MB/s): 781 bursts of 128 bytes (160 ns) + 4 beats (40 ns).
    soc = Soc(fast=fast, bus_width_bytes=8, bus_bytes_per_s=800_000_000)
    assert soc.controllers[0].burst_ns(1) == 10
    assert copy_ns(soc, 100_000) == 100 + 781 * 160 + 40 == 100 + 125_000
    assert soc.controllers[0].bursts == 782
    # 64-bit at the same 400 MB/s: the beats cost twice as much, the copy takes as long as on 32 bits.
    soc = Soc(fast=fast, bus_width_bytes=8)
    assert copy_ns(soc, 100_000) == 100 + 781 * 320 + 80 == 100 + 250_000


@pytest.mark.parametrize("fast", [True, False])
def test_a_1_byte_bus_moves_one_byte_a_beat(fast: bool) -> None:
    soc = Soc(fast=fast, bus_width_bytes=1)
    assert soc.controllers[0].burst_ns(1) == 3  # ceil(2.5)
    # 100 bytes: 6 bursts of 16 beats (ceil(16 * 2.5) = 40 ns) + 4 beats (10 ns).
    assert copy_ns(soc, 100) == 100 + 6 * 40 + 10
    assert soc.controllers[0].bursts == 7


@pytest.mark.parametrize("fast", [True, False])
def test_max_burst_sets_the_memory_to_memory_burst(fast: bool) -> None:
    soc = Soc(fast=fast, max_burst=4)
    assert soc.controllers[0].mem_burst == 4
    # 100 bytes on the 32-bit bus: 6 bursts of 4 beats (40 ns) + 1 beat (10 ns); same total, more bursts.
    assert copy_ns(soc, 100) == 100 + 6 * 40 + 10
    assert soc.controllers[0].bursts == 7
    soc = Soc(fast=fast, max_burst=256, bus_width_bytes=8)
    # 5000 bytes: 2 bursts of 256 * 8 = 2048 bytes (5120 ns) + 113 beats (2260 ns).
    assert copy_ns(soc, 5000) == 100 + 2 * 5120 + 2260
    assert soc.controllers[0].bursts == 3


@pytest.mark.parametrize("fast", [True, False])
def test_a_uart_byte_beat_takes_a_whole_cycle_of_the_wider_bus(fast: bool) -> None:
    soc = Soc(fast=fast, bus_width_bytes=8)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    data = bytes(range(64))
    m = soc.map(np.frombuffer(data, dtype=np.uint8).copy(), DataDirection.TO_DEVICE)
    cookie = chan.prep_slave_single(m.addr, len(data), M2D).submit()
    assert chan.sync_wait(cookie) == Status.COMPLETE
    soc.run(until=uart.tx_done_ns / 1e9)
    assert uart.output == data
    assert uart.output_ns[0] == 100 + 8 * 20  # the fetch, then 8 one-byte beats of 20 ns (180 on 32 bits)
    assert uart.output_ns == [260 + (j * 10 * 10**9) // 115200 for j in range(64)]


def test_default_caps_are_a_32_bit_bus_and_bursts_of_16() -> None:
    soc = Soc()
    caps = soc.request_chan("uart0", "tx").get_slave_caps()
    widths = {BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4}
    assert caps.src_addr_widths == caps.dst_addr_widths == widths
    assert (caps.min_burst, caps.max_burst, caps.max_sg_burst) == (1, 16, 16)
    hw = soc.controllers[0]
    assert (hw.bus_width_bytes, hw.mem_burst, hw.burst_ns(1)) == (4, 16, 10)


@pytest.mark.parametrize(("width", "widths"), [
    (1, {BusWidth.BYTES_1}),
    (2, {BusWidth.BYTES_1, BusWidth.BYTES_2}),
    (4, {BusWidth.BYTES_1, BusWidth.BYTES_2, BusWidth.BYTES_4}),
    (8, ALL_WIDTHS),
])
def test_the_address_widths_are_the_powers_of_two_up_to_the_bus_width(width: int, widths: set[BusWidth]) -> None:
    soc = Soc(bus_width_bytes=width)
    caps = soc.request_chan("uart0", "tx").get_slave_caps()
    assert caps.src_addr_widths == caps.dst_addr_widths == widths


def test_a_1_byte_bus_offers_only_bytes_1() -> None:
    soc = Soc(bus_width_bytes=1)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    assert chan.get_slave_caps().dst_addr_widths == {BusWidth.BYTES_1}
    with pytest.raises(ConfigError, match=r"^dst_addr_width must be one of 1 bytes, not 2$"):
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_2))
    with pytest.raises(ConfigError, match=r"^src_addr_width must be one of 1 bytes, not 4$"):
        chan.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_4))
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1))


def test_a_64_bit_bus_accepts_8_byte_addresses() -> None:
    soc = Soc(bus_width_bytes=8)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_8, dst_maxburst=16))
    with pytest.raises(ConfigError, match=r"^dst_addr_width must be one of 1, 2, 4, 8 bytes, not 16$"):
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_16))


def test_max_burst_4_is_the_slave_caps_limit() -> None:
    soc = Soc(max_burst=4)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "tx")
    caps = chan.get_slave_caps()
    assert (caps.min_burst, caps.max_burst, caps.max_sg_burst) == (1, 4, 4)
    with pytest.raises(ConfigError, match=r"^dst_maxburst must be 1\.\.4, not 8$"):
        chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=8))
    chan.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=4))


def test_max_burst_256_is_accepted_up_to_256() -> None:
    soc = Soc(max_burst=256)
    uart = soc.peripheral("uart0")
    chan = soc.request_chan("uart0", "rx")
    assert chan.get_slave_caps().max_burst == 256
    chan.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=256))
    with pytest.raises(ConfigError, match=r"^src_maxburst must be 1\.\.256, not 257$"):
        chan.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=257))


@pytest.mark.parametrize(("value", "shown"), [
    (3, "3"), (0, "0"), (16, "16"), (-4, "-4"), (4.0, "4.0"), (True, "True"), ("4", "'4'"), (None, "None"),
])
def test_a_bad_bus_width_is_refused(value: object, shown: str) -> None:
    with pytest.raises(ConfigError) as e:
        Soc(bus_width_bytes=value)  # type: ignore[arg-type]
    assert str(e.value) == f"bus_width_bytes must be 1, 2, 4 or 8, not {shown}"


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"), (257, "257"), (-1, "-1"), (1.5, "1.5"), (16.0, "16.0"), (True, "True"), ("16", "'16'"),
])
def test_a_bad_max_burst_is_refused(value: object, shown: str) -> None:
    with pytest.raises(ConfigError) as e:
        Soc(max_burst=value)  # type: ignore[arg-type]
    assert str(e.value) == f"max_burst must be an int 1..256, not {shown}"


def test_the_bus_width_accepts_a_bus_width_member() -> None:
    soc = Soc(bus_width_bytes=BusWidth.BYTES_2, max_burst=1)
    caps = soc.request_chan("uart0", "tx").get_slave_caps()
    assert caps.dst_addr_widths == {BusWidth.BYTES_1, BusWidth.BYTES_2}
    assert (caps.max_burst, caps.max_sg_burst) == (1, 1)
    assert copy_ns(soc, 10) == 100 + 5 * 5  # 5 bursts of one 2-byte beat, 5 ns each
