"""Ordered rules decide type and priority; the deciding rule is named; stems match word forms."""

from __future__ import annotations

from intake.classify import Facts, classify, compile_rule

RULES = [
    compile_rule("vip", segments=["vip"], priority="high"),
    compile_rule("outage", keywords=["не работает", "авария", "outage"], type="technical_problem", priority="urgent"),
    compile_rule("billing", keywords=["счёт", "оплата", "invoice"], type="consultation"),
    compile_rule("thanks", subject=r"^спасибо", type="feedback", priority="low"),
]


def test_a_keyword_matches_other_forms_of_the_word() -> None:
    decided = classify(RULES, Facts("Вопрос по оплате", "Где мои счета?"))
    assert (decided.type, decided.type_rule) == ("consultation", "billing: keyword «счёт»")
    assert (decided.priority, decided.priority_rule) == ("normal", "default")


def test_a_phrase_matches_as_a_run_of_words_in_any_form() -> None:
    decided = classify(RULES, Facts("Касса", "касса не работала всё утро"))
    assert (decided.type, decided.priority) == ("technical_problem", "urgent")
    assert decided.type_rule == decided.priority_rule == "outage: keyword «не работает»"
    assert classify(RULES, Facts("Касса", "работает, но не печатает")).type == "other"


def test_english_keywords_are_stemmed_too() -> None:
    assert classify(RULES, Facts("Invoices missing", "")).type == "consultation"


def test_the_first_rule_to_decide_a_field_wins_and_later_rules_fill_the_rest() -> None:
    decided = classify(RULES, Facts("Авария", "всё лежит", segment="vip"))
    assert (decided.priority, decided.priority_rule) == ("high", "vip: segment vip")
    assert (decided.type, decided.type_rule) == ("technical_problem", "outage: keyword «авария»")


def test_subject_pattern_and_defaults() -> None:
    assert classify(RULES, Facts("Спасибо за помощь", "")).as_dict() == {
        "type": "feedback", "priority": "low", "type_rule": "thanks: subject ~ /^спасибо/", "priority_rule": "thanks: subject ~ /^спасибо/"}
    assert classify(RULES, Facts("Просто вопрос", ""), default_type="consultation").type_rule == "default"


def test_a_sender_domain_rule() -> None:
    rules = [compile_rule("partner", senders=["@partner.ru"], priority="high")]
    assert classify(rules, Facts("x", "", sender="a@partner.ru")).priority_rule == "partner: sender a@partner.ru"
    assert classify(rules, Facts("x", "", sender="a@other.ru")).priority == "normal"
