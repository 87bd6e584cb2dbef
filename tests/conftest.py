from __future__ import annotations

import os

from hypothesis import settings

# CI runs a bounded version of the long randomized (soak) runs.
settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_report_header(config: object) -> str:
    from dmaengine import _native

    if _native.forced_pure:
        return f"dmaengine compiled core: off ({_native.PURE_PYTHON_ENV} is set): pure Python"
    return "dmaengine compiled core: " + ("loaded" if _native.core is not None else "absent: pure Python")
