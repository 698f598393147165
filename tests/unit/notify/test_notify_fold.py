"""Folding one recipient's due rows into digests: the groups, their sizes, the tail."""

from __future__ import annotations

from notify.digest import DIGEST_MAX, fold
from notify.outgoing import Outgoing
from notify.templates import Rendered


def rows(n: int) -> list[Outgoing]:
    return [Outgoing(i, "lead@example.ru", None, "staff", "sla_breach", "ru", "Europe/Moscow", f"<{i}@x>", None,
                     Rendered(f"[SLA] CRM-{i:07d}", "text\n", "<p>html</p>"), None) for i in range(1, n + 1)]


def sizes(groups: list[list[Outgoing]]) -> list[int]:
    return [len(g) for g in groups]


def test_below_the_threshold_every_row_is_its_own_mail() -> None:
    assert sizes(fold(rows(4), 5)) == [1, 1, 1, 1]


def test_from_the_threshold_on_the_rows_go_as_one_digest() -> None:
    assert sizes(fold(rows(5), 5)) == [5]
    assert sizes(fold(rows(150), 5)) == [150]


def test_never_folded_when_folding_is_off() -> None:
    assert sizes(fold(rows(50), None)) == [1] * 50


def test_a_long_run_is_cut_into_digests_of_at_most_digest_max_rows_and_a_short_tail_goes_alone() -> None:
    assert sizes(fold(rows(2 * DIGEST_MAX + 50), 5)) == [DIGEST_MAX, DIGEST_MAX, 50]
    assert sizes(fold(rows(DIGEST_MAX + 3), 5)) == [DIGEST_MAX, 1, 1, 1]


def test_every_row_is_in_exactly_one_group_in_due_order() -> None:
    given = rows(DIGEST_MAX + 7)
    flat = [o.row_id for g in fold(given, 5) for o in g]
    assert flat == [o.row_id for o in given]


def test_a_channels_own_bound_caps_each_digest() -> None:
    assert sizes(fold(rows(100), 5, 40)) == [40, 40, 20]
    assert sizes(fold(rows(7), 5, 1)) == [1] * 7  # a channel that never folds
