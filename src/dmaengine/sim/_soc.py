"""The simulated SoC: a :class:`dmaengine.Platform` in virtual time."""

from __future__ import annotations

import functools
import heapq
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from dmaengine import Channel, ConfigError, Mapping, Platform, StateError
from dmaengine.provider import AddressSpace, WaitQueue, bottom_half

from .. import _check, _context
from ._adc import Adc
from ._board import Board, ControllerDesc, NodeInfo, PeripheralDesc
from ._dmac import Dmac
from ._driver import DmaRequest, SimDmaDevice
from ._i2s import I2s
from ._kernel import PRIO_BH, Event, Kernel
from ._lane import PeriodLane
from ._periph import Peripheral, Port
from ._uart import Uart
from ._wave import Waveform

if TYPE_CHECKING:
    from ._registry import Models

__all__ = ["SimTasklet", "Soc", "default_peripherals"]

log = logging.getLogger("dmaengine")

#: Where the SoC puts peripheral registers: one 4 KiB page each; TX FIFO at +0, RX FIFO at +4.
MMIO_BASE = 0x4000_0000
MMIO_STRIDE = 0x1000


def _ns(seconds: float, name: str) -> int:
    return _check.seconds_ns(name, seconds)


_timeout_ns = _check.timeout_ns
_get_ident = threading.get_ident
#: What ``bottom_half()`` returns: one reusable mark. SimTasklet._run does what entering it does, to the thread's
#: ``_bh_local.depth`` itself, without the context manager's two calls (once per bottom half).
_BH_MARK = bottom_half()
_bh_local = _context._local
_new_event = object.__new__
_heappush = heapq.heappush


class _Hold:
    """What :meth:`Soc.exclusive` returns (a class, not a generator: it runs on every issue_pending)."""

    __slots__ = ("_soc", "_took", "_what")

    def __init__(self, soc: Soc, what: str) -> None:
        self._soc = soc
        self._what = what
        self._took = False

    def __enter__(self) -> None:
        self._took = self._soc._claim(self._what)

    def __exit__(self, *exc: object) -> None:
        self._soc._release(self._took)


class _Guard:
    """The sim driver's ``guard`` (see :class:`~._driver.SimDmaDevice`): called with what it guards, the context
    manager :meth:`Soc.exclusive` returns; ``claim(what)`` and ``release(took)`` are the same hold without the
    context manager, for the driver's hot paths (``issue_pending``): ``claim`` is True when it took the SoC,
    False when the thread holds it already, StateError when another thread does; ``release`` ends the block,
    given what ``claim`` returned (the SoC is given back when it was taken)."""

    __slots__ = ("_soc", "claim", "release")

    def __init__(self, soc: Soc) -> None:
        self._soc = soc
        self.claim: Callable[[str], bool] = soc._claim
        self.release: Callable[[bool], None] = soc._release

    def __call__(self, what: str) -> _Hold:
        return _Hold(self._soc, what)


