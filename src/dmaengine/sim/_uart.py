"""A UART: 8N1 framing (10 bit times per byte), TX and RX FIFOs with DMA request lines."""

from __future__ import annotations

from dmaengine import ConfigError

from .. import _check
from .._native import core
from ._capture import ByteCapture, TickRuns, check_capture
from ._kernel import TickClock
from ._periph import Peripheral, RxPort, TxPort

__all__ = ["Uart"]

#: Bit times per byte on the line: start bit, 8 data bits, stop bit.
BITS_PER_BYTE = 10


class _UartTx(TxPort):
    """Bytes leave the FIFO when their start bit begins; the line idles when the FIFO runs dry."""

    __slots__ = ()
    owner: Uart

    def _start(self, t: int) -> None:
        self.clock = TickClock(t, BITS_PER_BYTE * 1_000_000_000, self.owner.baud)
        self.ticks_done = 0

    def _ticks(self, n: int, unbounded: bool) -> None:
        clock = self.clock
        assert clock is not None
        fifo = self.fifo
        k = min(n, len(fifo))
        if k:
            owner = self.owner
            out = owner._out
            owner._out_ns.append(out.total, clock, self.ticks_done, k)
            limit = out.limit
            if limit is None or out._kept + k <= limit:  # ByteCapture.append, inlined: nothing to let go
                out._chunks.append(bytes(fifo[:k]))
                out._kept += k
                out.total += k
            else:
                out.append(bytes(fifo[:k]))
            del fifo[:k]
            self.drained += k
            self.ticks_done += k
        if k < n:  # a slot with nothing to send: the line goes idle
            self.clock = None


class _UartRx(RxPort):
    """Bytes fed to the line arrive in the FIFO at the end of their stop bit; a full FIFO drops them."""

    __slots__ = ("pending",)
    owner: Uart

    def __init__(self, owner: Uart, depth: int, threshold: int) -> None:
        super().__init__(owner, depth, threshold, 1)
        self.pending = bytearray()

    def _supply(self) -> float:
        return len(self.pending)

    def _ticks(self, n: int, unbounded: bool) -> None:
        pending = self.pending
        k = min(n, len(pending))
        if k:
            if unbounded:  # self._push(pending[:k], True), inlined: a steady read's ticks
                self.fifo += pending[:k]
                self.entered += k
            else:
                self._push(pending[:k], False)
            del pending[:k]
            self.ticks_done += k
        if not pending:
            self.clock = None

    def feed(self, t: int, data: bytes) -> None:
        self.advance(t)
        if self.clock is None:
            self.clock = TickClock(t, BITS_PER_BYTE * 1_000_000_000, self.owner.baud, offset=1)
            self.ticks_done = 0
        self.pending += data
        self.port_changed()


if core is not None:  # the compiled core does these ports' steady calls itself, as their methods here do them
    core.BusCore.set_ports(tick_clock=TickClock, rx_pop=RxPort._pop, uart_rx=_UartRx, rx_read=RxPort.steady_read,
                           uart_rx_ticks=_UartRx._ticks, uart_tx=_UartTx, tx_write=TxPort.steady_write,
                           uart_tx_ticks=_UartTx._ticks, tick_runs=TickRuns, tick_runs_append=TickRuns.append)


