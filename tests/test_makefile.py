"""The Makefile's set-up: a Python too old is refused before a venv is made; a venv made by another Python is
rebuilt. (Only the stamp target runs here: nothing is installed.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(tmp_path: Path, python: str, *targets: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", "-C", str(ROOT), f"PYTHON={python}", f"VENV={tmp_path / 'venv'}", *targets],
                          capture_output=True, text=True, timeout=120)


def test_a_python_too_old_is_refused_before_a_venv_is_made(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text(f"#!/bin/sh\n[ \"$1\" = -V ] && {{ echo 'Python 3.9.18'; exit 0; }}\n"
                   f"[ \"$1\" = -c ] && case \"$2\" in *version_info*) exit 1;; esac\nexec {sys.executable} \"$@\"\n")
    old.chmod(0o755)
    r = make(tmp_path, str(old), "install")
    assert r.returncode != 0
    assert r.stderr.splitlines()[:2] == [
        f"make: dmaengine needs Python 3.11 or newer; '{old}' is Python 3.9.18.",
        "make: run 'make PYTHON=python3.12' (or any python3.11+ on your PATH); no venv was made.",
    ]
    assert not (tmp_path / "venv").exists()


def test_a_venv_made_by_another_python_is_rebuilt(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    other = venv / "bin" / "python"  # a venv whose interpreter is some other Python
    other.write_text("#!/bin/sh\necho 'CPython 3.11.0 /opt/elsewhere'\n")
    other.chmod(0o755)
    (venv / "marker").write_text("from the old venv")
    r = make(tmp_path, sys.executable, str(venv / ".python-id"))
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith(f"make: {venv} was made by another Python; rebuilding it with {sys.executable} (")
    assert not (venv / "marker").exists()
    ident = (venv / ".python-id").read_text().split()
    assert ident[:2] == ["CPython" if sys.implementation.name == "cpython" else ident[0],
                         ".".join(map(str, sys.version_info[:3]))]
    # the same Python again: nothing to do, nothing said
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(sys.executable)
    r = make(tmp_path, sys.executable, str(venv / ".python-id"))
    assert (r.returncode, r.stderr) == (0, "")
    assert (venv / "bin" / "python").is_symlink()
