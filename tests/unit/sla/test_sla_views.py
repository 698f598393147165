"""What `sla explain`, `sla policies` and `sla list` show, without a store: the periods
counted add up to the used time, and durations, instants and policies read as people say them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sla.clock import Change, Cycle, Evaluation, TicketFacts, evaluate
from sla.explain import counted_periods, cycle_view, running_stretches, total
from sla.listing import parse_due_before, states_given
from sla.policy import PolicySpec
from sla.settings import SlaConfig
from sla.views import (
    format_business_duration,
    format_instant,
    format_period,
    policy_view,
    targets_text,
)

MSK = ZoneInfo("Europe/Moscow")
SETTINGS = SlaConfig()


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def facts(opened: datetime, *changes: Change, **initial: object) -> TicketFacts:
    state: dict[str, object] = {"type": "technical_problem", "priority": "normal", "status": "new", "channel": "email"}
    state.update(initial)
    return TicketFacts(opened, state, changes)


def evaluated(f: TicketFacts, now: datetime, settings: SlaConfig = SETTINGS) -> Evaluation:
    return evaluate(f, settings.policies, settings.calendar, now)


def resolution(evaluation: Evaluation) -> Cycle:
    cycle = evaluation.current("resolution")
    assert cycle is not None
    return cycle


def counted(evaluation: Evaluation, cycle: Cycle, now: datetime, settings: SlaConfig = SETTINGS) -> timedelta:
    return total(counted_periods(running_stretches(cycle, evaluation.events, now), settings.calendar))


def test_the_periods_counted_for_a_paused_then_resumed_request_add_up_to_the_used_time() -> None:
    # Mon 07.12 10:56 opened; waiting for the customer Mon 16:00 – Tue 10:00; running again until Wed 15:00
    f = facts(at(7, 10, 56), Change(at(7, 11, 30), "status", "in_progress"),
              Change(at(7, 16), "status", "waiting_customer"), Change(at(8, 10), "status", "in_progress"))
    now = at(9, 15)
    evaluation = evaluated(f, now)
    cycle = resolution(evaluation)
    assert counted(evaluation, cycle, now) == cycle.used == timedelta(hours=16, minutes=4)
    periods = cycle_view(cycle, evaluation.events, f, SETTINGS.calendar, now)["periods"]
    assert not [p for p in periods if p[0] < at(8, 10) and p[1] > at(7, 16)]  # nothing while it waited for the customer


def test_the_periods_counted_for_a_request_paused_now_stop_where_the_pause_began() -> None:
    f = facts(at(7, 10), Change(at(7, 12), "status", "waiting_customer"), Change(at(8, 10), "status", "in_progress"),
              Change(at(8, 11), "status", "waiting_customer"))
    now = at(9, 15)
    evaluation = evaluated(f, now)
    cycle = resolution(evaluation)
    assert cycle.state == "paused"
    assert counted(evaluation, cycle, now) == cycle.used == timedelta(hours=3)
    view = cycle_view(cycle, evaluation.events, f, SETTINGS.calendar, now)
    assert view["paused"] == {"at": at(8, 11), "status": "waiting_customer"}
    assert view["periods"] == [[at(7, 10), at(7, 12)], [at(8, 10), at(8, 11)]]


def test_the_periods_counted_for_a_finished_request_end_when_it_was_resolved() -> None:
    f = facts(at(1, 10), Change(at(1, 10, 20), "status", "in_progress"), Change(at(1, 12), "status", "waiting_customer"),
              Change(at(2, 9), "status", "in_progress"), Change(at(2, 12), "status", "resolved"))
    now = at(9, 15)
    evaluation = evaluated(f, now)
    cycle = resolution(evaluation)
    assert cycle.state == "met"
    assert counted(evaluation, cycle, now) == cycle.used == timedelta(hours=5)
    ending = cycle_view(cycle, evaluation.events, f, SETTINGS.calendar, now)["ending"]
    assert ending == {"outcome": "met", "at": at(2, 12), "by": "status resolved"}


def test_a_breached_clock_counts_up_to_now_not_up_to_its_due_instant() -> None:
    f = facts(at(7, 9))
    now = at(11, 12)  # Fri: 32 working hours later, the 24 h target passed on Thu
    evaluation = evaluated(f, now)
    cycle = resolution(evaluation)
    assert cycle.state == "breached"
    assert counted(evaluation, cycle, now) == cycle.used == timedelta(hours=35)


def test_a_policy_change_mid_cycle_counts_each_stretch_on_its_own_calendar() -> None:
    settings = SlaConfig.model_validate({"policies": [
        {"name": "urgent", "match": {"priority": ["urgent"]}, "calendar": "24x7", "targets": {"resolution": "8h"}},
        {"name": "office", "calendar": "office", "targets": {"resolution": "24h"}}]})
    f = facts(at(7, 17), Change(at(7, 20), "priority", "urgent"))
    now = at(7, 23)
    evaluation = evaluated(f, now, settings)
    cycle = resolution(evaluation)
    assert counted(evaluation, cycle, now, settings) == cycle.used == timedelta(hours=4)  # 17–18 office, 20–23 round the clock


def test_notes_of_a_cycle_are_shown_when_the_clock_provides_them() -> None:
    f = facts(at(7, 10))
    evaluation = evaluated(f, at(7, 11))
    cycle = resolution(evaluation)
    assert cycle_view(cycle, evaluation.events, f, SETTINGS.calendar, at(7, 11))["notes"] == []
    cycle.notes = ["computed beyond ru-production's data (ends 2026-12-31)"]  # type: ignore[attr-defined]
    assert cycle_view(cycle, evaluation.events, f, SETTINGS.calendar, at(7, 11))["notes"] == [
        "computed beyond ru-production's data (ends 2026-12-31)"]


@pytest.mark.parametrize(("value", "text"), [
    (timedelta(hours=3, minutes=4), "3 h 04 min"), (timedelta(hours=4), "4 h"), (timedelta(minutes=30), "30 min"),
    (timedelta(hours=48), "48 h"), (timedelta(seconds=45), "45 s"), (timedelta(0), "0 min"),
    (timedelta(hours=-1, minutes=-5), "-1 h 05 min")])
def test_business_durations_read_in_hours_and_minutes(value: timedelta, text: str) -> None:
    assert format_business_duration(value) == text


def test_a_period_across_days_shows_both_dates() -> None:
    assert format_period(at(31, 17), datetime(2027, 1, 11, 9, tzinfo=MSK), MSK) == "31.12.2026 17:00 – 11.01.2027 09:00"
    assert format_period(at(29, 10, 56), at(29, 13), MSK) == "29.12.2026 10:56–13:00"
    assert format_instant(at(29, 10, 56), MSK) == "29.12.2026 10:56 MSK"
    assert format_instant(at(29, 10, 56), ZoneInfo("Asia/Yekaterinburg")) == "29.12.2026 12:56 (Asia/Yekaterinburg)"


def test_policies_read_as_conditions_and_business_durations() -> None:
    policy = PolicySpec.model_validate({
        "name": "gold", "match": {"contract": ["ДС-2026/17"], "type": ["urgent"], "when": "channel == 'email'"},
        "calendar": "24x7", "targets": {"first_response": "30m", "resolution": {"urgent": "4h", "high": "8h", "normal": "16h"}},
        "warn": {"share": 0.75, "before": "30m"}, "escalations": [{"after": "2h", "action": "reassign", "team": "L2"}],
        "valid": {"from": "2026-01-01", "to": "2026-12-31"}})
    view = policy_view(1, policy, at(9, 12).date())
    assert view["conditions"] == ["type: urgent", "contract: ДС-2026/17", "when: channel == 'email'"]
    assert view["targets_text"] == "first response 30 min; resolution urgent 4 h, high 8 h, normal 16 h on 24x7"
    assert view["targets"]["resolution"]["by_priority"]["high"] == {"seconds": 28800.0, "text": "8 h"}
    assert view["warn"]["text"] == "at 75 % of the target or 30 min before the due time, whichever comes first"
    assert view["escalations_text"] == "2 h after the breach: reassign to team L2"
    assert view["valid"]["text"] == "01.01.2026 – 31.12.2026"
    simple = PolicySpec.model_validate({"name": "s", "calendar": "office", "targets": {"resolution": "48h"}})
    assert targets_text(simple.targets, simple.calendar) == "resolution 48 h on office"


def test_due_before_reads_dates_times_and_times_from_now_in_the_configured_zone() -> None:
    now = at(9, 15)
    assert parse_due_before("2026-12-31", MSK, now) == at(31, 0)
    assert parse_due_before("2026-12-31 18:00", MSK, now) == at(31, 18)
    assert parse_due_before("31.12.2026 18:00", MSK, now) == at(31, 18)
    assert parse_due_before("2h", MSK, now) == at(9, 17)
    assert parse_due_before("1d", MSK, now) == at(10, 15)
    with pytest.raises(ValueError, match="write e.g. 2026-12-31"):
        parse_due_before("tomorrow", MSK, now)


def test_states_are_checked_against_the_known_ones() -> None:
    assert states_given(["on_track,warning", "breached"]) == ("on_track", "warning", "breached")
    with pytest.raises(ValueError, match="Did you mean 'breached'"):
        states_given(["breachd"])
