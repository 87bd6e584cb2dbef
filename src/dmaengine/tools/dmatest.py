"""dmatest: the Linux kernel's DMA engine test client (drivers/dma/dmatest.c), on any platform.

Each test thread owns a source and a destination buffer of ``test_buf_size`` bytes. Every iteration picks a
random length and random source and destination offsets, fills both buffers with the kernel's patterns, copies
(or fills) with the engine, waits for the callback (or polls), and verifies all six regions of the two buffers.
The output lines use the kernel's wording, with the ``dmatest: `` prefix its ``pr_fmt`` gives every line, so
logs compare line for line::

    dmatest: dma0chan0-copy0: summary 1000 tests, 0 failures 3138.87 iops 27462 KB/s (0)

The rates leave out the time spent filling and verifying buffers, as the kernel does. On a simulated SoC they
are in virtual time.

>>> from dmaengine.tools.dmatest import gen_src_value, gen_dst_value
>>> hex(gen_src_value(0, False)), hex(gen_dst_value(2, False))
('0x9f', '0x1d')
"""

# The kernel's printf formats are kept verbatim, so the output matches dmatest.c line for line.
# ruff: noqa: UP031

from __future__ import annotations

import dataclasses
import errno
import random
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np

from dmaengine import (
    Cap,
    Channel,
    ConfigError,
    DataDirection,
    Descriptor,
    DmaError,
    NoChannelError,
    Platform,
    PrepFlags,
    Status,
)
from dmaengine.provider import check_index

from ._runner import Loop, Wait, clock_of, run_loops

__all__ = [
    "DMA_SYNC_WAIT_S",
    "MAX_ERROR_COUNT",
    "PATTERN_COPY",
    "PATTERN_COUNT_MASK",
    "PATTERN_DST",
    "PATTERN_MEMSET_IDX",
    "PATTERN_OVERWRITE",
    "PATTERN_SRC",
    "PR_FMT",
    "DmatestParams",
    "DmatestThread",
    "gen_dst_value",
    "gen_src_value",
    "init_dsts",
    "init_srcs",
    "persec",
    "rates",
    "result_line",
    "run_dmatest",
    "summary_line",
    "verify",
]

PATTERN_SRC = 0x80
PATTERN_DST = 0x00
PATTERN_COPY = 0x40
PATTERN_OVERWRITE = 0x20
PATTERN_COUNT_MASK = 0x1F
PATTERN_MEMSET_IDX = 0x01
#: Mismatches printed per verified region before "N errors suppressed".
MAX_ERROR_COUNT = 32
#: The prefix ``pr_fmt`` puts on every line dmatest prints (``KBUILD_MODNAME ": "``).
PR_FMT = "dmatest: "
#: ``dma_sync_wait``'s fixed wait, in seconds: polled tests wait this long whatever ``timeout`` says.
DMA_SYNC_WAIT_S = 5.0
#: The most test threads per channel (each is a real thread on a real-time platform, with two buffers).
MAX_THREADS_PER_CHAN = 256

Log = Callable[[str], None]


