from __future__ import annotations

import mmap
import threading
import time

import numpy as np
import pytest

from dmaengine import DataDirection, MappingError, Platform
from dmaengine._memory import PAGE_SIZE, SMALL_COPY, AddressSpace, DmaFault


@pytest.fixture
def space() -> AddressSpace:
    return AddressSpace()


@pytest.mark.parametrize("kind", ["bytearray", "numpy", "numpy2d", "mmap", "memoryview"])
def test_map_any_contiguous_buffer(space: AddressSpace, kind: str) -> None:
    bufs = {
        "bytearray": lambda: bytearray(b"abcdefgh" * 4),
        "numpy": lambda: np.arange(8, dtype=np.uint32),
        "numpy2d": lambda: np.arange(8, dtype=np.uint32).reshape(2, 4),
        "mmap": lambda: _mm(32),
        "memoryview": lambda: memoryview(bytearray(range(32))),
    }
    buf = bufs[kind]()
    m = space.map(buf)
    assert m.length == 32 and m.addr % PAGE_SIZE == 0 and m.live
    view = space.resolve(m.addr + 4, 8, write=False)
    assert bytes(view) == bytes(memoryview(buf).cast("B"))[4:12]
    space.resolve(m.addr, 32, write=True)[:] = 7
    assert bytes(memoryview(buf).cast("B")) == b"\x07" * 32
    m.unmap()
    assert not m.live


def _mm(n: int) -> mmap.mmap:
    mm = mmap.mmap(-1, n)
    mm.write(bytes(range(n)))
    return mm


def test_read_only_buffer_maps_only_to_device(space: AddressSpace) -> None:
    m = space.map(b"readonly", DataDirection.TO_DEVICE)
    assert bytes(space.resolve(m.addr, 8, write=False)) == b"readonly"
    for d in (DataDirection.FROM_DEVICE, DataDirection.BIDIRECTIONAL):
        with pytest.raises(MappingError, match=f"^a read-only buffer maps only TO_DEVICE, not {d.name}$"):
            space.map(b"readonly", d)


def test_bad_buffers_are_refused(space: AddressSpace) -> None:
    with pytest.raises(MappingError, match="^cannot map 'int': not a buffer$"):
        space.map(5)
    with pytest.raises(MappingError, match="non-contiguous"):
        space.map(np.arange(16, dtype=np.uint8)[::2])
    with pytest.raises(MappingError, match="empty"):
        space.map(bytearray())
    m = space.map(bytearray(4))
    m.unmap()
    with pytest.raises(MappingError, match="is not mapped"):
        m.unmap()


def test_faults_name_the_access(space: AddressSpace) -> None:
    a = space.map(bytearray(100), DataDirection.TO_DEVICE)
    b = space.map(bytearray(100), DataDirection.FROM_DEVICE)
    with pytest.raises(DmaFault, match=r"^DMA write of 4 bytes at 0x[0-9a-f]+: Mapping\(.*\) is mapped TO_DEVICE$"):
        space.resolve(a.addr, 4, write=True)
    with pytest.raises(DmaFault, match="is mapped FROM_DEVICE"):
        space.resolve(b.addr, 4, write=False)
    with pytest.raises(DmaFault, match="past the end"):
        space.resolve(a.addr + 90, 20, write=False)
    with pytest.raises(DmaFault, match="no mapping"):
        space.resolve(a.addr + 100, 1, write=False)  # the guard page after a
    with pytest.raises(DmaFault, match="no mapping"):
        space.resolve(0, 1, write=False)
    stale = a.addr
    a.unmap()
    with pytest.raises(DmaFault, match="no mapping"):
        space.resolve(stale, 1, write=False)


def test_addresses_are_never_reused_and_lookup_finds_each(space: AddressSpace) -> None:
    maps = [space.map(bytearray([i]) * (1 + i * 37)) for i in range(200)]
    for m in maps[::3]:
        m.unmap()
    live = [m for m in maps if m.live]
    assert [m.addr for m in space.mappings()] == [m.addr for m in live]
    for i, m in enumerate(maps):
        if m.live:
            assert space.resolve(m.addr + m.length - 1, 1, write=False)[0] == i % 256
        else:
            with pytest.raises(DmaFault):
                space.resolve(m.addr, 1, write=False)
    fresh = space.map(bytearray(1))
    assert fresh.addr > maps[-1].addr


def test_copy_and_fill_check_before_moving(space: AddressSpace) -> None:
    src = np.arange(64, dtype=np.uint8)
    dst = np.zeros(64, dtype=np.uint8)
    s, d = space.map(src, DataDirection.TO_DEVICE), space.map(dst, DataDirection.FROM_DEVICE)
    space.copy(d.addr + 8, s.addr, 16)
    assert list(dst[8:24]) == list(range(16)) and not dst[:8].any() and not dst[24:].any()
    with pytest.raises(DmaFault):
        space.copy(d.addr + 60, s.addr, 8)  # 4 bytes past the end
    assert not dst[24:].any()
    space.fill(d.addr, 0xEE, 4)
    assert list(dst[:4]) == [0xEE] * 4
    with pytest.raises(DmaFault):
        space.fill(s.addr, 0, 4)  # TO_DEVICE cannot be written
    assert list(src[:4]) == [0, 1, 2, 3]


def test_unmap_waits_for_a_big_copy_in_flight(space: AddressSpace) -> None:
    n = 64 * SMALL_COPY
    src = np.ones(n, dtype=np.uint8)
    dst = np.zeros(n, dtype=np.uint8)
    s, d = space.map(src), space.map(dst)
    m, _ = space.pin(d.addr, 16, write=True)  # an engine holds the destination
    done = threading.Event()

    def unmapper() -> None:
        d.unmap()
        done.set()

    t = threading.Thread(target=unmapper)
    t.start()
    time.sleep(0.05)
    assert not done.is_set() and not d.live  # unmapped for new lookups, but waiting for the pin
    with pytest.raises(DmaFault):
        space.copy(d.addr, s.addr, 16)
    space.unpin(m)
    t.join(5)
    assert done.is_set()


def test_platform_map_sg_is_all_or_none() -> None:
    plat = Platform()
    with pytest.raises(MappingError):
        plat.map_sg([bytearray(4), b"ro", bytearray(4)], DataDirection.FROM_DEVICE)
    assert plat.address_space.mappings() == []
    with plat.map_sg([bytearray(4), bytearray(10)]) as sg:
        assert [e.length for e in sg] == [4, 10] and sg.length == 14 and len(sg) == 2
    assert plat.address_space.mappings() == []
