"""Webhook pings, decided without a socket: Bitrix24's and amoCRM's form bodies read as
nested objects, HMAC signatures and shared tokens checked (stale, forged, missing), and
the records a ping names found by its rules, each once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.generic_rest.connector import HmacVerify, TokenVerify, Webhooks, load_connector
from adapters.generic_rest.webhook import parse_body, pinged, sign, verify
from crm_bridge.config import ConfigErrors

NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))
CONNECTORS = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors"
BITRIX_PING = (b"event=ONCRMDEALUPDATE&event_handler_id=201&data%5BFIELDS%5D%5BID%5D=759&ts=" + STAMP.encode()
               + b"&auth%5Bdomain%5D=x.bitrix24.ru&auth%5Bapplication_token%5D=app-token-1")
AMO_PING = (b"leads%5Bupdate%5D%5B0%5D%5Bid%5D=30012&leads%5Bupdate%5D%5B0%5D%5Bstatus_id%5D=142"
            b"&leads%5Bstatus%5D%5B0%5D%5Bid%5D=30012&leads%5Bstatus%5D%5B1%5D%5Bid%5D=30013"
            b"&companies%5Badd%5D%5B0%5D%5Bid%5D=2007&account%5Bsubdomain%5D=acme")
FORM = "application/x-www-form-urlencoded"


def shipped(name: str, **env: str) -> Webhooks:
    base = {"BITRIX24_WEBHOOK": "https://x.bitrix24.ru/rest/1", "BITRIX24_TOKEN": "t"} | {
        f"AMOCRM_{k}": "x" for k in ("URL", "TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "REDIRECT_URI")}
    found = load_connector(CONNECTORS / name / "connector.yaml", base | env).webhooks
    assert found is not None
    return found


def test_bitrix24s_form_reads_as_nested_fields_and_names_the_deal() -> None:
    parsed = parse_body(FORM, BITRIX_PING)
    assert parsed["data"] == {"FIELDS": {"ID": "759"}}
    spec = shipped("bitrix24", BITRIX24_APP_TOKEN="app-token-1")
    assert verify(spec.verify, {}, BITRIX_PING, parsed, query={}, now=NOW) is None
    assert pinged(spec, parsed) == [("deals", "759")]
    company = parse_body(FORM, BITRIX_PING.replace(b"ONCRMDEALUPDATE", b"ONCRMCOMPANYADD"))
    assert pinged(spec, company) == [("companies", "759")]
    assert pinged(spec, parse_body(FORM, BITRIX_PING.replace(b"ONCRMDEALUPDATE", b"ONCRMDEALDELETE"))) == []


def test_bitrix24_refuses_a_wrong_token_a_stale_ping_and_an_unset_secret() -> None:
    parsed = parse_body(FORM, BITRIX_PING)
    assert verify(shipped("bitrix24", BITRIX24_APP_TOKEN="other").verify, {}, BITRIX_PING, parsed, query={}, now=NOW) \
        == "the token in the field auth.application_token does not match"
    later = datetime.fromtimestamp(NOW.timestamp() + 3600, UTC)
    stale = verify(shipped("bitrix24", BITRIX24_APP_TOKEN="app-token-1").verify, {}, BITRIX_PING, parsed, query={}, now=later)
    assert stale == "the timestamp is 3600 s away from now (tolerance 900 s)"
    unset = verify(shipped("bitrix24").verify, {}, BITRIX_PING, parsed, query={}, now=NOW)
    assert unset is not None
    assert "empty" in unset


def test_amocrms_form_names_every_lead_and_company_once_and_its_token_is_in_the_url() -> None:
    spec = shipped("amocrm", AMOCRM_WEBHOOK_TOKEN="amo-hook")
    parsed = parse_body(FORM, AMO_PING)
    assert pinged(spec, parsed) == [("leads", "30012"), ("leads", "30013"), ("companies", "2007")]
    assert verify(spec.verify, {}, AMO_PING, parsed, query={"token": "amo-hook"}, now=NOW) is None
    assert verify(spec.verify, {}, AMO_PING, parsed, query={}, now=NOW) == "no token in the query parameter token"


HMAC = HmacVerify(kind="hmac_sha256", secret="s3cret", tolerance=300)  # type: ignore[arg-type]


def signed(body: bytes, *, stamp: str = STAMP, secret: str = "s3cret") -> dict[str, str]:
    return {"x-timestamp": stamp, "X-Signature": "sha256=" + sign(secret, stamp, body)}


def test_an_hmac_signed_ping_passes_and_any_change_to_it_fails() -> None:
    body = b'{"event": "ticket.updated", "ticket": {"id": 7}}'
    parsed = parse_body("application/json", body)
    assert verify(HMAC, signed(body), body, parsed, query={}, now=NOW) is None
    assert verify(HMAC, signed(body), body.replace(b"7", b"8"), parsed, query={}, now=NOW) == "the signature does not match"
    assert verify(HMAC, signed(body, secret="guess"), body, parsed, query={}, now=NOW) == "the signature does not match"
    old = str(int(NOW.timestamp()) - 301)
    assert verify(HMAC, signed(body, stamp=old), body, parsed, query={}, now=NOW) == \
        "the timestamp is 301 s away from now (tolerance 300 s)"
    assert verify(HMAC, {}, body, parsed, query={}, now=NOW) == "no X-Signature or X-Timestamp header"
    why = verify(HMAC, {"X-Timestamp": STAMP, "X-Signature": "0" * 64}, body, parsed, query={}, now=NOW)
    assert why is not None
    assert "s3cret" not in why


def test_a_token_is_in_the_body_or_the_query_never_both_and_a_ping_names_a_known_resource(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="field .* or query"):
        TokenVerify(kind="token", secret="x", field="a", query="b")  # type: ignore[arg-type]
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nbase_url: https://c.example\nresources:\n  tickets: {path: /tickets}\n"
                    "webhooks:\n  verify: {kind: token, query: t, secret: x}\n  pings:\n    - {resource: tickts, key: id}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigErrors, match=r"c.yaml:8:8: webhooks.pings.0.resource: no resource .tickts.. Did you mean 'tickets'"):
        load_connector(path)


def test_a_body_that_is_neither_json_nor_a_form_is_refused() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json's and the form's errors are both ValueErrors
        parse_body(FORM, b"%%%&&&==")
