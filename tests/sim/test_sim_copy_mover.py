"""A schedule's copy lanes moved by the compiled core (src/native/copy.c, issue 14, memcpy8): the mapping lookup
``AddressSpace.copy_maps`` against ``can_copy``, the mover a copy lane gets, the bytes and instants against
``Soc(fast=False)`` with the Python move never called, and each guard that hands the move back to Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, DataDirection
from dmaengine._native import core
from dmaengine.sim import Soc
from dmaengine.sim._dmac import M2M as M2M_
from dmaengine.sim._dmac import Dmac

needs_core = pytest.mark.skipif(core is None, reason="the compiled core is not built (or is switched off)")


def _space() -> tuple[Any, list[Any]]:
    soc = Soc()
    bufs = [np.zeros(n, dtype=np.uint8) for n in (100, 5000, 20_000, 64)]
    dirs = [DataDirection.BIDIRECTIONAL, DataDirection.TO_DEVICE, DataDirection.FROM_DEVICE,
            DataDirection.BIDIRECTIONAL]
    return soc.address_space, [soc.map(b, d) for b, d in zip(bufs, dirs)]


SPACE, MAPS = _space()
addrs = st.integers(MAPS[0].addr - 64, MAPS[-1].addr + MAPS[-1].length + 4096)


@settings(max_examples=400, deadline=None)
@given(dst=addrs, src=addrs, length=st.integers(1, 24_000))
def test_copy_maps_is_can_copy_and_where(dst: int, src: int, length: int) -> None:
    got = SPACE.copy_maps(dst, src, length)
    assert (got is not None) is SPACE.can_copy(dst, src, length)
    if got is not None:
        dm, sm = got
        assert dm.addr <= dst and dst + length <= dm.addr + dm.length and dm._writable
        assert sm.addr <= src and src + length <= sm.addr + sm.length and sm._readable


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls of the Python move of a lane (``Dmac._sched_move_at``), counted."""
    calls: list[int] = []
    orig = Dmac._sched_move_at

    def move_at(self: Dmac, pos: int, n: int, last: int) -> None:
        calls.append(pos)
        orig(self, pos, n, last)

    monkeypatch.setattr(Dmac, "_sched_move_at", move_at)
    return calls


def _copies(fast: bool, tweak: Callable[[Soc, list[Any]], None] | None = None,
            at_first_event: Callable[[Soc], None] | None = None) -> tuple[Any, ...]:
    """Eight copies issued at once (bench_sim's memcpy8, smaller), some sources and destinations at an offset in
    their buffers: the callback instants, the statuses and every destination's bytes."""
    soc = Soc(fast=fast)
    n = 20_000
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(8)]
    srcs = [(np.arange(n + 64) * (i + 3) % 251).astype(np.uint8) for i in range(8)]
    dsts = [np.zeros(n + 64, dtype=np.uint8) for _ in range(8)]
    maps = [(soc.map(s), soc.map(d)) for s, d in zip(srcs, dsts)]
    if tweak is not None:
        tweak(soc, maps)
    seen: list[tuple[int, int]] = []
    cookies = []
    for i, (c, (ms, md)) in enumerate(zip(chans, maps)):
        tx = c.prep_dma_memcpy(md.addr + 8 * (i % 3), ms.addr + 16 * (i % 2), n - 100 * i)
        tx.callback = lambda _, i=i: seen.append((i, soc.now_ns))
        cookies.append(tx.submit())
    for c in chans:
        c.issue_pending()
    if at_first_event is not None:
        soc.kernel.at(soc.now_ns + 100, lambda: at_first_event(soc), "look")
    status = [c.sync_wait(ck, timeout=None) for c, ck in zip(chans, cookies)]
    soc.run_until_idle()
    return seen, status, [d.tobytes() for d in dsts], soc.now_ns


@needs_core
def test_copy_lanes_move_in_the_compiled_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies' bytes all move without the Python move, and everything is what burst by burst gives."""
    ref = _copies(False)
    calls = _counting(monkeypatch)
    got = _copies(True)
    assert got == ref
    assert calls == []