@dataclass
class DmatestParams:
    """The module parameters of dmatest, with the kernel's defaults except ``iterations`` (1000; 0 = forever)."""

    test_buf_size: int = 16384
    channel: str = ""
    device: str = ""
    threads_per_chan: int = 1
    max_channels: int = 0
    iterations: int = 1000
    timeout_ms: int = 3000
    noverify: bool = False
    norandom: bool = False
    verbose: bool = False
    alignment: int = -1
    transfer_size: int = 0
    polled: bool = False
    dmatest: int = 0
    #: Sources of each xor test and of each pq test (forced odd, at most what the device takes).
    xor_sources: int = 3
    pq_sources: int = 3
    #: The kernel's ``run``: start the threads. False only adds them and prints the ``test_list`` lines
    #: (``dmaengine test --list``).
    run: bool = True
    #: Seed of the random lengths and offsets (None: a fresh one each run); not a kernel parameter.
    seed: int | None = None

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value."""
        for name in ("test_buf_size", "threads_per_chan", "max_channels", "iterations", "timeout_ms", "alignment",
                     "transfer_size", "dmatest", "xor_sources", "pq_sources"):
            setattr(self, name, check_index(name, getattr(self, name), what="an int"))
        for name in ("noverify", "norandom", "verbose", "polled", "run"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, not {getattr(self, name)!r}")
        for name in ("channel", "device"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a str, not {getattr(self, name)!r}")
        if self.test_buf_size < 1:
            raise ConfigError(f"test_buf_size must be >= 1, not {self.test_buf_size!r}")
        if not 1 <= self.threads_per_chan <= MAX_THREADS_PER_CHAN:
            raise ConfigError(f"threads_per_chan must be 1..{MAX_THREADS_PER_CHAN}, not {self.threads_per_chan!r}")
        for name in ("max_channels", "iterations", "transfer_size", "xor_sources", "pq_sources"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)!r}")
        if self.timeout_ms < -1:
            raise ConfigError(f"timeout must be -1 (no limit) or >= 0 ms, not {self.timeout_ms!r}")
        if self.dmatest not in (0, 1):
            raise ConfigError(f"dmatest must be 0 (memcpy) or 1 (memset), not {self.dmatest!r}")
        if not -1 <= self.alignment <= 30:
            raise ConfigError(f"alignment must be -1 (the device's) or a shift 0..30, not {self.alignment!r}")
        if self.transfer_size and self.transfer_size >= self.test_buf_size:
            raise ConfigError(f"{self.transfer_size}-byte transfer size must be lower than "
                              f"{self.test_buf_size}-buffer size")


# --- the kernel's buffer patterns ---------------------------------------------------------------------------
def gen_inv_idx(index: int, is_memset: bool) -> int:
    """The inverted counter in the low five bits: ``~index & 0x1f`` (index fixed at 1 for memset)."""
    return ~(PATTERN_MEMSET_IDX if is_memset else index) & PATTERN_COUNT_MASK


def gen_src_value(index: int, is_memset: bool) -> int:
    """The source byte at ``index``: ``PATTERN_SRC`` and the inverted counter."""
    return PATTERN_SRC | gen_inv_idx(index, is_memset)


def gen_dst_value(index: int, is_memset: bool) -> int:
    """The destination byte at ``index``: ``PATTERN_DST`` and the inverted counter."""
    return PATTERN_DST | gen_inv_idx(index, is_memset)


def _inv(start: int, n: int, is_memset: bool) -> np.ndarray:
    if is_memset:
        return np.full(n, gen_inv_idx(0, True), dtype=np.uint8)
    return (~np.arange(start, start + n, dtype=np.int64) & PATTERN_COUNT_MASK).astype(np.uint8)


def init_srcs(buf: np.ndarray, start: int, length: int, is_memset: bool) -> None:
    """``dmatest_init_srcs``: PATTERN_SRC everywhere, PATTERN_COPY added in [start, start+length)."""
    buf[:] = _inv(0, len(buf), is_memset) | PATTERN_SRC
    buf[start : start + length] |= PATTERN_COPY


def init_dsts(buf: np.ndarray, start: int, length: int, is_memset: bool) -> None:
    """``dmatest_init_dsts``: PATTERN_DST everywhere, PATTERN_OVERWRITE added in [start, start+length)."""
    buf[:] = _inv(0, len(buf), is_memset) | PATTERN_DST
    buf[start : start + length] |= PATTERN_OVERWRITE


def _mismatch(name: str, actual: int, pattern: int, index: int, counter: int, is_srcbuf: bool,
              is_memset: bool) -> str:
    diff = actual ^ pattern
    expected = pattern | gen_inv_idx(counter, is_memset)
    if is_srcbuf:
        what = "srcbuf[0x%x] overwritten!" % index
    elif pattern & PATTERN_COPY and diff & (PATTERN_COPY | PATTERN_OVERWRITE):
        what = "dstbuf[0x%x] not copied!" % index
    elif diff & PATTERN_SRC:
        what = "dstbuf[0x%x] was copied!" % index
    else:
        what = "dstbuf[0x%x] mismatch!" % index
    return PR_FMT + "%s: %s Expected %02x, got %02x" % (name, what, expected, actual)


def verify(buf: np.ndarray, start: int, end: int, counter: int, pattern: int, is_srcbuf: bool, is_memset: bool,
           name: str, log: Log) -> int:
    """``dmatest_verify``: compare ``buf[start:end]`` with ``pattern`` and the inverted counter from ``counter``.

    Logs at most :data:`MAX_ERROR_COUNT` mismatch lines, then "N errors suppressed"; returns the error count.
    """
    n = end - start
    if n <= 0:
        return 0
    actual = buf[start:end]
    expected = _inv(counter, n, is_memset) | pattern
    bad = np.flatnonzero(actual != expected)
    for k in bad[:MAX_ERROR_COUNT].tolist():
        log(_mismatch(name, int(actual[k]), pattern, start + k, counter + k, is_srcbuf, is_memset))
    if len(bad) > MAX_ERROR_COUNT:
        log(PR_FMT + "%s: %u errors suppressed" % (name, len(bad) - MAX_ERROR_COUNT))
    return len(bad)


# --- rates, as the kernel computes them ---------------------------------------------------------------------
FIXPT_SHIFT = 8


def persec(runtime_us: int, val: int) -> int:
    """``dmatest_persec``: ``val`` per second over ``runtime_us`` microseconds, in 24.8 fixed point."""
    if runtime_us <= 0:
        return 0
    per_sec = 1_000_000
    while runtime_us > 0xFFFFFFFF:  # drop precision until runtime is 32 bits, as the kernel does
        runtime_us >>= 1
        per_sec <<= 1
    return ((per_sec * val) << FIXPT_SHIFT) // runtime_us


def rates(runtime_us: int, total_tests: int, total_len: int) -> tuple[str, int]:
    """The kernel's iops (as printed, two decimals of its fixed point) and KB/s."""
    iops = persec(runtime_us, total_tests)
    kbs = persec(runtime_us, total_len >> 10) >> FIXPT_SHIFT
    frac = ((iops & 0xFF) * 100) >> FIXPT_SHIFT
    return "%d.%02d" % (iops >> FIXPT_SHIFT, frac), kbs


