"""dmaengine: the Linux DMA Engine API in Python.

Request a channel by capability, map buffers, prepare descriptors, submit, issue, and get called back::

    import numpy as np
    import dmaengine
    from dmaengine import Cap

    src = np.arange(4096, dtype=np.uint8)
    dst = np.zeros_like(src)
    with dmaengine.request_channel(Cap.MEMCPY) as chan, dmaengine.map(src) as s, dmaengine.map(dst) as d:
        tx = chan.prep_dma_memcpy(d.addr, s.addr, src.nbytes)
        cookie = tx.submit()
        assert chan.sync_wait(cookie) == dmaengine.Status.COMPLETE
    assert (dst == src).all()
"""

from __future__ import annotations

from . import trace as trace
from ._channel import Channel as Channel
from ._channel import Descriptor as Descriptor
from ._cookie import is_complete as is_complete
from ._default import default_platform as default_platform
from ._default import map as map
from ._default import map_sg as map_sg
from ._default import request_chan as request_chan
from ._default import request_channel as request_channel
from ._enums import BusWidth as BusWidth
from ._enums import Cap as Cap
from ._enums import DataDirection as DataDirection
from ._enums import PrepFlags as PrepFlags
from ._enums import ResidueGranularity as ResidueGranularity
from ._enums import Result as Result
from ._enums import Status as Status
from ._enums import SumCheckFlags as SumCheckFlags
from ._enums import TransferDirection as TransferDirection
from ._errors import BusyError as BusyError
from ._errors import ConfigError as ConfigError
from ._errors import DmaError as DmaError
from ._errors import MappingError as MappingError
from ._errors import NoChannelError as NoChannelError
from ._errors import NotSupportedError as NotSupportedError
from ._errors import StateError as StateError
from ._memory import Mapping as Mapping
from ._memory import Scatterlist as Scatterlist
from ._platform import Platform as Platform
from ._raidops import SumCheckResult as SumCheckResult
from ._records import ChannelStats as ChannelStats
from ._records import DataChunk as DataChunk
from ._records import InterleavedTemplate as InterleavedTemplate
from ._records import SgEntry as SgEntry
from ._records import SlaveCaps as SlaveCaps
from ._records import SlaveConfig as SlaveConfig
from ._records import TxResult as TxResult
from ._records import TxState as TxState

__version__ = "0.1.0"

__all__ = [
    "BusWidth",
    "BusyError",
    "Cap",
    "Channel",
    "ChannelStats",
    "ConfigError",
    "DataChunk",
    "DataDirection",
    "Descriptor",
    "DmaError",
    "InterleavedTemplate",
    "Mapping",
    "MappingError",
    "NoChannelError",
    "NotSupportedError",
    "Platform",
    "PrepFlags",
    "ResidueGranularity",
    "Result",
    "Scatterlist",
    "SgEntry",
    "SlaveCaps",
    "SlaveConfig",
    "StateError",
    "Status",
    "SumCheckFlags",
    "SumCheckResult",
    "TransferDirection",
    "TxResult",
    "TxState",
    "default_platform",
    "is_complete",
    "map",
    "map_sg",
    "request_chan",
    "request_channel",
]
