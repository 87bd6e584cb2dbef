"""The controller's planning arithmetic, pure: when planned bursts start and end, how many are done by an instant,
and how many bytes they moved. No state of the model lives here (see :mod:`._dmac` for who uses what, when).

- :class:`ItemPlan`: the rest of one item of a channel that has the bus to itself, in closed form:
  memory-to-memory bursts back to back from ``start_ns``, or a peripheral's bursts at the instants its FIFO asks
  for them (a :class:`Flow`).

Channels that share the bus are planned together by :class:`._bus.BusSchedule`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._periph import Flow

__all__ = ["NEVER", "ItemPlan"]

#: An instant after every other.
NEVER = 1 << 62


class ItemPlan:
    """A closed-form plan of the rest of one item: ``item_bytes`` bytes from item offset ``item_offset``, in bursts
    of ``burst_bytes`` that hold the bus ``burst_ns`` (the last, shorter one ``last_burst_ns``).

    Memory to memory (``flow`` None): burst ``j`` (1-based) starts at ``start_ns + (j - 1) * burst_ns``. A
    peripheral flow: burst ``j`` starts when the port has moved ``first_request_bytes + (j - 1) * burst_bytes``
    bytes (its request line asserts then, and the bus is free). ``materialized`` bursts have moved their bytes.
    """

    __slots__ = ("burst_bytes", "burst_ns", "bursts", "first_request_bytes", "flow", "full_bursts", "item_bytes",
                 "item_offset", "last_burst_ns", "materialized", "next_land_ns", "start_ns")

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
        #: When burst ``materialized + 1`` lands (0: not known yet; :data:`NEVER`: never), kept by the controller
        #: so that a look before it costs one comparison.
        self.next_land_ns = 0

    def follow_on(self, start_ns: int) -> None:
        """Become the plan of the next item of the same length on the same flow (a cyclic ring's next period),
        which starts where this one stopped: nothing is rebuilt."""
        self.first_request_bytes += self.bursts * self.burst_bytes
        self.start_ns = start_ns
        self.item_offset = 0
        self.materialized = 0
        self.next_land_ns = 0

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

    def land_ns(self, j: int) -> int:
        """When burst ``j`` (1-based) lands; :data:`NEVER` if never (past the last, or a flow that stops)."""
        if j > self.bursts:
            return NEVER
        s = self.start(j)
        return NEVER if s is None else s + self.duration_ns(j)

    def end(self) -> int | None:
        """When the last burst ends; None if never."""
        s = self.start(self.bursts)
        return None if s is None else s + self.duration_ns(self.bursts)
