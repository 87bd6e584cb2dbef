"""The process-wide default platform (the one documented piece of module-level state)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from ._channel import Channel
from ._enums import Cap, DataDirection
from ._memory import Mapping, Scatterlist
from ._platform import FilterFn, Platform

__all__ = ["default_platform", "map", "map_sg", "request_chan", "request_channel"]

_lock = threading.Lock()
_default: Platform | None = None


def default_platform() -> Platform:
    """The process-wide platform, made on first use: a threaded memcpy engine with one channel per CPU."""
    global _default
    with _lock:
        if _default is None:
            from .drivers.memcpy import MemcpyEngine

            plat = Platform()
            plat.register_device(MemcpyEngine(channels=os.cpu_count() or 1))
            _default = plat
        return _default


def request_channel(mask: Cap, filter_fn: FilterFn | None = None, filter_param: Any = None) -> Channel:
    """``dma_request_channel`` on the default platform."""
    return default_platform().request_channel(mask, filter_fn, filter_param)


def request_chan(devname: str, name: str) -> Channel:
    """``dma_request_chan`` on the default platform."""
    return default_platform().request_chan(devname, name)


def map(buf: Any, direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Mapping:
    """``dma_map_single`` on the default platform."""
    return default_platform().map(buf, direction)


def map_sg(bufs: Iterable[Any], direction: DataDirection = DataDirection.BIDIRECTIONAL) -> Scatterlist:
    """``dma_map_sg`` on the default platform."""
    return default_platform().map_sg(bufs, direction)
