"""UART demo: a console exchange over ``uart0`` with slave_sg DMA in both directions, in virtual time.

The "board" sends a prompt with a two-segment slave_sg TX; the "terminal" types a reply onto the RX line
(``uart.feed``), which a slave_sg RX receives; the board answers. Every line byte is printed with the instant its
start bit began, and each message's time on the line is checked against 10 bit times per byte (8N1).

Run ``python -m dmaengine.sim.uart_demo``.
"""

from __future__ import annotations

import sys

import numpy as np

from dmaengine import BusWidth, ConfigError, DataDirection, NoChannelError, SlaveConfig, Status, TransferDirection

from ._demo import DEMO_EPILOG, DemoError, DemoParser, add_platform, at_least, check_writable, fail, platform_soc
from ._soc import Soc
from ._uart import Uart

__all__ = ["build_parser", "console", "main"]


def console(baud: int | None = 115_200, reply: bytes = b"root\r\n", verbose: bool = True, *,
            soc: Soc | None = None, device: str = "uart0", vcd: str | None = None) -> dict[str, object]:
    """Run the exchange on ``device`` of ``soc`` (default: ``uart0`` of a new ``Soc()``) at ``baud`` (None: the
    UART's own); returns what the line carried and when (a report for tests). With ``vcd``, record a waveform
    of the SoC there."""
    if soc is None:
        soc = Soc()
    waveform = soc.record_vcd(vcd) if vcd is not None else None
    uart = soc.peripheral(device)
    if not isinstance(uart, Uart):
        raise ConfigError(f"{device!r} is not a UART but {uart!r}")
    if baud is None:
        baud = uart.baud
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ConfigError(f"baud must be a positive int, not {baud!r}")
    uart.baud = baud
    say = print if verbose else (lambda *a, **k: None)
    tx = soc.request_chan(device, "tx")
    rx = soc.request_chan(device, "rx")
    burst = min(8, tx.get_slave_caps().max_burst)  # a board's controller may take shorter bursts
    tx.slave_config(SlaveConfig(dst_addr=uart.tx_fifo_addr, dst_addr_width=BusWidth.BYTES_1, dst_maxburst=burst))
    rx.slave_config(SlaveConfig(src_addr=uart.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    log: list[tuple[str, int, int, bytes]] = []

    def send(parts: list[bytes]) -> None:
        sent = len(uart.output)
        with soc.map_sg([np.frombuffer(p, dtype=np.uint8) for p in parts], DataDirection.TO_DEVICE) as sg:
            t0 = soc.now_ns
            cookie = tx.prep_slave_sg(sg, TransferDirection.MEM_TO_DEV).submit()
            assert tx.sync_wait(cookie, timeout=None) == Status.COMPLETE
            total = sum(len(p) for p in parts)
            soc.run(until=uart.tx_done_ns / 1e9)  # the line sends what the FIFO still holds
        times, data = uart.output_ns[sent:], uart.output[sent:]
        end = times[-1] + round(uart.byte_ns)
        log.append(("TX", times[0], end, data))
        say(f"[{t0 / 1e6:10.4f} ms] board issues TX slave_sg of {len(parts)} segments, {total} bytes")
        for t, b in zip(times, data):
            say(f"[{t / 1e6:10.4f} ms]   TX line  {bytes([b])!r}")
        say(f"[{end / 1e6:10.4f} ms] TX done: {total} bytes in {(end - times[0]) / 1e6:.4f} ms "
            f"(8N1 at {baud} baud: {total * 10 / baud * 1e3:.4f} ms)")

    def receive(n: int, typed: bytes) -> bytes:
        buf = np.zeros(n, dtype=np.uint8)
        with soc.map(buf, DataDirection.FROM_DEVICE) as m:
            cookie = rx.prep_slave_single(m.addr, n, TransferDirection.DEV_TO_MEM).submit()
            rx.issue_pending()
            t0 = soc.now_ns
            uart.feed(typed)
            say(f"[{t0 / 1e6:10.4f} ms] terminal types {typed!r} on the RX line")
            assert rx.sync_wait(cookie, timeout=None) == Status.COMPLETE
        got = buf.tobytes()
        log.append(("RX", t0, soc.now_ns, got))
        say(f"[{soc.now_ns / 1e6:10.4f} ms] RX slave_sg complete: {got!r} "
            f"({(soc.now_ns - t0) / 1e6:.4f} ms after the first start bit)")
        return got

    send([b"\r\nsim login:", b" "])
    name = receive(len(reply), reply)
    send([b"Welcome, ", name.strip() + b"!\r\n"])
    tx.release()
    rx.release()
    say(f"line bytes: {uart.output!r}")
    report = {"log": log, "output": uart.output, "overruns": uart.overruns, "now_ns": soc.now_ns}
    if waveform is not None:
        waveform.close()  # finishes the waveform
    return report


def build_parser() -> DemoParser:
    """The command-line parser (also used by ``dmaengine uart``)."""
    p = DemoParser(prog="dmaengine uart", description=__doc__.split("\n\n")[0], epilog=DEMO_EPILOG)
    p.add_argument("--baud", type=int, default=None, help="line rate (default: the UART's own, 115200 on sim)")
    p.add_argument("--reply", default="root", help="what the terminal types (default 'root')")
    add_platform(p, "uart0")
    p.add_argument("--vcd", metavar="FILE.vcd", default=None,
                   help="record a waveform of the SoC (request lines, bus, FIFO levels) into this VCD file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the console exchange and print the line."""
    try:
        args = build_parser().parse_args(argv)
        if args.baud is not None:
            at_least(args, 1, "baud")
        if args.vcd is not None:
            check_writable(args.vcd)
        soc = platform_soc(args.platform)
        r = console(args.baud, args.reply.encode() + b"\r\n", soc=soc, device=args.device, vcd=args.vcd)
    except (DemoError, ConfigError, NoChannelError) as e:
        return fail("dmaengine uart", e)
    return 0 if r["overruns"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