@needs_core
def test_a_copy_lanes_mover() -> None:
    """What ``_sched_mover`` gives a copy lane: its channel, program, item and the mappings of its memory with the
    item's offsets in them; None for a channel holding another program since."""
    out: list[Any] = []

    def look(soc: Soc) -> None:
        hw = soc.dmac.hw
        assert hw._sched is not None
        out.extend((ch, Dmac._sched_mover(ch)) for ch in hw._sched_chans)
        # made with the schedule (every lane a copy): what _sched_mover_list would make
        assert hw._sched_movers_of is hw._sched_chans and hw._sched_ports == [None] * 8
        assert hw._sched_movers == [m for _, m in out]

    _copies(True, at_first_event=look)
    assert len(out) == 8
    for ch, mover in out:
        assert mover is not None and len(mover) == 8
        c, prog, idx, dm, dst_off, sm, src_off, length = mover
        item = prog.items[idx]
        assert c is ch and idx == 0 and length == item.length and mover is ch.copy_maps
        assert dm.addr + dst_off == item.dst and sm.addr + src_off == item.src
    ch = out[0][0]
    assert ch.prog is None and Dmac._sched_mover(ch) is None  # (ended: no program)


@needs_core
def test_a_replaced_copy_moves_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address space whose ``copy`` is not AddressSpace's own: every lane moves through it, in Python."""
    ref = _copies(False)
    calls = _counting(monkeypatch)
    copied: list[int] = []

    def tweak(soc: Soc, maps: list[Any]) -> None:
        space = soc.address_space
        orig = space.copy

        def copy(dst: int, src: int, length: int) -> None:
            copied.append(length)
            orig(dst, src, length)

        space.copy = copy  # type: ignore[method-assign]

    assert _copies(True, tweak) == ref
    assert calls and sum(copied) == sum(20_000 - 100 * i for i in range(8))


@needs_core
def test_a_mapping_not_live_moves_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane whose mapping says it is not live (an unmap settles first: here only the flag is forced) is moved by
    the Python move: the same bytes and instants."""
    ref = _copies(False)
    calls = _counting(monkeypatch)

    def tweak(soc: Soc, maps: list[Any]) -> None:
        maps[2][1]._live = False  # the third copy's destination

    got = _copies(True, tweak)
    assert got == ref
    assert calls and set(calls) == {2}  # (taken at each look: every take of that lane)


@needs_core
def test_a_malformed_copy_mover_is_refused() -> None:
    """An 8-tuple mover that is not a copy mover: TypeError naming it, before any burst is taken."""
    out: list[Any] = []

    def look(soc: Soc) -> None:
        hw = soc.dmac.hw
        sched = hw._sched
        assert sched is not None
        movers = [None] * len(hw._sched_chans)
        movers[0] = (1, 2, "idx", 4, 5, 6, 7, 8)
        with pytest.raises(TypeError, match=r"^take_moves: a copy mover must be"):
            sched.core.take_moves(soc.now_ns + 10**9, movers, hw._sched_move_at, hw._sched_store)
        out.append(hw.bursts)

    _copies(True, at_first_event=look)
    assert out == [0]


def test_pure_python_keeps_no_maps(in_pure_python: Callable[[Callable[[], Any]], Any]) -> None:
    """Without the compiled core a copy's memory is checked by ``can_copy`` (nothing kept for a mover)."""
    import dmaengine.sim._dmac as dmac

    def run() -> Any:
        saved = dmac._copy_core, dmac._copy_memory, dmac._copy_lane
        dmac._copy_core, dmac._copy_memory, dmac._copy_lane = False, None, None
        try:
            hws: list[Any] = []
            got = _copies(True, lambda soc, maps: hws.append(soc.dmac.hw))
            return got, [ch.copy_maps for ch in hws[0].chans]
        finally:
            dmac._copy_core, dmac._copy_memory, dmac._copy_lane = saved

    got, maps = in_pure_python(run)
    assert got == _copies(False)
    assert maps == [None] * 8


def _slots(obj: Any) -> dict[str, Any]:
    names = [n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ()) if n not in ("__dict__",
                                                                                                 "__weakref__")]
    return {n: getattr(obj, n, "<unset>") for n in names}


@needs_core
@settings(max_examples=100, deadline=None)
@given(dst=st.integers(0, 1 << 70), src=st.integers(0, 1 << 40), length=st.integers(1, 1 << 30),
       flags=st.sampled_from([0, 1, 3, 6]))
