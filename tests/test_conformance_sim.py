"""The conformance suite and the reference model over the simulated SoC's controller driver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmaengine import Platform, sim
from dmaengine.testing import ConformanceSuite, run_reference_model


class TestSimConformance(ConformanceSuite):
    big_copy = 4 * 1024 * 1024

    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:
        soc = sim.Soc()
        yield soc
        soc.close()


def test_reference_model_sim() -> None:
    run_reference_model(sim.Soc, max_examples=20)
