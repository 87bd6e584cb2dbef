"""``summary`` and ``stats``: what the debugfs ``dmaengine/summary`` file and the channel counters say."""

from __future__ import annotations

from dataclasses import astuple, fields

import numpy as np

from dmaengine import Cap, ChannelStats, DataDirection, NoChannelError, Platform

__all__ = ["STATS_FIELDS", "exercise", "stats_rows"]

#: The counters ``dmaengine stats`` shows, in order.
STATS_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ChannelStats))


def stats_rows(plat: Platform) -> list[tuple[str, ChannelStats]]:
    """Every channel of ``plat`` with a snapshot of its counters, in name order."""
    return [(chan.name, chan.stats) for chan in plat.channels()]


def stats_table_rows(plat: Platform) -> list[list[str]]:
    """:func:`stats_rows` as strings, one list per channel: the name, then :data:`STATS_FIELDS`."""
    out = []
    for name, st in stats_rows(plat):
        out.append([name, *(("yes" if v else "no") if isinstance(v, bool) else str(v) for v in astuple(st))])
    return out


def exercise(plat: Platform, count: int, size: int, timeout: float = 10.0) -> int:
    """Copy ``size`` bytes ``count`` times on every free MEMCPY channel of ``plat`` (so the counters move);
    returns the number of channels used."""
    src = np.resize(np.arange(256, dtype=np.uint8), size)  # size bytes, not 8 x size on the way
    dst = np.zeros_like(src)
    used = 0
    with plat.map(src, DataDirection.TO_DEVICE) as s, plat.map(dst, DataDirection.FROM_DEVICE) as d:
        chans = []
        try:
            while True:
                try:
                    chans.append(plat.request_channel(Cap.MEMCPY, client_name="dmaengine-stats"))
                except NoChannelError:
                    break
            for chan in chans:
                cookie = 0
                for _ in range(count):
                    cookie = chan.prep_dma_memcpy(d.addr, s.addr, size).submit()
                if cookie:
                    chan.sync_wait(cookie, timeout)
                used += 1
        finally:
            for chan in chans:
                chan.release()
    return used