class SimTasklet:
    """A bottom half in virtual time: :meth:`schedule` runs the function ``latency_ns`` later (coalescing).

    While ``hold`` is set (a :class:`~._lane.PeriodLane` runs a period's end), a run asked for is not queued: its
    sequence number is kept in ``held_seq`` and the lane runs it in line (:meth:`run_now`) or queues it
    (:meth:`queue_held`)."""

    __slots__ = ("_done", "_ev", "_fn", "_running", "_scheduled", "_soc", "held_seq", "hold", "killed",
                 "latency_ns", "name")

    def __init__(self, soc: Soc, fn: Callable[[], None], name: str, latency_ns: int) -> None:
        self._soc = soc
        self._fn = fn
        self.name = name
        self.latency_ns = latency_ns
        self._ev: Event | None = None
        self._scheduled = 0
        self._done = 0
        self._running = False
        self.killed = False
        self.hold = False
        self.held_seq = -1

    @property
    def pending(self) -> bool:
        """True while a run is asked for and has not started."""
        return self._ev is not None

    def schedule(self) -> None:
        """Ask for one more run; requests before it starts make one run."""
        if self._ev is None and not self.killed:
            k = self._soc.kernel
            self._scheduled += 1
            if self.hold:
                self.held_seq = next(k._seq)  # k.reserve_seq(), inlined
                self._ev = _HELD
                return
            t = k.now_ns + self.latency_ns
            if t <= k.watch_ns or t < k.now_ns:  # a watcher to tell, or a bad latency to refuse: Kernel.at
                self._ev = k.at(t, self._run, self.name, PRIO_BH)
                return
            # k.at(t, self._run, self.name, PRIO_BH), inlined: one bottom half per period interrupt asks here
            seq = next(k._seq)
            ev = _new_event(Event)
            ev.time_ns = t
            ev.fn = self._run
            ev.label = self.name
            ev.priority = PRIO_BH
            ev.seq = seq
            ev.cancelled = False
            _heappush(k._heap, (t, PRIO_BH, seq, ev))
            self._ev = ev

    def queue_held(self, time_ns: int, seq: int) -> None:
        """Queue the held run at ``time_ns`` with the sequence number it was asked for with."""
        if self._ev is _HELD:
            self._ev = self._soc.kernel.at_seq(time_ns, self._run, self.name, PRIO_BH, seq)

    def run_now(self) -> None:
        """Run the held run now (the clock stands at its instant and nothing else is due before it)."""
        if self._ev is _HELD:
            self._run()

    def _run(self) -> None:
        self._ev = None
        run_id = self._scheduled
        soc = self._soc
        if soc._owner == _get_ident() and type(soc).sync is _SOC_SYNC:
            soc._sync_held()  # soc.sync(), inlined: the thread that runs the simulation holds the SoC
        else:
            soc.sync()
        self._running = True
        try:
            _bh_local.depth += 1  # ``with bottom_half():``, inlined
            try:
                self._fn()
            finally:
                _bh_local.depth -= 1
        except Exception:  # a bottom half never stops the simulation
            log.exception("bottom half %s failed", self.name)
        finally:
            self._running = False
            self._done = run_id

    def flush(self, timeout: float | None = None) -> bool:
        """Run the simulation until every run scheduled before this call has finished."""
        target = self._scheduled
        return self._soc.wait_for(lambda: self._done >= target, timeout, None)

    def in_context(self) -> bool:
        """True while this bottom half runs."""
        return self._running

    def kill(self) -> None:
        """Cancel a pending run; no more runs."""
        self.killed = True
        if self._ev is not None:
            self._ev.cancel()
            self._ev = None
        self._done = self._scheduled  # nothing is left for a flush to wait for


#: What :attr:`SimTasklet._ev` holds while a lane holds its run (never queued).
_HELD = Event(-1, lambda: None, "held", PRIO_BH)


class _SimAddressSpace(AddressSpace):
    """The SoC's RAM as seen through the IOMMU; an unmap first lets planned transfers catch up."""

    def __init__(self, soc: Soc, base: int | None = None) -> None:
        if base is None:
            super().__init__()
        else:
            super().__init__(base)
        self._soc = soc

    def unmap(self, m: Mapping) -> None:
        self._soc.sync()
        super().unmap(m)
        for d in self._soc.controllers:
            d.memory_changed()
        self._soc._synced_ns = -1  # the next sync looks again, even at this instant


def default_peripherals() -> list[Peripheral]:
    """The embedded default: ``uart0``, ``uart1`` (115200 8N1), ``i2s0`` (48 kHz stereo 16-bit), ``adc0``
    (8 kHz, 12-bit)."""
    return [Uart("uart0"), Uart("uart1"), I2s("i2s0"), Adc("adc0")]


def _dev_name(node: NodeInfo) -> str:
    """The kernel's platform-device name of a node: ``40026000.dma-controller`` (unit address first)."""
    base, _, unit = node.name.partition("@")
    return f"{unit}.{base}" if unit else base


