"""The compiled core is optional and can be forced off; pure Python is always there."""

from __future__ import annotations

import os
import subprocess
import sys

from dmaengine import _native


def _probe(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop(_native.PURE_PYTHON_ENV, None)
    if env_value is not None:
        env[_native.PURE_PYTHON_ENV] = env_value
    code = "from dmaengine import _native; print(_native.forced_pure, _native.core is None)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_the_environment_variable_forces_pure_python() -> None:
    assert _probe("1") == "True True\n"
    assert _probe("yes") == "True True\n"


def test_empty_or_zero_does_not_force_pure_python() -> None:
    for value in (None, "", "0"):
        assert _probe(value).startswith("False ")


def test_the_core_when_loaded_has_the_expected_abi() -> None:
    if _native.core is not None:
        assert _native.core.ABI == 1
    else:
        here = os.listdir(os.path.dirname(_native.__file__))
        assert _native.forced_pure or not any(p.startswith("_cnative") for p in here)
