"""async_tx: memcpy, xor and RAID-6 P+Q offload with dependency chains across channels and a CPU fallback
(the kernel's crypto/async_tx, Documentation/crypto/async-tx-api.rst), above the client API.

Take channels into a :class:`ChannelTable`, describe each operation with :func:`init_async_submit` (flags, the
transaction it depends on, a callback), and call the operations; each returns the :class:`AsyncTx` it submitted,
or None when the CPU did the work (no capable channel), in which case the callback has already run::

    import numpy as np
    from dmaengine import Platform
    from dmaengine.drivers.memcpy import MemcpyEngine
    from dmaengine.async_tx import (ASYNC_TX_XOR_ZERO_DST, ChannelTable, async_tx_quiesce, async_xor,
                                    init_async_submit)

    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=1))
        a, b, parity = np.full(4096, 3, np.uint8), np.full(4096, 5, np.uint8), np.zeros(4096, np.uint8)
        with ChannelTable(plat) as chans:
            tx = async_xor(parity, [a, b], init_async_submit(ASYNC_TX_XOR_ZERO_DST, chans=chans))
            async_tx_quiesce(tx)
        assert (parity == 6).all()
"""

from __future__ import annotations

from ._core import ASYNC_TX_ACK as ASYNC_TX_ACK
from ._core import ASYNC_TX_FENCE as ASYNC_TX_FENCE
from ._core import ASYNC_TX_PQ_XOR_DST as ASYNC_TX_PQ_XOR_DST
from ._core import ASYNC_TX_XOR_DROP_DST as ASYNC_TX_XOR_DROP_DST
from ._core import ASYNC_TX_XOR_ZERO_DST as ASYNC_TX_XOR_ZERO_DST
from ._core import AsyncSubmitCtl as AsyncSubmitCtl
from ._core import AsyncTx as AsyncTx
from ._core import AsyncTxFlags as AsyncTxFlags
from ._core import ChannelTable as ChannelTable
from ._core import async_trigger_callback as async_trigger_callback
from ._core import async_tx_issue_pending_all as async_tx_issue_pending_all
from ._core import async_tx_quiesce as async_tx_quiesce
from ._core import init_async_submit as init_async_submit
from ._ops import async_gen_syndrome as async_gen_syndrome
from ._ops import async_memcpy as async_memcpy
from ._ops import async_mult as async_mult
from ._ops import async_sum_product as async_sum_product
from ._ops import async_syndrome_val as async_syndrome_val
from ._ops import async_xor as async_xor
from ._ops import async_xor_val as async_xor_val
from ._recov import async_raid6_2data_recov as async_raid6_2data_recov
from ._recov import async_raid6_datap_recov as async_raid6_datap_recov

__all__ = [
    "ASYNC_TX_ACK",
    "ASYNC_TX_FENCE",
    "ASYNC_TX_PQ_XOR_DST",
    "ASYNC_TX_XOR_DROP_DST",
    "ASYNC_TX_XOR_ZERO_DST",
    "AsyncSubmitCtl",
    "AsyncTx",
    "AsyncTxFlags",
    "ChannelTable",
    "async_gen_syndrome",
    "async_memcpy",
    "async_mult",
    "async_raid6_2data_recov",
    "async_raid6_datap_recov",
    "async_sum_product",
    "async_syndrome_val",
    "async_trigger_callback",
    "async_tx_issue_pending_all",
    "async_tx_quiesce",
    "async_xor",
    "async_xor_val",
    "init_async_submit",
]