def test_the_compiled_memcpy_prep_is_the_python_one(dst: int, src: int, length: int, flags: int) -> None:
    """``prep_memcpy`` (src/native/copy.c) against the Python body it stands for: the same classes, fields and
    values (the very objects where the Python stores a given one), and a descriptor that runs."""
    from dmaengine import PrepFlags
    from dmaengine.sim import _driver

    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    pf = PrepFlags(flags)
    dev = chan.device
    got = dev.device_prep_dma_memcpy(chan, dst, src, length, pf)
    saved = _driver._prep_memcpy
    _driver._prep_memcpy = None
    try:
        want = dev.device_prep_dma_memcpy(chan, dst, src, length, pf)
    finally:
        _driver._prep_memcpy = saved
    assert type(got) is type(want)
    gs, ws = _slots(got), _slots(want)
    gp, wp = gs.pop("program"), ws.pop("program")
    assert gs == ws and gs["chan"] is chan and gs["flags"] is pf and gs["length"] is length
    assert type(gp) is type(wp) and type(gp.items) is list and len(gp.items) == 1
    assert {**_slots(gp), "items": None} == {**_slots(wp), "items": None}
    assert type(gp.items[0]) is type(wp.items[0]) and _slots(gp.items[0]) == _slots(wp.items[0])
    assert gp.items[0].dst is dst and gp.items[0].src is src


@needs_core
def test_prep_setup_refuses_what_is_not_a_slot() -> None:
    from dmaengine.sim._dmac import Item, Program
    from dmaengine.sim._driver import SimDescriptor

    class NoSlots:
        pass

    class OwnNew(Item):
        __slots__ = ()

        def __new__(cls) -> OwnNew:
            return super().__new__(cls)

    consts = (0, 4, 16, 0, 0, 0)
    assert core is not None
    with pytest.raises(TypeError, match=r"^prep_setup: NoSlots.src is not a writable slot$"):
        core.prep_setup(NoSlots, Program, SimDescriptor, consts)
    with pytest.raises(TypeError, match=r"^prep_setup: OwnNew does not make its instances with object.__new__$"):
        core.prep_setup(OwnNew, Program, SimDescriptor, consts)
    class Extra(SimDescriptor):
        __slots__ = ("later",)

    with pytest.raises(TypeError, match=r"^prep_setup: Extra has the slot 'later', which this code does not fill$"):
        core.prep_setup(Item, Program, Extra, consts)
    with pytest.raises(TypeError, match=r"^prep_setup: consts must be"):
        core.prep_setup(Item, Program, SimDescriptor, (1, 2))
    with pytest.raises(TypeError, match=r"^prep_memcpy takes \(chan, dst, src, length, flags\), not 2 arguments$"):
        core.prep_memcpy(1, 2)
    # (nothing was changed by the refusals: the descriptors are still the driver's)
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    tx = chan.prep_dma_memcpy(0x1000, 0x2000, 64)
    assert type(tx) is SimDescriptor and type(tx.program) is Program and type(tx.program.items[0]) is Item


_FIELD = st.one_of(st.integers(-3, 300), st.integers(-(1 << 70), 1 << 70), st.none(), st.booleans(),
                   st.just(1.0), st.just("1"))


@needs_core
@settings(max_examples=400, deadline=None)
@given(fields=st.lists(st.tuples(_FIELD, _FIELD, _FIELD, _FIELD, _FIELD), min_size=0, max_size=3),
       width=_FIELD, burst=_FIELD, kind=st.sampled_from(["plain", "sub_prog", "sub_item", "tuple_items", "other"]))
def test_program_ok_is_program_fault_none(fields: list[tuple[Any, ...]], width: Any, burst: Any, kind: str) -> None:
    """``program_ok`` (src/native/copy.c) True only where ``_program_fault`` says None, and True there for the
    plain case (exactly a Program of a list of Items)."""
    from dmaengine.sim._dmac import Item, Program
    from dmaengine.sim._driver import _program_fault

    class SubProgram(Program):
        __slots__ = ()

    class SubItem(Item):
        __slots__ = ()

    item_cls = SubItem if kind == "sub_item" else Item
    items: Any = []
    for src, dst, length, irq, value in fields:
        it = object.__new__(item_cls)
        it.src, it.dst, it.length, it.irq, it.value = src, dst, length, irq, value
        items.append(it)
    prog = object.__new__(SubProgram if kind == "sub_prog" else Program)
    prog.items = tuple(items) if kind == "tuple_items" else items
    prog.direction, prog.width, prog.burst, prog.port, prog.cyclic, prog.total = M2M_, width, burst, None, False, 0
    subject = prog if kind != "other" else items
    assert core is not None
    ok = core.program_ok(subject)
    fault = _program_fault(subject)
    if ok:
        assert fault is None
    elif kind == "plain":
        assert fault is not None


