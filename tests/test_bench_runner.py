"""benchmarks/run.py has one exit policy: a missed row prints FAIL; non-zero exit only with --strict."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (tmp_path / "bench_good.py").write_text("def main():\n    print('row  1.0  PASS')\n    return 0\n")
    (tmp_path / "bench_miss.py").write_text("def main():\n    print('row  0.1  FAIL')\n    return 0\n")
    (tmp_path / "bench_crash.py").write_text("def main():\n    raise RuntimeError('boom')\n")
    mod = _runner()
    monkeypatch.setattr(mod, "HERE", tmp_path)
    return mod


def test_misses_print_fail_and_exit_zero_without_strict(runner: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == ("FAIL: bench_crash.py: exit 1; bench_miss.py: 1 row(s) missed (exit 0 without --strict)")
    assert [line.split(" in ")[0] for line in out if line.startswith("== ") and ":" in line] == [
        "== bench_crash.py: FAIL (exit 1)", "== bench_good.py: ok", "== bench_miss.py: FAIL (1 row(s) missed)"]


def test_strict_exits_one_on_a_miss_and_zero_when_all_pass(runner: ModuleType) -> None:
    assert runner.main(["--strict", "miss"]) == 1
    assert runner.main(["--strict", "good"]) == 0
    assert runner.main(["nothing"]) == 2
