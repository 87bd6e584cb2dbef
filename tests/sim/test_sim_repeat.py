"""REPEAT and LOAD_EOT on the simulated controller (provider.rst, the display case): a frame repeats until a
descriptor flagged LOAD_EOT replaces it at the end of the pass in flight. Exact virtual times, both paths."""

from __future__ import annotations

import numpy as np
import pytest

from dmaengine import Cap, DataChunk, InterleavedTemplate, PrepFlags, Status
from dmaengine.sim import Soc

# A 4-row frame of 64-byte rows: each row one burst of 16 beats (160 ns on the default 400 MB/s bus), after the
# 100 ns descriptor fetch: a pass takes 100 + 4 * 160 = 740 ns.
PASS_NS = 100 + 4 * 160


def frame(soc: Soc, fill: int) -> tuple[np.ndarray, int]:
    buf = np.full(256, fill, dtype=np.uint8)
    return buf, soc.map(buf).addr


@pytest.mark.parametrize("fast", [True, False])
def test_a_repeated_frame_runs_until_a_load_eot_descriptor_replaces_it(fast: bool) -> None:
    soc = Soc(fast=fast, bh_latency_ns=0)
    shown = np.zeros(256, dtype=np.uint8)
    d = soc.map(shown).addr
    _a, a_addr = frame(soc, 0xAA)
    _b, b_addr = frame(soc, 0xBB)
    calls: list[tuple[str, int]] = []
    with soc.request_channel(Cap.INTERLEAVE | Cap.REPEAT | Cap.LOAD_EOT) as chan:
        def xt(src: int) -> InterleavedTemplate:
            return InterleavedTemplate(src_start=src, dst_start=d, numf=4, sgl=(DataChunk(64),))

        tx_a = chan.prep_interleaved_dma(xt(a_addr), PrepFlags.PREP_REPEAT | PrepFlags.PREP_INTERRUPT)
        tx_a.callback = lambda name: calls.append((name, soc.now_ns))
        tx_a.callback_param = "a"
        cookie_a = tx_a.submit()
        chan.issue_pending()
        soc.run(until=(2 * PASS_NS + 100) / 1e9)
        assert calls == [("a", PASS_NS), ("a", 2 * PASS_NS)]
        assert (shown == 0xAA).all()
        st, state = chan.tx_status(cookie_a)
        assert (st, state.residue) == (Status.IN_PROGRESS, 256)  # the third pass is fetching its descriptor
        tx_b = chan.prep_interleaved_dma(xt(b_addr), PrepFlags.PREP_LOAD_EOT | PrepFlags.PREP_INTERRUPT)
        tx_b.callback = lambda name: calls.append((name, soc.now_ns))
        tx_b.callback_param = "b"
        cookie_b = tx_b.submit()
        chan.issue_pending()
        assert chan.sync_wait(cookie_b) == Status.COMPLETE
        chan.synchronize()  # B's callback has run
        # The third pass of A ends and completes A; B starts at that instant and runs once.
        assert calls == [("a", PASS_NS), ("a", 2 * PASS_NS), ("a", 3 * PASS_NS), ("b", 4 * PASS_NS)]
        assert chan.tx_status(cookie_a)[0] == Status.COMPLETE and soc.now_ns == 4 * PASS_NS
        assert (shown == 0xBB).all()


@pytest.mark.parametrize("fast", [True, False])
def test_a_next_descriptor_without_load_eot_waits_until_terminate(fast: bool) -> None:
    soc = Soc(fast=fast, bh_latency_ns=0)
    shown = np.zeros(256, dtype=np.uint8)
    d = soc.map(shown).addr
    _a, a_addr = frame(soc, 0xAA)
    _b, b_addr = frame(soc, 0xBB)
    passes: list[int] = []
    with soc.request_channel(Cap.INTERLEAVE | Cap.REPEAT) as chan:
        tx_a = chan.prep_interleaved_dma(
            InterleavedTemplate(src_start=a_addr, dst_start=d, numf=4, sgl=(DataChunk(64),)), PrepFlags.PREP_REPEAT)
        tx_a.callback = lambda _p: passes.append(soc.now_ns)
        tx_a.submit()
        cookie_b = chan.prep_interleaved_dma(
            InterleavedTemplate(src_start=b_addr, dst_start=d, numf=4, sgl=(DataChunk(64),))).submit()
        chan.issue_pending()
        soc.run(until=(5 * PASS_NS) / 1e9)
        assert passes == [PASS_NS * k for k in range(1, 6)]
        assert chan.tx_status(cookie_b)[0] == Status.IN_PROGRESS and (shown == 0xAA).all()
        chan.terminate_sync()
        soc.run_until_idle()
        assert chan.tx_status(cookie_b)[0] == Status.ERROR and (shown == 0xAA).all()
