"""The conformance suite over the threaded memcpy engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmaengine import Platform
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.testing import ConformanceSuite, run_reference_model


class TestMemcpyEngineConformance(ConformanceSuite):
    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:
        plat = Platform()
        plat.register_device(MemcpyEngine(channels=2))
        yield plat
        plat.close()


def _make() -> Platform:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=1))
    return plat


def test_reference_model_memcpy_engine() -> None:
    run_reference_model(_make, max_examples=25)
