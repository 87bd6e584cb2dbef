"""``_apart`` (whether channels of a shared-bus schedule touch disjoint memory, but for reads) against the
pairwise definition, on random spans (Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dmaengine.sim._dmac import _apart

span = st.tuples(st.integers(0, 64), st.integers(0, 24), st.booleans(), st.integers(0, 3))


def before(spans: list[tuple[int, int, bool, int]]) -> bool:
    """The implementation this one replaced (a list of the spans still reaching, per span)."""
    spans = sorted(spans)
    reach: list[tuple[int, bool, int]] = []
    for a, size, write, i in spans:
        reach = [r for r in reach if r[0] > a]
        for _, w, j in reach:
            if (w or write) and j != i:
                return False
        reach.append((a + size, write, i))
    return True


def pairwise(spans: list[tuple[int, int, bool, int]]) -> bool:
    for i, (a, n, w, lane) in enumerate(spans):
        for b, m, v, other in spans[i + 1:]:
            if lane != other and (w or v) and a < b + m and b < a + n:
                return False
    return True


@settings(max_examples=2000, deadline=None)
@given(st.lists(span, max_size=12))
def test_apart_is_the_pairwise_definition(spans: list[tuple[int, int, bool, int]]) -> None:
    assert _apart(list(spans)) == pairwise(spans) == before(spans)


def test_apart_examples() -> None:
    assert _apart([(0, 10, True, 0), (10, 10, True, 1)])  # touching, not overlapping
    assert not _apart([(0, 10, True, 0), (9, 10, False, 1)])  # a read of what another writes
    assert _apart([(0, 10, False, 0), (5, 10, False, 1)])  # reads share
    assert _apart([(0, 10, True, 0), (5, 10, True, 0)])  # one channel's own spans
    assert not _apart([(0, 100, True, 0), (10, 5, False, 0), (50, 5, False, 1)])  # under a long write
    assert not _apart([(0, 100, False, 0), (0, 100, True, 0), (20, 1, True, 1)])
