"""What a peripheral keeps of its output: bounded, drainable byte captures and tick timestamps kept as runs.

Nothing here works per byte: bytes are kept as the chunks they came in (joined on read), and the instants of a
line's bytes as runs of consecutive ticks of one clock (expanded on read).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .. import _check
from ._kernel import TickClock

__all__ = ["ByteCapture", "TickRuns", "check_capture"]


def check_capture(capture: int | None) -> int | None:
    """``capture`` is None (keep everything) or a byte count >= 0."""
    if capture is None:
        return None
    return _check.index("capture", capture, 0, what="None or a number of bytes >= 0")


class ByteCapture:
    """The most recent ``limit`` bytes of a stream (None: all of them), drained by :meth:`take`.

    ``total`` counts every byte ever appended; ``start`` is the stream index of the first byte kept; ``dropped``
    counts bytes discarded to stay within ``limit`` (never those taken).
    """

    __slots__ = ("_chunks", "_kept", "dropped", "limit", "total")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._chunks: deque[bytes | bytearray] = deque()
        self._kept = 0
        self.total = 0
        self.dropped = 0

    @property
    def start(self) -> int:
        """The stream index of the first byte kept."""
        return self.total - self._kept

    def append(self, data: bytes | bytearray) -> None:
        """Keep ``data`` (bytes, or a bytearray nobody else holds; not copied again)."""
        n = len(data)
        self.total += n
        limit = self.limit
        if limit is not None and self._kept + n > limit:
            self._trim(self._kept + n - limit)
            if n > limit:
                self.dropped += n - limit
                data = data[n - limit :]
                n = limit
        if n:
            self._chunks.append(data)
            self._kept += n

    def _trim(self, excess: int) -> None:
        chunks = self._chunks
        while excess and chunks:
            c = chunks[0]
            if len(c) <= excess:
                chunks.popleft()
                excess -= len(c)
                self._kept -= len(c)
                self.dropped += len(c)
            else:
                chunks[0] = c[excess:]
                self._kept -= excess
                self.dropped += excess
                excess = 0

    def data(self) -> bytes:
        """The bytes kept, in order."""
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks) > 1 or type(chunks[0]) is not bytes:
            joined = b"".join(chunks)
            chunks.clear()
            chunks.append(joined)
        return chunks[0]  # type: ignore[return-value]

    def take(self) -> bytes:
        """The bytes kept, which are then forgotten."""
        data = self.data()
        self._chunks.clear()
        self._kept = 0
        return data


class TickRuns:
    """The instants of a stream's bytes, as runs ``[first_index, clock, first_tick, count]``: byte
    ``first_index + i`` happened at ``clock.time(first_tick + i)``."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs: list[list[object]] = []

    def append(self, index: int, clock: TickClock, tick: int, count: int) -> None:
        """Bytes ``index .. index+count-1`` at ticks ``tick .. tick+count-1`` of ``clock``."""
        runs = self._runs
        if runs:
            last = runs[-1]
            if last[1] is clock and last[2] + last[3] == tick and last[0] + last[3] == index:  # type: ignore[operator]
                last[3] += count  # type: ignore[operator]
                return
        runs.append([index, clock, tick, count])

    def forget(self, before: int) -> None:
        """Drop the instants of bytes before stream index ``before``."""
        runs = self._runs
        k = 0
        while k < len(runs) and runs[k][0] + runs[k][3] <= before:  # type: ignore[operator]
            k += 1
        del runs[:k]
        if runs and runs[0][0] < before:  # type: ignore[operator]
            first = runs[0]
            cut = before - first[0]  # type: ignore[operator]
            first[0], first[2], first[3] = before, first[2] + cut, first[3] - cut  # type: ignore[operator]

    def times(self, start: int, stop: int) -> list[int]:
        """The instants of bytes ``start .. stop-1`` (all of them recorded)."""
        out: list[int] = []
        for index, clock, tick, count in self._runs:
            assert isinstance(index, int) and isinstance(clock, TickClock)
            assert isinstance(tick, int) and isinstance(count, int)
            lo, hi = max(index, start), min(index + count, stop)
            if lo >= hi:
                continue
            j0, j1 = tick + lo - index + clock.offset, tick + hi - index + clock.offset
            if j1 * clock.num < 2**61 and 0 <= clock.epoch_ns < 2**61:
                js = np.arange(j0, j1, dtype=np.int64)
                out.extend((clock.epoch_ns + js * clock.num // clock.den).tolist())
            else:
                out.extend(clock.epoch_ns + j * clock.num // clock.den for j in range(j0, j1))
        return out
