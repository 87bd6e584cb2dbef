"""The provider side: subclass :class:`DmaDevice` to write a controller driver.

A driver sets its capability mask and slave caps as class attributes, creates its channels (usually
:class:`dmaengine.virt.VirtChannel` subclasses) and implements the ``device_*`` ops it claims, as in Linux's
``struct dma_device``. :meth:`dmaengine.Platform.register_device` refuses a device that claims a capability
without the op behind it.
"""

from __future__ import annotations

from ._channel import Channel as Channel
from ._channel import Descriptor as Descriptor
from ._channel import DescState as DescState
from ._check import MAX_SEGMENTS as MAX_SEGMENTS
from ._check import index as check_index
from ._context import Tasklet as Tasklet
from ._context import WaitQueue as WaitQueue
from ._context import bottom_half as bottom_half
from ._context import in_bottom_half as in_bottom_half
from ._device import REQUIRED_OPS as REQUIRED_OPS
from ._device import DmaDevice as DmaDevice
from ._device import pair_sg as pair_sg
from ._device import tracing as tracing
from ._memory import AddressSpace as AddressSpace
from ._memory import DmaFault as DmaFault
from ._trace import emit as trace_event

__all__ = [
    "MAX_SEGMENTS",
    "REQUIRED_OPS",
    "AddressSpace",
    "Channel",
    "DescState",
    "Descriptor",
    "DmaDevice",
    "DmaFault",
    "Tasklet",
    "WaitQueue",
    "bottom_half",
    "check_index",
    "in_bottom_half",
    "pair_sg",
    "trace_event",
    "tracing",
]
