"""The example driver of docs/controller-driver.md passes the whole conformance suite."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from dmaengine import Platform
from dmaengine.testing import ConformanceSuite

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "controller-driver.md"


def _driver_namespace() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    ns: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOC), "exec"), ns)  # the driver block
    return ns


_NS = _driver_namespace()


class TestDocToyDriver(ConformanceSuite):
    @pytest.fixture
    def dma_platform(self) -> Iterator[Platform]:
        plat = Platform()
        plat.register_device(_NS["ToyDma"]())
        yield plat
        plat.close()
