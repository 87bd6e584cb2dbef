"""Scenes that several shared-bus tests build (not a test module: pytest collects only ``test_*.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dmaengine import BusWidth, Cap, SlaveConfig, TransferDirection
from dmaengine.sim import Soc

D2M = TransferDirection.DEV_TO_MEM


@dataclass
class AdcRxCopy:
    """What :func:`adc_rx_copy` set up: the UART, the three channels, the RX ring's descriptor, the rings, the
    copy's buffers and their mappings."""

    uart0: Any
    ad: Any
    rx: Any
    rd: Any
    mc: Any
    ring_adc: np.ndarray
    ring_rx: np.ndarray
    rx_map: Any
    src: np.ndarray
    dst: np.ndarray
    ms: Any
    md: Any


def adc_rx_copy(soc: Soc, seen: list[object], *, adc_ring: int, adc_period: int, rx_ring: int, rx_period: int,
                copy_bytes: int, src: np.ndarray | None = None) -> AdcRxCopy:
    """The ADC (16-bit, bursts of 4) and UART RX (bytes, bursts of 1) in cyclic DMA into rings of ``adc_ring`` and
    ``rx_ring`` bytes with periods of ``adc_period`` and ``rx_period`` bytes, each period's callback noting
    ``(name, soc.now_ns)`` in ``seen``, both issued; a memcpy channel and a source (``src``, else ``copy_bytes``
    bytes of ``k * 7 % 251``) and a zeroed destination of ``copy_bytes`` bytes, mapped. Always in this order (the
    addresses the mappings get depend on it)."""
    adc, uart0 = soc.peripheral("adc0"), soc.peripheral("uart0")
    ad = soc.request_chan("adc0", "rx")
    ad.slave_config(SlaveConfig(src_addr=adc.rx_fifo_addr, src_addr_width=BusWidth.BYTES_2, src_maxburst=4))
    ring_adc = np.zeros(adc_ring, dtype=np.uint8)
    d = ad.prep_dma_cyclic(soc.map(ring_adc).addr, adc_ring, adc_period, D2M)
    d.callback = lambda _: seen.append(("adc", soc.now_ns))
    d.submit()
    rx = soc.request_chan("uart0", "rx")
    rx.slave_config(SlaveConfig(src_addr=uart0.rx_fifo_addr, src_addr_width=BusWidth.BYTES_1, src_maxburst=1))
    ring_rx = np.zeros(rx_ring, dtype=np.uint8)
    rx_map = soc.map(ring_rx)
    rd = rx.prep_dma_cyclic(rx_map.addr, rx_ring, rx_period, D2M)
    rd.callback = lambda _: seen.append(("rx", soc.now_ns))
    rd.submit()
    mc = soc.request_channel(Cap.MEMCPY)
    if src is None:
        src = (np.arange(copy_bytes) * 7 % 251).astype(np.uint8)
    dst = np.zeros(copy_bytes, dtype=np.uint8)
    ms, md = soc.map(src), soc.map(dst)
    ad.issue_pending()
    rx.issue_pending()
    return AdcRxCopy(uart0, ad, rx, rd, mc, ring_adc, ring_rx, rx_map, src, dst, ms, md)
