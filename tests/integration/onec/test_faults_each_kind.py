"""Each fault kind on its own, over real HTTP against the emulator, through the whole loop
(pull, SLA, dispatch): the request is retried or parked with its reason, and the run ends
with the store and 1C in agreement — every request bound once, due dates in 1C equal to
the local ones (issue #7 point 8). ``test_faults_loop`` mixes several faults per run;
here each kind is named, on the read side and on the write side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from onec_loop import DOC, NOW, assert_in_agreement, loop_app, outbox, settle
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow
from sync.tables import BindingRow, OutboxRow


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=9, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(NOW)
    app = loop_app(emulator, tmp_path, clock)
    yield app, clock
    app.close()


# -- the read side: the fault hits the first GET of the request set during the pull -----

READ_RETRIED: dict[str, tuple[str, dict[str, Any]]] = {
    "latency": ("latency", {"seconds": 0.4}),
    "429 with Retry-After": ("status", {"status": 429, "retry_after": 1}),
    "503 with Retry-After": ("status", {"status": 503, "retry_after": 1}),
    "500 server fault (not a handler)": ("status", {"status": 500, "code": "0", "message": "Внутренняя ошибка"}),
    "read timeout": ("timeout", {"seconds": 1.5}),
    "truncated JSON": ("truncate", {}),
    "malformed JSON": ("malformed", {}),
    "dropped connection": ("drop", {}),
}


@pytest.mark.parametrize("kind", READ_RETRIED)
def test_a_read_fault_is_retried_in_place_and_the_loop_ends_in_agreement(
    emulator: Emulator, bridge: tuple[App, FrozenClock], kind: str
) -> None:
    app, _ = bridge
    fault, options = READ_RETRIED[kind]
    emulator.inject(fault, method="GET", entity_set=DOC, count=1, **options)
    result = run_cycle(app)
    assert emulator.faults.list() == []  # the fault was met
    assert "error" not in result["sync.pull"]["demo-1c"]
    assert result["sync.dispatch"]["demo-1c"]["sent"] > 0
    assert_in_agreement(app, emulator)


def test_faults_in_the_middle_of_an_incremental_pass_hit_the_version_scan_and_the_reads_by_key(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    run_cycle(app)
    edited = [d["Ref_Key"] for d in emulator.records(DOC) if not d["DeletionMark"]][:25]
    for key in edited:
        emulator.update(DOC, key, {"Тема": "уточнено в 1С"})
    met: list[str] = []

    def fault_after_the_first(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Once the first page of the scan and then the first read by key have come whole,
        the next requests meet a 503 and then a cut answer."""
        try:
            if not response.ok or not response.content:
                return
        except requests.RequestException:  # the cut answer itself
            return
        query = unquote(urlsplit(response.url).query)
        kind = "by key" if "Ref_Key eq guid" in query else "scan" if "$select=Ref_Key,DataVersion,DeletionMark" in query else ""
        if kind and kind not in met and unquote(urlsplit(response.url).path).endswith(DOC):
            met.append(kind)
            emulator.inject("status", method="GET", entity_set=DOC, count=1, status=503, retry_after=1)
            emulator.inject("truncate", method="GET", entity_set=DOC, count=1)

    app.backend("demo-1c").client.session.hooks["response"].append(fault_after_the_first)
    clock.at += timedelta(minutes=1)
    result = app.run_job("sync.pull")["demo-1c"]
    assert met == ["scan", "by key"]
    assert emulator.faults.list() == []
    assert "error" not in result, result
    assert (result["ticket"]["fetched"], result["ticket"]["updated"]) == (25, 25)  # each edit read and stored once
    with app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.subject == "уточнено в 1С")) == 25
    run_cycle(app)
    assert_in_agreement(app, emulator)


