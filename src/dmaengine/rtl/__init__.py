"""RTL in the loop: a DMA controller in Amaranth HDL, simulated cycle by cycle inside a Platform in virtual time
and driven through the provider API, so that the conformance suite and dmatest run against the RTL.

Needs the ``rtl`` extra (``pip install dmaengine[rtl]``: Amaranth HDL).

>>> from dmaengine.rtl import RtlSoc
>>> soc = RtlSoc()
>>> soc.dmac.dev_name
'rtl-dmac'
>>> soc.close()
"""

from __future__ import annotations

from ._bench import Bench as Bench
from ._bench import BusAgent as BusAgent
from ._controller import VARIANTS as VARIANTS
from ._controller import DmaController as DmaController
from ._driver import RtlChannel as RtlChannel
from ._driver import RtlDescriptor as RtlDescriptor
from ._driver import RtlDmaDevice as RtlDmaDevice
from ._driver import RtlDmaRequest as RtlDmaRequest
from ._soc import RtlSoc as RtlSoc
from ._soc import RtlTasklet as RtlTasklet
from ._uart import RtlUart as RtlUart
from ._uart import UartFifo as UartFifo

__all__ = [
    "VARIANTS",
    "Bench",
    "BusAgent",
    "DmaController",
    "RtlChannel",
    "RtlDescriptor",
    "RtlDmaDevice",
    "RtlDmaRequest",
    "RtlSoc",
    "RtlTasklet",
    "RtlUart",
    "UartFifo",
]
