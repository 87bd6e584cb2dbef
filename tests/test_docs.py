"""Every ```python block of README.md and docs/*.md runs, so the docs never rot.

One test per file: the file's blocks run in order in one fresh namespace (a later block may use what an earlier
one defined), with the working directory set to a temporary one (examples may write files). Only blocks fenced
as ```python run; use ```text, ```sh or ```console for output and commands.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [f for f in files if f.is_file()]


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of each ```python block."""
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def test_block_extraction() -> None:
    text = "# t\n```python\nx = 1\n```\n\n```sh\nls\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = x + 1\n")]


def run_blocks(path: Path) -> int:
    """Run the file's python blocks in order in one fresh namespace; returns how many ran."""
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": f"doc_{path.stem.replace('-', '_')}"}
    for line, code in blocks:
        # Pad with blank lines so a traceback points at the line in the .md file.
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    return len(blocks)


def test_a_broken_example_fails_at_its_line(tmp_path: Path) -> None:
    doc = tmp_path / "broken.md"
    doc.write_text("# x\n\n```python\nvalue = 2\n```\ntext\n```python\nassert value == 3, 'wrong'\n```\n")
    with pytest.raises(AssertionError, match=r"^wrong$") as info:
        run_blocks(doc)
    assert (info.traceback[-1].path, info.traceback[-1].lineno + 1) == (doc, 8)


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_examples_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not python_blocks(path.read_text(encoding="utf-8")):
        pytest.skip(f"{path.name} has no python examples")
    monkeypatch.chdir(tmp_path)
    run_blocks(path)
