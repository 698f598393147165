"""Shadow mode's pure parts: the setting, and how the report says values and counts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, config_from_text
from crm_bridge.registry import Registry
from sync.shadow import ShadowWrite, in_shadow
from sync.shadow_cli import format_value, parse_since, summary_line

MSK = ZoneInfo("Europe/Moscow")
BACKEND = """
backends:
  onec:
    kind: onec_odata
    url: http://127.0.0.1:8080/crm/odata/standard.odata/
    username: u
    password: p
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


def test_existing_configurations_stay_live_and_shadow_is_one_line(registry: Registry) -> None:
    assert not in_shadow(config_from_text(BACKEND, registry), "onec")
    assert in_shadow(config_from_text(BACKEND + "    write_back: shadow\n", registry), "onec")


def test_a_misspelt_mode_names_the_line_and_the_two_modes(registry: Registry) -> None:
    with pytest.raises(ConfigErrors) as caught:
        config_from_text(BACKEND + "    write_back: shadwo\n", registry, file="crm-bridge.yaml")
    assert caught.value.problems == ["crm-bridge.yaml:8:5: backends.onec.write_back: must be one of live, shadow. "
                                     "Did you mean 'shadow'? (got 'shadwo')"]


def test_instants_are_shown_in_the_configured_zone_to_the_minute() -> None:
    assert format_value("2026-11-12T13:16:54+00:00", MSK) == "2026-11-12 16:16"
    assert format_value("2026-11-12T13:16:54+00:00", MSK, short=True) == "12.11 16:16"
    assert format_value("Иванов Иван", MSK) == "Иванов Иван"
    assert parse_since("2026-12-01", MSK) == datetime(2026, 12, 1, tzinfo=MSK)


@pytest.mark.parametrize(("writes", "records", "said"), [
    (1, 1, "1 write would be made to 1 record / 1 запись в 1 объект CRM"),
    (3, 2, "3 writes would be made to 2 records / 3 записи в 2 объекта CRM"),
    (12, 11, "12 writes would be made to 11 records / 12 записей в 11 объектов CRM"),
])
def test_the_summary_counts_writes_and_records_in_english_and_russian(writes: int, records: int, said: str) -> None:
    at = datetime(2026, 12, 1, tzinfo=MSK)
    rows = [ShadowWrite("onec", "ticket", f"CRM-{i % records}", f"f{i}", None, 1, "why", at, "—", "1") for i in range(writes)]
    assert summary_line(rows) == said
