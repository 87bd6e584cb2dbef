"""The curated public face: every public name is exported once, and documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

PUBLIC_MODULES = ["dmaengine", "dmaengine.provider", "dmaengine.virt", "dmaengine.testing",
                  "dmaengine.drivers.memcpy", "dmaengine.trace", "dmaengine.cli", "dmaengine.tools.dmatest",
                  "dmaengine.tools.perf", "dmaengine.tools.info", "dmaengine.sim", "dmaengine.sim.audio_demo",
                  "dmaengine.sim.uart_demo", "dmaengine.async_tx", "dmaengine.raid6"]


@pytest.mark.parametrize("modname", PUBLIC_MODULES)
def test_all_is_unique_and_documented(modname: str) -> None:
    mod = importlib.import_module(modname)
    names = list(mod.__all__)
    assert len(names) == len(set(names)), f"{modname}.__all__ repeats a name"
    assert mod.__doc__
    for name in names:
        obj = getattr(mod, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{modname}.{name} has no docstring"


def test_every_op_a_controller_driver_overrides_is_documented() -> None:
    """The ``device_*`` ops and hooks of DmaDevice are what a driver writer reads first; each says what it does."""
    from dmaengine.provider import DmaDevice
    from dmaengine.virt import VirtChannel, VirtDescriptor

    for cls in (DmaDevice, VirtChannel, VirtDescriptor):
        undocumented = [name for name, member in vars(cls).items()
                        if not name.startswith("_") and inspect.isfunction(member) and not member.__doc__]
        assert undocumented == [], f"{cls.__name__}: {undocumented}"


def test_api_md_names_are_importable() -> None:
    import dmaengine

    for name in ["Platform", "Channel", "Descriptor", "Cap", "Status", "TransferDirection", "DataDirection",
                 "PrepFlags", "BusWidth", "ResidueGranularity", "Result", "SlaveConfig", "SlaveCaps", "TxState",
                 "TxResult", "SgEntry", "DataChunk", "InterleavedTemplate", "DmaError", "NoChannelError",
                 "ConfigError", "NotSupportedError", "BusyError", "StateError", "MappingError", "default_platform",
                 "request_channel", "request_chan", "map", "map_sg", "is_complete"]:
        assert name in dmaengine.__all__, name
    from dmaengine.provider import DmaDevice
    from dmaengine.virt import VirtChannel, VirtDescriptor

    assert DmaDevice and VirtChannel and VirtDescriptor


def test_framework_never_imports_a_driver() -> None:
    import pathlib

    import dmaengine

    root = pathlib.Path(dmaengine.__file__).parent
    for f in [*root.glob("_*.py"), root / "provider.py", root / "virt.py"]:
        if f.name == "_default.py":  # the default platform is the documented exception (client tier)
            continue
        text = f.read_text()
        assert "from .drivers" not in text and "dmaengine.drivers" not in text, f"{f.name} imports a driver"
