"""memcpy8's client path and program-end wakes (issue 14, sim-m8e), each shortened piece against what it stands
for: the sim driver's memcpy prep against ``SimDescriptor(chan, Program([Item(...)], M2M), None, flags)``,
virt-dma's one-descriptor issue against its loop, a waiter's inlined hold against ``Soc._advance``, and copies
that end together, one after another, with callbacks, faults and waits, fast against ``Soc(fast=False)``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine import Cap, PrepFlags, StateError, Status
from dmaengine.sim import Soc
from dmaengine.sim._dmac import M2M, Item, Program
from dmaengine.sim._driver import SimDescriptor
from dmaengine.virt import VirtDescriptor


def _slots(obj: Any) -> dict[str, Any]:
    names = [n for cls in type(obj).__mro__ for n in getattr(cls, "__slots__", ()) if n not in ("__dict__",
                                                                                                 "__weakref__")]
    return {n: getattr(obj, n, "<unset>") for n in names}


@settings(max_examples=200, deadline=None)
@given(dst=st.integers(0, 1 << 40), src=st.integers(0, 1 << 40), length=st.integers(1, 1 << 30),
       flags=st.sampled_from([0, 1, 2, 3, int(PrepFlags.PREP_INTERRUPT | PrepFlags.CTRL_ACK)]))
def test_a_memcpy_prep_builds_what_the_constructors_would(dst: int, src: int, length: int, flags: int) -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    pf = PrepFlags(flags)
    got = chan.device.device_prep_dma_memcpy(chan, dst, src, length, pf)
    want = SimDescriptor(chan, Program([Item(src, dst, length, True)], M2M), None, pf)  # type: ignore[arg-type]
    assert type(got) is SimDescriptor
    gs, ws = _slots(got), _slots(want)
    gp, wp = gs.pop("program"), ws.pop("program")
    assert gs == ws
    assert _slots(gp) == {**_slots(wp), "items": gp.items}
    assert [_slots(i) for i in gp.items] == [_slots(i) for i in wp.items]
    assert type(gp) is Program and type(gp.items[0]) is Item and type(gp.items) is list
    # flags given as a plain int still take the constructors
    plain = chan.device.device_prep_dma_memcpy(chan, dst, src, length, flags)  # type: ignore[arg-type]
    assert plain.flags == pf and plain.program.total == length


def test_the_client_prep_gives_the_same_descriptor_and_runs_it() -> None:
    soc = Soc()
    chan = soc.request_channel(Cap.MEMCPY)
    src = np.arange(5000, dtype=np.uint8)
    dst = np.zeros(5000, dtype=np.uint8)
    sa, da = soc.map(src).addr, soc.map(dst).addr
    tx = chan.prep_dma_memcpy(da, sa, 5000, PrepFlags.PREP_INTERRUPT)
    assert tx.flags is PrepFlags.PREP_INTERRUPT and tx.metadata_mode.name == "NONE"
    assert tx.state.name == "PREPARED" and tx.length == 5000 and tx.program.items[0].irq is True
    assert chan.sync_wait(tx.submit(), timeout=None) is Status.COMPLETE
    assert (dst == src).all()


@pytest.mark.parametrize("n", [1, 2, 5])
def test_issue_pending_of_one_or_several_is_the_loop(n: int) -> None:
    """vchan_issue_pending's one-descriptor case against its loop: states, order, what is left submitted."""
    soc = Soc()
    chan: Any = soc.request_channel(Cap.MEMCPY)
    vds = [VirtDescriptor(chan, 10) for _ in range(n)]
    for vd in vds:
        vd.tx_submit()
    with chan.lock:
        assert chan.vchan_issue_pending() is True
    assert list(chan.desc_issued) == vds and not chan.desc_submitted
    assert all(vd.state.name == "ISSUED" for vd in vds)
    with chan.lock:
        assert chan.vchan_issue_pending() is True  # nothing submitted: still issued work
        chan.desc_issued.clear()
        assert chan.vchan_issue_pending() is False