def summary_line(name: str, total_tests: int, failed_tests: int, runtime_us: int, total_len: int,
                 ret: int = 0) -> str:
    """The kernel's summary line for one thread, as printed.

    >>> summary_line("dma0chan0-copy0", 100, 0, 200, 100 * 1024)
    'dmatest: dma0chan0-copy0: summary 100 tests, 0 failures 500000.00 iops 500000 KB/s (0)'
    """
    iops, kbs = rates(runtime_us, total_tests, total_len)
    return PR_FMT + "%s: summary %u tests, %u failures %s iops %d KB/s (%d)" % (
        name, total_tests, failed_tests, iops, kbs, ret)


def result_line(name: str, err: str, n: int, src_off: int, dst_off: int, length: int, data: int) -> str:
    """The kernel's ``result()`` line, as printed."""
    return PR_FMT + "%s: result #%u: '%s' with src_off=0x%x dst_off=0x%x len=0x%x (%d)" % (
        name, n, err, src_off, dst_off, length, data)


# --- a test thread ------------------------------------------------------------------------------------------
@dataclass(eq=False)
class DmatestThread:
    """One dmatest thread on one channel: its buffers, its loop and its counters."""

    plat: Platform
    chan: Channel
    index: int
    params: DmatestParams
    log: Log
    stop: threading.Event
    name: str = ""
    total_tests: int = 0
    failed_tests: int = 0
    total_len: int = 0
    runtime_us: int = 0
    ret: int = 0
    rng: random.Random = field(default_factory=random.Random)
    #: Whether the summary line was printed: the thread's last line, by its loop's end or by :meth:`summarise`.
    summarised: bool = field(default=False, init=False)
    _said: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.is_memset = self.params.dmatest == 1
        self.polled = self.params.polled
        # kthread_create(dmatest_func, thread, "%s-%s%u", dma_chan_name(chan), op, i)
        self.name = "%s-%s%u" % (self.chan.name, "set" if self.is_memset else "copy", self.index)

    @property
    def iops(self) -> str:
        """The iops figure of the summary line."""
        return rates(self.runtime_us, self.total_tests, self.total_len)[0]

    @property
    def kbs(self) -> int:
        """The KB/s figure of the summary line."""
        return rates(self.runtime_us, self.total_tests, self.total_len)[1]

    @property
    def summary(self) -> str:
        """This thread's summary line."""
        return summary_line(self.name, self.total_tests, self.failed_tests, self.runtime_us, self.total_len,
                            self.ret)

    def summarise(self) -> None:
        """Print the summary line as the counters stand, unless it was printed already: once, whoever comes first
        (the loop as it ends, or a second Ctrl-C that aborts the run while the loop still waits); the thread
        prints nothing after it."""
        with self._said:
            if not self.summarised:
                self.summarised = True
                self.log(self.summary)

    def _say(self, line: str) -> None:
        """Print a line of this thread's, unless its summary is out (then the run was aborted: it stays quiet)."""
        with self._said:
            if not self.summarised:
                self.log(line)

    def _result(self, err: str, src_off: int, dst_off: int, length: int, data: int) -> None:
        self._say(result_line(self.name, err, self.total_tests, src_off, dst_off, length, data))

    def _verbose(self, err: str, src_off: int, dst_off: int, length: int, data: int) -> None:
        if self.params.verbose:
            self._result(err, src_off, dst_off, length, data)

    def _next_test(self, buf_size: int, align: int) -> tuple[int, int, int]:
        """Count one more test and draw its ``(length, src_off, dst_off)`` as the kernel's dmatest does (the same
        random numbers in the same order; lengths and offsets aligned to ``1 << align``)."""
        p, rnd = self.params, self.rng.getrandbits
        self.total_tests += 1
        if p.transfer_size:
            length = p.transfer_size
        elif p.norandom:
            length = buf_size
        else:
            length = rnd(32) % buf_size + 1
        if not p.transfer_size:
            length = (length >> align) << align or 1 << align
        self.total_len += length
        if p.norandom:
            return length, 0, 0
        src_off = (rnd(32) % (buf_size - length + 1)) >> align << align
        dst_off = (rnd(32) % (buf_size - length + 1)) >> align << align
        return length, src_off, dst_off

    def _run_one(self, tx: Descriptor, src_off: int, dst_off: int, length: int,
                 timeout: float | None) -> Generator[Wait, bool, bool]:
        """Submit ``tx``, issue it and wait for its end as the kernel's dmatest does (polled: ``dma_sync_wait``'s
        fixed wait, ERROR past it, then ``dmaengine_terminate_sync``; otherwise its callback, up to ``timeout``).
        True when it completed; otherwise the failed test is reported and counted."""
        chan = self.chan
        done = threading.Event()
        if not self.polled:
            tx.callback = _set_event
            tx.callback_param = done
        try:
            cookie = tx.submit()
        except DmaError as e:
            self._result("submit error", src_off, dst_off, length, -e.errno)
            self.failed_tests += 1
            return False
        chan.issue_pending()
        if self.polled:
            ended = yield Wait(_cookie_ended(chan, cookie), DMA_SYNC_WAIT_S, chan)
            status = chan.tx_status(cookie)[0] if ended else Status.ERROR
            _terminate_sync(chan)
            ok = status == Status.COMPLETE
        else:
            ok = yield Wait(done.is_set, timeout, chan, done)
            status = chan.tx_status(cookie)[0]
        if not ok:
            self._result("test timed out", src_off, dst_off, length, 0)
            self.failed_tests += 1
            return False
        if status != Status.COMPLETE and not (
                chan.device.cap_mask & Cap.COMPLETION_NO_ORDER and status == Status.OUT_OF_ORDER):
            err = "completion error status" if status == Status.ERROR else "completion busy status"
            self._result(err, src_off, dst_off, length, 0)
            self.failed_tests += 1
            return False
        return True

    def loop(self) -> Loop:
        """The thread's body (``dmatest_func``); a generator that yields when it waits for the engine. Its
        summary line is printed as it ends, and a thread that failed terminates its channel's work."""
        try:
            yield from self._tests()
        finally:
            self.summarise()
        if self.ret or self.failed_tests:
            _terminate_sync(self.chan)

    def _tests(self) -> Loop:
        p = self.params
        dev = self.chan.device
        align = p.alignment if p.alignment >= 0 else (dev.fill_align if self.is_memset else dev.copy_align)
        buf_size = p.test_buf_size
        if 1 << align > buf_size:
            self._say(PR_FMT + "%u-byte buffer too small for %d-byte alignment" % (buf_size, 1 << align))
            self.ret = -errno.ENOMEM  # the kernel's thread gives up with the ret it started with
            return
        clock = clock_of(self.plat)
        timeout = None if p.timeout_ms < 0 else p.timeout_ms / 1000.0
        flags = PrepFlags.CTRL_ACK if self.polled else PrepFlags.CTRL_ACK | PrepFlags.PREP_INTERRUPT
        src = np.zeros(buf_size, dtype=np.uint8)
        dst = np.zeros(buf_size, dtype=np.uint8)
        filltime = comparetime = 0.0
        # The destination is mapped BIDIRECTIONAL "to force writeback/invalidate", as the kernel maps it.
        with self.plat.map(src, DataDirection.TO_DEVICE) as src_map, \
                self.plat.map(dst, DataDirection.BIDIRECTIONAL) as dst_map:
            t_start = clock()
            while not self.stop.is_set() and not (p.iterations and self.total_tests >= p.iterations):
                length, src_off, dst_off = self._next_test(buf_size, align)
                if not p.noverify:
                    t = clock()
                    init_srcs(src, src_off, length, self.is_memset)
                    init_dsts(dst, dst_off, length, self.is_memset)
                    filltime += clock() - t
                try:
                    if self.is_memset:
                        tx = self.chan.prep_dma_memset(dst_map.addr + dst_off, int(src[src_off]), length, flags)
                    else:
                        tx = self.chan.prep_dma_memcpy(dst_map.addr + dst_off, src_map.addr + src_off, length,
                                                       flags)
                except DmaError as e:
                    self._result("prep error", src_off, dst_off, length, -e.errno)
                    self.failed_tests += 1
                    continue
                completed = yield from self._run_one(tx, src_off, dst_off, length, timeout)
                if not completed:
                    continue
                if p.noverify:
                    self._verbose("test passed", src_off, dst_off, length, 0)
                    continue
                t = clock()
                errors = self._verify_all(src, dst, src_off, dst_off, length, buf_size)
                comparetime += clock() - t
                if errors:
                    self._result("data error", src_off, dst_off, length, errors)
                    self.failed_tests += 1
                else:
                    self._verbose("test passed", src_off, dst_off, length, 0)
            elapsed = clock() - t_start
        self.runtime_us = max(0, round((elapsed - filltime - comparetime) * 1e6))

    def _verify_all(self, src: np.ndarray, dst: np.ndarray, src_off: int, dst_off: int, length: int,
                    buf_size: int) -> int:
        m, name, log = self.is_memset, self.name, self._say
        src_end, dst_end = src_off + length, dst_off + length
        copy = PATTERN_SRC | PATTERN_COPY
        return (verify(src, 0, src_off, 0, PATTERN_SRC, True, m, name, log)
                + verify(src, src_off, src_end, src_off, copy, True, m, name, log)
                + verify(src, src_end, buf_size, src_end, PATTERN_SRC, True, m, name, log)
                + verify(dst, 0, dst_off, 0, PATTERN_DST, False, m, name, log)
                + verify(dst, dst_off, dst_end, src_off, copy, False, m, name, log)
                + verify(dst, dst_end, buf_size, dst_end, PATTERN_DST, False, m, name, log))


