from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dmaengine
from dmaengine import (
    BusWidth,
    Cap,
    ConfigError,
    DataChunk,
    InterleavedTemplate,
    PrepFlags,
    Status,
    TransferDirection,
    is_complete,
)
from dmaengine._cookie import MAX_COOKIE, next_cookie


@pytest.mark.parametrize(
    ("cookie", "last", "used", "want"),
    [(5, 3, 7, Status.IN_PROGRESS), (8, 10, 3, Status.COMPLETE), (2, 10, 3, Status.IN_PROGRESS),
     (1, 1, 1, Status.COMPLETE), (3, 3, 7, Status.COMPLETE), (7, 3, 7, Status.IN_PROGRESS),
     (9, 3, 7, Status.COMPLETE), (11, 10, 3, Status.IN_PROGRESS), (10, 10, 3, Status.COMPLETE)],
)
def test_is_complete_handles_wraparound(cookie: int, last: int, used: int, want: Status) -> None:
    assert is_complete(cookie, last, used) is want


def test_cookies_wrap_to_1_never_below() -> None:
    assert next_cookie(1) == 2
    assert next_cookie(MAX_COOKIE - 1) == MAX_COOKIE
    assert next_cookie(MAX_COOKIE) == 1
    assert MAX_COOKIE == 2**31 - 1


@given(st.integers(1, MAX_COOKIE), st.integers(1, 2000))
def test_a_window_of_cookies_is_in_progress_until_completed(start: int, n: int) -> None:
    """Whatever the wrap, cookies issued after ``last`` are IN_PROGRESS and earlier ones COMPLETE."""
    cookies = [start]
    for _ in range(n):
        cookies.append(next_cookie(cookies[-1]))
    assert all(c >= 1 for c in cookies)
    last, used = cookies[0], cookies[-1]
    for c in cookies[1:]:
        assert is_complete(c, last, used) is Status.IN_PROGRESS
    assert is_complete(cookies[0], last, used) is Status.COMPLETE


def test_enum_values_follow_linux() -> None:
    assert (Cap.MEMCPY, Cap.SLAVE, Cap.CYCLIC, Cap.INTERLEAVE, Cap.MEMCPY_SG) == (1, 1 << 10, 1 << 11, 1 << 12, 1 << 16)
    assert (PrepFlags.PREP_INTERRUPT, PrepFlags.CTRL_ACK, PrepFlags.PREP_FENCE, PrepFlags.PREP_LOAD_EOT) == (
        1, 2, 32, 512)
    assert [int(s) for s in Status] == [0, 1, 2, 3, 4]
    assert TransferDirection.DEV_TO_MEM == 2 and BusWidth.BYTES_4 == 4 and BusWidth.BYTES_128 == 128


def test_errors_carry_errno_and_types() -> None:
    assert dmaengine.NoChannelError.errno == errno.ENODEV
    assert issubclass(dmaengine.NoChannelError, LookupError)
    assert dmaengine.ConfigError.errno == errno.EINVAL
    assert issubclass(dmaengine.ConfigError, ValueError)
    assert dmaengine.BusyError.errno == errno.EBUSY
    assert dmaengine.StateError.errno == errno.EPERM
    for e in (dmaengine.NoChannelError, dmaengine.ConfigError, dmaengine.NotSupportedError, dmaengine.BusyError,
              dmaengine.StateError, dmaengine.MappingError):
        assert issubclass(e, dmaengine.DmaError)


def test_interleaved_template_segments_follow_dmaengine_get_icg() -> None:
    xt = InterleavedTemplate(src_start=1000, dst_start=5000, src_inc=True, dst_inc=True, src_sgl=True,
                             dst_sgl=False, numf=2, sgl=(DataChunk(4, icg=2), DataChunk(3, icg=1, dst_icg=5)))
    assert xt.frame_size == 2 and xt.length == 14
    assert list(xt.segments()) == [(1000, 5000, 4), (1006, 5004, 3), (1010, 5012, 4), (1016, 5016, 3)]
    fixed = InterleavedTemplate(src_start=0, dst_start=100, src_inc=False, numf=3, sgl=(DataChunk(8),))
    assert [s for s, _, _ in fixed.segments()] == [0, 0, 0]


def test_interleaved_template_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"^numf must be >= 1, not 0$"):
        InterleavedTemplate(0, 0, numf=0, sgl=(DataChunk(1),))
    with pytest.raises(ConfigError, match=r"^frame_size must equal len\(sgl\) = 1, not 3$"):
        InterleavedTemplate(0, 0, frame_size=3, sgl=(DataChunk(1),))
    with pytest.raises(ConfigError, match=r"^chunk size must be > 0, not 0$"):
        InterleavedTemplate(0, 0, sgl=(DataChunk(0),))
    with pytest.raises(ConfigError, match="at least one"):
        InterleavedTemplate(0, 0)
