"""The conformance suite and the reference model against the RTL controller; the broken variants fail them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmaengine import Platform
from dmaengine.testing import ConformanceSuite, run_reference_model

rtl = pytest.importorskip("dmaengine.rtl")


class TestRtlConformance(ConformanceSuite):
    big_copy = 16 * 1024  # 8 KiB pieces are ~4,000 cycles each: enough to pause and time out in the middle

    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:
        soc = rtl.RtlSoc()
        yield soc
        soc.close()


def test_reference_model_rtl() -> None:
    run_reference_model(rtl.RtlSoc, max_examples=10)
