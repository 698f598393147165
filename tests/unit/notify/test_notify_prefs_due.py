"""Preferences, pure: the layers (defaults, segment, the contact's own) and when a row is
due, checked as properties across the DST changes of London and New York and quiet hours
over midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notify.prefs import (
    CUSTOMER_EVENTS,
    Effective,
    OptOut,
    Stored,
    effective,
    next_wall_time,
    plan,
    quiet_end,
)
from notify.settings import CustomerRules, QuietHours

ZONES = ["Europe/London", "America/New_York", "Europe/Moscow"]
# around the 2027 changes: London 28 Mar / 31 Oct, New York 14 Mar / 7 Nov
instants = st.datetimes(min_value=datetime(2027, 3, 5), max_value=datetime(2027, 11, 15),  # noqa: DTZ001
                        timezones=st.just(UTC))
dst_nights = st.sampled_from([datetime(2027, 3, 14, 6, tzinfo=UTC), datetime(2027, 3, 28, 0, tzinfo=UTC),
                              datetime(2027, 10, 31, 0, tzinfo=UTC), datetime(2027, 11, 7, 5, tzinfo=UTC)])
near_dst = st.builds(lambda night, minutes: night + timedelta(minutes=minutes), dst_nights,
                     st.integers(min_value=-26 * 60, max_value=26 * 60))
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
quiets = st.builds(lambda a, b: QuietHours.parse(f"{a:%H:%M}-{b:%H:%M}"), wall_times, wall_times)


def prefs(*, frequency: str = "immediately", at: time = time(9), quiet: QuietHours | None = None,
          zone: str = "Europe/London", channels: tuple[str, ...] = ("email",),
          opt_outs: dict[str, OptOut] | None = None) -> Effective:
    return Effective(channels=channels, events=frozenset(CUSTOMER_EVENTS), frequency=frequency, digest_at=at,
                     quiet=quiet, language="en", timezone=zone,
                     addresses={"email": "a@example.com", "sms": "+447700900123", "telegram": "4242"},
                     opt_outs=opt_outs or {}, sources={})


@settings(max_examples=300, deadline=None)
@given(now=st.one_of(instants, near_dst), at=wall_times, zone=st.sampled_from(ZONES))
def test_a_daily_digest_is_due_at_the_next_digest_time_on_the_contacts_wall_clock(now: datetime, at: time,
                                                                                   zone: str) -> None:
    due = next_wall_time(now, at, ZoneInfo(zone))
    assert due >= now
    assert due - now <= timedelta(hours=25)
    local = due.astimezone(ZoneInfo(zone))
    if local.time().replace(fold=0) != at:  # only a wall time the clock skipped: the instant after the gap
        assert local.utcoffset() != (due - timedelta(hours=2)).astimezone(ZoneInfo(zone)).utcoffset()
    # no earlier instant after now has that wall time
    earlier = due - timedelta(minutes=15)
    assert earlier < now or earlier.astimezone(ZoneInfo(zone)).time() != at


@settings(max_examples=300, deadline=None)
@given(now=st.one_of(instants, near_dst), quiet=quiets, zone=st.sampled_from(ZONES),
       frequency=st.sampled_from(["immediately", "hourly", "daily"]), at=wall_times)
def test_no_row_falls_due_inside_the_contacts_quiet_hours(now: datetime, quiet: QuietHours, zone: str, frequency: str,
                                                          at: time) -> None:
    (delivery,) = plan(prefs(frequency=frequency, at=at, quiet=quiet, zone=zone), "resolved", now)
    assert delivery.due >= now
    assert not quiet.contains(delivery.due.astimezone(ZoneInfo(zone)).time())
    assert delivery.due - now <= timedelta(hours=49)
    assert (delivery.reason is None) == (delivery.due == now and frequency == "immediately")


@settings(max_examples=200, deadline=None)
@given(now=st.one_of(instants, near_dst), zone=st.sampled_from(ZONES))
def test_an_hourly_contact_waits_for_the_next_full_hour(now: datetime, zone: str) -> None:
    (delivery,) = plan(prefs(frequency="hourly", zone=zone), "assigned", now)
    local = delivery.due.astimezone(ZoneInfo(zone))
    assert (local.minute, local.second, local.microsecond) == (0, 0, 0)
    assert timedelta(0) <= delivery.due - now < timedelta(hours=1)
    assert delivery.fold == "hourly"


def test_over_midnight_quiet_hours_hold_a_late_evening_event_until_morning() -> None:
    london = ZoneInfo("Europe/London")
    now = datetime(2027, 1, 11, 23, 10, tzinfo=london)
    (delivery,) = plan(prefs(quiet=QuietHours.parse("22:00-08:00")), "resolved", now)
    assert delivery.due == datetime(2027, 1, 12, 8, 0, tzinfo=london)
    assert delivery.reason == "quiet hours until 08:00 GMT"
    assert quiet_end(datetime(2027, 1, 12, 7, 0, tzinfo=london), QuietHours.parse("22:00-08:00"), london) == \
        datetime(2027, 1, 12, 8, 0, tzinfo=london)


def test_a_daily_digest_at_0130_on_new_yorks_fall_back_night_is_the_first_0130() -> None:
    new_york = ZoneInfo("America/New_York")
    due = next_wall_time(datetime(2027, 11, 7, 4, 0, tzinfo=UTC), time(1, 30), new_york)
    assert due == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST an hour later


def test_a_daily_digest_at_0230_on_new_yorks_spring_forward_night_comes_after_the_gap() -> None:
    new_york = ZoneInfo("America/New_York")
    due = next_wall_time(datetime(2027, 3, 14, 5, 0, tzinfo=UTC), time(2, 30), new_york)
    assert due.astimezone(new_york).replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)  # noqa: DTZ001


def test_a_daily_contact_is_told_when_the_digest_goes() -> None:
    msk = ZoneInfo("Europe/Moscow")
    (delivery,) = plan(prefs(frequency="daily", at=time(9), zone="Europe/Moscow"), "resolved",
                       datetime(2027, 1, 11, 15, 0, tzinfo=msk))
    assert delivery.due == datetime(2027, 1, 12, 9, 0, tzinfo=msk)
    assert delivery.reason == "folded into the daily digest at 09:00 MSK"
    assert delivery.fold == "daily"


def test_an_opted_out_channel_gets_a_withdrawn_row_saying_when_and_how() -> None:
    gone = OptOut("sms", datetime(2026, 12, 1, 10, tzinfo=UTC), "link")
    now = datetime(2027, 1, 11, 12, tzinfo=UTC)
    email, sms = plan(prefs(channels=("email", "sms"), opt_outs={"sms": gone}), "resolved", now)
    assert (email.channel, email.opted_out, email.due) == ("email", None, now)
    assert (sms.channel, sms.address, sms.reason) == ("sms", "+447700900123", "opted out of sms on 2026-12-01 via link")


def test_an_event_the_contact_did_not_choose_gets_no_row() -> None:
    chosen = Stored(events=("resolved",), sources={"events": "cli"})
    rules = CustomerRules()
    mine = effective(rules, segment=None, stored=chosen, quiet=None, default_zone="Europe/Moscow",
                     addresses={"email": "a@example.com"}, opt_outs={})
    now = datetime(2027, 1, 11, 12, tzinfo=UTC)
    assert plan(mine, "assigned", now) == []
    assert [d.channel for d in plan(mine, "resolved", now)] == ["email"]


def test_the_contacts_choice_beats_the_segment_which_beats_the_defaults() -> None:
    rules = CustomerRules.model_validate({"language": "ru", "segments": {
        "wholesale": {"frequency": "daily", "digest_at": "08:30", "channels": ["email", "telegram"], "language": "en"}}})
    stored = Stored(language="ru", telegram="4242", quiet=QuietHours.parse("23:00-07:00"),
                    sources={"language": "cli", "telegram": "crm", "quiet": "web"})
    mine = effective(rules, segment="wholesale", stored=stored, quiet=None, default_zone="Europe/Moscow",
                     addresses={"email": "a@example.com", "sms": "+79161234567"}, opt_outs={})
    assert (mine.frequency, mine.digest_at, mine.channels) == ("daily", time(8, 30), ("email", "telegram"))
    assert (mine.language, mine.timezone, str(mine.quiet)) == ("ru", "Europe/Moscow", "23:00-07:00")
    assert mine.addresses == {"email": "a@example.com", "sms": "+79161234567", "telegram": "4242"}
    assert mine.sources["frequency"] == "segment wholesale"
    assert (mine.sources["language"], mine.sources["telegram"], mine.sources["quiet"]) == ("cli", "crm", "web")
    assert mine.sources["timezone"] == "default"


def test_a_channel_without_an_address_gets_no_row() -> None:
    mine = prefs(channels=("email", "telegram"))
    mine = Effective(**{**mine.__dict__, "addresses": {"email": "a@example.com", "telegram": None}})
    assert [d.channel for d in plan(mine, "closed", datetime(2027, 1, 11, 12, tzinfo=UTC))] == ["email"]


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        plan(prefs(), "resolved", datetime(2027, 1, 11, 12))  # noqa: DTZ001


@pytest.mark.parametrize("text", ["22:00", "22-08", "25:00-08:00", ""])
def test_quiet_hours_written_wrong_name_the_shape(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        QuietHours.parse(text)
