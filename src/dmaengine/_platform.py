"""The platform: devices, channel allocation, the slave map, the address space and the clock."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _check
from ._channel import Channel
from ._context import Tasklet, ThreadTasklet, WaitQueue
from ._device import REQUIRED_OPS, DmaDevice
from ._enums import Cap, DataDirection
from ._errors import BusyError, ConfigError, NoChannelError
from ._memory import AddressSpace, Mapping, Scatterlist

__all__ = ["FilterFn", "Platform"]

log = logging.getLogger("dmaengine")

FilterFn = Callable[[Channel, Any], bool]


def _stop_devices(devices: list[DmaDevice]) -> None:
    """The finalizer of a Platform collected without :meth:`Platform.close`: stop every device's threads."""
    for dev in list(devices):
        try:
            dev.on_unregister()
            dev.tasklet.kill()
        except Exception:  # a finalizer must not raise
            log.exception("stopping %r of a collected platform failed", dev)
    devices.clear()


def _check_names(**names: Any) -> None:
    for key, value in names.items():
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a str, not {value!r}")


class Platform:
    """A world of DMA devices and memory, in real time. :class:`dmaengine.sim.Soc` is one in virtual time."""

    #: True when the clock is the wall clock (threads); False for a simulated, virtual-time platform.
    realtime = True

    def __init__(self) -> None:
        self.address_space = AddressSpace()
        self.devices: list[DmaDevice] = []
        self._slave_map: list[tuple[str, str, Any]] = []
        self._lock = threading.RLock()
        self._t0 = time.monotonic_ns()
        # Dropped without close(): stop the devices' threads when collected (devices hold the platform weakly).
        self._finalizer = weakref.finalize(self, _stop_devices, self.devices)
        self._finalizer.atexit = False

    # --- clock and contexts (overridden by virtual-time platforms) ----------------------------------------
    @property
    def now_ns(self) -> int:
        """Nanoseconds since the platform was made."""
        return time.monotonic_ns() - self._t0

    @property
    def now(self) -> float:
        """Seconds since the platform was made."""
        return self.now_ns / 1e9

    def run_for(self, seconds: float) -> None:
        """Let the world run for ``seconds`` (a sleep here; virtual time advances on a simulated SoC)."""
        time.sleep(_check.number("seconds", seconds, 0))

    def create_tasklet(self, fn: Callable[[], None], name: str) -> Tasklet:
        """A bottom half that runs ``fn``; a daemon thread here, an event in virtual time."""
        return ThreadTasklet(fn, name)

    def wait_for(self, pred: Callable[[], bool], timeout: float | None, waitq: WaitQueue) -> bool:
        """Block until ``pred()`` (True) or ``timeout`` seconds (False). ``waitq`` is woken when state changes.
        The timeout rule: None or inf wait for ever; negative or nan is a ConfigError."""
        return waitq.wait_for(pred, _check.timeout("timeout", timeout))

    # --- devices ------------------------------------------------------------------------------------------
    def register_device(self, dev: DmaDevice) -> DmaDevice:
        """``dma_async_device_register``: check the ops, name the device ``dma<N>`` and its channels."""
        if not isinstance(dev, DmaDevice):
            raise ConfigError(f"register_device takes a DmaDevice, not {dev!r}")
        if dev.platform is not None:
            raise ConfigError(f"{dev!r} is already registered")
        cls = type(dev)
        for cap, op in REQUIRED_OPS.items():
            if dev.cap_mask & cap and not cls.has_op(op):
                raise ConfigError(f"{cls.__name__} claims {cap.name} but does not implement {op}")
        for op in ("device_issue_pending", "device_tx_status"):
            if not cls.has_op(op):
                raise ConfigError(f"{cls.__name__} does not implement {op}")
        if not dev.channels:
            raise ConfigError(f"{cls.__name__} has no channels")
        with self._lock:
            used = {d.dev_id for d in self.devices}
            dev_id = next(i for i in range(len(used) + 1) if i not in used)
            dev.dev_id = dev_id
            dev.name = f"dma{dev_id}"
            dev.platform = self
            for i, chan in enumerate(dev.channels):
                chan.device = dev
                chan.chan_id = i
                chan.name = f"{dev.name}chan{i}"
            dev.tasklet = self.create_tasklet(dev.run_bottom_half, f"{dev.name}-bh")
            self.devices.append(dev)
            self.devices.sort(key=lambda d: d.dev_id)
        dev.on_register()
        return dev

    def unregister_device(self, dev: DmaDevice) -> None:
        """``dma_async_device_unregister``: refused while a channel is in use; stops the device's threads."""
        with self._lock:
            if dev not in self.devices:
                raise ConfigError(f"{dev!r} is not registered here")
            busy = [c.name for c in dev.channels if c.client_count]
            if busy:
                raise BusyError(f"{dev.name} has channels in use: {', '.join(busy)}")
            self.devices.remove(dev)
        dev.on_unregister()
        dev.tasklet.kill()
        dev.platform = None

    def channels(self) -> Iterator[Channel]:
        """Every channel of every device, in name order."""
        for dev in list(self.devices):
            yield from dev.channels

    def close(self) -> None:
        """Release every channel and unregister every device: the device threads stop. ``with Platform() as
        plat:`` closes on leaving the block. A platform dropped without close() stops its threads when it is
        garbage-collected (then channels still held from it no longer work)."""
        for dev in list(self.devices):
            for chan in dev.channels:
                if chan.client_count:
                    chan.release()
            self.unregister_device(dev)

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- channels -----------------------------------------------------------------------------------------
    def _take(self, chan: Channel, client_name: str | None) -> Channel:
        chan.device.device_alloc_chan_resources(chan)
        chan.client_count = 1
        chan.client_name = client_name
        chan.paused = False
        return chan

    def request_channel(
        self,
        mask: Cap,
        filter_fn: FilterFn | None = None,
        filter_param: Any = None,
        *,
        client_name: str | None = None,
    ) -> Channel:
        """``dma_request_channel``: the first free channel whose device has every bit of ``mask`` and passes
        ``filter_fn(chan, filter_param)``. Exclusive until released; :class:`NoChannelError` when none."""
        mask = Cap(_check.index("mask", mask, 0, what="a Cap mask"))
        if filter_fn is not None and not callable(filter_fn):
            raise ConfigError(f"filter_fn must be callable or None, not {filter_fn!r}")
        if client_name is not None and not isinstance(client_name, str):
            raise ConfigError(f"client_name must be a str or None, not {client_name!r}")
        with self._lock:
            for dev in self.devices:
                if dev.cap_mask & mask != mask:
                    continue
                for chan in dev.channels:
                    if chan.client_count:
                        continue
                    if filter_fn is not None and not filter_fn(chan, filter_param):
                        continue
                    return self._take(chan, client_name)
        extra = " passing the filter" if filter_fn is not None else ""
        raise NoChannelError(f"no free channel with capabilities {mask.name or int(mask)}{extra}")

    def add_slave_map(self, devname: str, slave: str, filter_param: Any) -> None:
        """Add a ``dma_slave_map`` entry: client ``devname``'s channel ``slave`` is found with ``filter_param``,
        passed to each SLAVE device's :meth:`~dmaengine.provider.DmaDevice.filter` (default: a channel or device
        name)."""
        _check_names(devname=devname, slave=slave)
        with self._lock:
            self._slave_map.append((devname, slave, filter_param))

    def request_chan(self, devname: str, name: str) -> Channel:
        """``dma_request_chan``: the channel named ``name`` of client device ``devname`` in the slave map."""
        _check_names(devname=devname, name=name)
        with self._lock:
            params = [p for d, s, p in self._slave_map if d == devname and s == name]
            if not params:
                raise NoChannelError(f"no slave map entry for ({devname!r}, {name!r})")
            for param in params:
                for dev in self.devices:
                    if not dev.cap_mask & Cap.SLAVE:
                        continue
                    for chan in dev.channels:
                        if not chan.client_count and dev.filter(chan, param):
                            return self._take(chan, f"{devname}:{name}")
        raise NoChannelError(f"no free channel for ({devname!r}, {name!r})")

    # --- memory -------------------------------------------------------------------------------------------
    def map(self, buf: Any, direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Mapping:
        """``dma_map_single``: map a C-contiguous buffer; the result has ``.addr`` and ``.length``."""
        return self.address_space.map(buf, direction)

    def map_sg(self, bufs: Iterable[Any], direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Scatterlist:
        """``dma_map_sg``: map several buffers; a sequence of :class:`~dmaengine.SgEntry`."""
        return self.address_space.map_sg(bufs, direction)

    # --- debugfs ------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """The debugfs ``dmaengine/summary`` text: each device, then each channel in use and its client."""
        parts = []
        for dev in list(self.devices):
            lines = [f"dma{dev.dev_id} ({dev.dev_name}): number of channels: {len(dev.channels)}\n"]
            custom = dev.dbg_summary_show()
            if custom is not None:
                lines.append(custom)
            else:
                for chan in dev.channels:
                    if chan.client_count:
                        lines.append(f" {chan.name:<13}| {chan.client_name or 'in-use'}\n")
            parts.append("".join(lines))
        return "\n".join(parts)