def _run(fast: bool, case: str) -> Any:
    soc = Soc(fast=fast)
    n = 64 * 1024
    chans = [soc.request_channel(Cap.MEMCPY) for _ in range(8)]
    srcs = [np.full(n, i + 1, dtype=np.uint8) for i in range(8)]
    dsts = [np.zeros(n, dtype=np.uint8) for _ in range(8)]
    unmap = [soc.map(s) for s in srcs]
    maps = [(m.addr, soc.map(d).addr) for m, d in zip(unmap, dsts)]
    calls: list[tuple[int, int, int, int]] = []
    cookies = []
    for i, (c, (s, d)) in enumerate(zip(chans, maps)):
        length = n - 4096 * i if case == "staggered" else n
        tx = c.prep_dma_memcpy(d, s, length)
        tx.callback_result = lambda _, r, i=i: calls.append((i, soc.now_ns, int(r.result), r.residue))
        cookies.append(tx.submit())
        if case == "chained" and i % 2:  # a second copy queued behind the first on odd channels
            tx2 = c.prep_dma_memcpy(d, s, 4096)
            tx2.callback_result = lambda _, r, i=i: calls.append((i + 100, soc.now_ns, int(r.result), r.residue))
            cookies[-1] = tx2.submit()
    if case == "unmapped":
        unmap[3].unmap()
    for c in chans:
        c.issue_pending()
    order = list(range(8))[::-1] if case == "reversed" else list(range(8))
    looks = []
    for i in order:
        st_ = chans[i].sync_wait(cookies[i], timeout=None)
        looks.append((i, soc.now_ns, st_, [c.tx_status(ck)[1].residue for c, ck in zip(chans, cookies)],
                      [int(d[-1]) for d in dsts], [int(np.count_nonzero(d)) for d in dsts]))
    soc.run_until_idle(timeout=None)
    return calls, looks, [d.tobytes() for d in dsts], soc.now_ns


@pytest.mark.parametrize("case", ["plain", "staggered", "reversed", "chained", "unmapped"])
def test_copies_at_once_against_the_reference(case: str) -> None:
    fast, ref = _run(True, case), _run(False, case)
    assert fast == ref
    assert len(fast[0]) == (12 if case == "chained" else 8)


def test_a_wait_from_inside_a_callback_is_refused_as_by_advance() -> None:
    soc = Soc()
    a, b = soc.request_channel(Cap.MEMCPY), soc.request_channel(Cap.MEMCPY)
    buf = np.zeros(8192, dtype=np.uint8)
    m = soc.map(buf)
    seen: list[str] = []
    tb = b.prep_dma_memcpy(m.addr + 4096, m.addr, 4096)
    cb = tb.submit()

    def app() -> None:
        try:
            soc.wait_for(lambda: False, None, None)
        except StateError as e:
            seen.append(str(e))

    ta = a.prep_dma_memcpy(m.addr + 4096, m.addr, 4096)
    ta.callback = lambda _: app()
    ca = ta.submit()
    a.issue_pending()
    assert a.sync_wait(ca, timeout=None) is Status.COMPLETE
    soc.run_until_idle(timeout=None)
    assert seen == ["waiting from inside the simulation (a callback or an event) would re-enter it"]
    assert b.sync_wait(cb, timeout=None) is Status.COMPLETE
    assert soc._owner is None and soc._stepper is None and not soc._owner_lock.locked()


def test_a_waiter_leaves_no_hold_after_an_event_raises() -> None:
    soc = Soc()

    def boom() -> None:
        raise RuntimeError("boom")

    soc.kernel.at(100, boom, "app")
    with pytest.raises(RuntimeError, match="^boom$"):
        soc.wait_for(lambda: False, None, None)
    assert soc._owner is None and soc._stepper is None and not soc._owner_lock.locked()
    assert soc.now_ns == 100
    # the waiter still synced after the event (the mark says this instant was synced)
    assert soc._synced_ns == 100


def test_a_waiter_with_a_waveform_takes_advance(tmp_path: Any) -> None:
    """With a waveform recording, a wait goes through ``_advance`` (which samples and settles it)."""
    pytest.importorskip("vcd")
    soc = Soc()
    calls: list[str] = []
    real = soc._advance

    def spy(what: str, step: Any) -> bool:
        calls.append(what)
        return real(what, step)

    soc._advance = spy  # type: ignore[method-assign]
    chan = soc.request_channel(Cap.MEMCPY)
    buf = np.zeros(8192, dtype=np.uint8)
    m = soc.map(buf)
    ck = chan.prep_dma_memcpy(m.addr + 4096, m.addr, 4096).submit()
    chan.issue_pending()
    assert chan.sync_wait(ck, timeout=None) is Status.COMPLETE
    assert calls == []  # no waveform: the inlined hold
    with soc.record_vcd(tmp_path / "w.vcd"):
        ck = chan.prep_dma_memcpy(m.addr + 4096, m.addr, 4096).submit()
        chan.issue_pending()
        assert chan.sync_wait(ck, timeout=None) is Status.COMPLETE
    assert calls == ["waiting"]


def test_the_hold_from_another_thread_is_refused_while_waiting(in_thread: Any) -> None:
    soc = Soc()
    seen: list[str] = []

    def other() -> None:
        try:
            soc.wait_for(lambda: False, 0.001, None)
        except StateError as e:
            seen.append(str(e))

    soc.kernel.at(50, in_thread(other), "app")
    soc.kernel.at(80, lambda: None, "later")
    assert soc.wait_for(lambda: soc.now_ns >= 80, None, None) is True
    assert seen == ["waiting: the SoC is being run by another thread (a Soc is single-threaded)"]
    assert soc._owner is None and not soc._owner_lock.locked()
