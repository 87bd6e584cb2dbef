"""Long randomized runs. CI and a plain `make test` run them bounded; DMAENGINE_SOAK_SCALE=N runs N times more.

    DMAENGINE_SOAK_SCALE=40 python -m pytest -m soak
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dmaengine import Cap, DataDirection, Platform, Status
from dmaengine.drivers.memcpy import MemcpyEngine
from dmaengine.testing import run_reference_model

SCALE = max(1, int(os.environ.get("DMAENGINE_SOAK_SCALE", "1")))

pytestmark = pytest.mark.soak


def _memcpy_platform() -> Platform:
    plat = Platform()
    plat.register_device(MemcpyEngine(channels=1))
    return plat


def test_soak_reference_model_memcpy_engine() -> None:
    run_reference_model(_memcpy_platform, max_examples=20 * SCALE, stateful_step_count=50)


def test_soak_reference_model_sim() -> None:
    from dmaengine import sim
    run_reference_model(sim.Soc, max_examples=20 * SCALE, stateful_step_count=50)


def test_soak_many_channels_many_descriptors() -> None:
    """Every channel of a 4-channel engine copies 2000 * SCALE random pieces at once; every byte arrives."""
    rng = np.random.default_rng(1234)
    n = 1 << 20
    with Platform() as plat:
        plat.register_device(MemcpyEngine(channels=4))
        chans = [plat.request_channel(Cap.MEMCPY) for _ in range(4)]
        src = rng.integers(0, 256, n, dtype=np.uint8)
        dsts = [np.zeros(n, dtype=np.uint8) for _ in chans]
        s = plat.map(src, DataDirection.TO_DEVICE)
        ds = [plat.map(d, DataDirection.FROM_DEVICE) for d in dsts]
        expect = [np.zeros(n, dtype=np.uint8) for _ in chans]
        last = [0] * len(chans)
        for _ in range(2000 * SCALE):
            i = int(rng.integers(0, len(chans)))
            length = int(rng.integers(1, 8192))
            off = int(rng.integers(0, n - length))
            last[i] = chans[i].prep_dma_memcpy(ds[i].addr + off, s.addr + off, length).submit()
            expect[i][off : off + length] = src[off : off + length]
            if rng.random() < 0.05:
                chans[i].issue_pending()
        for c, cookie in zip(chans, last):
            if cookie:
                assert c.sync_wait(cookie, timeout=60) == Status.COMPLETE
        for d, e in zip(dsts, expect):
            assert np.array_equal(d, e)
