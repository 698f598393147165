"""Commands a person waits for cap the remote's timeouts; unattended runs keep them (issue #22 point 5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.onec.adapter import OneCBackend
from adapters.onec.config import OneCODataConfig
from crm_bridge.interactive import capped, interactive, set_interactive


@pytest.fixture
def person() -> Iterator[None]:
    set_interactive(True)
    yield
    set_interactive(False)


def config(**timeout: float) -> OneCODataConfig:
    return OneCODataConfig.model_validate({"kind": "onec_odata", "url": "http://1c.test/crm/odata/standard.odata/",
                                           "username": "u", "password": "p", "timeout": timeout})


def test_unattended_keeps_the_configured_timeouts_and_retries_a_silent_server() -> None:
    assert not interactive()
    assert capped(5.0, 60.0, 300.0) == (5.0, 60.0, 300.0)
    client = OneCBackend("crm", config()).client
    assert (client.timeout, client.total_timeout, client.retry_silence) == ((5.0, 60.0), 300.0, True)


@pytest.mark.usefixtures("person")
def test_a_person_waits_seconds_not_minutes_and_a_shorter_configuration_stays() -> None:
    assert capped(30.0, 600.0, 3600.0) == (5.0, 10.0, 60.0)
    assert capped(2.0, 1.0, 1.5) == (2.0, 1.0, 1.5)
    client = OneCBackend("crm", config(connect=30, read=600, total=3600)).client
    assert (client.timeout, client.total_timeout, client.retry_silence) == ((5.0, 10.0), 60.0, False)
