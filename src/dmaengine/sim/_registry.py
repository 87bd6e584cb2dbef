"""Which model simulates a device-tree node: ``compatible`` strings mapped to peripheral models and controllers.

A node's ``compatible`` strings are tried in order, most specific first, as the kernel matches drivers, and the
first one with a model wins. A model is a builder, ``build(node, name) -> Peripheral``, that reads the node's
properties through :class:`~dmaengine.sim.DtNode`, and optionally a writer, ``write(peripheral) -> {property:
value}``, that :meth:`Soc.to_dts <dmaengine.sim.Soc.to_dts>` uses to write the model back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmaengine import ConfigError

from ._adc import Adc
from ._i2s import I2s
from ._periph import Peripheral
from ._uart import Uart

if TYPE_CHECKING:
    from ._dts import DtNode

__all__ = ["Builder", "Model", "Models", "PropValue", "Writer"]

#: A property value :meth:`Soc.to_dts` can write: a cell, cells, a string or strings (True: an empty property).
PropValue = int | str | bool | Sequence[int] | Sequence[str]
Builder = Callable[["DtNode", str], Peripheral]
Writer = Callable[[Peripheral], Mapping[str, PropValue]]

#: The compatible of the simulated DMA controller (``#dma-cells = <1>``: the cell is the request line).
SIM_DMAC = "dmaengine,sim-dmac"


@dataclass(frozen=True, slots=True)
class Model:
    """A registered peripheral model: its compatible, builder, writer, and the Python class it builds."""

    compatible: str
    build: Builder
    write: Writer | None = None
    cls: type[Peripheral] | None = None


def _fifo(node: DtNode, depth: int) -> dict[str, tuple[str, int]]:
    return {"fifo_depth": ("dmaengine,fifo-depth", node.u32("dmaengine,fifo-depth", depth, least=1)),
            "threshold": ("dmaengine,fifo-threshold", node.u32("dmaengine,fifo-threshold", 1, least=1))}


def _build_uart(node: DtNode, name: str) -> Peripheral:
    return node.construct(Uart, name, baud=("current-speed", node.u32("current-speed", 115_200, least=1)),
                          **_fifo(node, 32))


def _write_uart(p: Peripheral) -> dict[str, PropValue]:
    assert isinstance(p, Uart) and p.tx is not None
    return {"current-speed": p.baud, "dmaengine,fifo-depth": p.tx.depth, "dmaengine,fifo-threshold": p.tx.threshold}


def _build_i2s(node: DtNode, name: str) -> Peripheral:
    return node.construct(
        I2s, name, rate_hz=("dmaengine,sample-rate-hz", node.u32("dmaengine,sample-rate-hz", 48_000, least=1)),
        channels=("dmaengine,channels", node.u32("dmaengine,channels", 2, least=1)),
        sample_width=("dmaengine,sample-width-bytes", node.u32("dmaengine,sample-width-bytes", 2, least=1)),
        **_fifo(node, 64))


def _write_i2s(p: Peripheral) -> dict[str, PropValue]:
    assert isinstance(p, I2s) and p.tx is not None
    return {"dmaengine,sample-rate-hz": p.rate_hz, "dmaengine,channels": p.channels,
            "dmaengine,sample-width-bytes": p.sample_width, "dmaengine,fifo-depth": p.tx.depth,
            "dmaengine,fifo-threshold": p.tx.threshold}


def _build_adc(node: DtNode, name: str) -> Peripheral:
    freq = node.u32("dmaengine,signal-frequency-millihz", 50_000)
    return node.construct(
        Adc, name, rate_hz=("dmaengine,sample-rate-hz", node.u32("dmaengine,sample-rate-hz", 8_000, least=1)),
        bits=("dmaengine,resolution-bits", node.u32("dmaengine,resolution-bits", 12, least=1)),
        sample_width=("dmaengine,sample-width-bytes", node.u32("dmaengine,sample-width-bytes", 2, least=1)),
        freq_hz=("dmaengine,signal-frequency-millihz", freq / 1000), **_fifo(node, 32))


def _write_adc(p: Peripheral) -> dict[str, PropValue]:
    assert isinstance(p, Adc) and p.rx is not None
    millihz = round(p.freq_hz * 1000)
    if millihz / 1000 != p.freq_hz:
        raise ConfigError(f"{p.name}: freq_hz {p.freq_hz!r} is not a whole number of millihertz; DTS cannot hold it")
    return {"dmaengine,sample-rate-hz": p.rate_hz, "dmaengine,resolution-bits": p.bits,
            "dmaengine,sample-width-bytes": p.sample_width, "dmaengine,signal-frequency-millihz": millihz,
            "dmaengine,fifo-depth": p.rx.depth, "dmaengine,fifo-threshold": p.rx.threshold}


class Models:
    """A registry from ``compatible`` strings to models. A new one holds the built-in models:

    ===========================  ==========================================================================
    ``dmaengine,sim-dmac``       the DMA controller (:class:`~dmaengine.sim.Dmac` and its driver)
    ``dmaengine,sim-uart``       :class:`~dmaengine.sim.Uart`: ``current-speed`` (baud)
    ``dmaengine,sim-i2s``        :class:`~dmaengine.sim.I2s`: ``dmaengine,sample-rate-hz``, ``dmaengine,channels``,
                                 ``dmaengine,sample-width-bytes``
    ``dmaengine,sim-adc``        :class:`~dmaengine.sim.Adc`: ``dmaengine,sample-rate-hz``,
                                 ``dmaengine,resolution-bits``, ``dmaengine,sample-width-bytes``,
                                 ``dmaengine,signal-frequency-millihz``
    ===========================  ==========================================================================

    (and ``dmaengine,fifo-depth`` / ``dmaengine,fifo-threshold`` in bytes on each peripheral).

    >>> models = Models()
    >>> models.register("acme,uart", lambda node, name: Uart(name, baud=node.u32("current-speed", 9600)))
    >>> models.find(["acme,uart-v2", "acme,uart"]).compatible
    'acme,uart'
    """

    def __init__(self) -> None:
        self._models: dict[str, Model] = {}
        self._dmacs: list[str] = [SIM_DMAC]
        self.register("dmaengine,sim-uart", _build_uart, _write_uart, cls=Uart)
        self.register("dmaengine,sim-i2s", _build_i2s, _write_i2s, cls=I2s)
        self.register("dmaengine,sim-adc", _build_adc, _write_adc, cls=Adc)

    def register(self, compatible: str, build: Builder, write: Writer | None = None, *,
                 cls: type[Peripheral] | None = None, replace: bool = False) -> None:
        """Simulate nodes with ``compatible`` by ``build(node, name)``; ``write(peripheral)`` gives the properties
        :meth:`Soc.to_dts` writes for it, and ``cls`` is the class it builds (so that a peripheral of that class
        attached by hand can be written too). ``replace`` allows registering a compatible again."""
        if not isinstance(compatible, str) or not compatible or any(c.isspace() for c in compatible):
            raise ConfigError(f"compatible must be a non-empty string without spaces, not {compatible!r}")
        if not callable(build):
            raise ConfigError(f"build must be callable(node, name) -> Peripheral, not {build!r}")
        if write is not None and not callable(write):
            raise ConfigError(f"write must be callable(peripheral) -> dict, not {write!r}")
        if not replace and (compatible in self._models or compatible in self._dmacs):
            raise ConfigError(f"compatible {compatible!r} already has a model (pass replace=True)")
        self._models[compatible] = Model(compatible, build, write, cls)

    def register_dmac(self, compatible: str) -> None:
        """Simulate nodes with ``compatible`` (your controller's) by the simulated DMA controller."""
        if not isinstance(compatible, str) or not compatible:
            raise ConfigError(f"compatible must be a non-empty string, not {compatible!r}")
        if compatible in self._models or compatible in self._dmacs:
            raise ConfigError(f"compatible {compatible!r} already has a model")
        self._dmacs.append(compatible)

    def is_dmac(self, compatibles: Iterable[str]) -> str | None:
        """The first of ``compatibles`` that names the simulated controller (None: not a controller we model).
        A compatible with a peripheral model ahead of it wins."""
        for c in compatibles:
            if c in self._dmacs:
                return c
            if c in self._models:
                return None
        return None

    def find(self, compatibles: Iterable[str]) -> Model | None:
        """The model of the first of ``compatibles`` that has one, in order (None: no model)."""
        for c in compatibles:
            if c in self._dmacs:
                return None
            m = self._models.get(c)
            if m is not None:
                return m
        return None

    def for_peripheral(self, p: Peripheral) -> Model | None:
        """The model registered for ``p``'s class (the most recently registered one)."""
        for m in reversed(list(self._models.values())):
            if m.cls is type(p):
                return m
        return None

    @property
    def compatibles(self) -> list[str]:
        """Every compatible with a model, controllers first."""
        return [*self._dmacs, *self._models]
