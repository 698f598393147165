"""The cabinet's preferences form names every customer event notify knows, in both
languages: an event added to notify without its words would break the page."""

from __future__ import annotations

import pytest

from notify.prefs import CUSTOMER_EVENTS
from web.i18n import MESSAGES


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_every_customer_event_has_words_in_the_form(lang: str) -> None:
    missing = [event for event in CUSTOMER_EVENTS if f"ev_{event}" not in MESSAGES[lang]]
    assert missing == []
