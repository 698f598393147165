"""SLA clocks: policies, pauses, reopening, re-planning, warnings and escalations — on
the real office calendar (Mon–Fri 09:00–13:00 / 14:00–18:00 Moscow + production calendar)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sla.clock import Change, TicketFacts, evaluate
from sla.policy import PolicySpec, match_policy, parse_duration
from sla.settings import SlaConfig

MSK = ZoneInfo("Europe/Moscow")
SETTINGS = SlaConfig()


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def facts(opened: datetime, *changes: Change, **initial: object) -> TicketFacts:
    state = {"type": "technical_problem", "priority": "normal", "status": "new", "channel": "email", "source": "external"}
    state.update(initial)  # type: ignore[arg-type]
    return TicketFacts(opened, state, changes)


def run(f: TicketFacts, now: datetime, settings: SlaConfig = SETTINGS):  # type: ignore[no-untyped-def]
    return evaluate(f, settings.policies, settings.calendar, now)


def test_technical_problem_opened_friday_evening_is_due_three_working_days_later() -> None:
    # Fri 20.11.2026 17:30: 30 min left that day, then Mon/Tue/Wed; 24 business hours end Wed 25.11 17:30
    result = run(facts(at(20, 17, 30)), at(20, 17, 31))
    resolution = result.current("resolution")
    assert resolution is not None
    assert resolution.policy == "technical problem"
    assert resolution.due == at(25, 17, 30)
    assert result.current("first_response").due == at(23, 10, 30)  # type: ignore[union-attr]


def test_waiting_for_the_customer_pauses_the_clock_in_business_time() -> None:
    opened = at(23, 9)  # Monday
    f = facts(opened, Change(at(23, 11), "status", "waiting_customer"), Change(at(25, 11), "status", "in_progress"))
    resolution = run(f, at(25, 12)).current("resolution")
    assert resolution is not None
    # 2 h used before the pause; the remaining 22 h run from Wed 11:00: 6 h Wed, 8 h Thu, 8 h Fri
    assert resolution.due == at(27, 18)
    kinds = [e.kind for e in run(f, at(25, 12)).events if e.metric == "resolution"]
    assert kinds[:4] == ["activate", "apply_policy", "pause", "resume"]


def test_paused_request_has_no_due_date_until_it_resumes() -> None:
    f = facts(at(23, 9), Change(at(23, 10), "status", "waiting_customer"))
    resolution = run(f, at(24, 9)).current("resolution")
    assert resolution is not None
    assert (resolution.state, resolution.due, resolution.used) == ("paused", None, timedelta(hours=1))


def test_breach_warning_and_escalations_fire_in_business_time() -> None:
    f = facts(at(23, 9), type="urgent")  # urgent: 4 h round the clock, escalate to a supervisor at breach
    result = run(f, at(23, 14))
    events = {(e.metric, e.kind): e for e in result.events}
    assert events[("resolution", "warn")].at == at(23, 12)  # 75 % of 4 h
    assert events[("resolution", "breach")].at == at(23, 13)
    assert events[("resolution", "escalate")].data["action"] == "notify_supervisor"
    assert result.current("resolution").state == "breached"  # type: ignore[union-attr]
    assert result.next_check is None  # nothing more will happen to this cycle


def test_an_escalation_level_marked_page_always_says_so_in_its_event_and_the_others_do_not() -> None:
    settings = SlaConfig(policies=[{"name": "urgent", "calendar": "24x7", "targets": {"resolution": "4h"},
                                    "escalations": [{"after": "0m", "action": "notify_supervisor"},
                                                    {"after": "1h", "action": "notify_supervisor", "page_always": True}]}])
    result = run(facts(at(23, 9)), at(23, 15), settings)
    levels = {e.data["level"]: e.data for e in result.events if e.kind == "escalate"}
    assert levels[2]["page_always"] is True
    assert "page_always" not in levels[1]  # an unmarked level's stored event is as before


def test_resolving_before_the_due_instant_meets_the_target() -> None:
    f = facts(at(23, 9), Change(at(23, 10), "status", "in_progress"), Change(at(24, 15), "status", "resolved"))
    result = run(f, at(30, 9))
    resolution = result.current("resolution")
    assert resolution is not None
    assert (resolution.state, resolution.ended_at) == ("met", at(24, 15))
    first = result.current("first_response")
    assert first is not None
    assert (first.state, first.ended_at) == ("met", at(23, 10))  # taken up by an agent


def test_a_reopened_request_starts_a_new_cycle_and_keeps_the_old_one() -> None:
    f = facts(at(23, 9), Change(at(23, 12), "status", "resolved"), Change(at(26, 10), "status", "in_progress"))
    result = run(f, at(26, 11))
    cycles = [c for c in result.cycles if c.metric == "resolution"]
    assert [(c.index, c.state) for c in cycles] == [(1, "met"), (2, "on_track")]
    assert cycles[1].start == at(26, 10)
    assert cycles[1].due == at(1, 10, month=12)  # 24 business hours from Thu 26.11 10:00 (lunch excluded)
    # a reopened request does not escalate at once (its first response was late, though)
    assert not any(e.kind == "breach" for e in result.events if e.metric == "resolution")


def test_a_priority_change_keeps_used_time_and_counts_the_rest_against_the_new_target() -> None:
    settings = SlaConfig.model_validate({"policies": [{
        "name": "by priority", "calendar": "office", "targets": {"resolution": {"normal": "24h", "high": "8h"}}}]})
    f = facts(at(23, 9), Change(at(23, 12), "priority", "high"))
    result = run(f, at(23, 12, 30), settings)
    resolution = result.current("resolution")
    assert resolution is not None
    assert resolution.target == timedelta(hours=8)
    assert resolution.due == at(23, 18)  # 3 h used, 5 h left from Mon 12:00: 12–13 and 14–18
    replan = [e for e in result.events if e.kind == "apply_policy" and "previous_target_seconds" in e.data]
    assert replan[0].business == timedelta(hours=3)
    assert "remaining time counts against the new target" in replan[0].data["rule"]


def test_next_response_runs_from_each_customer_message_to_the_agents_answer() -> None:
    settings = SlaConfig.model_validate({"policies": [{
        "name": "chat", "calendar": "office", "targets": {"next_response": "1h", "resolution": "40h"}}]})
    f = facts(at(23, 9), Change(at(23, 10), "message", "customer"), Change(at(23, 10, 30), "message", "agent"),
              Change(at(23, 15), "message", "customer"))
    result = run(f, at(23, 17), settings)
    cycles = [c for c in result.cycles if c.metric == "next_response"]
    assert [(c.index, c.state) for c in cycles] == [(1, "met"), (2, "breached")]
    assert cycles[1].due == at(23, 16)


def test_the_same_history_always_gives_the_same_events() -> None:
    f = facts(at(23, 9), Change(at(23, 11), "status", "waiting_customer"), Change(at(24, 11), "status", "in_progress"),
              Change(at(26, 9), "type", "urgent"))
    first, second = run(f, at(30, 9)), run(f, at(30, 9))
    assert first.events == second.events
    assert [e.kind for e in first.events].count("breach") == 1


def test_policies_are_tried_in_order_and_say_why_they_did_not_match() -> None:
    state = {"type": "consultation", "priority": "high", "channel": "phone"}
    chosen, verdicts = match_policy(SETTINGS.policies, state, at(23, 9))
    assert chosen is not None
    assert chosen.name == "consultation"
    assert [(v.policy.name, v.matched) for v in verdicts] == [("urgent", False), ("technical problem", False), ("consultation", True)]
    assert verdicts[0].reason == "type is 'consultation', not one of urgent"


def test_an_expired_contract_policy_no_longer_matches() -> None:
    policy = PolicySpec.model_validate({"name": "contract 2025", "calendar": "office", "targets": {"resolution": "8h"},
                                        "valid": {"from": "2025-01-01", "to": "2025-12-31"}})
    chosen, verdicts = match_policy([policy], {"type": "other"}, at(23, 9))
    assert chosen is None
    assert verdicts[0].reason == "expired on 2025-12-31"


def test_when_expressions_compare_fields_and_refuse_anything_else() -> None:
    ok = PolicySpec.model_validate({"name": "vip mail", "calendar": "office", "targets": {"resolution": "8h"},
                                    "match": {"when": "channel == 'email' and priority in ('high', 'urgent')"}})
    assert match_policy([ok], {"channel": "email", "priority": "high"}, at(23, 9))[0] is ok
    assert match_policy([ok], {"channel": "phone", "priority": "high"}, at(23, 9))[0] is None
    for evil in ("__import__('os').system('true')", "channel.upper() == 'EMAIL'", "password == 1"):
        with pytest.raises(ValidationError):
            PolicySpec.model_validate({"name": "x", "calendar": "office", "targets": {"resolution": "1h"}, "match": {"when": evil}})


def test_bad_policies_are_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="has no targets; give at least one of"):
        PolicySpec.model_validate({"name": "empty", "calendar": "office", "targets": {}})
    with pytest.raises(ValidationError, match="uses calendar 'ofice', which is not defined. Did you mean 'office'"):
        SlaConfig.model_validate({"policies": [{"name": "a", "calendar": "ofice", "targets": {"resolution": "1h"}}]})
    with pytest.raises(ValidationError, match="interval ends before it starts"):
        SlaConfig.model_validate({"calendars": {"x": {"timezone": "Europe/Moscow", "week": {"mon": ["18:00-09:00"]}}}})
    with pytest.raises(ValidationError, match="unknown time zone|Europe/Moskow"):
        SlaConfig.model_validate({"calendars": {"x": {"timezone": "Europe/Moskow", "week": "24x7"}}})


def test_a_calendar_without_working_time_is_refused_with_the_configuration_not_per_request() -> None:
    with pytest.raises(ValidationError, match="calendar 'never' has no working hours in any week day; "
                                              "policies 'a' can never be met on it"):
        SlaConfig.model_validate({
            "calendars": {"never": {"timezone": "Europe/Moscow", "week": {}}},
            "policies": [{"name": "a", "calendar": "never", "targets": {"resolution": "1h"}}]})
    with pytest.raises(ValidationError, match=r"calendar 'night' has no working time in \d{4}-\d{4} \(the calendars it "
                                              r"composes never overlap\)"):
        SlaConfig.model_validate({"calendars": {
            "day": {"timezone": "Europe/Moscow", "week": {"mon": ["09:00-18:00"]}},
            "night": {"timezone": "Europe/Moscow", "week": {"mon": ["20:00-23:00"]}, "intersect": ["day"]}}})


def test_durations_are_read_the_way_people_write_them() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("PT4H") == timedelta(hours=4)
    assert parse_duration("2d") == timedelta(hours=48)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


def test_naive_instants_are_refused() -> None:
    naive = TicketFacts(datetime(2026, 11, 23, 9), {"type": "other"})  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive|time zone"):
        run(naive, at(23, 10))


def test_policies_match_on_contract_and_tags() -> None:
    gold = PolicySpec.model_validate({"name": "gold contract", "calendar": "24x7", "targets": {"resolution": "8h"},
                                      "match": {"contract": ["ДС-2026/17"], "tags": ["vip", "board"]}})
    assert match_policy([gold], {"contract": "ДС-2026/17", "tags": ["board"]}, at(23, 9))[0] is gold
    chosen, verdicts = match_policy([gold], {"contract": "ДС-2026/17", "tags": ["regular"]}, at(23, 9))
    assert chosen is None
    assert verdicts[0].reason == "no tag of vip, board"
    assert match_policy([gold], {"contract": None, "tags": ["vip"]}, at(23, 9))[0] is None


def test_a_fact_that_is_a_list_does_not_match_a_single_field_condition() -> None:
    chosen, verdicts = match_policy(SETTINGS.policies[:1], {"type": ["urgent"]}, at(23, 9))
    assert chosen is None
    assert verdicts[0].reason == "type is ['urgent'], not one of urgent"


def test_a_policy_valid_to_a_date_is_matched_again_at_an_instant_given_in_another_zone() -> None:
    # 26.11 01:00 in Moscow is 25.11 22:00 in UTC: a `valid` date is that of the instant as given
    vip = PolicySpec.model_validate({"name": "vip", "calendar": "24x7", "targets": {"resolution": "2h"},
                                     "valid": {"to": "2026-11-25"}})
    rest = PolicySpec.model_validate({"name": "rest", "calendar": "24x7", "targets": {"resolution": "8h"}})
    opened = at(26, 1)
    same_instant_in_utc = opened.astimezone(ZoneInfo("UTC"))
    f = facts(opened, Change(same_instant_in_utc, "priority", "high"), priority="high")
    result = evaluate(f, [vip, rest], SETTINGS.calendar, at(26, 2))
    applied = [e.data["policy"] for e in result.events if e.metric == "resolution" and e.kind == "apply_policy"]
    assert applied == ["rest", "vip"]
