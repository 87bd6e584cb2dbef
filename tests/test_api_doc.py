"""docs/api.md is the public reference: every public name of every public module, and every public method of the
main classes, has its entry there. A name added to an ``__all__`` without an entry fails here."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re

import pytest
from test_public_api import PUBLIC_MODULES

API = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.md"

#: Classes whose public methods and properties each need a ``Class.member`` entry.
CLASSES = ["dmaengine.Platform", "dmaengine.Channel", "dmaengine.Descriptor", "dmaengine.Mapping",
           "dmaengine.Scatterlist", "dmaengine.provider.DmaDevice", "dmaengine.provider.AddressSpace",
           "dmaengine.virt.VirtChannel", "dmaengine.virt.VirtDescriptor", "dmaengine.sim.Soc"]


def _sections() -> dict[str, str]:
    text = API.read_text()
    parts = re.split(r"^## `([\w.]+)`\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_every_public_module_has_a_section() -> None:
    assert [m for m in PUBLIC_MODULES if m not in _sections()] == []


@pytest.mark.parametrize("modname", PUBLIC_MODULES)
def test_every_public_name_has_an_entry(modname: str) -> None:
    section = _sections().get(modname, "")
    mod = importlib.import_module(modname)
    missing = [n for n in mod.__all__ if not re.search(rf"^### `{re.escape(n)}[`(]", section, re.M)]
    assert missing == [], f"docs/api.md, section {modname}: no entry for {missing}"


@pytest.mark.parametrize("path", CLASSES)
def test_every_public_method_of_the_main_classes_has_an_entry(path: str) -> None:
    modname, _, clsname = path.rpartition(".")
    cls = getattr(importlib.import_module(modname), clsname)
    text = API.read_text()
    members = [k for k, v in vars(cls).items() if not k.startswith("_")
               and (inspect.isfunction(v) or isinstance(v, (property, staticmethod, classmethod)))]
    assert members
    missing = [k for k in members if f"`{clsname}.{k}" not in text]
    assert missing == [], f"docs/api.md: no entry for {clsname}.{missing}"


def test_every_exception_entry_names_its_errno() -> None:
    import dmaengine

    section = _sections()["dmaengine"]
    for name in dmaengine.__all__:
        obj = getattr(dmaengine, name)
        if inspect.isclass(obj) and issubclass(obj, dmaengine.DmaError):
            entry = re.search(rf"^### `{name}`\n\n(.*)$", section, re.M)
            assert entry is not None and f"errno {obj.errno})" in entry.group(1), name


def test_the_readme_points_at_the_reference_inside_the_repository() -> None:
    readme = (API.parents[1] / "README.md").read_text()
    assert "(docs/api.md)" in readme and "shared/" not in readme