class Soc(Platform):
    """A simulated SoC in virtual time: a DMA controller ``dma0`` (model :class:`Dmac` and its driver), RAM (the
    IOMMU address space) and peripherals, with slave-map entries ``(peripheral, "tx"/"rx")``.

    Arguments: ``channels`` of the controller; ``bus_bytes_per_s`` of its memory bus at full width (one beat per
    bus cycle, so a cycle lasts ``bus_width_bytes / bus_bytes_per_s``: 10 ns by default); ``bus_width_bytes`` of
    one beat, 1, 2, 4 or 8 (default 4, a 32-bit bus; the driver offers every power-of-two address width up to it;
    a peripheral beat narrower than the bus still takes a whole cycle); ``max_burst``, 1..256 (default 16), the
    longest burst in beats: the ``max_burst`` and ``max_sg_burst`` of the driver's slave caps, and the length of
    memory-to-memory bursts (in full-width beats); ``fetch_latency_ns`` before a loaded descriptor's first burst;
    ``bh_latency_ns`` from an interrupt to its bottom half (callbacks); ``peripherals`` (None:
    :func:`default_peripherals`); ``fast`` (False simulates every burst, for checking the closed-form plans);
    ``trace`` records every event in ``soc.kernel.trace``; ``memory_base``, the first DMA address the IOMMU hands
    out (None: ``0x1_0000_0000``; a board's ``memory`` node). :meth:`from_dts` builds a SoC from a device tree
    instead, with several controllers and its own wiring. ``vcd``, a file name, records a waveform there from
    the start until :meth:`close` (see :meth:`record_vcd`).

    >>> soc = Soc()
    >>> soc.peripheral("uart0").baud, soc.now_ns
    (115200, 0)
    """

    realtime = False
    # The thread-ownership mark, read by the period runner every period: a slot (the rest of the SoC stays in
    # the instance dict that Platform gives, so a subclass or a user may still set any attribute).
    __slots__ = ("_owner",)

    def __init__(self, *, channels: int = 8, bus_bytes_per_s: int = 400_000_000, fetch_latency_ns: int = 100,
                 bh_latency_ns: int = 1_000, peripherals: Iterable[Peripheral] | None = None, fast: bool = True,
                 trace: bool = False, bus_width_bytes: int = 4, max_burst: int = 16,
                 memory_base: int | None = None, vcd: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        channels = _check.index("channels", channels, 1, what="an int >= 1")
        if channels > 1024:
            raise ConfigError(f"channels must be at most 1024, not {channels!r}")
        bus_bytes_per_s = _check.index("bus_bytes_per_s", bus_bytes_per_s, 1, what="an int >= 1")
        fetch_latency_ns = _check.index("fetch_latency_ns", fetch_latency_ns, 0, what="an int >= 0")
        bh_latency_ns = _check.index("bh_latency_ns", bh_latency_ns, 0, what="an int >= 0")
        bus_width_bytes = _check.index("bus_width_bytes", bus_width_bytes, what="1, 2, 4 or 8")
        if bus_width_bytes not in (1, 2, 4, 8):
            raise ConfigError(f"bus_width_bytes must be 1, 2, 4 or 8, not {bus_width_bytes!r}")
        max_burst = _check.index("max_burst", max_burst, 1, 256, what="an int 1..256")
        fast = _check.flag("fast", fast)
        trace = _check.flag("trace", trace)
        if memory_base is not None:
            memory_base = _check.addr("memory_base", memory_base)
        if peripherals is not None:
            if isinstance(peripherals, (str, bytes)) or not isinstance(peripherals, Iterable):
                raise ConfigError(f"peripherals must be an iterable of Peripheral or None, not {peripherals!r}")
            peripherals = list(peripherals)
        self.kernel = Kernel(trace)
        self._stepper: int | None = None
        # The instant of the last sync and the kernel's events_run then (see _sync_held); -1: none.
        self._synced_ns = -1
        self._synced_events = -1
        # The thread-ownership guard: the thread inside a SoC call holds _owner_lock; another thread that calls
        # in meanwhile gets a StateError and changes nothing.
        self._owner_lock = threading.Lock()
        self._owner: int | None = None
        self.bh_latency_ns = bh_latency_ns
        self.address_space = _SimAddressSpace(self, memory_base)
        self.controllers: list[Dmac] = []
        self._peripherals: dict[str, Peripheral] = {}
        self._fifos: dict[int, Port] = {}
        self._lines = 0
        hw = Dmac(self, channels, bus_bytes_per_s, fetch_latency_ns, fast, bus_width_bytes, max_burst)
        self.controllers.append(hw)
        #: The controller's driver (a :class:`dmaengine.provider.DmaDevice`), registered as ``dma0``.
        self.dmac = SimDmaDevice(hw, functools.partial(self._decode, 0), guard=_Guard(self))
        self.register_device(self.dmac)
        hw.lane = PeriodLane(self.kernel, self.dmac.tasklet)  # type: ignore[arg-type]
        self._board_init(ControllerDesc(NodeInfo("/soc/dma-controller@40100000", ("dma0",)), channels, None,
                                        bus_bytes_per_s, bus_width_bytes, max_burst, fetch_latency_ns,
                                        (0x4010_0000, 0x1000)))
        for p in default_peripherals() if peripherals is None else peripherals:
            self.add_peripheral(p)
        self._wave: Waveform | None = None
        if vcd is not None:
            self.record_vcd(vcd)

    # --- boards (device tree) -----------------------------------------------------------------------------
    def _board_init(self, first: ControllerDesc) -> None:
        #: The controllers' drivers, registered as ``dma0``, ``dma1``... (:attr:`dmac` is the first).
        self.dmacs: list[SimDmaDevice] = [self.dmac]
        #: The board this SoC was built from (None for ``Soc()``).
        self.board: Board | None = None
        self._dmac_nodes: list[ControllerDesc] = [first]
        self._periph_nodes: dict[str, PeripheralDesc] = {}
        self._names: dict[str, str] = {}  # node name, path, label, alias -> peripheral name
        self._decoders: list[dict[int, Port]] | None = None  # a board: the FIFOs wired to each controller

    @classmethod
    def from_board(cls, board: Board, *, fast: bool = True, trace: bool = False) -> Soc:
        """Build the SoC a :class:`~dmaengine.sim.Board` describes: its controllers (``dma0``, ``dma1``... in
        order), its peripherals at their MMIO addresses, and one slave-map entry per :class:`~dmaengine.sim.Wire`
        (a ``dmas`` / ``dma-names`` pair). A controller reaches only the FIFOs wired to it."""
        if not board.controllers:
            raise ConfigError(f"{board.source}: a board needs at least one DMA controller, not none")
        c0 = board.controllers[0]
        soc = cls(channels=c0.channels, bus_bytes_per_s=c0.bus_bytes_per_s, fetch_latency_ns=c0.fetch_latency_ns,
                  bh_latency_ns=board.bh_latency_ns, peripherals=(), fast=fast, trace=trace,
                  bus_width_bytes=c0.bus_width_bytes, max_burst=c0.max_burst,
                  memory_base=None if board.memory is None else board.memory[0])
        soc.board = board
        soc._dmac_nodes = [c0]
        soc._decoders = [{}]
        soc.dmac.dev_name = _dev_name(c0.node)
        for i, c in enumerate(board.controllers[1:], 1):
            hw = Dmac(soc, c.channels, c.bus_bytes_per_s, c.fetch_latency_ns, fast, c.bus_width_bytes, c.max_burst)
            soc.controllers.append(hw)
            soc._decoders.append({})
            drv = SimDmaDevice(hw, functools.partial(soc._decode, i), _dev_name(c.node), guard=_Guard(soc))
            soc.register_device(drv)
            hw.lane = PeriodLane(soc.kernel, drv.tasklet)  # type: ignore[arg-type]
            soc.dmacs.append(drv)
            soc._dmac_nodes.append(c)
        for pd in board.peripherals:
            soc._attach_board(pd)
        return soc

    def _decode(self, controller: int, addr: int) -> Port | None:
        """The FIFO at ``addr`` that controller number ``controller`` reaches: on a board, only those wired to it."""
        table = self._fifos if self._decoders is None else self._decoders[controller]
        return table.get(addr)

    def _attach_board(self, pd: PeripheralDesc) -> None:
        p = self._check_attach(pd.model)
        assert self._decoders is not None
        p.soc = self
        self._peripherals[p.name] = p
        self._periph_nodes[p.name] = pd
        for port in p.ports:
            port.fifo_addr = pd.base + (pd.tx_offset if port is p.tx else pd.rx_offset)
            other = self._fifos.get(port.fifo_addr)
            if other is not None:
                raise ConfigError(f"{p.name}: FIFO {port.name} at {port.fifo_addr:#x} is where {other.name} is")
            self._fifos[port.fifo_addr] = port
        for w in pd.wires:
            if not 0 <= w.controller < len(self.dmacs):
                raise ConfigError(f"{p.name}: wire {w.slave!r} is on controller {w.controller!r}, but the board has "
                                  f"{len(self.dmacs)}")
            drv = self.dmacs[w.controller]
            wired = p.tx if w.port == "tx" else p.rx if w.port == "rx" else None
            if wired is None:
                raise ConfigError(f"{p.name}: wire {w.slave!r} serves FIFO {w.port!r}, which {p!r} does not have")
            limit = self._dmac_nodes[w.controller].requests
            if not isinstance(w.line, int) or w.line < 0 or (limit is not None and w.line >= limit):
                span = "an int >= 0" if limit is None else f"0..{limit - 1}"
                raise ConfigError(f"{p.name}: wire {w.slave!r}: request line must be {span} on {drv.name}, "
                                  f"not {w.line!r}")
            wired.line = w.line
            self._decoders[w.controller][wired.fifo_addr] = wired
            if w.controller == 0:
                self._lines = max(self._lines, w.line + 1)
            self.add_slave_map(p.name, w.slave, DmaRequest(drv.name, w.line))
        node = pd.node
        for alias in (node.path, node.name, *node.labels, *node.aliases):
            if alias != p.name and self._names.setdefault(alias, p.name) != p.name:
                self._names[alias] = ""  # two nodes of that name (on different buses): ambiguous

    @classmethod
    def from_dts(cls, source: str | os.PathLike[str] | bytes, *, models: Models | None = None,
                 include_dirs: Sequence[str | os.PathLike[str]] = (), strict: bool = False, fast: bool = True,
                 trace: bool = False) -> Soc:
        """Build a SoC from a device tree: a path to a ``.dts`` (run through the C preprocessor first when it has
        ``#include`` or other directives, with ``include_dirs``) or a ``.dtb``, DTS text, or DTB bytes.
        ``models`` maps ``compatible`` strings to peripheral models (default: the built-in ones, see
        :class:`~dmaengine.sim.Models`). A bad board raises :class:`~dmaengine.sim.DtsError`, one line that names
        the file, the node and the property. Nodes the simulator does not model are listed by
        :meth:`board_summary` (``verbose``); ``strict`` makes each one an error."""
        from ._dts import read_board

        board = read_board(source, models=models, include_dirs=include_dirs, strict=strict)
        return cls.from_board(board, fast=fast, trace=trace)

    def to_dts(self, models: Models | None = None) -> str:
        """This platform as device-tree source: ``Soc.from_dts(soc.to_dts())`` has the same controllers,
        peripherals, wiring and timing."""
        from ._dts import write_dts

        return write_dts(self, models)

    def to_dtb(self, models: Models | None = None) -> bytes:
        """This platform as a flattened device tree (``.dtb``), labels kept in ``__symbols__``."""
        from ._dts import dts_to_dtb

        return dts_to_dtb(self.to_dts(models))

    def board_summary(self, verbose: bool = False) -> str:
        """The wiring: each controller and its bus, then each client channel and the request line it is wired to;
        ``verbose`` adds the device-tree nodes the simulator does not model, and why."""
        from ._dts import board_summary

        return board_summary(self, verbose)

    def request_chan(self, devname: str, name: str) -> Channel:
        """``dma_request_chan``: the channel ``name`` of peripheral ``devname``, which may also be its node name
        (``serial@40011000``), node path, label or alias on a board read from a device tree."""
        return super().request_chan(self._resolve(devname), name)

    def _resolve(self, name: str) -> str:
        """The peripheral a node name, path, label or alias stands for."""
        if not isinstance(name, str):
            raise ConfigError(f"devname must be a str, not {name!r}")
        real = self._names.get(name, name)
        if real == "":
            paths = [pd.node.path for pd in self._periph_nodes.values() if pd.node.name == name]
            raise ConfigError(f"{name!r} names several nodes ({', '.join(paths)}); use a label or a path")
        return real

    # --- clock --------------------------------------------------------------------------------------------
    @property
    def now_ns(self) -> int:
        """Virtual time in integer nanoseconds."""
        return self.kernel.now_ns

    @property
    def now(self) -> float:
        """Virtual time in seconds."""
        return self.kernel.now_ns / 1e9

    def sync(self) -> None:
        """Bring memory and peripherals up to now (bytes of planned bursts); done before client code runs."""
        if self._owner == _get_ident():
            self._sync_held()
            return
        took = self._claim("sync")
        try:
            self._sync_held()
        finally:
            if took:
                self._unclaim()

    def _sync_held(self) -> None:
        """:meth:`sync` for the thread that holds the SoC. A second sync at the instant of the last, with no event
        run and no block that held the SoC ended since (nothing can have changed), is one test."""
        k = self.kernel
        now = k.now_ns
        if now == self._synced_ns and k.events_run == self._synced_events:
            return
        for d in self.controllers:
            lane = d.lane
            if lane is not None and lane.postponed_end_ns <= now:
                lane.settle(now)
            d.sync()
        self._synced_ns = k.now_ns
        self._synced_events = k.events_run

    def _claim(self, what: str) -> bool:
        """Make the calling thread the one using the SoC: True when this call took it (give it back with
        :meth:`_unclaim`), False when the thread holds it already; StateError when another thread holds it."""
        me = _get_ident()
        if self._owner == me:
            return False
        if not self._owner_lock.acquire(False):
            raise StateError(f"{what}: the SoC is being run by another thread (a Soc is single-threaded)")
        self._owner = me
        return True

    def _unclaim(self) -> None:
        self._owner = None
        self._owner_lock.release()

    def _release(self, took: bool) -> None:
        """The end of a block that held the SoC (:meth:`exclusive`, the driver's ops): what it did to the hardware
        may want a :meth:`sync` even at this instant; give the SoC back when ``took`` (what :meth:`_claim` said)."""
        self._synced_ns = -1
        if took:
            self._owner = None
            self._owner_lock.release()

    def exclusive(self, what: str) -> _Hold:
        """A context manager that holds the SoC for the calling thread during its block: a call from another
        thread meanwhile raises StateError naming ``what`` and changes nothing (a Soc is single-threaded). Nested
        holds are free; the sim driver's ops, the peripherals' reads and every run hold it."""
        return _Hold(self, what)

    def _advance(self, what: str, step: Callable[[], bool]) -> bool:
        """Run ``step`` holding the SoC: one thread at a time may run a simulation, and not from inside it."""
        me = _get_ident()
        if self._stepper == me:
            raise StateError(f"{what} from inside the simulation (a callback or an event) would re-enter it")
        took = self._owner != me  # self._claim(what), inlined (every run and wait passes here)
        if took:
            if not self._owner_lock.acquire(False):
                raise StateError(f"{what}: the SoC is being run by another thread (a Soc is single-threaded)")
            self._owner = me
        try:
            self._stepper = me  # (the claim keeps every other thread out: no lock needed for this mark)
            wave = self._wave
            try:
                if wave is not None:
                    wave.sample()  # what client code changed at this instant
                return step()
            finally:
                self._stepper = None
                if wave is not None and wave.recording:
                    wave.settle()
                self._sync_held()
        finally:
            if took:
                self._owner = None  # self._unclaim(), inlined
                self._owner_lock.release()

    def _run_until(self, t: int) -> bool:
        self.kernel.run_until(t)
        return True

    def run(self, until: float) -> None:
        """Run the simulation until virtual time ``until`` seconds."""
        t = _ns(until, "until")
        if t < self.kernel.now_ns:
            raise ConfigError(f"until must not be in the past (now {self.now!r} s), not {until!r}")
        self._advance("run", lambda: self._run_until(t))

    def run_for(self, seconds: float) -> None:
        """Run the simulation for ``seconds`` of virtual time."""
        t = _ns(seconds, "seconds")
        if t < 0:
            raise ConfigError(f"seconds must be >= 0, not {seconds!r}")
        self._advance("run_for", lambda: self._run_until(self.kernel.now_ns + t))

    def run_until_idle(self, timeout: float | None = 3600.0) -> None:
        """Run until no event is left and every peripheral has finished what it holds (a UART's TX FIFO sent on
        the line, bytes fed to its RX line arrived); TimeoutError if still busy after ``timeout`` virtual seconds
        (a cyclic transfer never ends)."""
        limit = _timeout_ns(timeout)
        deadline = None if limit is None else self.kernel.now_ns + limit
        while True:
            left = None if deadline is None else max(deadline - self.kernel.now_ns, 0) / 1e9
            if not self.wait_for(lambda: self.kernel.peek() is None, left, None):
                raise TimeoutError(f"the SoC is still busy after {timeout} s of virtual time")
            busy_until = max((p.idle_at_ns() for p in self.peripherals), default=self.kernel.now_ns)
            if busy_until <= self.kernel.now_ns:
                return
            stop = busy_until if deadline is None else min(busy_until, deadline)
            self._advance("run_until_idle", functools.partial(self._run_until, stop))
            if stop < busy_until:
                raise TimeoutError(f"the SoC is still busy after {timeout} s of virtual time")

    # --- platform hooks -----------------------------------------------------------------------------------
    def create_tasklet(self, fn: Callable[[], None], name: str) -> SimTasklet:
        return SimTasklet(self, fn, name, self.bh_latency_ns)

    def wait_for(self, pred: Callable[[], bool], timeout: float | None, waitq: WaitQueue | None) -> bool:
        """Run events until ``pred()`` holds (True), or until ``timeout`` virtual seconds have passed or no event
        is left (False; with a timeout the clock then stands at the deadline). A Soc is single-threaded: a second
        thread that tries to run it meanwhile gets a StateError."""
        k = self.kernel
        limit = None if timeout is None else _timeout_ns(timeout)
        if pred():
            return True
        deadline = None if limit is None else k.now_ns + limit
        if self._wave is not None:
            return self._advance("waiting", functools.partial(k.run_until_true, pred, deadline))
        # self._advance("waiting", functools.partial(k.run_until_true, pred, deadline)), inlined without a
        # waveform (once per wait: no partial, no frame): the same claim, mark and sync.
        me = _get_ident()
        if self._stepper == me:
            raise StateError("waiting from inside the simulation (a callback or an event) would re-enter it")
        took = self._owner != me
        if took:
            if not self._owner_lock.acquire(False):
                raise StateError("waiting: the SoC is being run by another thread (a Soc is single-threaded)")
            self._owner = me
        try:
            self._stepper = me
            try:
                return k.run_until_true(pred, deadline)
            finally:
                self._stepper = None
                self._sync_held()
        finally:
            if took:
                self._owner = None
                self._owner_lock.release()

    # --- peripherals --------------------------------------------------------------------------------------
    def add_peripheral(self, p: Peripheral) -> Peripheral:
        """Attach a peripheral model: give its FIFOs addresses and request lines, add its slave-map entries."""
        self._check_attach(p)
        base = self._free_page()
        limit = self._dmac_nodes[0].requests
        if limit is not None and self._lines + len(p.ports) > limit:
            raise ConfigError(f"{self.dmac.name} has {limit} request lines (dma-requests) and {self._lines} are "
                              f"taken: no room for the {len(p.ports)} of {p.name!r}")
        p.soc = self
        self._peripherals[p.name] = p
        for port in p.ports:
            kind = "tx" if port is p.tx else "rx"
            port.fifo_addr = base + (0 if kind == "tx" else 4)
            port.line = self._lines
            self._lines += 1
            self._fifos[port.fifo_addr] = port
            if self._decoders is not None:
                self._decoders[0][port.fifo_addr] = port
            self.add_slave_map(p.name, kind, DmaRequest(self.dmac.name, port.line))
        return p

    def _check_attach(self, p: Peripheral) -> Peripheral:
        if not isinstance(p, Peripheral):
            raise ConfigError(f"add_peripheral takes a Peripheral, not {p!r}")
        if p.name in self._peripherals or p.name in self._names:
            raise ConfigError(f"a peripheral named {p.name!r} is already attached")
        if p.soc is not None:
            raise ConfigError(f"{p!r} is already attached to a SoC")
        return p

    def _free_page(self) -> int:
        """The next free 4 KiB MMIO page from ``MMIO_BASE`` (``MMIO_BASE + n * MMIO_STRIDE`` on ``Soc()``)."""
        base = MMIO_BASE + MMIO_STRIDE * len(self._peripherals)
        taken = [(pd.base, pd.base + pd.size) for pd in self._periph_nodes.values()]
        taken += [(c.reg[0], c.reg[0] + c.reg[1]) for c in self._dmac_nodes if c.reg is not None]
        taken += [(a, a + 1) for a in self._fifos]
        while any(lo < base + MMIO_STRIDE and base < hi for lo, hi in taken):
            base += MMIO_STRIDE
        return base

    def peripheral(self, name: str) -> Peripheral:
        """The peripheral model called ``name``."""
        if not isinstance(name, str):
            raise ConfigError(f"name must be a str, not {name!r}")
        try:
            return self._peripherals[self._resolve(name)]
        except KeyError:
            known = ", ".join(self._peripherals)
            raise ConfigError(f"no peripheral named {name!r} (there are: {known})") from None

    @property
    def peripherals(self) -> list[Peripheral]:
        """Every attached peripheral, in attach order."""
        return list(self._peripherals.values())

    # --- waveforms ----------------------------------------------------------------------------------------
    def record_vcd(self, path: str | os.PathLike[str]) -> Waveform:
        """Record a waveform (a VCD file: request lines, bus grant, channel busy, FIFO levels, interrupts, in
        virtual ns) to ``path`` from now until the returned :class:`Waveform` is closed (it is a context
        manager) or the SoC is. The controller keeps its closed-form plans (it reports each burst when its bytes
        move), and the waveform is edge for edge the one ``Soc(fast=False)`` records. Needs pyvcd
        (``pip install 'dmaengine[wave]'``)."""
        if self._wave is not None:
            raise StateError(f"this SoC is already recording a waveform to {self._wave.path}")
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"record_vcd takes a file name, not {path!r}")
        self._wave = Waveform(self, path)
        return self._wave

    def _wave_closed(self, wave: Waveform) -> None:
        if self._wave is wave:
            self._wave = None

    def close(self) -> None:
        """Release every channel, unregister the controller, and finish a waveform being recorded."""
        try:
            super().close()
        finally:
            if self._wave is not None:
                self._wave.close()

    def summary(self) -> str:
        """The debugfs summary, with the controller channels' state; the slave map (which request line and FIFO
        each peripheral's DMA name has); the peripherals; and the clock."""
        lines = [super().summary(), "\nslave map (dma_slave_map):\n"]
        for devname, slave, req in self._slave_map:
            port = self._peripherals[devname].tx if slave == "tx" else self._peripherals[devname].rx
            fifo = f"FIFO {port.depth} B at {port.fifo_addr:#x}" if port is not None else ""
            controller, line = getattr(req, "controller", "?"), getattr(req, "line", "?")
            lines.append(f" {devname:<8} {slave:<3} -> {controller} request line {line:<3} {fifo}\n")
        lines.append("peripherals:\n")
        units = (("baud", " baud"), ("rate_hz", " Hz"), ("channels", " channels"), ("sample_width", " B samples"),
                 ("bits", " bits"), ("freq_hz", " Hz signal"))
        for p in self.peripherals:
            said = [f"{getattr(p, a)}{u}" for a, u in units if isinstance(getattr(p, a, None), (int, float))]
            lines.append(f" {p.name:<8} {type(p).__name__}{': ' if said else ''}{', '.join(said)}\n")
        lines.append(f"virtual time: {self.now_ns} ns\n")
        return "".join(lines)


#: The class's own sync: SimTasklet._run calls _sync_held itself while a SoC keeps it.
_SOC_SYNC = Soc.sync
