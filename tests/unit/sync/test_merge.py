from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sync.merge import Conflict, merge, same, sent_back

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNERS = {"subject": "newest", "status": "remote", "resolution_due": "local"}


def test_remote_owned_fields_follow_the_remote() -> None:
    m = merge({"status": "closed"}, {"status": "new"}, {"status": "new"}, OWNERS, "manual")
    assert m.take == {"status": "closed"}
    assert not m.send
    assert not m.conflicts


def test_a_user_overwriting_a_local_field_in_the_crm_gets_it_sent_back() -> None:
    m = merge({"resolution_due": T0}, {"resolution_due": T0 + timedelta(hours=4)}, {"resolution_due": T0 + timedelta(hours=4)}, OWNERS, "remote_wins")
    assert m.send == {"resolution_due": T0 + timedelta(hours=4)}
    assert not m.take


def test_a_local_field_crm_bridge_emptied_is_sent_empty_to_clear_the_crms() -> None:
    m = merge({"resolution_due": T0}, {"resolution_due": None}, None, OWNERS, "remote_wins")
    assert (m.take, m.send) == ({}, {"resolution_due": None})


def test_a_local_field_empty_on_both_sides_is_not_sent() -> None:
    m = merge({"resolution_due": None}, {"resolution_due": None}, {"resolution_due": T0}, OWNERS, "remote_wins")
    assert (m.take, m.send) == ({}, {})


def test_an_empty_string_in_the_crm_is_the_same_empty_as_none() -> None:
    """1C's string attributes have no NULL: "" there and None here are one empty value,
    neither sent back (local) nor taken (remote); a value against an empty still differs."""
    owners = {**OWNERS, "sla_state": "local"}
    m = merge({"sla_state": "", "status": ""}, {"sla_state": None, "status": None}, None, owners, "remote_wins")
    assert (m.take, m.send) == ({}, {})
    m = merge({"sla_state": "Просрочено"}, {"sla_state": None}, None, owners, "remote_wins")
    assert m.send == {"sla_state": None}
    assert same("", None)
    assert same(None, "")
    assert not same("", "x")
    assert not same(None, 0)


def test_disjoint_changes_merge_without_conflict() -> None:
    base = {"subject": "A", "status": "new"}
    m = merge({"subject": "A", "status": "in_progress"}, {"subject": "B", "status": "new"}, base, OWNERS, "manual")
    assert m.take == {"status": "in_progress"}
    assert m.send == {"subject": "B"}
    assert not m.conflicts


def test_only_remote_changed_a_shared_field_so_it_is_taken() -> None:
    m = merge({"subject": "R"}, {"subject": "A"}, {"subject": "A"}, OWNERS, "manual")
    assert m.take == {"subject": "R"}


def test_both_changed_the_same_way_is_no_conflict() -> None:
    m = merge({"subject": "Same"}, {"subject": "Same"}, {"subject": "A"}, OWNERS, "manual")
    assert (m.take, m.send, m.conflicts) == ({}, {}, [])


def test_overlapping_changes_follow_the_policy() -> None:
    args = ({"subject": "R"}, {"subject": "L"}, {"subject": "A"}, OWNERS)
    assert merge(*args, "manual").conflicts == [Conflict("subject", "A", "L", "R")]
    assert merge(*args, "remote_wins").take == {"subject": "R"}
    assert merge(*args, "local_wins").send == {"subject": "L"}
    later_local = merge(*args, "newest", local_changed_at=T0 + timedelta(minutes=5), remote_seen_at=T0)
    assert later_local.send == {"subject": "L"}
    later_remote = merge(*args, "newest", local_changed_at=T0, remote_seen_at=T0 + timedelta(minutes=5))
    assert later_remote.take == {"subject": "R"}
    assert later_remote.overridden == [Conflict("subject", "A", "L", "R")]


def test_instants_compare_to_the_second_because_1c_keeps_no_fractions() -> None:
    assert same(T0.replace(microsecond=123456), T0)
    assert not same(T0, T0 + timedelta(seconds=1))


# -- children (tabular sections): merged by item ------------------------------------------

def test_a_child_list_changed_on_both_sides_keeps_what_each_side_added() -> None:
    from sync.merge import merge

    result = merge({"co_executors": [1, 3]}, {"co_executors": [1, 2]}, {"co_executors": [1]},
                   {"co_executors": "newest"}, "manual")
    assert result.conflicts == []
    assert result.take == {"co_executors": [1, 2, 3]}
    assert result.send == {"co_executors": [1, 2, 3]}


def test_merge_rows_drops_what_either_side_removed_and_keeps_the_local_order() -> None:
    from sync.merge import merge_rows

    assert merge_rows([1, 2, 3], [3, 2, 1, 4], [1, 3, 5]) == [3, 1, 4, 5]  # the remote removed 2
    assert merge_rows([1, 2], [2], [1, 2]) == [2]  # the local side removed 1
    assert merge_rows([], [], [7, 8]) == [7, 8]


def test_a_child_list_changed_on_one_side_only_is_taken_or_sent_whole() -> None:
    from sync.merge import merge

    owners = {"co_executors": "newest"}
    assert merge({"co_executors": [4, 5]}, {"co_executors": [4]}, {"co_executors": [4]}, owners,
                 "remote_wins").take == {"co_executors": [4, 5]}
    result = merge({"co_executors": [4]}, {"co_executors": [4, 6]}, {"co_executors": [4]}, owners, "remote_wins")
    assert result.send == {"co_executors": [4, 6]}
    assert result.take == {}


def test_remote_rows_compare_on_the_fields_that_would_be_sent() -> None:
    from sync.merge import same

    sent = [{"Пользователь_Key": "a", "Роль": "Соисполнитель"}]
    assert same(sent, [{"LineNumber": 1, "Ref_Key": "r", "Пользователь_Key": "a", "Роль": "Соисполнитель"}])
    assert not same(sent, [{"LineNumber": 1, "Пользователь_Key": "b", "Роль": "Соисполнитель"}])
    assert not same(sent, [])
    assert not same(sent, sent + sent)


def test_what_a_new_record_sends_back_is_what_a_first_merge_of_owned_fields_sends() -> None:
    owned = {"resolution_due": "local", "first_response_due": "local", "sla_state": "local", "sla_breached": "local",
             "co_executors": "local", "note": "local"}
    remote = {"resolution_due": T0, "first_response_due": T0.replace(microsecond=500), "sla_state": "",
              "sla_breached": True, "co_executors": [{"agent": "Ёж", "role": "помощник"}], "note": "Срочно"}
    locals_: list[dict[str, Any]] = [
        {},  # a new record's own: none yet
        {"resolution_due": T0 + timedelta(hours=4), "first_response_due": T0, "sla_state": None, "sla_breached": False,
         "co_executors": [{"agent": "Ёж"}], "note": "Срочно"},
        {"resolution_due": None, "sla_state": "breached", "co_executors": [], "note": ""},
    ]
    for local in locals_:
        expected = merge(remote, {k: local.get(k) for k in remote}, None, owned, "remote_wins").send
        assert sent_back(remote, local) == expected
    assert sent_back(remote, {}) == {"resolution_due": None, "first_response_due": None, "sla_breached": None,
                                     "co_executors": None, "note": None}  # "" and None are alike
