"""The python blocks of docs/client-driver.md run, in order, in one namespace."""

from __future__ import annotations

import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "client-driver.md"


def test_client_driver_guide_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 14
    ns: dict[str, object] = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}:block{i}", "exec"), ns)
    assert ns["results"] == [ns["TxResult"](ns["Result"].READ_FAILED, 16)]  # type: ignore[operator,attr-defined]
