"""The survey rules without a database: window, delay, cap, suppression, the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from crm_bridge.links import LinkForged, LinkNotForThis, sign, verify
from csat.planner import Candidate, decide, rating_subject
from csat.report import period_bounds
from csat.settings import CsatConfig

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
CONFIG = CsatConfig(enabled=True, delay=timedelta(hours=2), window=timedelta(days=7), max_per_contact="1 per 30d")
KEY = "k" * 40


def resolved(hours_ago: float, *, source: str = "external", status: str = "resolved",
             contact: str | None = "contact:7") -> Candidate:
    return Candidate(1, status, source, NOW - timedelta(hours=hours_ago), contact)


def test_a_survey_waits_for_the_delay_after_resolution():
    assert decide(resolved(1.5), CONFIG, NOW, 0) is None
    assert decide(resolved(2), CONFIG, NOW, 0) == ("sent", None)


def test_a_resolution_older_than_the_window_gets_no_survey():
    assert decide(resolved(24 * 7 - 1), CONFIG, NOW, 0) == ("sent", None)
    assert decide(resolved(24 * 7), CONFIG, NOW, 0) is None


def test_a_reopened_request_gets_no_survey():
    assert decide(resolved(3, status="in_progress"), CONFIG, NOW, 0) is None
    assert decide(resolved(3, status="closed"), CONFIG, NOW, 0) == ("sent", None)


def test_internal_requests_and_nobody_to_ask_are_suppressed():
    assert decide(resolved(3, source="internal"), CONFIG, NOW, 0) == ("suppressed", "internal request")
    assert decide(resolved(3, contact=None), CONFIG, NOW, 0) == ("suppressed", "no contact or customer to ask")


def test_the_cap_counts_the_contacts_earlier_surveys():
    state, reason = decide(resolved(3), CONFIG, NOW, 1) or ("", "")
    assert state == "capped"
    assert "max_per_contact" in (reason or "")
    two = CONFIG.model_copy(update={"max_per_contact": CsatConfig(max_per_contact="2 per 90d").max_per_contact})
    assert decide(resolved(3), two, NOW, 1) == ("sent", None)


def test_settings_read_the_cap_and_refuse_nonsense():
    config = CsatConfig(max_per_contact="3 per 14d")
    assert (config.max_per_contact.count, config.max_per_contact.period) == (3, timedelta(days=14))
    with pytest.raises(ValidationError, match="write `<count> per <duration>`"):
        CsatConfig(max_per_contact="once a month")
    with pytest.raises(ValidationError, match="Extra inputs"):
        CsatConfig.model_validate({"windw": "7d"})
    with pytest.raises(ValidationError, match="less than an hour"):
        CsatConfig(window="30m")


def test_a_rating_link_is_bound_to_its_request_and_survey():
    token = sign(KEY, "rating", rating_subject(42, 7), expires=NOW + timedelta(days=7))
    link = verify(KEY, token, "rating", NOW)
    assert (link.kind, link.ident) == ("request", "42.7")
    with pytest.raises(LinkNotForThis):
        verify(KEY, token, "cabinet", NOW)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(LinkForged):
        verify(KEY, forged, "rating", NOW)


def test_a_period_is_a_month_in_the_configured_zone():
    start, end = period_bounds("2026-12", "Europe/Moscow")
    assert start.isoformat() == "2026-12-01T00:00:00+03:00"
    assert end.isoformat() == "2027-01-01T00:00:00+03:00"
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_bounds("2026-13", "UTC")


def test_the_rating_page_check_names_the_file_and_line_of_a_typo(tmp_path):
    from crm_bridge.app import App
    from csat.web import check_page

    app = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\nweb: {{templates: "{tmp_path}"}}\n')
    try:
        assert check_page(app)[0]["ok"]
        (tmp_path / "rate.html").write_text('{% extends "base.html" %}\n{% block content %}\n{{ survey.numbr }}\n{% endblock %}\n')
        (line,) = check_page(app)
        assert not line["ok"]
        assert f"{tmp_path / 'rate.html'}:3" in line["detail"]
    finally:
        app.close()


def test_surveys_on_without_notify_or_a_links_key_stop_at_start():
    from crm_bridge.app import App
    from crm_bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="csat.enabled: surveys carry signed rating links"):
        App.from_text('store: {url: "sqlite://"}\ncsat: {enabled: true}\n')
    with pytest.raises(ConfigError, match="csat.enabled: surveys go out through notify, which is off"):
        App.from_text(f'store: {{url: "sqlite://"}}\nlinks: {{secret: "{KEY}"}}\ncsat: {{enabled: true}}\n')
