"""A conformance suite for DMA controller drivers, written once against the public API.

Point it at your own driver by subclassing :class:`ConformanceSuite` in a pytest file and giving it a
``dma_platform`` fixture that returns a platform with your device registered::

    import pytest
    from dmaengine import Platform
    from dmaengine.testing import ConformanceSuite

    class TestMyDriver(ConformanceSuite):
        @pytest.fixture
        def dma_platform(self):
            plat = Platform()
            plat.register_device(MyDriver())
            yield plat
            plat.close()

Needs the ``test`` extra (pytest and hypothesis).
"""

from ._conformance import ConformanceSuite as ConformanceSuite
from ._model import ReferenceModelMachine as ReferenceModelMachine
from ._model import run_reference_model as run_reference_model

__all__ = ["ConformanceSuite", "ReferenceModelMachine", "run_reference_model"]
