"""The controller's planning arithmetic, pure: when planned bursts start and end, how many are done by an instant,
and how many bytes they moved. No state of the model lives here (see :mod:`._dmac` for who uses what, when).

- :class:`ItemPlan`: the rest of one item of one channel, in closed form: memory-to-memory bursts back to back
  from ``start_ns``, or a peripheral's bursts at the instants its FIFO asks for them (a :class:`Flow`).
- :func:`first_collision`: where planned bursts of several channels would meet on the bus.
- :class:`RoundRobinRun`: memory-to-memory channels that all want the bus, granted round-robin burst after burst
  (every burst a full one): which channel holds burst ``g``, how many bursts each had by an instant.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._periph import Flow

__all__ = ["ItemPlan", "RoundRobinRun", "first_collision"]


class ItemPlan:
    """A closed-form plan of the rest of one item: ``item_bytes`` bytes from item offset ``item_offset``, in bursts
    of ``burst_bytes`` that hold the bus ``burst_ns`` (the last, shorter one ``last_burst_ns``).

    Memory to memory (``flow`` None): burst ``j`` (1-based) starts at ``start_ns + (j - 1) * burst_ns``. A
    peripheral flow: burst ``j`` starts when the port has moved ``first_request_bytes + (j - 1) * burst_bytes``
    bytes (its request line asserts then, and the bus is free). ``materialized`` bursts have moved their bytes.
    """

    __slots__ = ("burst_bytes", "burst_ns", "bursts", "first_request_bytes", "flow", "full_bursts", "item_bytes",
                 "item_offset", "last_burst_ns", "materialized", "start_ns")

    def __init__(self, item_offset: int, item_bytes: int, burst_bytes: int, burst_ns: int, start_ns: int,
                 flow: Flow | None, first_request_bytes: int, last_burst_ns: int) -> None:
        self.item_offset = item_offset
        self.item_bytes = item_bytes
        self.burst_bytes = burst_bytes
        self.burst_ns = burst_ns
        self.start_ns = start_ns
        self.flow = flow
        self.first_request_bytes = first_request_bytes
        self.full_bursts = item_bytes // burst_bytes
        self.bursts = self.full_bursts + (1 if item_bytes % burst_bytes else 0)
        self.last_burst_ns = last_burst_ns
        self.materialized = 0

    def done(self, t: int) -> int:
        """Bursts finished by ``t``."""
        flow = self.flow
        if flow is not None:
            c = flow.count(t - self.burst_ns)
            if c < self.first_request_bytes:
                return 0
            j = (c - self.first_request_bytes) // self.burst_bytes + 1
            return j if j < self.bursts else self.bursts
        if t < self.start_ns:
            return 0
        j = (t - self.start_ns) // self.burst_ns
        if j >= self.full_bursts:
            j = self.full_bursts
            if self.bursts > j and t >= self.start_ns + j * self.burst_ns + self.last_burst_ns:
                j += 1
        return j

    def nbytes(self, j: int) -> int:
        """Bytes moved by the first ``j`` bursts."""
        b = j * self.burst_bytes
        return b if b < self.item_bytes else self.item_bytes

    def start(self, j: int) -> int | None:
        """When burst ``j`` (1-based) is granted the bus; None if never."""
        if self.flow is not None:
            return self.flow.time_of(self.first_request_bytes + (j - 1) * self.burst_bytes)
        return self.start_ns + (j - 1) * self.burst_ns

    def duration_ns(self, j: int) -> int:
        """How long burst ``j`` holds the bus."""
        return self.burst_ns if j <= self.full_bursts else self.last_burst_ns

    def end(self) -> int | None:
        """When the last burst ends; None if never."""
        s = self.start(self.bursts)
        return None if s is None else s + self.duration_ns(self.bursts)


def first_collision(now: int, new: list[ItemPlan], existing: list[ItemPlan]) -> int | None:
    """The first instant two bursts of different plans would hold the bus together (or start together), within
    the time all the plans run; None when there is none."""
    plans = new + existing
    ends = [e for e in (p.end() for p in plans) if e is not None]
    horizon = min(ends) if ends else None
    spans: list[tuple[int, int, int]] = []
    for k, p in enumerate(plans):
        for j in range(p.done(now) + 1, p.bursts + 1):
            st = p.start(j)
            if st is None or (horizon is not None and st > horizon):
                break
            spans.append((st, st + p.duration_ns(j), k))
    spans.sort()
    for (s0, e0, k0), (s1, _, k1) in itertools.pairwise(spans):
        if s1 < e0 or (s1 == s0 and k1 != k0):
            return s0
    return None


class RoundRobinRun:
    """``channels`` memory-to-memory channels (in grant order: the first holds burst 0) granted the bus in turn
    from ``start_ns``, one full burst of ``burst_bytes`` and ``burst_ns`` each, ``bursts`` bursts in all: burst
    ``g`` belongs to channel ``g % channels`` and ends at ``start_ns + (g + 1) * burst_ns``.
    """

    __slots__ = ("burst_bytes", "burst_ns", "bursts", "channels", "materialized", "start_ns")

    def __init__(self, channels: int, start_ns: int, burst_ns: int, burst_bytes: int, bursts: int) -> None:
        self.channels = channels
        self.start_ns = start_ns
        self.burst_ns = burst_ns
        self.burst_bytes = burst_bytes
        self.bursts = bursts
        #: Bursts whose bytes have moved.
        self.materialized = 0

    @staticmethod
    def length(channels: int, start_ns: int, burst_ns: int, full_bursts: list[int], stop_ns: int | None) -> int:
        """How many bursts a run may hold: none may end an item (channel ``i`` has ``full_bursts[i]`` bursts
        before the one that ends its item) and every one must end before ``stop_ns`` (the next other event)."""
        n = min(q * channels + i for i, q in enumerate(full_bursts))
        if stop_ns is not None:
            n = min(n, (stop_ns - start_ns - 1) // burst_ns)
        return n

    def done(self, t: int) -> int:
        """Bursts ended by ``t``."""
        if t < self.start_ns:
            return 0
        j = (t - self.start_ns) // self.burst_ns
        return j if j < self.bursts else self.bursts

    def end_ns(self, g: int) -> int:
        """When burst ``g`` (0-based) ends."""
        return self.start_ns + (g + 1) * self.burst_ns

    def last_before(self, t: int) -> int:
        """How many bursts end strictly before ``t``."""
        return max(0, (t - self.start_ns - 1) // self.burst_ns)

    def share(self, i: int, g: int) -> int:
        """How many of the first ``g`` bursts channel ``i`` held."""
        return (g - i + self.channels - 1) // self.channels if g > i else 0
