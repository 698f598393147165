"""``POST /__emulator__/touch``: a 1C user saves a random sample of a set's live objects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from adapters.onec.emulator import Emulator

DOC = "Document_Интерес"


@pytest.fixture
def emu() -> Emulator:
    return Emulator(requests=200, seed=5, now=datetime(2026, 3, 2, 12, 0))


def touch(emu: Emulator, body: Any) -> tuple[int, Any]:
    response = emu.gateway("POST", "/__emulator__/touch", "", {}, json.dumps(body).encode(), "http://x")
    return response.status, json.loads(response.body)


def test_touched_objects_get_the_text_appended_and_a_new_data_version(emu: Emulator) -> None:
    before = {d["Ref_Key"]: d for d in emu.records(DOC)}
    status, answer = touch(emu, {"set": DOC, "count": 7, "append": {"Тема": " (уточнено)"}, "seed": 2})
    assert status == 200
    assert len(answer["refs"]) == len(set(answer["refs"])) == 7
    for ref in answer["refs"]:
        now = emu.get(DOC, ref)
        assert now is not None
        assert now["Тема"] == before[ref]["Тема"] + " (уточнено)"
        assert now["DataVersion"] != before[ref]["DataVersion"]
        assert not now["DeletionMark"]  # only live objects are edited
    untouched = [r for r in before if r not in answer["refs"]]
    assert all(emu.get(DOC, r) == before[r] for r in untouched)


def test_the_same_seed_picks_the_same_objects_and_without_append_only_the_version_moves(emu: Emulator) -> None:
    first = touch(emu, {"set": "Catalog_Партнеры", "count": 5, "seed": 9})[1]["refs"]
    names = {r: emu.get("Catalog_Партнеры", r) for r in first}
    again = touch(emu, {"set": "Catalog_Партнеры", "count": 5, "seed": 9})[1]["refs"]
    assert again == first
    for ref, old in names.items():
        new = emu.get("Catalog_Партнеры", ref)
        assert new is not None
        assert old is not None
        assert new["Description"] == old["Description"]
        assert new["DataVersion"] != old["DataVersion"]


def test_more_than_there_are_touches_every_live_object(emu: Emulator) -> None:
    live = sum(1 for d in emu.records(DOC) if not d["DeletionMark"])
    assert len(touch(emu, {"set": DOC, "count": 10_000})[1]["refs"]) == live


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"set": DOC, "append": {"Posted": "x"}}, 400, "string fields of Document_Интерес only"),
    ({"set": "Catalog_Нету"}, 404, "Catalog_Нету"),
    ({"count": 3}, 400, '"set"'),
    ({"set": DOC, "count": -1}, 400, "count must be 0 or more"),
])
def test_a_bad_touch_says_what_is_valid(emu: Emulator, body: Any, status: int, says: str) -> None:
    got, answer = touch(emu, body)
    assert got == status
    assert says in answer["error"]