def test_a_handler_error_on_a_read_fails_the_pass_with_1cs_text_and_the_next_pass_recovers(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    emulator.inject("status", status=500, code="-1", message="Ошибка при выполнении запроса {Документ.Интерес(12)}",
                    method="GET", entity_set=DOC, count=1)
    failed = app.run_job("sync.pull")["demo-1c"]
    assert "Документ.Интерес(12)" in failed["error"]
    assert emulator.stats()["by_set"][DOC]["GET"] == 1  # a handler's refusal is not retried in place
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert_in_agreement(app, emulator)


def test_an_auth_failure_on_a_read_is_a_clear_error_and_the_next_pass_recovers(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    emulator.inject("auth", method="GET", count=2)
    failed = app.run_job("sync.pull")["demo-1c"]
    assert "refused the login (HTTP 401); check username/password" in failed["error"]
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")  # the second refusal
    app.run_job("sla.tick")
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert_in_agreement(app, emulator)


def test_an_unpublished_set_names_what_to_publish_keeps_what_was_imported_and_recovers(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    emulator.unpublish("Catalog_Пользователи")  # the agent model, third of four
    failed = app.run_job("sync.pull")["demo-1c"]
    assert "Catalog_Пользователи" in failed["error"]
    assert "add the object to the standard OData interface content in 1C" in failed["error"]
    with app.store.transaction() as s:
        assert (s.scalar(select(func.count()).select_from(CustomerRow)) or 0) > 0  # models before it were imported
    emulator.publish("Catalog_Пользователи")
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert_in_agreement(app, emulator)


def test_a_refused_model_does_not_hold_back_the_models_after_it(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    emulator.unpublish("Catalog_КонтактныеЛицаПартнеров")  # contacts, second of four
    failed = app.run_job("sync.pull")["demo-1c"]
    assert "Catalog_КонтактныеЛицаПартнеров" in failed["contact"]["error"]
    with app.store.transaction() as s:
        assert (s.scalar(select(func.count()).select_from(AgentRow)) or 0) > 0  # the third model went on
    emulator.publish("Catalog_КонтактныеЛицаПартнеров")
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert_in_agreement(app, emulator)


# -- the write side: the fault hits the first PATCH of a due date during dispatch -------

WRITE_RETRIED: dict[str, tuple[str, dict[str, Any], float]] = {  # kind -> fault, options, least wait before the retry
    "429 with Retry-After": ("status", {"status": 429, "retry_after": 120}, 120),
    "503 with Retry-After": ("status", {"status": 503, "retry_after": 120}, 120),
    "500 server fault (not a handler)": ("status", {"status": 500, "code": "0", "message": "Внутренняя ошибка"}, 0),
    # a 1C user holds the document: 1C says -1, as for a handler's refusal, but it passes
    "500 lock conflict": ("status", {"status": 500, "code": "-1", "message": "Конфликт блокировок при выполнении "
                                     "транзакции: Превышено максимальное время ожидания предоставления блокировки"}, 0),
    "read timeout": ("timeout", {"seconds": 1.5}, 0),
    "truncated JSON": ("truncate", {}, 0),
    "malformed JSON": ("malformed", {}, 0),
    "dropped connection": ("drop", {}, 0),
    "auth failure": ("auth", {}, 60),
}


@pytest.mark.parametrize("kind", WRITE_RETRIED)
def test_a_write_fault_backs_off_keeps_the_row_and_the_loop_ends_in_agreement(
    emulator: Emulator, bridge: tuple[App, FrozenClock], kind: str
) -> None:
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    fault, options, least_wait = WRITE_RETRIED[kind]
    emulator.inject(fault, method="PATCH", entity_set=DOC, count=1, **options)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert emulator.faults.list() == []
    assert first["parked"] == 0
    # A refused login, or 1C saying it is overloaded (429, 503), stops the batch: the rows
    # after it wait too, instead of meeting it again; any other fault is the one row's.
    stops = kind == "auth failure" or kind.startswith(("429", "503"))
    assert first["retried"] == (first["retried"] if stops else 1) >= 1
    spent = 0 if kind == "auth failure" else 1  # only an administrator fixes a login: it costs no attempt
    held = [r for r in outbox(app, "pending") if r.last_error]
    assert len(held) == first["retried"]
    assert sorted(r.attempts for r in held) == [0] * (len(held) - spent) + [spent] * spent  # the others spent none
    for waiting in held:
        assert waiting.last_error
        assert waiting.next_attempt_at >= NOW + timedelta(seconds=least_wait)
    settle(app, clock)
    assert_in_agreement(app, emulator)


def test_a_request_a_1c_user_holds_open_is_written_once_they_let_it_go(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    held = next(d["Ref_Key"] for d in emulator.records(DOC) if not d["DeletionMark"])
    emulator.activity.hold(held)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["retried"], first["parked"]) == (1, 0)  # 1C's "Объект заблокирован" passes: not a refusal
    [waiting] = [r for r in outbox(app, "pending") if r.last_error]
    assert "Объект заблокирован" in (waiting.last_error or "")
    assert emulator.activity.release(held)
    settle(app, clock)
    assert_in_agreement(app, emulator)


def test_a_refusal_on_the_re_read_before_the_writes_holds_the_batch_and_parks_none(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    """The re-read by key before sending (1C has no If-Match) meets a handler's refusal: the
    rows did not fail themselves, so they back off instead of being parked all at once."""
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    due = len(outbox(app, "pending"))
    emulator.inject("status", status=500, code="-1", method="GET", entity_set=DOC, count=1)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert emulator.faults.list() == []
    assert (first["sent"], first["parked"], first["retried"]) == (0, 0, due)
    assert {r.attempts for r in outbox(app, "pending")} == {1}
    settle(app, clock)
    assert outbox(app, "parked") == []
    assert_in_agreement(app, emulator)


def test_a_1c_users_edit_saved_between_the_re_read_and_the_write_comes_in_all_the_same(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    """1C ignores If-Match: the version our PATCH gets back holds the user's edit too. Taken
    as our own echo, the next import would skip it and the edit would never arrive."""
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    [row, *_] = outbox(app, "pending")
    with app.store.transaction() as s:
        key = s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket",
                                                           BindingRow.local_id == row.local_id)).one()

    def edit_after_the_re_read(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = unquote(response.request.url or "")
        if response.request.method == "GET" and DOC in url and key in url and "$filter" in url:
            emulator.update(DOC, key, {"Тема": "уточнено оператором 1С"})  # saved in 1C right now

    client = app.backend("demo-1c").client
    client.session.hooks["response"].append(edit_after_the_re_read)
    assert app.run_job("sync.dispatch")["demo-1c"]["sent"] > 0
    client.session.hooks["response"].remove(edit_after_the_re_read)
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    with app.store.transaction() as s:
        assert s.get(TicketRow, row.local_id).subject == "уточнено оператором 1С"  # type: ignore[union-attr]
    assert_in_agreement(app, emulator)


def test_latency_on_writes_only_slows_them(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, _ = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    emulator.inject("latency", seconds=0.2, method="PATCH", entity_set=DOC, count=3)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["retried"], first["parked"]) == (0, 0)
    assert_in_agreement(app, emulator)


def test_a_handler_refusal_is_parked_with_its_reason_and_never_retried_on_its_own(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    emulator.inject("status", status=500, code="-1", method="PATCH", entity_set=DOC, count=1)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["retried"], first["parked"]) == (0, 1)
    [parked] = outbox(app, "parked")
    assert "ПередЗаписью" in (parked.last_error or "")
    patches = emulator.stats()["by_set"][DOC]["PATCH"]
    for _ in range(3):  # days pass: a parked row waits for a person, it is not sent again
        clock.at += timedelta(days=1)
        app.run_job("sync.dispatch")
    assert [(r.id, r.attempts) for r in outbox(app, "parked")] == [(parked.id, 1)]
    assert emulator.stats()["by_set"][DOC]["PATCH"] == patches
    with app.store.transaction() as s:  # an operator fixes the data in 1C and retries the dead letter
        row = s.get(OutboxRow, parked.id)
        assert row is not None
        row.state, row.attempts, row.next_attempt_at = "pending", 0, clock.at
    settle(app, clock)
    assert_in_agreement(app, emulator)


def test_an_auth_failure_while_refreshing_before_writes_parks_nothing(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    """The dispatch re-reads the records it is about to write (1C has no If-Match); a 401
    there used to park every due row at once."""
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    emulator.inject("auth", count=1)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert first["parked"] == 0
    assert first["retried"] > 0
    assert all("refused the login" in (r.last_error or "") for r in outbox(app, "pending"))
    settle(app, clock)
    assert_in_agreement(app, emulator)
    with app.store.transaction() as s:
        assert (s.scalar(select(func.count()).select_from(TicketRow)) or 0) == len(
            [d for d in emulator.records(DOC) if not d["DeletionMark"]])


def test_a_set_unpublished_before_writes_keeps_the_rows_until_it_is_published_again(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    emulator.unpublish(DOC)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["parked"], first["retried"] > 0) == (0, True)
    [error] = {r.last_error or "" for r in outbox(app, "pending")}
    assert "Document_Интерес" in error
    assert "standard OData interface content" in error
    emulator.publish(DOC)
    settle(app, clock)
    assert_in_agreement(app, emulator)


def test_a_long_auth_outage_spends_no_attempts_and_parks_nothing(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    """The integration user's password is changed in 1C and not yet here: every dispatch
    for a day meets 401. The rows wait without spending attempts, each pass stops at the
    first refusal, and the first dispatch after the fix sends them."""
    app, clock = bridge
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    pending = len(outbox(app, "pending"))
    emulator.users[DEMO_LOGIN] = "changed in 1C"
    for _ in range(12):  # more dispatches than the outbox's attempts
        clock.at += timedelta(hours=2)
        result = app.run_job("sync.dispatch")["demo-1c"]
        assert (result["sent"], result["parked"]) == (0, 0)
    rows = outbox(app, "pending")
    assert len(rows) == pending
    assert {r.attempts for r in rows} == {0}
    assert all("refused the login" in (r.last_error or "") for r in rows)
    assert emulator.stats()["by_set"][DOC].get("PATCH", 0) == 0  # refused at the re-read before the writes
    emulator.users[DEMO_LOGIN] = DEMO_PASSWORD
    settle(app, clock)
    assert_in_agreement(app, emulator)
