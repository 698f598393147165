"""Canonical values to JSON and back: strict for what crm-bridge decides, lenient for what
a CRM holds (a merge base may hold a value the model refuses, and must not crash the import)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from crm_bridge.model import (
    Priority,
    TicketStatus,
    fields_from_json,
    fields_to_json,
    fields_to_json_many,
    remote_from_json,
    remote_to_json,
)

MSK = ZoneInfo("Europe/Moscow")


def test_decided_values_round_trip_and_a_refused_one_raises() -> None:
    decided = {"status": TicketStatus.IN_PROGRESS, "resolution_due": datetime(2026, 12, 2, 18, 0, tzinfo=MSK), "tags": ["vip"]}
    as_json = fields_to_json("ticket", decided)
    assert as_json == {"status": "in_progress", "resolution_due": "2026-12-02T18:00:00+03:00", "tags": ["vip"]}
    assert fields_from_json("ticket", as_json) == decided
    with pytest.raises(ValidationError):
        fields_to_json("ticket", {"status": None})
    with pytest.raises(KeyError, match="ticket has no field colour"):
        fields_to_json("ticket", {"colour": "red"})


def test_many_field_sets_are_converted_as_each_alone_in_their_own_key_order() -> None:
    many = [{"resolution_due": datetime(2026, 12, 2, 18, 0, tzinfo=MSK), "sla_breached": True, "first_response_due": None},
            {"priority": Priority.HIGH}, {}, {"tags": ["vip"], "status": "new"}]
    assert fields_to_json_many("ticket", many) == [fields_to_json("ticket", fields) for fields in many]
    assert [list(f) for f in fields_to_json_many("ticket", many)] == [list(f) for f in many]
    assert fields_to_json_many("ticket", []) == []
    with pytest.raises(ValidationError):
        fields_to_json_many("ticket", [{"priority": "high"}, {"status": None}])
    with pytest.raises(KeyError, match="colour"):
        fields_to_json_many("ticket", [{"colour": "red"}])


def test_what_a_crm_holds_is_kept_even_where_the_model_refuses_it() -> None:
    held = {"status": None, "priority": Priority.HIGH, "type": "Рекламация", "created_at": datetime(2026, 12, 1, 9, 0, tzinfo=MSK)}
    as_json = remote_to_json("ticket", held)
    assert as_json == {"status": None, "priority": "high", "type": "Рекламация", "created_at": "2026-12-01T09:00:00+03:00"}
    back = remote_from_json("ticket", as_json)
    assert back == {"status": None, "priority": Priority.HIGH, "type": "Рекламация", "created_at": held["created_at"]}
    with pytest.raises(KeyError, match="ticket has no field colour"):  # an unknown field is still a bug, not data
        remote_to_json("ticket", {"colour": "red"})
