"""A reply joins its request; the same topic from the same customer in the window is a repeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intake.thread import OpenRequest, numbers_in, repeat_of, thread_of, topic

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_numbers_in_subjects_as_customers_quote_them() -> None:
    assert numbers_in("Re: [CRM-0000042] Не проходит оплата") == ["CRM-0000042"]
    assert numbers_in("Обращение № 0000042 — когда?") == ["CRM-0000042"]
    assert numbers_in("Request No. 0000042") == ["CRM-0000042"]
    assert numbers_in("Заказ 42 от вчера") == []


def test_our_message_id_in_the_references_wins_over_a_number() -> None:
    found = thread_of(["<x@client>", "<n1@support>"], "Re: CRM-0000007", sent={"<n1@support>": 42},
                      numbers={"CRM-0000007": 7})
    assert found is not None
    assert (found.ticket_id, found.rule, found.repeat) == (42, "reply to our mail <n1@support>", False)


def test_the_number_in_the_subject_threads_when_no_id_is_ours() -> None:
    found = thread_of(["<x@client>"], "Re: [CRM-0000007] вопрос", sent={}, numbers={"CRM-0000007": 7})
    assert found is not None
    assert (found.ticket_id, found.rule) == (7, "number CRM-0000007 in the subject")


def test_an_unknown_number_threads_nothing() -> None:
    assert thread_of([], "CRM-0000999", sent={}, numbers={}) is None


def test_topic_strips_reply_prefixes_and_brackets() -> None:
    assert topic("RE: Fwd: [CRM-0000042]  Не проходит  оплата") == "не проходит оплата"


def test_same_topic_within_the_window_is_a_repeat_contact() -> None:
    open_ = [OpenRequest(5, "Не проходит оплата", AT - timedelta(days=1)), OpenRequest(6, "Другое", AT)]
    found = repeat_of("Re: не проходит оплата", AT, open_, timedelta(days=3))
    assert found is not None
    assert (found.ticket_id, found.repeat) == (5, True)
    assert "repeat contact" in found.rule


def test_outside_the_window_it_is_a_new_request() -> None:
    assert repeat_of("Не проходит оплата", AT, [OpenRequest(5, "Не проходит оплата", AT - timedelta(days=4))],
                     timedelta(days=3)) is None


def test_word_forms_are_one_topic_and_numbers_tell_topics_apart() -> None:
    open_ = [OpenRequest(5, "Не проходит оплата", AT)]
    assert repeat_of("RE: не проходит оплаты", AT, open_, timedelta(days=3)) is not None
    assert repeat_of("Касса 2 не работает", AT, [OpenRequest(6, "Касса 1 не работает", AT)], timedelta(days=3)) is None
    assert repeat_of("Не проходит оплата картой", AT, open_, timedelta(days=3)) is None  # not the same words


def test_a_different_topic_is_not_a_repeat() -> None:
    assert repeat_of("Не печатает принтер", AT, [OpenRequest(5, "Не проходит оплата", AT)], timedelta(days=3)) is None
