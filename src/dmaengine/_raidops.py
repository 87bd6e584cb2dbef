"""XOR, RAID-6 P+Q and memset-sg: the provider ops of :class:`~dmaengine.provider.DmaDevice` and the client
prep calls of :class:`~dmaengine.Channel` (include/linux/dmaengine.h ``device_prep_dma_xor`` and friends).

The two classes here are mixed into ``DmaDevice`` and ``Channel``; the client side checks every argument and
names the bad value, then calls the device op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._enums import Cap, PrepFlags, SumCheckFlags
from ._errors import ConfigError, NotSupportedError
from ._records import SgEntry

if TYPE_CHECKING:
    from ._channel import Channel, Descriptor
    from ._device import DmaDevice

__all__ = ["RaidChannelOps", "RaidDeviceOps", "SumCheckResult"]

# The flag bits as plain ints: ``PrepFlags & PrepFlags`` builds an enum member (~1 µs) on a per-stripe path.
_P_DIS = int(PrepFlags.PREP_PQ_DISABLE_P)
_Q_DIS = int(PrepFlags.PREP_PQ_DISABLE_Q)
_CONT = int(PrepFlags.PREP_CONTINUE)


class SumCheckResult:
    """Where a validate descriptor writes what it found (the kernel's ``enum sum_check_flags *result``):
    ``flags`` is 0 when every checked sum was right, else the :class:`~dmaengine.SumCheckFlags` of the wrong
    ones. The driver sets it before the descriptor completes; read it after."""

    __slots__ = ("flags",)

    def __init__(self) -> None:
        self.flags = SumCheckFlags(0)

    def __repr__(self) -> str:
        return f"SumCheckResult({self.flags!r})"


class RaidDeviceOps:
    """The XOR / PQ part of ``struct dma_device``: limits, alignments and the ``device_prep_*`` ops."""

    #: Most sources one XOR (or XOR_VAL) descriptor takes (``max_xor``).
    max_xor: ClassVar[int] = 0
    #: Most sources one PQ (or PQ_VAL) descriptor takes (``max_pq`` without ``DMA_HAS_PQ_CONTINUE``).
    max_pq: ClassVar[int] = 0
    #: True when the hardware continues a P/Q computation from the old P and Q itself (``DMA_HAS_PQ_CONTINUE``);
    #: otherwise ``PREP_CONTINUE`` costs three sources (one with ``PREP_PQ_DISABLE_P``), as in dma_maxpq().
    pq_continue: ClassVar[bool] = False
    #: log2 of the alignment of xor and pq addresses and lengths (``xor_align``, ``pq_align``).
    xor_align: ClassVar[int] = 0
    pq_align: ClassVar[int] = 0

    if TYPE_CHECKING:
        name: str

    def dma_maxpq(self, flags: int) -> int:
        """``dma_maxpq``: how many sources one PQ descriptor with ``flags`` may take."""
        if self.pq_continue or not flags & _CONT:
            return self.max_pq
        if flags & _P_DIS:
            return self.max_pq - 1
        return self.max_pq - 3

    def _no_op(self, op: str) -> Any:
        raise NotSupportedError(f"{self.name or type(self).__name__} does not implement {op}")

    def device_prep_dma_xor(self, chan: Channel, dst: int, srcs: list[int], length: int,
                            flags: PrepFlags) -> Descriptor:
        """XOR: a descriptor writing the xor of ``length`` bytes at each address of ``srcs`` to ``dst``. ``dst``
        may be one of the sources (read before it is written); it is no source otherwise."""
        return self._no_op("device_prep_dma_xor")

    def device_prep_dma_xor_val(self, chan: Channel, srcs: list[int], length: int, result: SumCheckResult,
                                flags: PrepFlags) -> Descriptor:
        """XOR_VAL: a descriptor checking that the xor of the sources is zero; before it completes it sets
        ``result.flags`` to 0 (zero) or ``SUM_CHECK_P_RESULT`` (not zero)."""
        return self._no_op("device_prep_dma_xor_val")

    def device_prep_dma_pq(self, chan: Channel, dst: tuple[int, int], srcs: list[int], coefs: bytes, length: int,
                           flags: PrepFlags) -> Descriptor:
        """PQ: ``P = xor(srcs)`` to ``dst[0]`` and ``Q = sum(coefs[i] * srcs[i])`` in GF(2^8) (polynomial 0x11d)
        to ``dst[1]``. ``PREP_PQ_DISABLE_P`` / ``_Q`` leave one out; with ``PREP_CONTINUE`` the old P and Q are
        sources too (``P ^= ...``, ``Q ^= ...``)."""
        return self._no_op("device_prep_dma_pq")

    def device_prep_dma_pq_val(self, chan: Channel, pq: tuple[int, int], srcs: list[int], coefs: bytes,
                               length: int, result: SumCheckResult, flags: PrepFlags) -> Descriptor:
        """PQ_VAL: check P at ``pq[0]`` and Q at ``pq[1]`` against the sources (``PREP_PQ_DISABLE_P`` / ``_Q``
        skip one); before it completes it sets ``result.flags`` to the SUM_CHECK bits of the wrong ones."""
        return self._no_op("device_prep_dma_pq_val")

    def device_prep_dma_memset_sg(self, chan: Channel, sgl: list[SgEntry], value: int,
                                  flags: PrepFlags) -> Descriptor:
        """MEMSET_SG: fill every segment of ``sgl`` with the byte ``value``."""
        return self._no_op("device_prep_dma_memset_sg")


def _addrs(name: str, values: Any, most: int, least: int, dev: str, limit: str) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(f"{name} must be a sequence of DMA addresses, not {values!r}")
    out = list(values)
    for i, v in enumerate(out):
        if v.__class__ is int and v >= 0:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{name}[{i}] must be a DMA address (int >= 0), not {v!r}")
    if len(out) < least:
        raise ConfigError(f"{name} must hold at least {least} sources, not {len(out)}")
    if len(out) > most:
        raise ConfigError(f"{name} holds {len(out)} sources, more than {limit} {most} of {dev}")
    return out


def _coefs(coefs: Any, n: int) -> bytes:
    try:
        out = bytes(coefs)
    except (TypeError, ValueError):
        raise ConfigError(f"coefs must be {n} bytes (0..255), not {coefs!r}") from None
    if isinstance(coefs, (int, str)) or len(out) != n:
        raise ConfigError(f"coefs must be {n} bytes (one per source), not {coefs!r}")
    return out


def _no_overlap(what: str, addr: int, srcs: list[int], length: int) -> None:
    """A destination may be a source exactly (read before written), never overlap one partly."""
    lo, hi = addr - length, addr + length
    for i, s in enumerate(srcs):
        if lo < s < hi and s != addr:
            raise ConfigError(f"srcs[{i}] {s:#x} overlaps {what} {addr:#x} ({length} bytes each)")


class RaidChannelOps:
    """The client prep calls for XOR, XOR_VAL, PQ, PQ_VAL and MEMSET_SG (mixed into ``Channel``)."""

    if TYPE_CHECKING:
        device: DmaDevice
        name: str

        def _need(self, cap: Cap) -> None: ...
        def _check_align(self, what: str, align_shift: int, *values: int) -> None: ...
        def _prepped(self, tx: Descriptor, flags: int, op: str = "") -> Descriptor: ...

    def _length(self, length: Any) -> int:
        if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
            raise ConfigError(f"length must be a positive int, not {length!r}")
        return length

    def _dst(self, name: str, v: Any) -> int:
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{name} must be a DMA address (int >= 0), not {v!r}")
        return v

    def _flags(self, flags: Any) -> PrepFlags:
        if flags.__class__ is PrepFlags:
            return flags
        if not isinstance(flags, int) or isinstance(flags, bool) or flags < 0:
            raise ConfigError(f"flags must be PrepFlags, not {flags!r}")
        return PrepFlags(flags)

    def prep_dma_xor(self, dst: int, srcs: Sequence[int], length: int, flags: int = 0) -> Descriptor:
        """``device_prep_dma_xor``: write the xor of ``length`` bytes at each of ``srcs`` to ``dst``.

        ``dst`` may be one of the sources exactly (continuing an xor), never overlap one partly. At most the
        device's ``max_xor`` sources; addresses and length aligned to ``xor_align``."""
        self._need(Cap.XOR)
        dev = self.device
        pf = self._flags(flags)
        dst = self._dst("dst", dst)
        src = _addrs("srcs", srcs, dev.max_xor, 1, dev.name, "max_xor")
        length = self._length(length)
        self._check_align("address or length", dev.xor_align, dst, *src, length)
        _no_overlap("dst", dst, src, length)
        return self._prepped(dev.device_prep_dma_xor(self, dst, src, length, pf), pf, "xor")  # type: ignore[arg-type]

    def prep_dma_xor_val(self, srcs: Sequence[int], length: int, result: SumCheckResult,
                         flags: int = 0) -> Descriptor:
        """``device_prep_dma_xor_val``: check that the xor of ``srcs`` is zero; ``result.flags`` says
        (``SUM_CHECK_P_RESULT`` when not) once the descriptor has completed."""
        self._need(Cap.XOR_VAL)
        dev = self.device
        pf = self._flags(flags)
        src = _addrs("srcs", srcs, dev.max_xor, 2, dev.name, "max_xor")
        length = self._length(length)
        if not isinstance(result, SumCheckResult):
            raise ConfigError(f"result must be a SumCheckResult, not {result!r}")
        self._check_align("address or length", dev.xor_align, *src, length)
        tx = dev.device_prep_dma_xor_val(self, src, length, result, pf)  # type: ignore[arg-type]
        return self._prepped(tx, pf, "xor_val")

    def _pq_args(self, name: str, pq: Any, srcs: Sequence[int], coefs: Any, length: int, pf: int,
                 most: int) -> tuple[tuple[int, int], list[int], bytes, int]:
        dev = self.device
        if (pf & _P_DIS) and (pf & _Q_DIS):
            raise ConfigError(f"flags disable both P and Q: nothing to do, not {PrepFlags(pf)!r}")
        if not isinstance(pq, (tuple, list)) or len(pq) != 2:
            raise ConfigError(f"{name} must be the pair (P address, Q address), not {pq!r}")
        p = 0 if pf & _P_DIS else self._dst(f"{name}[0] (P)", pq[0])
        q = 0 if pf & _Q_DIS else self._dst(f"{name}[1] (Q)", pq[1])
        src = _addrs("srcs", srcs, most, 1, dev.name, "max_pq")
        cf = _coefs(coefs, len(src))
        length = self._length(length)
        live = [a for a, off in ((p, _P_DIS), (q, _Q_DIS)) if not pf & off]
        if dev.pq_align:
            self._check_align("address or length", dev.pq_align, *live, *src, length)
        if len(live) == 2 and p < q + length and q < p + length:
            raise ConfigError(f"{name}[0] (P) {p:#x} overlaps {name}[1] (Q) {q:#x} ({length} bytes each)")
        return (p, q), src, cf, length

    def prep_dma_pq(self, dst: tuple[int, int], srcs: Sequence[int], coefs: bytes | Sequence[int], length: int,
                    flags: int = 0) -> Descriptor:
        """``device_prep_dma_pq``: ``P = xor(srcs)`` to ``dst[0]``, ``Q = sum(coefs[i] * srcs[i])`` in GF(2^8) to
        ``dst[1]``. ``PREP_PQ_DISABLE_P`` / ``PREP_PQ_DISABLE_Q`` leave one out (its address is ignored);
        ``PREP_CONTINUE`` adds to the old P and Q. At most ``dma_maxpq(flags)`` sources; P and Q may each be a
        source exactly, never overlap one partly."""
        self._need(Cap.PQ)
        dev = self.device
        pf = self._flags(flags)
        fi = int(pf)
        (p, q), src, cf, length = self._pq_args("dst", dst, srcs, coefs, length, fi, dev.dma_maxpq(fi))
        if not fi & _P_DIS:
            _no_overlap("P", p, src, length)
        if not fi & _Q_DIS:
            _no_overlap("Q", q, src, length)
        tx = dev.device_prep_dma_pq(self, (p, q), src, cf, length, pf)  # type: ignore[arg-type]
        return self._prepped(tx, pf, "pq")

    def prep_dma_pq_val(self, pq: tuple[int, int], srcs: Sequence[int], coefs: bytes | Sequence[int], length: int,
                        result: SumCheckResult, flags: int = 0) -> Descriptor:
        """``device_prep_dma_pq_val``: check P at ``pq[0]`` and Q at ``pq[1]`` against ``srcs`` and ``coefs``;
        ``result.flags`` holds ``SUM_CHECK_P_RESULT`` / ``SUM_CHECK_Q_RESULT`` for the wrong ones once the
        descriptor has completed. ``PREP_PQ_DISABLE_P`` / ``_Q`` skip a check."""
        self._need(Cap.PQ_VAL)
        dev = self.device
        pf = self._flags(flags)
        pair, src, cf, length = self._pq_args("pq", pq, srcs, coefs, length, int(pf), dev.max_pq)
        if not isinstance(result, SumCheckResult):
            raise ConfigError(f"result must be a SumCheckResult, not {result!r}")
        tx = dev.device_prep_dma_pq_val(self, pair, src, cf, length, result, pf)  # type: ignore[arg-type]
        return self._prepped(tx, pf, "pq_val")

    def prep_dma_memset_sg(self, sgl: Sequence[SgEntry], value: int, flags: int = 0) -> Descriptor:
        """``device_prep_dma_memset_sg``: fill every segment of ``sgl`` with the byte ``value``."""
        self._need(Cap.MEMSET_SG)
        dev = self.device
        pf = self._flags(flags)
        entries = list(sgl) if isinstance(sgl, Sequence) else None
        if not entries:
            raise ConfigError(f"sgl must hold at least one SgEntry, not {sgl!r}")
        for e in entries:
            if not isinstance(e, SgEntry) or e.addr < 0 or e.length <= 0:
                raise ConfigError(f"sgl entries must be SgEntry with addr >= 0 and length > 0, not {e!r}")
            self._check_align("address or length", dev.fill_align, e.addr, e.length)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
            raise ConfigError(f"value must be a byte 0..255, not {value!r}")
        tx = dev.device_prep_dma_memset_sg(self, entries, value, pf)  # type: ignore[arg-type]
        return self._prepped(tx, pf, "memset_sg")
