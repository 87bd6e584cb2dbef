"""Imports point down only (DESIGN.md, Layers): the framework never imports a driver, the simulator or a tool;
the shipped drivers and the simulator use only the public API (``dmaengine``, ``dmaengine.provider``,
``dmaengine.virt``), like a user's driver, except where :data:`PRIVATE_IMPORTS_ALLOWED` says why.

Every ``import`` statement is read with :mod:`ast` (top level, inside functions and under ``TYPE_CHECKING``
alike) and resolved to an absolute module name, so ``from .. import _memory``, ``from .._memory import x``,
``import dmaengine.sim`` and ``from dmaengine import sim`` are all seen.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import dmaengine

ROOT = pathlib.Path(dmaengine.__file__).parent

#: The framework: the package's own private modules and the provider faces.
FRAMEWORK = sorted([*(p.stem for p in ROOT.glob("_*.py") if not p.stem.startswith("__")), "provider", "virt"])

#: Modules above the framework, which it must never import.
ABOVE = ("dmaengine.sim", "dmaengine.tools", "dmaengine.drivers", "dmaengine.cli", "dmaengine.testing",
         "dmaengine.trace", "dmaengine.async_tx", "dmaengine.rtl")

#: The framework modules that may import from above, and why. The one place where the rule bends.
FRAMEWORK_EXCEPTIONS: dict[str, dict[str, str]] = {
    "_default": {"dmaengine.drivers.memcpy": "the default platform is the documented exception: the client "
                                             "tier's ready-made platform holds the memory engine"},
}

#: Private modules of the framework that a driver or the simulator may import, and why. Everything else they
#: need comes from the public faces.
PRIVATE_IMPORTS_ALLOWED: dict[str, str] = {
    "dmaengine._native": "the optional compiled core (DESIGN.md): drivers select their hot path there",
    "dmaengine._files": "the demos check their output files with the command line's helper (not provider API)",
    "dmaengine._check": "the one argument-check module (issue 7): the SoC and its peripherals check their "
                        "constructor arguments exactly as the API checks its own",
    "dmaengine._context": "the simulated SoC's tasklet marks the bottom-half context itself (the thread's depth, "
                          "what ``with bottom_half():`` does, without its two calls: once per bottom half, issue 14)",
    "dmaengine._trace": "the simulator's interrupt handler reads the installed recorder (what provider.tracing() "
                        "answers) without a call, once per interrupt (issue 14)",
}

#: The public faces a driver or the simulator may import (``dmaengine.raid6``: the public GF(2^8) arithmetic, a
#: library without framework state).
PUBLIC = ("dmaengine", "dmaengine.provider", "dmaengine.virt", "dmaengine.raid6")


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: pathlib.Path, me: str | None = None) -> set[str]:
    """Absolute names of every module ``path`` (module ``me``) imports (``from m import n`` counts ``m`` and
    ``m.n``)."""
    tree = ast.parse(path.read_text(), str(path))
    me = me or _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "dmaengine" or m.startswith("dmaengine.")}


def _is_under(mod: str, prefixes: tuple[str, ...]) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in prefixes)


def test_imports_are_resolved_from_every_form(tmp_path: pathlib.Path) -> None:
    """The scanner itself: relative, absolute, from-package and nested forms all resolve."""
    probe = tmp_path / "_probe.py"
    probe.write_text("from .. import _memory\nfrom .._enums import Cap\nimport dmaengine.tools\nimport numpy\n"
                     "def f():\n    from dmaengine import cli\n    from ._kernel import Kernel\n")
    got = imports_of(probe, "dmaengine.sim._probe")
    assert got == {"dmaengine", "dmaengine._memory", "dmaengine._enums", "dmaengine._enums.Cap", "dmaengine.tools",
                   "dmaengine.cli", "dmaengine.sim._kernel", "dmaengine.sim._kernel.Kernel"}


@pytest.mark.parametrize("name", FRAMEWORK)
def test_the_framework_never_imports_a_driver_the_simulator_or_a_tool(name: str) -> None:
    path = ROOT / f"{name}.py"
    allowed = FRAMEWORK_EXCEPTIONS.get(name, {})
    bad = sorted(m for m in imports_of(path) if _is_under(m, ABOVE) and not _is_under(m, tuple(allowed)))
    assert bad == [], f"dmaengine/{name}.py imports {bad}"


def _driver_files() -> list[pathlib.Path]:
    return sorted([*(ROOT / "drivers").rglob("*.py"), *(ROOT / "sim").rglob("*.py")])


@pytest.mark.parametrize("path", _driver_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_drivers_and_the_simulator_use_only_the_public_api(path: pathlib.Path) -> None:
    own = _module_name(path).split(".")[:2]  # dmaengine.sim or dmaengine.drivers: its own package is fine
    own_pkg = ".".join(own)
    bad = []
    for mod in sorted(imports_of(path)):
        if _is_under(mod, (own_pkg,)) or mod in PUBLIC or _is_under(mod, tuple(PRIVATE_IMPORTS_ALLOWED)):
            continue
        head = mod.rpartition(".")[0]
        if head in PUBLIC and not mod.rpartition(".")[2].startswith("_"):
            continue  # a name imported from a public face: ``from dmaengine.provider import DmaDevice``
        bad.append(mod)
    assert bad == [], f"{path.relative_to(ROOT)} imports private framework modules {bad}: use the public " \
                      "faces, or add the module with its reason to PRIVATE_IMPORTS_ALLOWED"


def test_the_exceptions_are_still_needed() -> None:
    """An allowance nobody uses any more is removed, so the list says only what is true."""
    used = set().union(*(imports_of(p) for p in _driver_files()))
    assert [m for m in PRIVATE_IMPORTS_ALLOWED if not any(_is_under(u, (m,)) for u in used)] in (
        [], ["dmaengine._native"])  # the compiled core's users (the engines' hot paths) may come and go
    for name, allowed in FRAMEWORK_EXCEPTIONS.items():
        assert set(allowed) <= imports_of(ROOT / f"{name}.py")
