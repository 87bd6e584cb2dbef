"""The examples in docstrings run too: ``>>>`` examples as doctests, ``.. code-block:: python`` blocks as code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import dmaengine

BLOCK = re.compile(r"^( *)\.\. code-block:: python\n\n((?:\1 {4}.*\n|\n)+)", re.M)


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(dmaengine.__path__, "dmaengine."))


def test_the_examples_are_found() -> None:
    found = {name for name in modules() if ">>> " in (importlib.import_module(name).__doc__ or "")
             or BLOCK.search(importlib.import_module(name).__doc__ or "")}
    assert {"dmaengine.trace", "dmaengine.tools.dmatest", "dmaengine.sim"} <= found


@pytest.mark.parametrize("name", modules())
def test_docstring_examples_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest example(s) of {name} failed"
    for m in BLOCK.finditer(mod.__doc__ or ""):
        exec(compile(textwrap.dedent(m.group(2)), f"<{name} docstring>", "exec"), {"__name__": f"doc_{name}"})