class Uart(Peripheral):
    """A UART at ``baud``, 8N1. DMA writes ``tx_fifo_addr``; the line output is :attr:`output` with
    :attr:`output_ns` (the instant each byte's start bit began). :meth:`feed` sends bytes to the receiver at
    line rate; bytes that find the RX FIFO full are lost and counted in :attr:`overruns`.

    The FIFOs ask for a DMA burst when they have ``max(threshold, burst)`` bytes of room (TX) or data (RX).

    ``capture`` bounds what the UART keeps of its line output (bytes and their instants): the most recent
    ``capture`` bytes (default 16 MiB; None keeps everything); :attr:`output_dropped` counts the older bytes
    let go, and :meth:`take_output` drains what is kept. Instants are kept as runs, not one int per byte.
    """

    def __init__(self, name: str, baud: int = 115_200, fifo_depth: int = 32, threshold: int = 1,
                 capture: int | None = 16 << 20) -> None:
        super().__init__(name)
        baud = _check.index("baud", baud, 1, what="a positive int")
        fifo_depth = _check.index("fifo_depth", fifo_depth, 1, what="a positive int")
        threshold = _check.index("threshold", threshold, 1, what="a positive int")
        self.baud = baud
        self.fifo_depth = fifo_depth
        self._out = ByteCapture(check_capture(capture))
        self._out_ns = TickRuns()
        self.tx = _UartTx(self, fifo_depth, threshold, 1)
        self.rx = _UartRx(self, fifo_depth, threshold)
        #: What :meth:`feed` names when another thread holds the SoC (made once, not at every feed).
        self._feed_what = f"{self.name}: reading the model"

    @property
    def byte_ns(self) -> float:
        """Nanoseconds per byte on the line (10 bit times)."""
        return BITS_PER_BYTE * 1e9 / self.baud

    @property
    def tx_done_ns(self) -> int:
        """The instant the TX line will have sent every byte in its FIFO (now, when idle)."""
        self.sync()
        tx = self.tx
        assert tx is not None
        if tx.clock is None:
            return self.now_ns
        return tx.clock.time(tx.ticks_done + len(tx.fifo))

    def idle_at_ns(self) -> int:
        """When the TX line has sent its FIFO and the last byte fed to the RX line has arrived."""
        t = self.tx_done_ns
        rx = self.rx
        assert isinstance(rx, _UartRx)
        if rx.clock is not None and rx.pending:
            t = max(t, rx.clock.time(rx.ticks_done + len(rx.pending) - 1))
        return t

    @property
    def output(self) -> bytes:
        """The bytes sent on the TX line so far, in order (those kept: see ``capture`` and
        :meth:`take_output`)."""
        self.sync()
        return self._out.data()

    @property
    def output_ns(self) -> list[int]:
        """The virtual instant (ns) each byte of :attr:`output` began (its start bit)."""
        self.sync()
        out = self._out
        self._out_ns.forget(out.start)
        return self._out_ns.times(out.start, out.total)

    @property
    def output_dropped(self) -> int:
        """Bytes sent on the line but no longer kept (beyond ``capture``); not those taken."""
        self.sync()
        return self._out.dropped

    @property
    def bytes_sent(self) -> int:
        """Every byte sent on the TX line so far, kept or not."""
        self.sync()
        return self._out.total

    def take_output(self) -> tuple[bytes, list[int]]:
        """The kept line output and the instant of each byte, which the UART then forgets.

        >>> from dmaengine.sim import Uart
        >>> Uart("uart9").take_output()
        (b'', [])
        """
        times = self.output_ns
        data = self._out.take()
        self._out_ns.forget(self._out.total)
        return data, times

    @property
    def overruns(self) -> int:
        """Received bytes lost because the RX FIFO was full."""
        self.sync()
        assert self.rx is not None
        return self.rx.overruns

    def feed(self, data: bytes) -> None:
        """Bytes arrive on the RX line from now, back to back at line rate (after any still arriving)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ConfigError(f"feed takes bytes, not {type(data).__name__}")
        rx = self.rx
        assert isinstance(rx, _UartRx)
        soc = self.soc
        if soc is None:
            rx.feed(0, bytes(data))
            return
        # self.sync(), then the feed, in one hold (soc.exclusive's, without its context manager: the claim and
        # release it makes, as the driver's hot paths do)
        took = soc._claim(self._feed_what)
        try:
            soc._sync_held()  # (soc.sync() for the thread that holds it)
            now = soc.kernel.now_ns
            tx = self.tx
            assert tx is not None
            tx.advance(now)
            rx.feed(now, bytes(data))  # (it advances the receiver first)
        finally:
            soc._release(took)