@needs_core
def test_program_ok_of_a_program_with_unset_fields() -> None:
    from dmaengine.sim._dmac import Item, Program

    assert core is not None
    assert core.program_ok(object.__new__(Program)) is False
    prog = Program([Item(0, 4096, 64, True)], M2M_)
    assert core.program_ok(prog) is True
    prog.items.append(object.__new__(Item))
    assert core.program_ok(prog) is False


@needs_core
@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 5000), off=st.integers(0, 5001), width=st.sampled_from([1, 2, 4, 8]),
       burst=st.integers(1, 32), bps=st.integers(1, 2_000_000_000), src_at=st.integers(-6000, 6000),
       items=st.integers(1, 3), cyclic=st.booleans(), memset=st.booleans(),
       odd=st.sampled_from(["none", "tuple_items", "big_dst", "float_width", "neg_off"]))
def test_the_compiled_copy_lane_is_dmac_lane(length: int, off: int, width: int, burst: int, bps: int, src_at: int,
                                              items: int, cyclic: bool, memset: bool, odd: str) -> None:
    """``copy_lane`` (src/native/copy.c) against ``Dmac._lane``'s Python: the same lane (every slot), or None; and
    NotImplemented (the Python answers) where it is not the plain case."""
    import dmaengine.sim._dmac as dmac
    from dmaengine.sim._bus import Lane
    from dmaengine.sim._dmac import Item, Program, _HwChannel

    soc = Soc()
    hw = soc.dmac.hw
    hw.bus_width_bytes, hw.mem_burst, hw.bus_bytes_per_s = (float(width) if odd == "float_width" else width), \
        burst, bps
    dst = (1 << 62) if odd == "big_dst" else 100_000
    prog = Program([Item(None if memset else dst + src_at, dst, length, True) for _ in range(items)], M2M_,
                   cyclic=cyclic)
    if odd == "tuple_items":
        prog.items = tuple(prog.items)  # type: ignore[assignment]
    ch = _HwChannel(5)
    ch.prog, ch.item_idx, ch.item_off = prog, items - 1, (-1 if odd == "neg_off" else off)
    assert core is not None
    got = core.copy_lane(hw, ch)
    saved = dmac._copy_lane
    dmac._copy_lane = None
    try:
        want = hw._lane(ch, 0) if odd in ("none", "big_dst") and off <= length else None
    finally:
        dmac._copy_lane = saved
    if odd != "none" or off > length:
        assert got is NotImplemented
        return
    if want is None:
        assert got is None
        return
    assert type(got) is Lane
    assert [getattr(got, f) for f in Lane.__slots__] == [getattr(want, f) for f in Lane.__slots__]


@needs_core
def test_copy_lane_refuses_wrong_arguments() -> None:
    assert core is not None
    with pytest.raises(TypeError, match=r"^copy_lane takes \(dmac, ch\), not 1 arguments$"):
        core.copy_lane(1)
    with pytest.raises(TypeError, match=r"^lane_setup: Lane must be a class, not 1$"):
        core.lane_setup(1)


def _memory_soc() -> tuple[Soc, list[Any]]:
    soc = Soc()
    bufs = [np.zeros(n, dtype=np.uint8) for n in (100, 5000, 20_000, 64)]
    dirs = [DataDirection.BIDIRECTIONAL, DataDirection.TO_DEVICE, DataDirection.FROM_DEVICE,
            DataDirection.BIDIRECTIONAL]
    return soc, [soc.map(b, d) for b, d in zip(bufs, dirs)]


MSOC, MMAPS = _memory_soc()
maddrs = st.integers(MMAPS[0].addr - 64, MMAPS[-1].addr + MMAPS[-1].length + 4096)


def _lane_memory_both(ch: Any, pos: int) -> tuple[Any, Any]:
    """(compiled, Python) of ``Dmac._lane_memory``: each its answer, spans and ``ch.copy_maps`` after."""
    import dmaengine.sim._dmac as dmac

    hw = MSOC.dmac.hw
    out = []
    for compiled in (True, False):
        saved = dmac._copy_memory
        if not compiled:
            dmac._copy_memory = None
        ch.copy_maps = None
        spans: list[Any] = [(1, 2, False, 9)]
        try:
            ok = hw._lane_memory(ch, spans, pos)
        finally:
            dmac._copy_memory = saved
        out.append((ok, spans, ch.copy_maps))
    return out[0], out[1]


