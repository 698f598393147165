"""What the `run` loop prints per job: golden lines at a fixed instant, in the configured
time zone, never a raw dictionary; and the JSON line scripts read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from crm_bridge.cli.runline import job_json, job_lines

AT = datetime(2026, 12, 7, 7, 56, 3, tzinfo=UTC)  # 10:56:03 in Moscow
MSK = ZoneInfo("Europe/Moscow")


def test_an_import_is_one_line_per_backend_in_moscow_time_with_counts_summed_over_models() -> None:
    pull = {"demo-1c": {"customer": {"read": 4, "created": 0, "updated": 4, "errors": []},
                        "ticket": {"read": 120, "created": 120, "updated": 0, "errors": []}},
            "erp": {"error": "erp: GET $metadata: no answer"}, "seconds": 1.234}
    assert job_lines("sync.pull", pull, at=AT, zone=MSK) == [
        "10:56:03 MSK  sync.pull       demo-1c   read 124, created 120, updated 4  1.2 s",
        "10:56:03 MSK  sync.pull       erp       FAILED: erp: GET $metadata: no answer  1.2 s",
    ]


def test_a_store_job_has_no_backend_and_an_idle_one_says_so() -> None:
    assert job_lines("sla.tick", {"planned": 0, "warned": 0, "seconds": 0.04}, at=AT, zone=MSK) == [
        "10:56:03 MSK  sla.tick        -         nothing to do  0.0 s"]
    assert job_lines("sla.tick", {"planned": 1500, "seconds": 3}, at=AT, zone=ZoneInfo("UTC")) == [
        "07:56:03 UTC  sla.tick        -         planned 1,500  3.0 s"]


def test_parked_rows_need_a_person_and_flags_are_not_counts() -> None:
    push = {"crm": {"sent": 7, "parked": 2, "pending": 0, "stopped_at_budget": False, "errors": ["x"]}, "seconds": 0.2}
    assert job_lines("sync.dispatch", push, at=AT, zone=MSK) == [
        "10:56:03 MSK  sync.dispatch   crm       FAILED: 2 outbox rows parked; see crm-bridge jobs list  0.2 s"]


def test_json_is_one_object_on_one_line_per_job_run() -> None:
    push = {"crm": {"sent": 7, "parked": 0, "pending": 3}, "seconds": 0.25}
    line = job_json("sync.dispatch", push, at=AT, zone=MSK)
    assert "\n" not in line
    assert json.loads(line) == {"time": "2026-12-07T10:56:03+03:00", "job": "sync.dispatch", "seconds": 0.25,
                                "failed": {}, "result": {"crm": {"sent": 7, "parked": 0, "pending": 3}}}
