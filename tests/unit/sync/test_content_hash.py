"""The import's fingerprint of a remote record's values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sync.importer import content_hash

MSK = ZoneInfo("Europe/Moscow")


def test_the_version_field_is_left_out_and_the_order_of_fields_does_not_matter() -> None:
    saved = {"Ref_Key": "k", "DataVersion": "AAAAAQ==", "Тема": "Принтер", "Date": datetime(2026, 3, 2, 9, 0, tzinfo=MSK)}
    again = {"Тема": "Принтер", "Date": datetime(2026, 3, 2, 9, 0, tzinfo=MSK), "DataVersion": "AAAAAg==", "Ref_Key": "k"}
    assert content_hash(saved, version="DataVersion") == content_hash(again, version="DataVersion")
    assert content_hash(saved) != content_hash(again)  # without the version named, a new version is a change
    assert content_hash({**saved, "Тема": "Сканер"}, version="DataVersion") != content_hash(saved, version="DataVersion")


def test_values_json_cannot_hold_are_fingerprinted_not_refused() -> None:
    photo = {"Фото": b"\x89PNG\r\n\x1a\n", "Сумма": Decimal("10.50"), "Строки": [{"Номер": 1}]}
    assert content_hash(photo) == content_hash(dict(photo))
    assert content_hash(photo) != content_hash({**photo, "Фото": b"\x89PNG\r\n\x1a\x0b"})
