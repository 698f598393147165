"""The connector file: a complete one loads; each mistake is named at its line with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.generic_rest.connector import ApiKeyAuth, OffsetPaging, load_connector
from crm_bridge.config import ConfigErrors
from crm_bridge.errors import ConfigError

HELPLINE = """\
name: helpline
base_url: https://helpline.example/api/v2
auth: {kind: api_key, name: X-Api-Key, value: "${HELPLINE_KEY}"}
rate_limit: {per_second: 5}
errors:
  - {status: [403], action: fail, say: "the API key is missing or wrong"}
resources:
  tickets:
    path: /tickets
    records: payload.items
    paginator: {kind: offset, limit: 100, total: payload.count}
    update: {method: PUT, path: "/tickets/{id}", replace: true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "helpline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_complete_connector_loads_with_its_secret_from_the_environment(tmp_path: Path) -> None:
    found = load_connector(write(tmp_path, HELPLINE), {"HELPLINE_KEY": "s3cr3t"})
    assert isinstance(found.auth, ApiKeyAuth)
    assert found.auth.value.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(found)  # a secret is never printed
    tickets = found.resources["tickets"]
    assert isinstance(tickets.paginator, OffsetPaging)
    assert tickets.paginator.total == "payload.count"
    assert tickets.update is not None
    assert tickets.update.replace


@pytest.mark.parametrize(("change", "expected"), [
    (("    records: payload.items\n", "    recods: payload.items\n"),
     ":10:5: resources.tickets.recods: unknown key. Did you mean 'records'?"),
    (("{kind: offset,", "{kind: ofset,"), ":11:17: resources.tickets.paginator.kind: unknown kind 'ofset'. Did you mean 'offset'?"),
    (("total: payload.count", "total: payload..count"), ":11:"),
    (('{method: PUT, path: "/tickets/{id}", replace: true}', '{method: PATCH, path: "/tickets/{id}", replace: true}'),
     "replace: true describes a PUT"),
    (("{status: [403], action: fail,", "{action: fail,"), "matches on status, body_contains or json"),
    (("    records: payload.items\n", "    records: payload.items\n    batch_reads: true\n"),
     "resources.tickets.batch_reads: batch_reads is set, but the connector has no batch: section"),
])
def test_each_mistake_is_named_at_its_place(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = HELPLINE.replace(*change)
    assert text != HELPLINE
    with pytest.raises(ConfigErrors) as caught:
        load_connector(write(tmp_path, text), {"HELPLINE_KEY": "k"})
    message = "\n".join(caught.value.problems)
    assert expected in message
    assert str(tmp_path / "helpline.yaml") in message


def test_a_batched_update_needs_a_detail_path_to_read_back(tmp_path: Path) -> None:
    text = HELPLINE.replace("resources:\n", "batch: {path: batch, size: 50}\nresources:\n").replace("replace: true}", "replace: true, batch: true}")
    with pytest.raises(ConfigErrors) as caught:
        load_connector(write(tmp_path, text), {"HELPLINE_KEY": "k"})
    assert "resources.tickets.update.batch: update.batch reads records by their detail path in a batch; set detail: for tickets" in "\n".join(caught.value.problems)
    text = text.replace("replace: true, batch: true}", "replace: true, batch: true}\n    detail: /tickets/{id}")
    assert load_connector(write(tmp_path, text), {"HELPLINE_KEY": "k"}).resources["tickets"].update.batch  # type: ignore[union-attr]


def test_a_url_token_must_say_where_the_token_goes(tmp_path: Path) -> None:
    text = HELPLINE.replace('auth: {kind: api_key, name: X-Api-Key, value: "${HELPLINE_KEY}"}',
                            'auth: {kind: url_token, token: "${HELPLINE_KEY}"}')
    with pytest.raises(ConfigErrors) as caught:
        load_connector(write(tmp_path, text), {"HELPLINE_KEY": "k"})
    assert "write {token} where it goes" in caught.value.problems[0]


def test_a_missing_file_says_so_and_how_to_write_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such connector file; write one"):
        load_connector(tmp_path / "nope.yaml")
