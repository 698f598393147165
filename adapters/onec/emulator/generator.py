"""Deterministic demo data for the emulated 1C:CRM base.

Same ``seed`` and ``now`` → same base, byte for byte. The shape is what a support desk
on 1C:CRM looks like after two busy weeks: customers (partner + counterparty with a
valid ИНН/КПП, contacts with phones and e-mail) with a third of them filed under a
few partner folders (``IsFolder``: 1C's hierarchical catalogs hold groups as rows of the
same set; ``folders=False`` leaves them out), ~8 agents plus the integration's service
user (``Служебный``), request states, and requests spread over the 14 days before ``now`` in
working hours, mostly open, the older ones more often closed. Every request is one
the bridge has not touched yet: ``СрокИсполнения``/``СрокПервогоОтвета`` are empty.

Rows are built from a per-type template list (one copy per object), which keeps
1,000,000 requests to seconds and a few hundred megabytes.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import names
from .factory import RowFactory
from .inn import random_inn10, random_inn12
from .store import EMPTY_DATE, EMPTY_REF, Store, data_version

__all__ = ["STATES", "SeedSummary", "generate", "guid_source"]

#: (description, Завершающее, share among closed/open draws); documented in README
STATES: tuple[tuple[str, bool], ...] = (
    ("Новое", False), ("В работе", False), ("Ожидает ответа клиента", False),
    ("Решено", False), ("Закрыто", True), ("Отменено", True),
)
_AGENTS = 8
_FOLDERS = ("Ключевые клиенты", "Розница", "Прочие")
_TYPES = (("ТехническаяПроблема", 45), ("Консультация", 30),
          ("БлагодарностьЖалоба", 15), ("СрочныйЗапрос", 10))
_CHANNELS = (("Телефон", 30), ("ЭлектроннаяПочта", 30), ("Чат", 20),
             ("СоциальныеСети", 5), ("ВебФорма", 15))
_BASIS = {"ЭлектроннаяПочта": "Document_ЭлектронноеПисьмоВходящее",
          "Телефон": "Document_ТелефонныйЗвонок"}
_FORMS = ("ООО",) * 75 + ("АО",) * 10 + ("ИП",) * 15
_IMPORTANCE = ("Низкая",) * 20 + ("Обычная",) * 65 + ("Высокая",) * 15
_CLOSED = ("Закрыто",) * 11 + ("Решено",) * 6 + ("Отменено",) * 3
_OPEN_FRESH = ("Новое",) * 6 + ("В работе",) * 3 + ("Ожидает ответа клиента",)
_OPEN_OLDER = ("Новое",) * 3 + ("В работе",) * 11 + ("Ожидает ответа клиента",) * 6
_REQUEST_FIELDS = (
    "Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted", "Партнер_Key",
    "Контрагент_Key", "КонтактноеЛицо_Key", "Ответственный_Key", "Состояние_Key", "Тема",
    "Описание", "Важность", "ДатаЗавершения", "ВидОбращения", "КаналОбращения",
    "ИсточникОбращения", "ДатаПервогоОтвета", "Основание", "Основание_Type", "Соисполнители",
)
_CITY_CODES = (("77", "495"), ("77", "499"), ("78", "812"), ("50", "496"), ("66", "343"),
               ("16", "843"), ("54", "383"), ("52", "831"), ("23", "861"), ("63", "846"))


@dataclass(frozen=True)
class SeedSummary:
    """What was generated (counts per set and the keys tests often need)."""

    counts: Mapping[str, int]
    service_user: str
    agents: tuple[str, ...]
    states: Mapping[str, str]  # description → Ref_Key
    exchange_nodes: Mapping[str, str]  # exchange plan set → the bridge's node Ref_Key
    folders: Mapping[str, str] = field(default_factory=dict)  # partner folder Ref_Key → its name


class _Generator:
    def __init__(self, store: Store, seed: int, now: datetime) -> None:
        self.store, self.schema = store, store.schema
        self.rnd = random.Random(seed)
        self.now = now.replace(microsecond=0)
        self.node = f"{self.rnd.getrandbits(48):012x}"
        self.counts: dict[str, int] = {}
        self.version = [data_version(n) for n in range(8)]
        self.random = self.rnd.random
        self._section_factories: dict[tuple[str, str], RowFactory] = {}

    def guid(self) -> str:
        return _guid(self.rnd, self.node)

    def pick(self, items: Sequence[Any]) -> Any:
        """``random.choice`` without its per-call overhead (this runs millions of times)."""
        return items[int(self.random() * len(items))]

    def below(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low))

    def factory(self, set_name: str) -> RowFactory | None:
        entity_set = self.schema.sets.get(set_name)
        return RowFactory(entity_set.type) if entity_set is not None else None

    def section(self, set_name: str, section: str, rows: Sequence[Mapping[str, Any]]) -> tuple[
            tuple[Any, ...], ...]:
        entity_set = self.schema.sets.get(set_name)
        if entity_set is None or section not in entity_set.type.sections:
            return ()
        factory = self._section_factories.get((set_name, section))
        if factory is None:
            factory = RowFactory(entity_set.type.sections[section].row)
            self._section_factories[set_name, section] = factory
        return tuple(tuple(factory.make({"LineNumber": n, **row})) for n, row in
                     enumerate(rows, start=1))

    def insert(self, set_name: str, factory: RowFactory | None, values: Mapping[str, Any]) -> None:
        if factory is None or set_name not in self.store.tables:
            return
        self.store.insert_seeded(set_name, factory.make(values))
        self.counts[set_name] = self.counts.get(set_name, 0) + 1

    def code(self, set_name: str) -> str:
        return f"{self.store.next_counter(set_name):09d}"

    def person(self) -> tuple[str, str, str]:
        pick = self.pick
        if self.random() < 0.5:
            return pick(names.SURNAMES), pick(names.MALE_NAMES), pick(names.PATRONYMICS)
        return (names.female_surname(pick(names.SURNAMES)), pick(names.FEMALE_NAMES),
                names.female_patronymic(pick(names.PATRONYMICS)))

    def phone(self, area: str) -> tuple[str, str]:
        local = f"{self.below(2000000, 9999999)}"
        return f"+7 {area} {local[:3]}-{local[3:5]}-{local[5:]}", local

    def contact_rows(self, set_name: str, phone: tuple[str, str], email: str) -> tuple[
            tuple[Any, ...], ...]:
        kind_phone, kind_email = self.kinds[set_name]
        return self.section(set_name, "КонтактнаяИнформация", (
            {"Тип": "Телефон", "Вид_Key": kind_phone, "Представление": phone[0],
             "НомерТелефона": phone[0], "НомерТелефонаБезКодов": phone[1],
             "Значение": f'{{"value": "{phone[0]}", "type": "Телефон"}}'},
            {"Тип": "АдресЭлектроннойПочты", "Вид_Key": kind_email, "Представление": email,
             "АдресЭП": email},
        ))

    # ---------------------------------------------------------------- catalogs
    def run(self, requests: int, customers: int, *, folders: bool = True) -> SeedSummary:
        self.kinds = {name: (self.guid(), self.guid()) for name in (
            "Catalog_Партнеры", "Catalog_Контрагенты", "Catalog_КонтактныеЛицаПартнеров",
            "Catalog_Пользователи")}
        agents, service_user = self.users()
        states = self.states()
        partners = self.customers(customers, agents)
        self.requests(requests, partners, agents, states)
        groups = self.folders([p for p, _, _ in partners]) if folders else {}
        return SeedSummary(self.counts, service_user, tuple(a for a, _ in agents),
                           {name: ref for name, (ref, _) in states.items()}, self.nodes(), groups)

    def folders(self, partners: list[str]) -> dict[str, str]:
        """Partner folders (``IsFolder`` rows of the same catalog) holding a third of the
        partners (their ``Parent_Key``). Drawn from a stream of their own and added last, so
        the rest of the base is the same with or without them."""
        set_name = "Catalog_Партнеры"
        factory, table = self.factory(set_name), self.store.tables.get(set_name)
        if factory is None or table is None or "IsFolder" not in factory.index:
            return {}
        rnd = random.Random(f"folders-{self.node}")
        parent = factory.index["Parent_Key"]
        found: dict[str, str] = {}
        for name in _FOLDERS:
            ref = _guid(rnd, self.node)
            self.insert(set_name, factory, {"Ref_Key": ref, "DataVersion": self.version[0], "Description": name,
                                            "Code": self.code(set_name), "IsFolder": True})
            found[ref] = name
        refs = list(found)
        for partner in partners:
            if rnd.random() < 1 / 3:
                table[partner][parent] = refs[int(rnd.random() * len(refs))]
        return found

    def nodes(self) -> dict[str, str]:
        """Per exchange plan: the base's own node and one node for the bridge."""
        result: dict[str, str] = {}
        for name, entity_set in self.schema.sets.items():
            if entity_set.kind != "ExchangePlan" or entity_set.owner is not None:
                continue
            factory = self.factory(name)
            this, bridge = self.guid(), self.guid()
            self.insert(name, factory, {"Ref_Key": this, "DataVersion": self.version[0],
                                        "Code": "ЦБ", "Description": "Центральная база",
                                        "ThisNode": True})
            self.insert(name, factory, {"Ref_Key": bridge, "DataVersion": self.version[0],
                                        "Code": "CRMB", "Description": "crm-bridge"})
            result[name] = bridge
        return result

    def users(self) -> tuple[list[tuple[str, bool]], str]:
        factory = self.factory("Catalog_Пользователи")
        agents: list[tuple[str, bool]] = []
        for number in range(_AGENTS):
            surname, first, middle = self.person()
            ref, invalid = self.guid(), number == _AGENTS - 1  # one agent has left
            login = names.translit(f"{first[0]}.{surname}").replace("-", ".")
            self.insert("Catalog_Пользователи", factory, {
                "Ref_Key": ref, "DataVersion": self.version[1], "Description":
                f"{surname} {first} {middle}", "Недействителен": invalid,
                "ИдентификаторПользователяИБ": self.guid(), "ФизическоеЛицо_Key": self.guid(),
                "КонтактнаяИнформация": self.contact_rows("Catalog_Пользователи", self.phone(
                    "495"), f"{login}@crm-demo.example")})
            agents.append((ref, invalid))
        service_user = self.guid()
        self.insert("Catalog_Пользователи", factory, {
            "Ref_Key": service_user, "DataVersion": self.version[0],
            "Description": "Интеграция (служебный)", "Служебный": True})
        return agents, service_user

    def states(self) -> dict[str, tuple[str, bool]]:
        factory = self.factory("Catalog_СостоянияИнтересов")
        states: dict[str, tuple[str, bool]] = {}
        for order, (name, final) in enumerate(STATES, start=1):
            ref = self.guid()
            self.insert("Catalog_СостоянияИнтересов", factory, {
                "Ref_Key": ref, "DataVersion": self.version[0], "Description": name,
                "Code": self.code("Catalog_СостоянияИнтересов"), "Завершающее": final,
                "РеквизитДопУпорядочивания": order})
            states[name] = (ref, final)
        return states

    def customers(self, count: int, agents: list[tuple[str, bool]]) -> list[tuple[str, str,
                                                                                 list[str]]]:
        """Partners with their counterparty and contacts → (partner, counterparty, contacts)."""
        rnd = self.rnd
        partner_f, counterparty_f = self.factory("Catalog_Партнеры"), self.factory(
            "Catalog_Контрагенты")
        contact_f = self.factory("Catalog_КонтактныеЛицаПартнеров")
        managers = [ref for ref, invalid in agents if not invalid]
        result: list[tuple[str, str, list[str]]] = []
        seen: set[str] = set()
        for _ in range(count):
            partner, counterparty = self.guid(), self.guid()
            region, area = self.pick(_CITY_CODES)
            form = self.pick(_FORMS)
            if form == "ИП":
                surname, first, middle = self.person()
                short = f"{surname} {first} {middle}"
                full, legal = f"Индивидуальный предприниматель {short}", "ИндивидуальныйПредприниматель"
                inn, kpp, domain = random_inn12(rnd, region), "", names.translit(surname)
            else:
                short = f"{self.pick(names.COMPANY_ADJECTIVES)} {self.pick(names.COMPANY_NOUNS)}"
                kind = "Общество с ограниченной ответственностью" if form == "ООО" else \
                    "Акционерное общество"
                full, legal = f'{kind} "{short}"', "ЮрЛицо"
                inn, domain = random_inn10(rnd, region), names.translit(short)
                kpp = f"{inn[:4]}01001"
            while domain in seen:
                domain = f"{domain}{self.below(2, 999)}"
            seen.add(domain)
            phone = self.phone(area)
            registered = self.now - timedelta(days=self.below(30, 1500))
            self.insert("Catalog_Партнеры", partner_f, {
                "Ref_Key": partner, "DataVersion": self.version[self.below(1, 4)],
                "Description": short, "Code": self.code("Catalog_Партнеры"),
                "НаименованиеПолное": full, "ЮрФизЛицо": legal, "Клиент": True,
                "ОсновнойМенеджер_Key": self.pick(managers),
                "ДатаРегистрации": registered.replace(hour=0, minute=0, second=0).isoformat(),
                "КонтактнаяИнформация": self.contact_rows("Catalog_Партнеры", phone,
                                                          f"info@{domain}.example")})
            self.insert("Catalog_Контрагенты", counterparty_f, {
                "Ref_Key": counterparty, "DataVersion": self.version[self.below(1, 4)],
                "Description": f"{short} {form}", "НаименованиеПолное": full, "ЮрФизЛицо": legal,
                "ИНН": inn, "КПП": kpp, "КодПоОКПО": f"{self.below(10**7, 10**8)}",
                "Партнер_Key": partner, "ГоловнойКонтрагент_Key": counterparty,
                "КонтактнаяИнформация": self.contact_rows("Catalog_Контрагенты", phone,
                                                          f"office@{domain}.example")})
            contacts = []
            for _ in range(self.pick((1, 1, 2, 2, 3))):
                contact = self.guid()
                surname, first, middle = self.person()
                email = f"{names.translit(first[0] + '.' + surname).replace('-', '.')}@{domain}.example"
                self.insert("Catalog_КонтактныеЛицаПартнеров", contact_f, {
                    "Ref_Key": contact, "DataVersion": self.version[self.below(0, 3)],
                    "Description": f"{surname} {first} {middle}",
                    "Code": self.code("Catalog_КонтактныеЛицаПартнеров"), "Owner_Key": partner,
                    "ДолжностьПоВизитке": self.pick(names.POSITIONS), "Фамилия": surname,
                    "Имя": first, "Отчество": middle,
                    "КонтактнаяИнформация": self.contact_rows(
                        "Catalog_КонтактныеЛицаПартнеров", self.phone(f"9{self.below(10, 99)}"),
                        email)})
                contacts.append(contact)
            result.append((partner, counterparty, contacts))
        return result

    # ---------------------------------------------------------------- requests
    def moments(self, count: int) -> list[int]:
        """``count`` sorted instants (seconds after now-14d), mostly weekday working hours."""
        start = self.now - timedelta(days=14)
        slots = [start + timedelta(hours=h) for h in range(14 * 24)]
        weights = [(8.0 if 9 <= s.hour < 18 else 1.5 if 8 <= s.hour < 21 else 0.2)
                   * (1.0 if s.weekday() < 5 else 0.25) for s in slots]
        cumulative = list(itertools.accumulate(weights))
        total, random_, last_slot = cumulative[-1], self.random, len(slots) - 1
        last = 14 * 86400 - 1
        result = [
            min(min(bisect.bisect(cumulative, random_() * total), last_slot) * 3600
                + int(random_() * 3600), last)
            for _ in range(count)
        ]
        result.sort()
        return result

    def requests(self, count: int, partners: list[tuple[str, str, list[str]]],
                 agents: list[tuple[str, bool]], states: dict[str, tuple[str, bool]]) -> None:
        set_name = "Document_Интерес"
        factory = self.factory(set_name)
        if factory is None or set_name not in self.store.tables:
            return
        make = factory.positional(_REQUEST_FIELDS)
        table = self.store.tables[set_name]
        random_, pick, below, guid, now = self.random, self.pick, self.below, self.guid, self.now
        active = [ref for ref, invalid in agents if not invalid]
        types = tuple(t for t, w in _TYPES for _ in range(w))
        channels = tuple(c for c, w in _CHANNELS for _ in range(w))
        texts = names.REQUEST_TEXTS
        basis_types = {c: f"StandardODATA.{t}" for c, t in _BASIS.items()}
        window = 14 * 86400
        versions = self.version[:4]
        number = self.store.next_counter
        n_types, n_channels, n_partners = len(types), len(channels), len(partners)
        stamp = _Stamps(now - timedelta(days=14))
        now_second = 14 * 86400
        for moment in self.moments(count):
            kind = types[int(random_() * n_types)]
            channel = channels[int(random_() * n_channels)]
            subject, description = pick(texts[kind])
            partner, counterparty, contacts = partners[int(random_() * n_partners)]
            age = now_second - moment
            state = self.pick_state(age / window)
            posted = random_() < 0.93
            marked = not posted and random_() < 0.3
            answered = completed = EMPTY_DATE
            if state != "Новое":
                answered = stamp(min(moment + below(300, 8 * 3600), now_second))
            if states[state][1] or state == "Решено":
                completed = stamp(min(moment + below(3600, max(3601, age)), now_second))
            responsible = pick(active) if state != "Новое" or random_() < 0.4 else EMPTY_REF
            importance = "Высокая" if kind == "СрочныйЗапрос" else pick(_IMPORTANCE)
            basis_type = basis_types.get(channel)
            ref = guid()
            table[ref] = make((
                ref, pick(versions), marked, f"CRM-{number(set_name):07d}", stamp(moment),
                posted, partner, counterparty if random_() < 0.95 else EMPTY_REF,
                pick(contacts) if random_() < 0.85 else EMPTY_REF, responsible,
                states[state][0], subject, description, importance, completed, kind, channel,
                "Внешний" if random_() < 0.9 else "Внутренний", answered,
                guid() if basis_type else None, basis_type or "StandardODATA.Undefined",
                self.section(set_name, "Соисполнители", (
                    {"Пользователь_Key": pick(active), "Роль": "Соисполнитель"},))
                if random_() < 0.1 else (),
            ))
        self.counts[set_name] = count

    def pick_state(self, age: float) -> str:
        if self.random() < 0.05 + 0.55 * age:
            return str(self.pick(_CLOSED))
        return str(self.pick(_OPEN_FRESH if age < 1 / 14 else _OPEN_OLDER))


