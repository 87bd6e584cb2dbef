"""Device-tree boards: read a ``.dts`` / ``.dtb`` into a :class:`~dmaengine.sim.Board`, write a Soc back as DTS.

Parsing is done by maintained libraries: Zephyr's ``dtlib`` (PyPI ``devicetree``) for DTS text (labels, phandle
and path references, expressions, ``/include/``; ``#include`` and macros go through the C preprocessor first, as
the kernel build does) and ``fdt`` for flattened blobs. This module gives the tree its meaning for the simulator.

Properties the simulator reads (besides the standard ``compatible``, ``reg``, ``ranges``, ``status``,
``#address-cells``, ``#size-cells``, ``device_type = "memory"``, ``/aliases``, ``dmas``, ``dma-names``,
``#dma-cells``, ``dma-channels``, ``dma-requests``):

===================================  =====================================================================
``dmaengine,bus-bytes-per-second``   on a controller or any bus node above it: bytes per second of the
                                     controller's memory bus at full width (one or two cells)
``dmaengine,bus-width-bytes``        controller or bus: bytes of one bus beat, 1, 2, 4 or 8
``dmaengine,max-burst``              controller or bus: the longest burst in beats, 1..256
``dmaengine,fetch-latency-ns``       controller or bus: descriptor fetch latency
``dmaengine,bh-latency-ns``          root node: interrupt to bottom half (callbacks)
``dmaengine,tx-fifo-offset``         peripheral: TX FIFO register offset in ``reg`` (default 0x0)
``dmaengine,rx-fifo-offset``         peripheral: RX FIFO register offset in ``reg`` (default 0x4)
===================================  =====================================================================
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from dmaengine import ConfigError

from ._board import Board, ControllerDesc, NodeInfo, PeripheralDesc, Wire
from ._periph import Peripheral
from ._registry import SIM_DMAC, Model, Models, PropValue

if TYPE_CHECKING:
    from ._soc import Soc

__all__ = ["DtNode", "DtsError", "board_summary", "read_board", "write_dts"]

FDT_MAGIC = b"\xd0\x0d\xfe\xed"
#: The C preprocessor, as the kernel runs it on .dts files (scripts/Makefile.lib, dtc_cpp_flags).
CPP = ["cpp", "-nostdinc", "-undef", "-D__DTS__", "-x", "assembler-with-cpp"]
_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(include|define|undef|if|ifdef|ifndef|elif|else|endif|error)\b", re.M)
_BUS_PROPS = ("dmaengine,bus-bytes-per-second", "dmaengine,bus-width-bytes", "dmaengine,max-burst",
              "dmaengine,fetch-latency-ns")
#: The most channels a simulated controller may have (each is a driver channel and a model channel).
MAX_CHANNELS = 1024
_STRUCTURAL = {"/aliases", "/chosen", "/__symbols__", "/__fixups__", "/__local_fixups__"}

P = TypeVar("P", bound=Peripheral)


class DtsError(ConfigError):
    """A bad device tree, in one line: ``file[:line]: node path: property: what is wrong``."""

    def __init__(self, file: str, path: str | None, prop: str | None, message: str, line: int | None = None
                 ) -> None:
        self.file = file
        self.path = path
        self.prop = prop
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        parts = [where] + [p for p in (path, prop) if p is not None] + [message]
        super().__init__(": ".join(parts))


@dataclass(eq=False)
class DtNode:
    """A device-tree node as the simulator reads it: its path, labels, raw property values (big-endian cells,
    NUL-terminated strings) and children. The typed getters raise :class:`DtsError` naming the file, this node
    and the property."""

    path: str
    file: str
    labels: list[str] = field(default_factory=list)
    props: dict[str, bytes] = field(default_factory=dict)
    children: list[DtNode] = field(default_factory=list)
    parent: DtNode | None = None

    @property
    def name(self) -> str:
        """The node name with its unit address (``serial@40011000``)."""
        return self.path.rsplit("/", 1)[-1] or "/"

    def error(self, prop: str | None, message: str) -> DtsError:
        """A :class:`DtsError` about ``prop`` of this node."""
        return DtsError(self.file, self.path, prop, message)

    def _raw(self, prop: str) -> bytes:
        try:
            return self.props[prop]
        except KeyError:
            raise self.error(prop, "missing") from None

    def has(self, prop: str) -> bool:
        """True when the node has ``prop``."""
        return prop in self.props

    def cells(self, prop: str) -> list[int]:
        """``prop`` as 32-bit cells."""
        raw = self._raw(prop)
        if len(raw) % 4:
            raise self.error(prop, f"expected 32-bit cells (<...>), not {len(raw)} bytes {_show(raw)}")
        return list(struct.unpack(f">{len(raw) // 4}I", raw))

    def u32(self, prop: str, default: int | None = None, *, least: int = 0, most: int | None = None) -> int:
        """``prop`` as one cell, or ``default`` when absent (absent without a default is an error); at least
        ``least`` and at most ``most``."""
        if prop not in self.props:
            if default is None:
                raise self.error(prop, "missing")
            return default
        cells = self.cells(prop)
        if len(cells) != 1:
            raise self.error(prop, f"expected one cell, not {len(cells)} {_show(self.props[prop])}")
        if cells[0] < least or (most is not None and cells[0] > most):
            span = f">= {least}" if most is None else f"{least}..{most}"
            raise self.error(prop, f"must be {span}, not {cells[0]}")
        return cells[0]

    def u64(self, prop: str, default: int | None = None, *, least: int = 0) -> int:
        """``prop`` as one or two cells (a 64-bit value is two, high first), or ``default`` when absent."""
        if prop not in self.props:
            if default is None:
                raise self.error(prop, "missing")
            return default
        cells = self.cells(prop)
        if len(cells) not in (1, 2):
            raise self.error(prop, f"expected one or two cells, not {len(cells)} {_show(self.props[prop])}")
        v = cells[0] if len(cells) == 1 else cells[0] << 32 | cells[1]
        if v < least:
            raise self.error(prop, f"must be >= {least}, not {v}")
        return v

    def strings(self, prop: str) -> list[str]:
        """``prop`` as a list of strings."""
        raw = self._raw(prop)
        if not raw or raw[-1] != 0:
            raise self.error(prop, f"expected strings (\"...\"), not {_show(raw)}")
        try:
            return raw[:-1].decode("utf-8").split("\0")
        except UnicodeDecodeError:
            raise self.error(prop, f"expected strings (\"...\"), not {_show(raw)}") from None

    def string(self, prop: str, default: str | None = None) -> str:
        """``prop`` as one string, or ``default`` when absent."""
        if prop not in self.props:
            if default is None:
                raise self.error(prop, "missing")
            return default
        s = self.strings(prop)
        if len(s) != 1:
            raise self.error(prop, f"expected one string, not {len(s)}")
        return s[0]

    def construct(self, cls: type[P], name: str, **args: tuple[str, Any]) -> P:
        """``cls(name, **{arg: value})`` from ``args = {arg: (property, value)}``; a ConfigError the model raises
        about an argument becomes a :class:`DtsError` about its property."""
        try:
            return cls(name, **{k: v for k, (_, v) in args.items()})
        except DtsError:
            raise
        except ConfigError as e:
            msg = str(e)
            for arg, (prop, _) in args.items():
                if msg.startswith(f"{arg} "):
                    raise self.error(prop, msg) from None
            raise self.error("compatible", msg) from None

    def walk(self) -> Iterator[DtNode]:
        """This node and every node below it, depth first, in source order."""
        yield self
        for c in self.children:
            yield from c.walk()

    def inherited(self, prop: str) -> DtNode | None:
        """The nearest node from this one up to the root that has ``prop``."""
        n: DtNode | None = self
        while n is not None:
            if prop in n.props:
                return n
            n = n.parent
        return None


def _show(raw: bytes) -> str:
    if len(raw) % 4 == 0 and raw:
        return "<" + " ".join(f"{c:#x}" for c in struct.unpack(f">{len(raw) // 4}I", raw)) + ">"
    if raw.endswith(b"\0") and all(32 <= b < 127 or b == 0 for b in raw):
        return ", ".join(f'"{s}"' for s in raw[:-1].decode().split("\0"))
    return "[" + " ".join(f"{b:02x}" for b in raw) + "]"


@dataclass
class _Tree:
    root: DtNode
    file: str
    by_path: dict[str, DtNode]
    by_phandle: dict[int, DtNode]
    aliases: dict[str, str]  # alias -> path


# --- reading ------------------------------------------------------------------------------------------------
def _load(source: str | os.PathLike[str] | bytes, include_dirs: Sequence[str | os.PathLike[str]]) -> _Tree:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data[:4] == FDT_MAGIC:
            return _from_dtb(data, "<dtb>")
        return _from_dts_text(data.decode("utf-8", "replace"), "<string>", None, include_dirs)
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and "{" not in source):
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise DtsError(path, None, None, f"cannot read: {e.strerror}") from None
        except ValueError as e:  # (a NUL in the path)
            raise DtsError(path.replace("\0", "\\0"), None, None, f"cannot read: {e}") from None
        if data[:4] == FDT_MAGIC:
            return _from_dtb(data, path)
        return _from_dts_text(data.decode("utf-8", "replace"), path, path, include_dirs)
    if not isinstance(source, str):
        raise ConfigError(f"from_dts takes a path, DTS text or DTB bytes, not {type(source).__name__}")
    return _from_dts_text(source, "<string>", None, include_dirs)


def _cpp(text: str, name: str, path: str | None, include_dirs: Sequence[str]) -> str:
    exe = shutil.which(CPP[0])
    if exe is None:
        raise DtsError(name, None, None, "has preprocessor directives (#include, #define) and needs the C "
                                         "preprocessor, but cpp is not installed")
    args = [exe, *CPP[1:]]
    for d in include_dirs:
        args += ["-I", d]
    if path is not None:
        args.append(path)
        stdin = None
    else:
        args.append("-")
        stdin = f'# 1 "{name}"\n{text}'
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode:
        for line in proc.stderr.splitlines():
            m = re.match(r"^(.*?):(\d+):(?:\d+:)? (?:fatal )?error: (.*)$", line)
            if m:
                raise DtsError(m[1], None, None, f"preprocessor error: {m[3]}", int(m[2]))
        first = proc.stderr.strip().splitlines()[:1]
        raise DtsError(name, None, None, f"preprocessor error: {first[0] if first else proc.returncode}")
    return proc.stdout


_SYNTAX = re.compile(r"^(?P<file>.*):(?P<line>\d+) \(column (?P<col>\d+)\): parse error: (?P<msg>.*)$")
_UNDEF = re.compile(r"^(?P<path>/\S*): undefined node label '(?P<label>[^']+)'$")


def _from_dts_text(text: str, name: str, path: str | None, include_dirs: Sequence[str | os.PathLike[str]]) -> _Tree:
    from devicetree import dtlib

    dirs = [os.fspath(d) for d in include_dirs]
    if path is not None:
        dirs.append(os.path.dirname(path) or ".")
    # Without the preprocessor, a line marker makes errors name the user's file, not the copy dtlib reads.
    text = _cpp(text, name, path, dirs) if _DIRECTIVE.search(text) else f'#line 1 "{name}"\n{text}'
    with tempfile.TemporaryDirectory(prefix="dmaengine-dts-") as tmp:
        tmpfile = os.path.join(tmp, "board.dts")
        with open(tmpfile, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            dt = dtlib.DT(tmpfile, include_path=dirs)
        except dtlib.DTError as e:
            raise _dtlib_error(str(e), name, text) from None
        except RecursionError:
            raise DtsError(name, None, None, "nesting too deep") from None
        except Exception as e:  # dtlib trips over some malformed input (a &label node before the root node)
            raise DtsError(name, None, None, f"cannot parse: {type(e).__name__}: {e}") from None
    return _from_dtlib(dt, name)


def _dtlib_error(msg: str, name: str, text: str) -> DtsError:
    m = _SYNTAX.match(msg)
    if m:
        return DtsError(m["file"], None, None, f"syntax error: {m['msg']} (column {m['col']})", int(m["line"]))
    m = _UNDEF.match(msg)
    if m:
        file, line, prop = _find_ref(text, m["label"], name)
        return DtsError(file, m["path"], prop, f"&{m['label']} points nowhere (no node has that label)", line)
    return DtsError(name, None, None, msg)


def _find_ref(text: str, label: str, name: str) -> tuple[str, int | None, str | None]:
    """Where ``&label`` first appears in preprocessed text (following line markers): file, line, property."""
    file, line = name, 0
    ref = re.compile(rf"&{re.escape(label)}(?![\w-])")
    for raw in text.split("\n"):
        m = re.match(r'^#(?:line)?[ \t]+(\d+)[ \t]+"((?:[^\\"]|\\.)*)"', raw)
        if m:
            file, line = m[2], int(m[1]) - 1
            continue
        line += 1
        if ref.search(raw):
            pm = re.search(r"([\w,.+?#-]+)\s*=[^=]*$", raw[: ref.search(raw).start()])  # type: ignore[union-attr]
            return file, line, pm[1] if pm else None
    return name, None, None


def _from_dtlib(dt: Any, name: str) -> _Tree:
    by_path: dict[str, DtNode] = {}

    def conv(n: Any, parent: DtNode | None) -> DtNode:
        node = DtNode(n.path, name, list(n.labels), {k: bytes(p.value) for k, p in n.props.items()}, [], parent)
        by_path[node.path] = node
        node.children = [conv(c, node) for c in n.nodes.values()]
        return node

    root = conv(dt.root, None)
    by_phandle = {ph: by_path[n.path] for ph, n in dt.phandle2node.items()}
    aliases = {a: n.path for a, n in dt.alias2node.items()}
    return _Tree(root, name, by_path, by_phandle, aliases)


def _from_dtb(data: bytes, name: str) -> _Tree:
    import fdt

    try:
        blob = fdt.parse_dtb(data)
    except Exception as e:  # fdt raises ValueError, struct.error, IndexError... on a bad blob
        raise DtsError(name, None, None, f"not a valid device-tree blob: {e}") from None
    by_path: dict[str, DtNode] = {}

    def raw(p: Any) -> bytes:
        if isinstance(p, fdt.PropStrings):
            return b"".join(s.encode() + b"\0" for s in p.data)
        if isinstance(p, fdt.PropWords):
            return b"".join(struct.pack(">I", w) for w in p.data)
        if isinstance(p, fdt.PropBytes):
            return bytes(p.data)
        return b""

    def conv(n: Any, path: str, parent: DtNode | None) -> DtNode:
        node = DtNode(path, name, [], {p.name: raw(p) for p in n.props}, [], parent)
        by_path[path] = node
        node.children = [conv(c, f"{path.rstrip('/')}/{c.name}", node) for c in n.nodes]
        return node

    root = conv(blob.root, "/", None)
    by_phandle: dict[int, DtNode] = {}
    for node in root.walk():
        for prop in ("phandle", "linux,phandle"):
            if prop in node.props:
                by_phandle[node.u32(prop)] = node
    aliases: dict[str, str] = {}
    for tag, table in (("aliases", aliases), ("__symbols__", None)):
        holder = by_path.get(f"/{tag}")
        if holder is None:
            continue
        for prop in holder.props:
            target = by_path.get(holder.string(prop))
            if target is None:
                raise holder.error(prop, f"{holder.string(prop)!r} is not a node")
            if table is not None:
                table[prop] = target.path
            else:
                target.labels.append(prop)
    return _Tree(root, name, by_path, by_phandle, aliases)


# --- meaning ------------------------------------------------------------------------------------------------
def _status_ok(node: DtNode) -> bool:
    return not node.has("status") or node.string("status") in ("okay", "ok")


def _addr_cells(node: DtNode | None) -> tuple[int, int]:
    """``(#address-cells, #size-cells)`` a node gives its children (2, 1 when absent, as dtc assumes)."""
    if node is None:
        return 2, 1
    return node.u32("#address-cells", 2), node.u32("#size-cells", 1)


def _reg(node: DtNode) -> list[tuple[int, int]]:
    """The node's ``reg`` entries translated to CPU addresses through the ``ranges`` of the buses above."""
    ac, sc = _addr_cells(node.parent)
    cells = node.cells("reg")
    if ac == 0 or len(cells) % (ac + sc):
        raise node.error("reg", f"expected entries of {ac} address + {sc} size cells (#address-cells / "
                                f"#size-cells of {node.parent.path if node.parent else '/'}), not {len(cells)} "
                                "cells")
    if not cells:
        raise node.error("reg", "empty: expected <address size>")
    out = []
    for i in range(0, len(cells), ac + sc):
        addr = _join(cells[i : i + ac])
        size = _join(cells[i + ac : i + ac + sc])
        out.append((_translate(node, addr), size))
    return out


def _join(cells: Sequence[int]) -> int:
    v = 0
    for c in cells:
        v = v << 32 | c
    return v


def _translate(node: DtNode, addr: int) -> int:
    bus = node.parent
    while bus is not None and bus.parent is not None:
        if bus.has("ranges") and bus.props["ranges"]:
            cac, csc = _addr_cells(bus)
            pac, _ = _addr_cells(bus.parent)
            cells = bus.cells("ranges")
            step = cac + pac + csc
            if len(cells) % step:
                raise bus.error("ranges", f"expected entries of {cac} + {pac} + {csc} cells, not {len(cells)} cells")
            for i in range(0, len(cells), step):
                child = _join(cells[i : i + cac])
                parent = _join(cells[i + cac : i + cac + pac])
                size = _join(cells[i + cac + pac : i + step])
                if child <= addr < child + size:
                    addr = addr - child + parent
                    break
            else:
                raise node.error("reg", f"address {addr:#x} is outside the ranges of {bus.path}")
        bus = bus.parent
    return addr


def _ident(s: str) -> str:
    out = re.sub(r"\W", "_", s)
    return out if out.isidentifier() else f"_{out}"


def read_board(source: str | os.PathLike[str] | bytes, *, models: Models | None = None,
               include_dirs: Sequence[str | os.PathLike[str]] = (), strict: bool = False) -> Board:
    """Read a device tree (see :meth:`dmaengine.sim.Soc.from_dts`) into a :class:`Board`. A node the simulator
    does not model is listed in :attr:`Board.unmodelled`; with ``strict`` it is an error (disabled nodes aside)."""
    if models is None:
        models = Models()
    elif not isinstance(models, Models):
        raise ConfigError(f"models must be a dmaengine.sim.Models, not {models!r}")
    tree = _load(source, include_dirs)
    root = tree.root
    board = Board(source=tree.file)
    board.bh_latency_ns = root.u32("dmaengine,bh-latency-ns", 1_000)
    if root.has("model"):
        board.model = root.string("model")
    if root.has("compatible"):
        board.compatible = tuple(root.strings("compatible"))
    aliases_of: dict[str, list[str]] = {}
    for alias, path in tree.aliases.items():
        aliases_of.setdefault(path, []).append(alias)

    def info(n: DtNode) -> NodeInfo:
        return NodeInfo(n.path, tuple(n.labels), tuple(aliases_of.get(n.path, ())))

    ctrl_index: dict[str, int] = {}
    clients: list[tuple[DtNode, Model]] = []
    disabled: list[str] = []
    for node in root.walk():
        if node is root or node.path in _STRUCTURAL:
            continue
        if any(node.path.startswith(f"{d}/") for d in disabled):
            continue  # below a disabled node: not probed, as in the kernel (the disabled node is listed)
        if not _status_ok(node):
            disabled.append(node.path)
            board.unmodelled.append((node.path, f'status = "{node.string("status")}"'))
            continue
        if node.has("device_type") and node.string("device_type") == "memory":
            if board.memory is None:
                board.memory = _reg(node)[0]
            continue
        compat = node.strings("compatible") if node.has("compatible") else []
        if any(c in ("simple-bus", "simple-pm-bus") for c in compat) or (not compat and node.children
                                                                            and node.has("ranges")):
            continue
        if models.is_dmac(compat) is not None:
            ctrl_index[node.path] = len(board.controllers)
            board.controllers.append(_controller(node, info(node), tuple(compat)))
            continue
        model = models.find(compat)
        if model is not None:
            clients.append((node, model))
            continue
        if node.has("dmas") or node.has("#dma-cells"):
            what = "a DMA controller" if node.has("#dma-cells") else "a DMA client"
            if not compat:
                raise node.error("compatible", f"missing: {what} needs a compatible with a model")
            shown = ", ".join(f'"{c}"' for c in compat)
            raise node.error("compatible", f"no model for {shown} ({what}; known: {', '.join(models.compatibles)})")
        if strict:
            shown = ", ".join(f'"{c}"' for c in compat)
            raise node.error("compatible", f"no model for {shown} (strict)" if compat else "missing (strict)")
        board.unmodelled.append((node.path, f"no model for {', '.join(compat)}" if compat else "no compatible"))

    names: dict[str, str] = {}
    used_lines: dict[tuple[int, int], str] = {}
    regions: list[tuple[int, int, str]] = [(c.reg[0], c.reg[0] + max(c.reg[1], 1), c.node.path)
                                           for c in board.controllers if c.reg is not None]
    for node, model in clients:
        name = next((lb for lb in node.labels if lb.isidentifier()), None)
        if name is None:
            name = next((a for a in aliases_of.get(node.path, ()) if a.isidentifier()), None)
        if name is None:
            name = _ident(node.name)
        if name in names:
            raise node.error(None, f"peripheral name {name!r} is taken by {names[name]} (give one a label)")
        names[name] = node.path
        try:
            p = model.build(node, name)
        except DtsError:
            raise
        except ConfigError as e:  # a user's model refusing a value: say where
            raise node.error("compatible", f"the model of {model.compatible!r} refused the node: {e}") from None
        if not isinstance(p, Peripheral):
            raise node.error("compatible", f"the model of {model.compatible!r} built {p!r}, not a Peripheral")
        if not node.has("reg"):
            raise node.error("reg", "missing: a peripheral needs its register (FIFO) addresses")
        base, size = _reg(node)[0]
        for lo, hi, other in regions:
            if lo < base + max(size, 1) and base < hi:
                raise node.error("reg", f"<{base:#x} {size:#x}> overlaps the registers of {other}")
        regions.append((base, base + max(size, 1), node.path))
        tx_off = node.u32("dmaengine,tx-fifo-offset", 0)
        rx_off = node.u32("dmaengine,rx-fifo-offset", 4)
        wires = _wires(node, p, tree, ctrl_index, board, used_lines)
        board.peripherals.append(PeripheralDesc(info(node), p, base, tuple(wires), tx_off, rx_off, size,
                                                tuple(node.strings("compatible"))))
    if not board.controllers:
        raise DtsError(tree.file, "/", None, f"no DMA controller (a node compatible with {SIM_DMAC!r})")
    return board


def _controller(node: DtNode, info: NodeInfo, compat: tuple[str, ...]) -> ControllerDesc:
    if node.u32("#dma-cells") != 1:
        raise node.error("#dma-cells", f"the simulated controller takes 1 cell (the request line), not "
                                       f"{node.u32('#dma-cells')}")
    vals: dict[str, int] = {}
    for prop, default, least in zip(_BUS_PROPS, (400_000_000, 4, 16, 100), (1, 1, 1, 0)):
        holder = node.inherited(prop)
        if holder is None:
            vals[prop] = default
        elif prop == _BUS_PROPS[0]:
            vals[prop] = holder.u64(prop, least=least)
        else:
            vals[prop] = holder.u32(prop, least=least)
    holder = node.inherited(_BUS_PROPS[1])
    if vals[_BUS_PROPS[1]] not in (1, 2, 4, 8):
        assert holder is not None
        raise holder.error(_BUS_PROPS[1], f"must be 1, 2, 4 or 8, not {vals[_BUS_PROPS[1]]}")
    if vals[_BUS_PROPS[2]] > 256:
        holder = node.inherited(_BUS_PROPS[2])
        assert holder is not None
        raise holder.error(_BUS_PROPS[2], f"must be 1..256, not {vals[_BUS_PROPS[2]]}")
    reg = _reg(node)[0] if node.has("reg") else None
    requests = node.u32("dma-requests", least=1) if node.has("dma-requests") else None
    return ControllerDesc(info, node.u32("dma-channels", 8, least=1, most=MAX_CHANNELS), requests, vals[_BUS_PROPS[0]],
                          vals[_BUS_PROPS[1]], vals[_BUS_PROPS[2]], vals[_BUS_PROPS[3]], reg, compat)


def _wires(node: DtNode, p: Peripheral, tree: _Tree, ctrl_index: dict[str, int], board: Board,
           used: dict[tuple[int, int], str]) -> list[Wire]:
    if not node.has("dmas"):
        if node.has("dma-names"):
            raise node.error("dma-names", f"{len(node.strings('dma-names'))} names but no dmas")
        return []
    cells = node.cells("dmas")
    entries: list[tuple[DtNode, list[int], int]] = []  # controller, args, first cell index
    i = 0
    while i < len(cells):
        ph = cells[i]
        ctrl = tree.by_phandle.get(ph)
        k = len(entries)
        if ctrl is None:
            if entries:
                prev = entries[-1][0]
                raise node.error("dmas", f"wrong number of cells: entry {k} starts with {ph:#x}, not a phandle "
                                         f"(entry {k - 1} has 1 + #dma-cells = <{prev.u32('#dma-cells')}> of "
                                         f"{prev.path})")
            raise node.error("dmas", f"entry {k}: phandle {ph:#x} points nowhere")
        if not ctrl.has("#dma-cells"):
            raise node.error("dmas", f"entry {k}: {_ref(ctrl)} is not a DMA controller (no #dma-cells)")
        if not _status_ok(ctrl):
            raise node.error("dmas", f"entry {k}: {_ref(ctrl)} is disabled (status = \"{ctrl.string('status')}\")")
        n = ctrl.u32("#dma-cells")
        if i + 1 + n > len(cells):
            raise node.error("dmas", f"wrong number of cells: entry {k} for {_ref(ctrl)} needs 1 + #dma-cells = "
                                     f"<{n}> cells, has {len(cells) - i}")
        entries.append((ctrl, cells[i + 1 : i + 1 + n], i))
        i += 1 + n
    if not node.has("dma-names"):
        raise node.error("dma-names", f"missing: dmas has {len(entries)} entries to name")
    names = node.strings("dma-names")
    if len(names) != len(entries):
        raise node.error("dma-names", f"{len(names)} name(s) for {len(entries)} dmas entries")
    wires = []
    seen: set[str] = set()
    for k, ((ctrl, args, _), slave) in enumerate(zip(entries, names)):
        if slave in seen:
            raise node.error("dma-names", f'"{slave}" appears twice')
        seen.add(slave)
        if slave not in ("tx", "rx") or getattr(p, slave) is None:
            ports = ", ".join(f'"{x}"' for x in ("tx", "rx") if getattr(p, x) is not None)
            raise node.error("dma-names", f'"{slave}" is not a FIFO of {type(p).__name__} (it has: {ports})')
        idx = ctrl_index.get(ctrl.path)
        if idx is None:
            compat = ", ".join(ctrl.strings("compatible")) if ctrl.has("compatible") else "no compatible"
            raise node.error("dmas", f"entry {k} ({slave}): {_ref(ctrl)} has no controller model ({compat})")
        line = args[0]
        limit = board.controllers[idx].requests
        if limit is not None and line >= limit:
            raise node.error("dmas", f"entry {k} ({slave}): request line {line} is beyond dma-requests = <{limit}> "
                                     f"of {_ref(ctrl)}")
        owner = used.get((idx, line))
        if owner is not None:
            raise node.error("dmas", f"entry {k} ({slave}): request line {line} of {_ref(ctrl)} is already wired "
                                     f"to {owner}")
        used[(idx, line)] = f"{node.path} ({slave})"
        wires.append(Wire(slave, idx, line, slave))
    return wires


def _ref(node: DtNode) -> str:
    return f"&{node.labels[0]} ({node.path})" if node.labels else node.path


# --- writing ------------------------------------------------------------------------------------------------
def _fmt(value: PropValue, hexa: bool = False) -> str:
    if value is True:
        return ""
    if isinstance(value, str):
        return f' = "{value}"'
    if isinstance(value, int):
        return f" = <{_num(value, hexa)}>"
    items: list[Any] = list(value)
    if items and all(isinstance(v, str) for v in items):
        return " = " + ", ".join(f'"{v}"' for v in items)
    return " = <" + " ".join(_num(int(v), hexa) for v in items) + ">"


def _num(v: int, hexa: bool) -> str:
    if isinstance(v, bool) or v < 0 or v >= 1 << 32:
        raise ConfigError(f"{v!r} does not fit a 32-bit cell")
    return f"{v:#x}" if hexa else str(v)


def _cells64(v: int) -> list[int]:
    return [v] if v < 1 << 32 else [v >> 32, v & 0xFFFF_FFFF]


def _split(v: int, n: int) -> list[int]:
    """``v`` as ``n`` 32-bit cells, high first."""
    return [(v >> (32 * (n - 1 - i))) & 0xFFFF_FFFF for i in range(n)]


def write_dts(soc: Soc, models: Models | None = None) -> str:
    """``soc`` as DTS text (see :meth:`dmaengine.sim.Soc.to_dts`)."""
    if models is None:
        models = Models()
    board = soc.board
    out = ["/dts-v1/;", "", "/ {"]
    ind = "\t"

    def prop(level: int, name: str, value: PropValue) -> None:
        out.append(f"{ind * level}{name}{_fmt(value, name in ('reg', 'ranges'))};")

    mem = board.memory if board is not None and board.memory is not None else (0x1_0000_0000, 0x4000_0000)
    regs = [mem] + [c.reg for c in soc._dmac_nodes if c.reg is not None]
    regs += [(pd.base, pd.size) for pd in soc._periph_nodes.values()]
    # One cell per address and size when everything fits, else two (at the root and on the bus, with "ranges;").
    n = 1 if all(b + size <= 0xFFFF_FFFF for b, size in regs) else 2
    prop(1, "#address-cells", n)
    prop(1, "#size-cells", n)
    prop(1, "model", board.model if board is not None and board.model else "dmaengine simulated SoC")
    prop(1, "compatible", list(board.compatible) if board is not None and board.compatible
         else ["dmaengine,sim-soc"])
    prop(1, "dmaengine,bh-latency-ns", soc.bh_latency_ns)
    descs = soc._periph_nodes
    nodes = [pd.node for pd in descs.values()] + [c.node for c in soc._dmac_nodes]
    aliases = [(a, f"&{n.labels[0]}" if n.labels else f'"{n.path}"') for n in nodes for a in n.aliases]
    if aliases:
        out += ["", f"{ind}aliases {{"]
        out += [f"{ind * 2}{a} = {ref};" for a, ref in aliases]
        out.append(f"{ind}}};")
    out += ["", f"{ind}memory@{mem[0]:x} {{"]
    prop(2, "device_type", "memory")
    prop(2, "reg", _split(mem[0], n) + _split(mem[1], n))
    out.append(f"{ind}}};")
    out += ["", f"{ind}soc {{"]
    prop(2, "compatible", "simple-bus")
    prop(2, "#address-cells", n)
    prop(2, "#size-cells", n)
    prop(2, "ranges", True)
    labels: dict[str, str] = {}  # controller device name -> label
    for i, (drv, c) in enumerate(zip(soc.dmacs, soc._dmac_nodes)):
        label = c.node.labels[0] if c.node.labels else f"dma{i}"
        labels[drv.name] = label
        reg = c.reg if c.reg is not None else (0x4010_0000 + 0x1000 * i, 0x1000)
        out += ["", f"{ind * 2}{label}: dma-controller@{reg[0]:x} {{"]
        prop(3, "compatible", list(c.compatible) or [SIM_DMAC])
        prop(3, "reg", _split(reg[0], n) + _split(reg[1], n))
        prop(3, "#dma-cells", 1)
        prop(3, "dma-channels", len(drv.channels))
        if c.requests is not None:
            prop(3, "dma-requests", c.requests)
        prop(3, "dmaengine,bus-bytes-per-second", _cells64(c.bus_bytes_per_s))
        prop(3, "dmaengine,bus-width-bytes", c.bus_width_bytes)
        prop(3, "dmaengine,max-burst", c.max_burst)
        prop(3, "dmaengine,fetch-latency-ns", c.fetch_latency_ns)
        out.append(f"{ind * 2}}};")
    wires: dict[str, list[tuple[str, str, int]]] = {}
    for devname, slave, param in soc._slave_map:
        ctrl = getattr(param, "controller", None)
        if ctrl in labels:
            wires.setdefault(devname, []).append((slave, labels[ctrl], param.line))
    for p in soc.peripherals:
        pd = descs.get(p.name)
        model = None
        if pd is not None:
            model = models.find(pd.compatible)
        if model is None:
            model = models.for_peripheral(p)
        if model is None or model.write is None:
            raise ConfigError(f"to_dts: no model with a writer for {p!r} (register one: Models.register(compatible, "
                              f"build, write, cls={type(p).__name__}))")
        compat: list[str] = list(pd.compatible) if pd is not None and pd.compatible else [model.compatible]
        ports = [port for port in p.ports]
        base = min(port.fifo_addr for port in ports) // 0x1000 * 0x1000 if pd is None else pd.base
        size = 0x1000 if pd is None else pd.size
        kind = {"Uart": "serial", "I2s": "i2s", "Adc": "adc"}.get(type(p).__name__, "peripheral")
        node_name = pd.node.name if pd is not None else f"{kind}@{base:x}"
        plabels = list(pd.node.labels) if pd is not None else []
        if p.name not in plabels:
            plabels.insert(0, p.name)
        head = "".join(f"{lb}: " for lb in plabels)
        out += ["", f"{ind * 2}{head}{node_name} {{"]
        prop(3, "compatible", compat)
        prop(3, "reg", _split(base, n) + _split(size, n))
        if p.tx is not None and p.tx.fifo_addr - base != 0:
            prop(3, "dmaengine,tx-fifo-offset", p.tx.fifo_addr - base)
        if p.rx is not None and p.rx.fifo_addr - base != 4:
            prop(3, "dmaengine,rx-fifo-offset", p.rx.fifo_addr - base)
        for k, v in model.write(p).items():
            prop(3, k, v)
        ws = wires.get(p.name, [])
        if ws:
            out.append(f"{ind * 3}dmas = " + ", ".join(f"<&{lb} {line}>" for _, lb, line in ws) + ";")
            prop(3, "dma-names", [s for s, _, _ in ws])
        out.append(f"{ind * 2}}};")
    out += [f"{ind}}};", "};", ""]
    return "\n".join(out)


def dts_to_dtb(text: str, name: str = "<string>") -> bytes:
    """Compile DTS text into a flattened device tree (version 17), with a ``__symbols__`` node for its labels
    (as ``dtc -@`` writes), so that a board read back from the blob keeps its names."""
    import fdt

    tree = _from_dts_text(text, name, None, ())
    blob = fdt.FDT()
    symbols: list[tuple[str, str]] = []

    def conv(node: DtNode, out: Any) -> None:
        for k, v in node.props.items():
            out.append(fdt.PropBytes(k, data=v) if v else fdt.Property(k))
        symbols.extend((lb, node.path) for lb in node.labels)
        for c in node.children:
            child = fdt.Node(c.name)
            conv(c, child)
            out.append(child)

    conv(tree.root, blob.root)
    if symbols:
        sym = fdt.Node("__symbols__")
        for lb, path in symbols:
            sym.append(fdt.PropStrings(lb, path))
        blob.root.append(sym)
    return bytes(blob.to_dtb(version=17))


# --- summary ------------------------------------------------------------------------------------------------
def board_summary(soc: Soc, verbose: bool = False) -> str:
    """The wiring text of :meth:`dmaengine.sim.Soc.board_summary`."""
    board = soc.board
    lines = [f"board: {board.source if board is not None else 'Soc() (the default board)'}"]
    for drv, c in zip(soc.dmacs, soc._dmac_nodes):
        req = "any" if c.requests is None else str(c.requests)
        lines.append(f"{drv.name} {c.node.path}: {len(drv.channels)} channels, {req} request lines, bus "
                     f"{c.bus_width_bytes * 8}-bit at {c.bus_bytes_per_s} B/s, bursts up to {c.max_burst}, "
                     f"fetch {c.fetch_latency_ns} ns")
    by_dev = {d.name: d for d in soc.dmacs}
    for p in soc.peripherals:
        pd = soc._periph_nodes.get(p.name)
        where = pd.node.path if pd is not None else "(attached by hand)"
        for devname, slave, param in soc._slave_map:
            if devname != p.name:
                continue
            port = p.tx if slave == "tx" else p.rx
            fifo = f"FIFO {port.fifo_addr:#x}" if port is not None else "no FIFO"
            ctrl = getattr(param, "controller", "?")
            dev = by_dev.get(ctrl)
            path = soc._dmac_nodes[soc.dmacs.index(dev)].node.path if dev is not None else "?"
            lines.append(f"  {p.name} {where} {slave}: {ctrl} line {getattr(param, 'line', '?')} ({path}), {fifo}")
    if verbose:
        unmodelled = board.unmodelled if board is not None else []
        lines.append(f"not modelled: {len(unmodelled)} node(s)")
        lines += [f"  {path}: {why}" for path, why in unmodelled]
    return "\n".join(lines) + "\n"
