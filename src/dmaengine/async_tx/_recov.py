"""RAID-6 recovery through async_tx (crypto/async_tx/async_raid6_recov.c): two failed data blocks, or a data
block and P, rebuilt by a chain of syndrome, xor and GF(2^8) product operations, each depending on the one
before, on whatever channel has the capability; synchronously on the CPU when no channel has PQ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._enums import Cap
from .._errors import ConfigError
from .._raid6 import EXP, INV, datap_recov, two_data_recov
from ._core import (
    ASYNC_TX_FENCE,
    ASYNC_TX_XOR_DROP_DST,
    AsyncSubmitCtl,
    AsyncTx,
    AsyncTxFlags,
    check_depend,
    cpu_prolog,
    sync_epilog,
    table_of,
)
from ._ops import _u8, async_gen_syndrome, async_mult, async_sum_product, async_xor

__all__ = ["async_raid6_2data_recov", "async_raid6_datap_recov"]


def _blocks(blocks: Sequence[Any], fails: Sequence[int]) -> list[Any]:
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Sequence) or len(blocks) < 4:
        raise ConfigError(f"blocks must be data blocks, then P, then Q (at least 4), not {blocks!r}")
    ndata = len(blocks) - 2
    for name, f in zip(("faila", "failb"), fails):
        if not isinstance(f, int) or isinstance(f, bool) or not 0 <= f < ndata:
            raise ConfigError(f"{name} must be a data block index 0..{ndata - 1}, not {f!r}")
    for i, b in enumerate(blocks):
        if b is None:
            raise ConfigError(f"blocks[{i}] is None: recovery needs every block (failed ones are rebuilt in place)")
    return list(blocks)


def _step(submit: AsyncSubmitCtl, tx: AsyncTx | None, flags: int = 0) -> AsyncSubmitCtl:
    return AsyncSubmitCtl(AsyncTxFlags(ASYNC_TX_FENCE | flags), tx, None, None, submit.scribble, table_of(submit))


def _last(submit: AsyncSubmitCtl, tx: AsyncTx | None) -> AsyncSubmitCtl:
    return AsyncSubmitCtl(AsyncTxFlags(submit.flags | ASYNC_TX_XOR_DROP_DST), tx, submit.cb_fn, submit.cb_param,
                          submit.scribble, table_of(submit))


def _no_pq_channel(submit: AsyncSubmitCtl) -> bool:
    table = table_of(submit)
    return table is None or table.find_channel(Cap.PQ, submit.depend_tx) is None


def async_raid6_2data_recov(blocks: Sequence[Any], faila: int, failb: int, submit: AsyncSubmitCtl
                            ) -> AsyncTx | None:
    """``async_raid6_2data_recov``: rebuild data blocks ``faila`` and ``failb`` of ``blocks`` (data blocks, then
    P, then Q) in place from the others."""
    check_depend(submit)
    bl = _blocks(blocks, (faila, failb))
    if faila == failb:
        raise ConfigError(f"faila and failb must differ, not both {faila!r}")
    if faila > failb:
        faila, failb = failb, faila
    arrays = [_u8(f"blocks[{i}]", b, True) for i, b in enumerate(bl)]
    k = len(bl) - 2
    if _no_pq_channel(submit):
        cpu_prolog(submit, "raid6_2data_recov")
        two_data_recov(arrays[:k], arrays[k], arrays[k + 1], faila, failb)
        sync_epilog(submit)
        return None
    p, q = arrays[k], arrays[k + 1]
    dp, dq = arrays[faila], arrays[failb]
    # P and Q of the surviving blocks, into the failed blocks (delta P and delta Q).
    syn: list[Any] = [None if i in (faila, failb) else a for i, a in enumerate(arrays[:k])] + [dp, dq]
    tx = async_gen_syndrome(syn, AsyncSubmitCtl(submit.flags & ASYNC_TX_FENCE, submit.depend_tx, None, None,
                                                submit.scribble, table_of(submit)))
    tx = async_xor(dp, [dp, p], _step(submit, tx, ASYNC_TX_XOR_DROP_DST))  # P + Pxy
    tx = async_xor(dq, [dq, q], _step(submit, tx, ASYNC_TX_XOR_DROP_DST))  # Q + Qxy
    coef_p = int(INV[EXP[failb - faila] ^ 1])
    coef_q = int(INV[EXP[faila] ^ EXP[failb]])
    tx = async_sum_product(dq, [dp, dq], bytes([coef_p, coef_q]), _step(submit, tx))  # Dy
    return async_xor(dp, [dp, dq], _last(submit, tx))  # Dx = (P + Pxy) + Dy


def async_raid6_datap_recov(blocks: Sequence[Any], faila: int, submit: AsyncSubmitCtl) -> AsyncTx | None:
    """``async_raid6_datap_recov``: rebuild data block ``faila`` and P of ``blocks`` (data blocks, then P, then
    Q) in place from the other data blocks and Q."""
    check_depend(submit)
    bl = _blocks(blocks, (faila,))
    arrays = [_u8(f"blocks[{i}]", b, True) for i, b in enumerate(bl)]
    k = len(bl) - 2
    if _no_pq_channel(submit):
        cpu_prolog(submit, "raid6_datap_recov")
        datap_recov(arrays[:k], arrays[k], arrays[k + 1], faila)
        sync_epilog(submit)
        return None
    p, q = arrays[k], arrays[k + 1]
    dq = arrays[faila]
    syn: list[Any] = [None if i == faila else a for i, a in enumerate(arrays[:k])] + [p, dq]
    tx = async_gen_syndrome(syn, AsyncSubmitCtl(submit.flags & ASYNC_TX_FENCE, submit.depend_tx, None, None,
                                                submit.scribble, table_of(submit)))
    tx = async_xor(dq, [dq, q], _step(submit, tx, ASYNC_TX_XOR_DROP_DST))  # Q + Qx = g^x * Dx
    tx = async_mult(dq, dq, int(INV[EXP[faila]]), _step(submit, tx))  # Dx
    return async_xor(p, [p, dq], _last(submit, tx))  # P = Px + Dx
