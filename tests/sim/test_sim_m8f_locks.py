"""The sim driver's and virt-dma's channel lock taken without ``with`` (sim-m8f): it is held during the section
and free after it, also when the section raises; results and instants as before (both ways)."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import Cap, Status
from dmaengine.sim import Soc


def _copy(soc: Soc, n: int = 4096) -> tuple[object, int, np.ndarray, np.ndarray]:
    ch = soc.request_channel(Cap.MEMCPY)
    src = np.arange(n, dtype=np.uint32).view(np.uint8)[:n].copy()
    dst = np.zeros(n, dtype=np.uint8)
    tx = ch.prep_dma_memcpy(soc.map(dst).addr, soc.map(src).addr, n)
    return ch, tx, src, dst


@pytest.mark.parametrize("fast", [True, False])
def test_lock_free_after_each_step(fast: bool) -> None:
    soc = Soc(fast=fast)
    ch, tx, src, dst = _copy(soc)
    seen: list[tuple[int, bool]] = []
    tx.callback = lambda _: seen.append((soc.now_ns, ch.lock.locked()))
    cookie = tx.submit()
    ch.issue_pending()
    assert not ch.lock.locked()
    assert ch.cookie_status(cookie) is Status.IN_PROGRESS and not ch.lock.locked()
    assert ch.sync_wait(cookie) is Status.COMPLETE
    assert not ch.lock.locked() and (dst == src).all()
    soc.run_until_idle()
    assert seen == [(seen[0][0], False)] and not ch.lock.locked()


def test_both_paths_agree() -> None:
    out = []
    for fast in (True, False):
        soc = Soc(fast=fast)
        copies = [_copy(soc, 8192 + 64 * i) for i in range(4)]
        cookies = [tx.submit() for _, tx, _, _ in copies]
        for ch, _, _, _ in copies:
            ch.issue_pending()
        ends = []
        for (ch, _, src, dst), ck in zip(copies, cookies):
            assert ch.sync_wait(ck, timeout=None) is Status.COMPLETE
            ends.append(soc.now_ns)
            assert (dst == src).all() and not ch.lock.locked()
        out.append(ends)
    assert out[0] == out[1]


def test_lock_released_when_the_start_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    soc = Soc()
    ch, tx, _, _ = _copy(soc)
    cookie = tx.submit()

    def boom(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(soc.dmac, "_start_next", boom)
    with pytest.raises(KeyError, match="boom"):
        ch.issue_pending()
    assert not ch.lock.locked()
    monkeypatch.undo()
    ch.issue_pending()
    assert ch.sync_wait(cookie) is Status.COMPLETE and not ch.lock.locked()


def test_lock_released_when_the_completion_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    soc = Soc(fast=False)
    ch, tx, _, _ = _copy(soc)
    cookie = tx.submit()
    ch.issue_pending()

    def boom(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(ch, "vchan_cookie_complete", boom)
    with pytest.raises(KeyError, match="boom"):
        soc.run_until_idle()
    assert not ch.lock.locked()
    assert ch.cookie_status(cookie) is Status.IN_PROGRESS
