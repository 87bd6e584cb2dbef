"""Build the optional compiled core (dmaengine._cnative); everything else is in pyproject.toml.

The extension is optional: without a C compiler (or if it fails to build) the package installs and runs in pure
Python, which stays the specification and the fallback (see src/dmaengine/_native.py).
"""

from __future__ import annotations

import os
import sysconfig
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the compiled core cannot be built."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, or a broken toolchain
            self.warn(f"dmaengine: compiled core not built ({exc}); the pure-Python code will be used")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"dmaengine: compiled core not built ({exc}); the pure-Python code will be used")
            _drop_stale(self.get_ext_fullpath(ext.name))


def _drop_stale(built: str) -> None:
    """A failed build must not leave an older compiled core in place (an editable install would import it and the
    tests would run against code that is not the source): remove it, so that the pure-Python code runs."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for path in {built, *glob(os.path.join("src", "dmaengine", "_cnative*" + suffix))}:
        if os.path.exists(path):
            os.remove(path)


setup(
    ext_modules=[
        Extension(
            "dmaengine._cnative",
            sources=sorted(glob("src/native/*.c")),
            depends=sorted(glob("src/native/*.h")),
            extra_compile_args=["-O2", "-std=c11"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
