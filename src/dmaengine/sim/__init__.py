"""A simulated SoC in virtual time: a DMA controller with real timing, peripherals, slave and cyclic DMA.

>>> from dmaengine.sim import Soc
>>> soc = Soc()
>>> sorted(p.name for p in soc.peripherals)
['adc0', 'i2s0', 'uart0', 'uart1']
"""

from __future__ import annotations

from ._adc import Adc as Adc
from ._board import Board as Board
from ._board import ControllerDesc as ControllerDesc
from ._board import NodeInfo as NodeInfo
from ._board import PeripheralDesc as PeripheralDesc
from ._board import Wire as Wire
from ._dmac import Dmac as Dmac
from ._driver import DmaRequest as DmaRequest
from ._driver import SimChannel as SimChannel
from ._driver import SimDmaDevice as SimDmaDevice
from ._dts import DtNode as DtNode
from ._dts import DtsError as DtsError
from ._i2s import I2s as I2s
from ._i2s import sine_frames as sine_frames
from ._kernel import Kernel as Kernel
from ._kernel import TickClock as TickClock
from ._periph import Peripheral as Peripheral
from ._periph import RxPort as RxPort
from ._periph import TxPort as TxPort
from ._registry import Models as Models
from ._soc import Soc as Soc
from ._soc import default_peripherals as default_peripherals
from ._uart import Uart as Uart
from ._wave import Waveform as Waveform

__all__ = [
    "Adc",
    "Board",
    "ControllerDesc",
    "DmaRequest",
    "Dmac",
    "DtNode",
    "DtsError",
    "I2s",
    "Kernel",
    "Models",
    "NodeInfo",
    "Peripheral",
    "PeripheralDesc",
    "RxPort",
    "SimChannel",
    "SimDmaDevice",
    "Soc",
    "TickClock",
    "TxPort",
    "Uart",
    "Waveform",
    "Wire",
    "default_peripherals",
    "sine_frames",
]
