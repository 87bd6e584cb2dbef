"""Enumerations of the DMA Engine API; values follow include/linux/dmaengine.h."""

from __future__ import annotations

import enum

__all__ = [
    "BusWidth",
    "Cap",
    "DataDirection",
    "PrepFlags",
    "ResidueGranularity",
    "Result",
    "Status",
    "SumCheckFlags",
    "TransferDirection",
]


class Cap(enum.IntFlag):
    """Capabilities of a DMA device (``enum dma_transaction_type`` as bits)."""

    MEMCPY = 1 << 0
    XOR = 1 << 1
    PQ = 1 << 2
    XOR_VAL = 1 << 3
    PQ_VAL = 1 << 4
    MEMSET = 1 << 5
    MEMSET_SG = 1 << 6
    INTERRUPT = 1 << 7
    PRIVATE = 1 << 8
    ASYNC_TX = 1 << 9
    SLAVE = 1 << 10
    CYCLIC = 1 << 11
    INTERLEAVE = 1 << 12
    COMPLETION_NO_ORDER = 1 << 13
    REPEAT = 1 << 14
    LOAD_EOT = 1 << 15
    MEMCPY_SG = 1 << 16


class Status(enum.IntEnum):
    """``enum dma_status``."""

    COMPLETE = 0
    IN_PROGRESS = 1
    PAUSED = 2
    ERROR = 3
    OUT_OF_ORDER = 4


class TransferDirection(enum.IntEnum):
    """``enum dma_transfer_direction``."""

    MEM_TO_MEM = 0
    MEM_TO_DEV = 1
    DEV_TO_MEM = 2
    DEV_TO_DEV = 3
    TRANS_NONE = 4


class DataDirection(enum.IntEnum):
    """``enum dma_data_direction``, for mappings."""

    BIDIRECTIONAL = 0
    TO_DEVICE = 1
    FROM_DEVICE = 2


class PrepFlags(enum.IntFlag):
    """``enum dma_ctrl_flags``."""

    PREP_INTERRUPT = 1 << 0
    CTRL_ACK = 1 << 1
    PREP_PQ_DISABLE_P = 1 << 2
    PREP_PQ_DISABLE_Q = 1 << 3
    PREP_CONTINUE = 1 << 4
    PREP_FENCE = 1 << 5
    CTRL_REUSE = 1 << 6
    PREP_CMD = 1 << 7
    PREP_REPEAT = 1 << 8
    PREP_LOAD_EOT = 1 << 9


class BusWidth(enum.IntEnum):
    """``enum dma_slave_buswidth``: the value is the width in bytes."""

    UNDEFINED = 0
    BYTES_1 = 1
    BYTES_2 = 2
    BYTES_3 = 3
    BYTES_4 = 4
    BYTES_8 = 8
    BYTES_16 = 16
    BYTES_32 = 32
    BYTES_64 = 64
    BYTES_128 = 128


class ResidueGranularity(enum.IntEnum):
    """``enum dma_residue_granularity``."""

    DESCRIPTOR = 0
    SEGMENT = 1
    BURST = 2


class Result(enum.IntEnum):
    """``enum dmaengine_tx_result``."""

    NOERROR = 0
    READ_FAILED = 1
    WRITE_FAILED = 2
    ABORTED = 3


class SumCheckFlags(enum.IntFlag):
    """``enum sum_check_flags``: what a validate (XOR_VAL, PQ_VAL) found wrong; 0 when every sum checked."""

    SUM_CHECK_P_RESULT = 1 << 0
    SUM_CHECK_Q_RESULT = 1 << 1
