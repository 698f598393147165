"""Records born in crm-bridge are created in 1C bind-first: a lost answer never makes two."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.config import ConfigErrors
from crm_bridge.events import DomainEvent
from crm_bridge.store.records import create_record
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=20, seed=8, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(NOW)
    text = demo_config(emulator.base_url, tmp_path / "s.db") + "    create_remote: [ticket]\n    timeout: {connect: 2, read: 1}\n"
    app = App.from_text(text, clock=clock)
    app.upgrade_db()
    app.run_job("sync.pull")
    app.run_job("sla.tick")  # as the cycle does: the imported requests' rows wait for their plans (sync/hold.py)
    yield app, clock
    app.close()


def register_locally(app: App) -> int:
    """What intake does: a request born in crm-bridge (from an e-mail, say)."""
    with app.store.transaction() as s:
        customer = s.scalars(select(BindingRow.local_id).where(BindingRow.model == "customer")).first()
        ticket_id = create_record(s, "ticket", {"number": "WEB-1", "subject": "Не приходит счёт", "type": "consultation",
                                                "channel": "web_form", "customer_id": customer, "created_at": NOW})
        app.bus.unit(s, NOW, app.config).publish(DomainEvent("record.created", "ticket", ticket_id, "intake"))
    return ticket_id


def created_in_1c(emulator: Emulator, *, wait: float = 5.0) -> list[dict[str, object]]:
    """Our records in 1C; waits a moment for a write whose answer the client stopped waiting for."""
    deadline = time.monotonic() + wait
    while True:
        found = [d for d in emulator.records(DOC) if str(d.get("ИдентификаторВнешний") or "").startswith("crm-bridge:")]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_create_whose_answer_was_lost_is_found_not_repeated(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    ticket_id = register_locally(app)
    emulator.inject("timeout", seconds=2, method="POST", entity_set=DOC, count=1)  # 1C creates it; the answer is lost
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert first["retried"] == 1
    assert len(created_in_1c(emulator)) == 1
    clock.at += timedelta(hours=1)
    second = app.run_job("sync.dispatch")["demo-1c"]
    assert second["created"] == 1, second
    [doc] = created_in_1c(emulator)  # still exactly one
    assert doc["Тема"] == "Не приходит счёт"
    assert doc["ВидОбращения"] == "Консультация"
    new_state = next(st["Ref_Key"] for st in emulator.records("Catalog_СостоянияИнтересов") if st["Description"] == "Новое")
    assert doc["Состояние_Key"] == new_state  # the state's name mapped back to its 1C reference
    with app.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == ticket_id)).one()
        assert (binding.remote_id, binding.state) == (doc["Ref_Key"], "active")


@pytest.mark.parametrize(
    ("kind", "options", "created_by_the_fault"),
    [
        ("truncate", {}, 1),  # 1C created it; the answer was cut short
        ("malformed", {}, 1),  # 1C created it; a proxy mangled the answer
        ("drop", {}, 0),  # the connection died before 1C saw the call
        ("status", {"status": 503, "retry_after": 1}, 0),
        ("status", {"status": 429, "retry_after": 1}, 0),
        ("status", {"status": 500, "code": "0", "message": "Внутренняя ошибка сервера"}, 0),
    ],
)
def test_every_fault_on_a_create_ends_with_exactly_one_record_in_1c(
    emulator: Emulator, bridge: tuple[App, FrozenClock], kind: str, options: dict[str, object], created_by_the_fault: int
) -> None:
    app, clock = bridge
    ticket_id = register_locally(app)
    emulator.inject(kind, method="POST", entity_set=DOC, count=1, **options)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["created"], first["retried"], first["parked"]) == (0, 1, 0), first
    assert len(created_in_1c(emulator, wait=0.5 if not created_by_the_fault else 5.0)) == created_by_the_fault
    clock.at += timedelta(hours=1)
    second = app.run_job("sync.dispatch")["demo-1c"]
    assert second["created"] == 1, second
    [doc] = created_in_1c(emulator)
    with app.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == ticket_id)).one()
        assert (binding.remote_id, binding.state) == (doc["Ref_Key"], "active")


def test_a_create_1c_refuses_is_parked_with_its_reason_and_creates_nothing(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    app, clock = bridge
    register_locally(app)
    emulator.inject("status", method="POST", entity_set=DOC, count=1, status=500, code="-1",
                    message="Ошибка при выполнении обработчика - 'ПередЗаписью': Не заполнено поле Партнер")
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["created"], first["parked"]) == (0, 1), first
    assert "Не заполнено поле Партнер" in first["errors"][0]
    clock.at += timedelta(hours=1)
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 0  # parked: waits for a person
    assert created_in_1c(emulator, wait=0.2) == []
    with app.store.transaction() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.operation == "create")).one()
        assert row.state == "parked"
        assert "Не заполнено поле Партнер" in (row.last_error or "")


def test_an_import_that_meets_the_new_record_first_claims_it(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    ticket_id = register_locally(app)
    emulator.inject("timeout", seconds=2, method="POST", entity_set=DOC, count=1)
    app.run_job("sync.dispatch")
    assert len(created_in_1c(emulator)) == 1
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")  # sees the record the lost call created, with our key in it
    with app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.subject == "Не приходит счёт")) == 1
        binding = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.local_id == ticket_id)).one()
        assert binding.state == "active"
    clock.at += timedelta(hours=1)
    app.run_job("sync.dispatch")
    assert len(created_in_1c(emulator)) == 1
    with app.store.transaction() as s:
        row = s.scalars(select(OutboxRow).where(OutboxRow.operation == "create")).one()
        assert row.state == "sent"


@pytest.fixture
def posting(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    """A bridge that creates requests in 1C and posts them, after its first import."""
    clock = FrozenClock(NOW)
    text = (demo_config(emulator.base_url, tmp_path / "s.db")
            + "    create_remote: [ticket]\n    post_created: [ticket]\n    timeout: {connect: 2, read: 1}\n")
    app = App.from_text(text, clock=clock)
    app.upgrade_db()
    app.run_job("sync.pull")
    yield app, clock
    app.close()


def test_a_created_request_is_posted_and_a_refused_posting_leaves_a_bound_draft(
    emulator: Emulator, posting: tuple[App, FrozenClock], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = posting
    register_locally(app)
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 1
    [doc] = created_in_1c(emulator)
    assert doc["Posted"] is True  # posted as a 1C user would
    with app.store.transaction() as s:
        binding = s.scalars(select(BindingRow).where(BindingRow.remote_id == doc["Ref_Key"])).one()
        assert binding.remote_version == doc["DataVersion"]  # the version after the posting: no echo read

    def refuse_the_posting(response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.request.method == "POST" and response.status_code == 201:
            emulator.inject("status", method="POST", entity_set=DOC, count=1, status=500, code="-1",
                            message="Ошибка проведения: не заполнен Ответственный")

    app.backend("demo-1c").client.session.hooks["response"].append(refuse_the_posting)
    with app.store.transaction() as s:
        customer = s.scalars(select(BindingRow.local_id).where(BindingRow.model == "customer")).first()
        create_record(s, "ticket", {"number": "WEB-2", "subject": "Второй", "customer_id": customer, "created_at": NOW})
        ticket_id = s.scalars(select(TicketRow.id).where(TicketRow.number == "WEB-2")).one()
        app.bus.unit(s, NOW, app.config).publish(DomainEvent("record.created", "ticket", ticket_id, "intake"))
    with caplog.at_level("WARNING"):
        assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 1
    second = next(d for d in created_in_1c(emulator) if d["Тема"] == "Второй")
    assert second["Posted"] is False  # a draft in 1C, bound, not created twice
    assert len(created_in_1c(emulator)) == 2
    assert any("1C refused to post it" in r.getMessage() and "не заполнен Ответственный" in r.getMessage()
               for r in caplog.records)


# what 1C answers a posting while a 1C user holds the document: -1, as a refusal, but it passes
LOCKED = {"status": 500, "code": "-1", "message": "Конфликт блокировок при выполнении транзакции: "
          "Превышено максимальное время ожидания предоставления блокировки"}


@pytest.mark.parametrize("import_first", [False, True], ids=["retried", "imported first"])
@pytest.mark.parametrize("on", ["the create's answer", "the posting", "the posting, locked by a 1C user"])
def test_a_create_or_a_posting_cut_short_is_posted_by_the_retry_that_finds_the_record(
    emulator: Emulator, posting: tuple[App, FrozenClock], on: str, import_first: bool
) -> None:
    """Retried by the outbox, or met first by an import that binds it: either way the
    draft a cut-short create left in 1C is posted, and stays the only document."""
    app, clock = posting
    register_locally(app)
    if on == "the create's answer":
        emulator.inject("truncate", method="POST", entity_set=DOC, count=1)
    else:
        fault = LOCKED if "locked" in on else {"status": 503, "retry_after": 1}

        def busy_on_the_posting(response: requests.Response, *args: object, **kwargs: object) -> None:
            if response.request.method == "POST" and response.status_code == 201:
                emulator.inject("status", method="POST", entity_set=DOC, count=1, **fault)

        app.backend("demo-1c").client.session.hooks["response"].append(busy_on_the_posting)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["created"], first["retried"]) == (0, 1), first
    [draft] = created_in_1c(emulator)
    assert draft["Posted"] is False
    clock.at += timedelta(hours=1)
    if import_first:
        app.run_job("sync.pull")  # finds the document by its correlation key and claims the binding
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == (0 if import_first else 1)
    [doc] = created_in_1c(emulator)  # the same document, now posted
    assert (doc["Ref_Key"], doc["Posted"]) == (draft["Ref_Key"], True)


def test_a_refusal_on_the_look_up_before_a_create_is_not_the_creates_own(
    emulator: Emulator, posting: tuple[App, FrozenClock]
) -> None:
    app, clock = posting
    app.run_job("sync.dispatch")  # the SLA write-backs of the first import: no re-read before the create now
    register_locally(app)
    emulator.inject("status", method="GET", entity_set=DOC, count=1, status=500, code="-1")
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["created"], first["retried"], first["parked"]) == (0, 1, 0)
    assert created_in_1c(emulator, wait=0) == []
    clock.at += timedelta(hours=1)
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 1
    [doc] = created_in_1c(emulator)
    assert doc["Posted"] is True


def test_post_created_names_only_models_crm_bridge_creates(emulator: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="post_created names contact, which crm-bridge does not create in 1C"):
        App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    post_created: [contact]\n")


def new_requests(app: App, count: int) -> None:
    """`count` requests from the web form, of a customer 1C holds, each announced as intake
    does (``record.created``): creates waiting in the outbox."""
    with app.store.transaction() as s:
        customer = s.scalars(select(BindingRow.local_id).where(BindingRow.model == "customer")).first()
        for i in range(count):
            ticket_id = create_record(s, "ticket", {"number": f"WEB-{i}", "subject": f"Вопрос {i}", "type": "consultation",
                                                    "channel": "web_form", "customer_id": customer, "created_at": NOW})
            app.bus.unit(s, NOW, app.config).publish(DomainEvent("record.created", "ticket", ticket_id, "intake"))


def test_creates_whose_answers_were_lost_are_found_by_one_look_up_per_batch(
    emulator: Emulator, bridge: tuple[App, FrozenClock]
) -> None:
    """Three of six creates lose their answer; the retry looks the keys up together (an
    ``or`` of correlation keys, a request per lane batch of 4), binds the three 1C holds
    and creates the three it does not: six requests in 1C, each once."""
    app, clock = bridge
    new_requests(app, 6)
    emulator.inject("timeout", seconds=2, method="POST", entity_set=DOC, count=3)  # created, the answers lost
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert (first["created"], first["retried"]) == (3, 3), first
    deadline = time.monotonic() + 5
    while len(created_in_1c(emulator)) < 6:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    gets = int(emulator.stats()["by_set"].get(DOC, {}).get("GET", 0))
    clock.at += timedelta(hours=1)
    second = app.run_job("sync.dispatch")["demo-1c"]
    assert second["created"] == 3, second
    assert int(emulator.stats()["by_set"].get(DOC, {}).get("GET", 0)) - gets == 1  # three keys, one look-up
    docs = created_in_1c(emulator)
    assert sorted(str(d["Тема"]) for d in docs) == [f"Вопрос {i}" for i in range(6)]  # each exactly once
    with app.store.transaction() as s:
        bound = s.scalars(select(BindingRow).where(BindingRow.model == "ticket", BindingRow.state == "active",
                                                   BindingRow.remote_id.in_([str(d["Ref_Key"]) for d in docs]))).all()
    assert len(bound) == 6


def test_a_batch_of_creates_is_claimed_at_once_each_for_one_lease(
    emulator: Emulator, bridge: tuple[App, FrozenClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten creates over the demo's four connections: all ten claimed before the first call
    (one transaction), each for one plain ``LEASE`` (renewed while the batch runs, not
    multiplied by the three calls a connection makes in turn: an owner that dies on
    another host blocks them ten minutes, not thirty), every create made once and every
    claim released after."""
    import sync.creates
    from sync import claim as claims

    app, clock = bridge
    new_requests(app, 10)
    seen: list[list[tuple[str | None, datetime | None]]] = []
    call = sync.creates._call_create

    def watched(*args: object) -> object:
        with app.store.transaction() as s:
            seen.append([(r.claimed_by, r.claim_expires) for r in s.scalars(
                select(OutboxRow).where(OutboxRow.operation == "create"))])
        return call(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sync.creates, "_call_create", watched)
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 10
    first = seen[0]
    assert all(token is not None for token, _ in first), "all ten claimed before the first call"
    lease = clock.at + claims.LEASE  # the first call comes long before a renewal (a third of a lease)
    assert all(expires is not None and (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) == lease
               for _, expires in first), first
    assert len(created_in_1c(emulator)) == 10
    with app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.claimed_by.is_not(None))) == 0