def _set_event(ev: threading.Event) -> None:
    ev.set()


def _terminate_sync(chan: Channel) -> None:
    """``dmaengine_terminate_sync``; on a device without terminate, only the synchronize half."""
    if chan.device.has_op("device_terminate_all"):
        chan.terminate_sync()
    else:
        chan.synchronize()


def _cookie_ended(chan: Channel, cookie: int) -> Callable[[], bool]:
    return lambda: chan.tx_status(cookie)[0] != Status.IN_PROGRESS


# --- the run ------------------------------------------------------------------------------------------------
def _matches(params: DmatestParams) -> Callable[[Channel, object], bool]:
    def filt(chan: Channel, _param: object) -> bool:
        if params.channel and chan.name != params.channel:
            return False
        dev = chan.device
        return not params.device or params.device in (dev.name, dev.dev_name)

    return filt


def run_dmatest(
    plat: Platform,
    params: DmatestParams | None = None,
    log: Log = print,
    tick: Callable[[list[DmatestThread]], None] | None = None,
    stop: threading.Event | None = None,
    on_started: Callable[[list[DmatestThread]], None] | None = None,
) -> list[DmatestThread]:
    """Run dmatest on ``plat`` and return its threads (each with ``summary``, ``failed_tests``...).

    Channels are requested like the kernel does (``add_threaded_test``): every free channel with MEMCPY (MEMSET for
    ``dmatest=1``), then every free channel with XOR, then with PQ, matching ``channel`` and ``device``, up to
    ``max_channels`` in all; :class:`NoChannelError` when none. Each channel gets the copy (or memset) threads when
    its device has that capability, then xor and pq threads for XOR and PQ: a channel that offers XOR or PQ but not
    MEMCPY runs only those. Lines go to ``log``, each thread's summary as the thread ends; ``tick(threads)`` is
    called now and then (progress); ``on_started(threads)`` once every channel is held; setting ``stop`` ends the
    run early (``iterations=0`` runs until then); a second Ctrl-C (KeyboardInterrupt from :func:`run_loops`) aborts
    at once: every thread not yet ended prints its summary as it stands and nothing more, then the
    KeyboardInterrupt goes on to the caller. With ``run=False`` the threads are only added and listed (the
    kernel's ``test_list``). At the end each channel is released, which terminates what is left
    (``dmatest_cleanup_channel``).
    """
    params = params or DmatestParams()
    params.check()
    stop = stop or threading.Event()
    mask = Cap.MEMSET if params.dmatest == 1 else Cap.MEMCPY
    seed = params.seed if params.seed is not None else random.SystemRandom().getrandbits(64)
    chans: list[Channel] = []
    threads: list[DmatestThread] = []
    from ._dmatest_raid import raid_threads  # the xor and pq threads of a channel that has XOR / PQ

    try:
        for want in (mask, Cap.XOR, Cap.PQ):  # request_channels(info, DMA_MEMCPY), (..., DMA_XOR), (..., DMA_PQ)
            while not params.max_channels or len(chans) < params.max_channels:
                try:
                    # dma_request_channel sets no client name: the debugfs summary says "in-use", as the kernel's
                    chan = plat.request_channel(want, _matches(params))
                except NoChannelError:
                    break
                chans.append(chan)
                if params.polled and chan.device.cap_mask & Cap.COMPLETION_NO_ORDER:
                    log(PR_FMT + "DMA_COMPLETION_NO_ORDER, polled disabled")
                    params = dataclasses.replace(params, polled=False)
                added: list[DmatestThread] = []
                if chan.device.cap_mask & mask:
                    for i in range(params.threads_per_chan):
                        added.append(DmatestThread(plat, chan, i, params, log, stop,
                                                   rng=random.Random(f"{seed}:{chan.name}:{i}")))
                added += raid_threads(plat, chan, params, log, stop, seed)
                threads += added
                log(PR_FMT + "Added %u threads using %s" % (len(added), chan.name))
        if not chans:
            what = [f"channel {params.channel!r}"] if params.channel else []
            what += [f"device {params.device!r}"] if params.device else []
            extra = f" matching {' and '.join(what)}" if what else ""
            raise NoChannelError(f"dmatest: no free channel with {mask.name}, XOR or PQ{extra}")
        if not params.run:
            for chan in chans:  # dmatest_test_list_get
                log(PR_FMT + "%u threads using %s" % (sum(t.chan is chan for t in threads), chan.name))
            return threads
        for chan in chans:
            log(PR_FMT + "Started %u threads using %s" % (sum(t.chan is chan for t in threads), chan.name))
        if on_started is not None:
            on_started(threads)
        try:
            run_loops(plat, [t.loop() for t in threads], [t.name for t in threads],
                      (lambda: tick(threads)) if tick is not None else None, stop)
        except KeyboardInterrupt:  # a second Ctrl-C: each thread's summary as it stands, once, and nothing after
            for t in threads:
                t.summarise()
            raise
    finally:
        stop.set()  # when run_loops ends by an exception, loops still running must not go on with released channels
        for chan in chans:  # dmatest_cleanup_channel's terminate_sync is part of our release
            if chan.client_count:
                chan.release()
    return threads