def _guid(rnd: random.Random, node: str) -> str:
    """A v1-looking GUID with a per-base node, like refs on a real 1C server."""
    bits = rnd.getrandbits(74)
    return (f"{bits >> 42:08x}-{(bits >> 26) & 0xFFFF:04x}-1{(bits >> 14) & 0xFFF:03x}-"
            f"{0x8000 | (bits & 0x3FFF):04x}-{node}")


def guid_source(seed: int) -> Callable[[], str]:
    """New ``Ref_Key`` values for objects created over HTTP: same look, own stream."""
    rnd = random.Random(f"new-objects-{seed}")
    node = f"{rnd.getrandbits(48):012x}"
    return lambda: _guid(rnd, node)


class _Stamps:
    """Seconds after ``start`` → ``YYYY-MM-DDTHH:MM:SS`` by two table look-ups.

    ``datetime.isoformat`` per value costs more than the rest of a generated row.
    """

    def __init__(self, start: datetime) -> None:
        midnight = start.replace(hour=0, minute=0, second=0)
        self.offset = int((start - midnight).total_seconds())
        self.days = [f"{(midnight + timedelta(days=d)).date().isoformat()}T" for d in range(16)]
        self.clock = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60)
                      for s in range(60)]

    def __call__(self, second: int) -> str:
        day, rest = divmod(second + self.offset, 86400)
        return self.days[day] + self.clock[rest]


def generate(store: Store, *, requests: int, seed: int, now: datetime,
             customers: int | None = None, folders: bool = True) -> SeedSummary:
    """Fill ``store`` with a seeded base; ``now`` is naive Moscow wall time.

    ``customers`` defaults to requests/5 (at least 10, at most 50,000: a big base has
    repeat customers, and the cap keeps a million-request base within memory). A base of
    50,000 requests or more is frozen out of the cyclic GC (``gc.freeze``), which is
    process-wide: meant for the demo and benchmarks, harmless in tests. ``folders``: file a
    third of the partners under partner folders, as hierarchical catalogs on real bases do.
    """
    if customers is None:
        customers = max(10, min(requests // 5, 50_000))
    collecting = gc.isenabled()
    gc.disable()  # millions of new lists would trigger full collections over and over
    try:
        with store.lock:
            return _Generator(store, seed, now).run(requests, max(1, customers), folders=folders)
    finally:
        if requests >= 50_000:
            # Move the base out of the collector's sight: otherwise the first collections
            # after this walk every generated row (seconds, billed to the first request).
            gc.freeze()
        if collecting:
            gc.enable()