@needs_core
@settings(max_examples=400, deadline=None)
@given(dst=maddrs, src=maddrs, length=st.integers(1, 24_000), off=st.integers(0, 24_000), pos=st.integers(0, 7),
       items=st.integers(1, 3))
def test_the_compiled_copy_memory_is_lane_memory(dst: int, src: int, length: int, off: int, pos: int,
                                                 items: int) -> None:
    """``copy_memory`` (src/native/copy.c) against ``Dmac._lane_memory``'s Python: the same answer, spans and
    ``copy_maps`` (the same mappings), and it is the compiled answer (not NotImplemented) for a plain copy."""
    from dmaengine.sim._dmac import Item, Program, _HwChannel

    off %= length + 1
    ch = _HwChannel(2)
    ch.prog = Program([Item(src, dst, length, True) for _ in range(items)], M2M_)
    ch.item_idx, ch.item_off = items - 1, off
    got, want = _lane_memory_both(ch, pos)
    assert got == want
    assert core is not None
    assert core.copy_memory(MSOC.dmac.hw, ch, [], pos) is got[0]


@needs_core
def test_copy_memory_leaves_what_is_not_its_case_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """NotImplemented (nothing changed) for a fill, a cyclic copy, a space whose copy or copy_maps is not its own,
    a program not exactly a Program; the Python then answers (the same answer)."""
    from dmaengine._memory import AddressSpace
    from dmaengine.sim._dmac import Item, Program, _HwChannel

    assert core is not None
    hw = MSOC.dmac.hw
    m = MMAPS[0]

    def chan(prog: Any) -> Any:
        ch = _HwChannel(1)
        ch.prog, ch.item_idx, ch.item_off = prog, 0, 0
        return ch

    plain = chan(Program([Item(m.addr, m.addr + 50, 40, True)], M2M_))
    assert core.copy_memory(hw, plain, [], 0) is True
    for odd in (chan(Program([Item(None, m.addr, 40, True)], M2M_)),
                chan(Program([Item(m.addr, m.addr + 50, 40, True)], M2M_, cyclic=True))):
        spans: list[Any] = []
        assert core.copy_memory(hw, odd, spans, 0) is NotImplemented and spans == [] and odd.copy_maps is None
    space = MSOC.address_space
    monkeypatch.setattr(space, "copy", lambda *a: None, raising=False)
    assert core.copy_memory(hw, plain, [], 0) is NotImplemented
    monkeypatch.undo()
    assert core.copy_memory(hw, plain, [], 0) is True
    monkeypatch.setattr(type(space), "copy_maps", lambda self, *a: AddressSpace.copy_maps(self, *a))
    assert core.copy_memory(hw, plain, [], 0) is NotImplemented
    got, want = _lane_memory_both(plain, 0)
    assert got == want and got[0] is True
    monkeypatch.undo()
    with pytest.raises(TypeError, match=r"^copy_memory takes \(dmac, ch, spans, pos\), not 1 arguments$"):
        core.copy_memory(1)
    class Plain:
        pass

    with pytest.raises(TypeError, match=r"^memory_setup: Plain.addr is not a writable slot$"):
        core.memory_setup(AddressSpace.copy, AddressSpace.copy_maps, Plain)
    with pytest.raises(TypeError, match=r"^memory_setup: int does not make its instances with object.__new__$"):
        core.memory_setup(AddressSpace.copy, AddressSpace.copy_maps, int)


@needs_core
@pytest.mark.parametrize("where", ["instance", "class"])
def test_a_replaced_lane_or_lane_memory_is_called(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """``_try_schedule`` calls the compiled copy cases itself only while ``_lane`` and ``_lane_memory`` are the
    controller's own: replaced (on the instance or the class), the replacement is called for every lane."""
    ref = _copies(False)
    calls: list[str] = []

    def tweak(soc: Soc, maps: list[Any]) -> None:
        hw = soc.dmac.hw
        for name in ("_lane", "_lane_memory"):
            orig = getattr(Dmac, name)

            def wrapped(self: Any, *args: Any, _orig: Any = orig, _name: str = name) -> Any:
                calls.append(_name)
                return _orig(self, *args)

            if where == "instance":
                monkeypatch.setattr(hw, name, lambda *args, _w=wrapped: _w(hw, *args), raising=False)
            else:
                monkeypatch.setattr(Dmac, name, wrapped)

    assert _copies(True, tweak) == ref
    assert calls.count("_lane") >= 8 and calls.count("_lane_memory") >= 8
