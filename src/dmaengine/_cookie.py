"""Cookie arithmetic (drivers/dma/dmaengine.h and dma_async_is_complete)."""

from __future__ import annotations

from ._enums import Status

__all__ = ["MAX_COOKIE", "MIN_COOKIE", "is_complete", "next_cookie"]

MIN_COOKIE = 1
MAX_COOKIE = 2**31 - 1


def next_cookie(last: int) -> int:
    """The cookie after ``last``: one more, wrapping from 2**31-1 to 1 (never <= 0)."""
    cookie = last + 1
    if cookie > MAX_COOKIE or cookie < MIN_COOKIE:
        cookie = MIN_COOKIE
    return cookie


def is_complete(cookie: int, last_complete: int, last_used: int) -> Status:
    """``dma_async_is_complete``: is ``cookie`` done, given the channel's last completed and last used cookie?

    Handles wrap-around of the cookie counter.

    >>> is_complete(5, 3, 7).name, is_complete(8, 10, 3).name
    ('IN_PROGRESS', 'COMPLETE')
    """
    if last_complete <= last_used:
        if cookie <= last_complete or cookie > last_used:
            return Status.COMPLETE
    elif cookie <= last_complete and cookie > last_used:
        return Status.COMPLETE
    return Status.IN_PROGRESS
