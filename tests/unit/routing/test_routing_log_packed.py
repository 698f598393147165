"""The routing log's compact form of the considered agents gives back exactly what was considered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.decide import Considered
from routing.moves import considered_of, pack_considered

_text = st.text(max_size=6)
_considered = st.builds(Considered, _text, _text, st.none() | st.sampled_from(["away", "on leave until 2026-12-01", ""]),
                        st.sampled_from([0.0, 1.0, 2.5, 400.0, 1e-3]), st.sampled_from(["", "least loaded", "next in turn"]))


@given(st.lists(_considered, max_size=12))
def test_packed_round_trip(considered: list[Considered]) -> None:
    packed = pack_considered(considered)
    assert considered_of({"considered_packed": packed}) == [c._asdict() for c in considered]
    assert len(packed["reasons"]) == len({c.excluded for c in considered if c.excluded is not None})  # each reason once


def test_compact_and_old_rows() -> None:
    team = [Considered(f"Agent {i}", f"Agent {i}", "off shift until 2026-11-24T09:00+03:00", 120.0) for i in range(50)]
    packed = pack_considered(team)
    assert packed["agents"][0] == ["Agent 0", 120, 0]
    assert packed["reasons"] == ["off shift until 2026-11-24T09:00+03:00"]
    old = [{"key": "a", "name": "A", "excluded": None, "load": 1.0, "why": "least loaded"}]
    assert considered_of({"considered": old}) == old  # rows logged before the compact form read as they were
    assert considered_of({"metric": "resolution"}) is None