class _Vanished(BaseException):
    """The worker's host goes away mid-batch: nothing after this runs, nothing is released."""


def _expiry(value: datetime | None) -> datetime | None:
    return None if value is None else value if value.tzinfo else value.replace(tzinfo=UTC)


def test_the_creates_of_an_owner_gone_on_another_host_are_taken_over_after_one_lease(
    emulator: Emulator, bridge: tuple[App, FrozenClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on another host claims a batch of six creates (two calls a connection) and
    dies before any is made: its claims hold the rows one ``LEASE``, not one per call queued
    on a connection (``LEASE`` × 2 before the claims were renewed). Before the lease is
    out nobody takes them; just after, the next pass creates all six, once each."""
    import sync.creates
    from sync import claim as claims

    app, clock = bridge
    new_requests(app, 6)
    here = claims._HOST

    def vanished(*args: object) -> object:
        raise _Vanished

    monkeypatch.setattr(claims, "_HOST", "worker-7.elsewhere")  # its tokens name another host
    monkeypatch.setattr(sync.creates, "_call_create", vanished)
    with pytest.raises(_Vanished):
        app.run_job("sync.dispatch")
    monkeypatch.undo()
    assert here == claims._HOST
    with app.store.transaction() as s:
        held = list(s.scalars(select(OutboxRow).where(OutboxRow.operation == "create")))
    assert len(held) == 6
    assert all((row.claimed_by or "").startswith("worker-7.elsewhere:") for row in held)
    for row in held:  # what the dead worker knew it was sending died with it
        claims.done(row.claimed_by or "")
    assert {_expiry(row.claim_expires) for row in held} == {clock.at + claims.LEASE}

    assert app.run_job("sync.dispatch", clock.at + claims.LEASE - timedelta(seconds=1))["demo-1c"]["created"] == 0
    assert created_in_1c(emulator, wait=0) == []
    assert app.run_job("sync.dispatch", clock.at + claims.LEASE + timedelta(seconds=1))["demo-1c"]["created"] == 6
    assert sorted(str(d["Тема"]) for d in created_in_1c(emulator)) == [f"Вопрос {i}" for i in range(6)]


def test_a_batch_of_creates_slower_than_the_lease_keeps_its_claims_live_while_it_runs(
    emulator: Emulator, bridge: tuple[App, FrozenClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease shortened to a second and each create taking a second and a half: five
    creates over four connections (the first alone, then four) run three seconds, yet
    another dispatcher judging the claims at any moment of it (the frozen clock moved on by
    the wall time since the pass began) finds every one still live: they are renewed
    (``lanes.RENEW_EVERY``). Claimed for the old ``LEASE`` × 2 and not renewed, they had
    lapsed at two seconds, while their owner was still making the calls."""
    import sync.creates
    import sync.lanes
    from sync import claim as claims

    app, clock = bridge
    new_requests(app, 5)
    monkeypatch.setattr(claims, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(sync.lanes, "RENEW_EVERY", 0.1, raising=False)  # raising: absent before renewals
    call = sync.creates._call_create
    lapsed: list[tuple[float, int]] = []
    checks: list[float] = []
    began = time.monotonic()

    def slow(*args: object) -> object:
        time.sleep(1.5)
        seen_at = time.monotonic() - began
        with app.store.transaction() as s:
            rows = list(s.scalars(select(OutboxRow).where(OutboxRow.operation == "create",
                                                          OutboxRow.claimed_by.is_not(None))))
        checks.append(seen_at)
        later = clock.at + timedelta(seconds=seen_at)  # what another dispatcher's clock reads now
        lapsed.extend((seen_at, row.id) for row in rows if not claims.is_live(row, later))
        return call(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sync.creates, "_call_create", slow)
    assert app.run_job("sync.dispatch")["demo-1c"]["created"] == 5
    assert len(checks) == 5, checks
    assert max(checks) > 2.9, checks  # the last calls end past LEASE x 2 (the old claims)
    assert lapsed == [], f"claims that lapsed while their owner ran the batch (seconds in, row): {lapsed}"
    assert len(created_in_1c(emulator)) == 5
