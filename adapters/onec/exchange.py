"""The exchange-plan change feed of the standard OData interface (INTERFACE.md §7a).

1C registers every change of a tracked object for each node of an exchange plan.
``SelectChanges`` hands the registrations of one node out as numbered packages (an Atom
feed: one ``entry`` per changed object, its full type in ``category/@term``, its fields
in ``m:properties``); ``NotifyChangesReceived`` with the package number drops them. The
caller acknowledges only after the package is stored; after a lost answer, the node's
``ReceivedNo`` tells whether 1C already took the acknowledgement, and asking again with
the same number returns the same package.

Entries are returned untyped (the wire text): real 1C writes no ``m:type`` on scalars,
so the backend types them from ``$metadata`` (``values.from_wire``). An object deleted
from the base may come as an Atom tombstone (RFC 6721), ``<at:deleted-entry
ref="<base>Catalog_X(guid'…')"/>``: it is returned as a ``removed`` entry, to be applied
as a deletion, never dropped. An entry that cannot be parsed does not stop the package:
it is returned in ``unparsed`` with its reason and raw XML, for the caller to park (never
to drop). A body that is not a feed is an error, never "no changes".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree as ET

from adapters.onec.dtd import declares_dtd
from adapters.onec.errors import OneCAnswerTooLarge, OneCRejected, OneCUnavailable
from adapters.onec.odata import ODataClient, string_literal

__all__ = ["ChangePackage", "ExchangeFeed", "FeedEntry", "PackageTooLarge", "parse_feed"]

_ATOM = "{http://www.w3.org/2005/Atom}"
_D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
_M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"
_TOMBSTONES = "{http://purl.org/atompub/tombstones/1.0}"
_REF = re.compile(r"([^/(]+)\(guid'([0-9a-fA-F-]{36})'\)\s*$")
MAX_PACKAGE_BYTES = 64 * 1024 * 1024


class PackageTooLarge(OneCRejected):
    """A ``SelectChanges`` answer longer than the configured cap: not retried in place
    (the same package comes back as large), a problem of the feed for a person to settle."""


@dataclass(frozen=True)
class FeedEntry:
    """One object of a package: its type and its properties as the wire text, untyped.

    ``values`` hold each property's element text (``"false"``, ``"7"``,
    ``"2024-03-18T10:42:07"``), None for ``m:null``, and a tabular section as a list of
    rows of texts (no rows: ``""``). They are typed by ``$metadata`` (``values.from_wire``),
    never by an ``m:type`` the payload may or may not carry: real 1C writes none.
    ``removed``: an ``at:deleted-entry`` tombstone, the object deleted from the base;
    ``values`` then hold only ``Ref_Key``.
    """

    type_name: str  # "Catalog_Контрагенты" (the entity type; the set has the same name in 1C)
    values: dict[str, Any]
    removed: bool = False


@dataclass
class ChangePackage:
    message_no: int
    entries: list[FeedEntry] = field(default_factory=list)
    unparsed: list[tuple[str, str]] = field(default_factory=list)  # (reason, raw entry XML)


def _text(node: ET.Element) -> Any:
    """An element's value as it came: text, None for ``m:null``, rows for a tabular section."""
    if node.get(f"{_M}null") == "true":
        return None
    rows = node.findall(f"{_D}element")
    if rows:
        return [{child.tag.removeprefix(_D): _text(child) for child in row} for row in rows]
    return node.text or ""


def _entry(node: ET.Element) -> FeedEntry:
    category = node.find(f"{_ATOM}category")
    term = category.get("term", "") if category is not None else ""
    if not term:
        msg = "entry without category/@term: its object type is unknown"
        raise ValueError(msg)
    props = node.find(f"{_ATOM}content/{_M}properties")
    if props is None:
        msg = f"{term}: entry without content/m:properties"
        raise ValueError(msg)
    values = {child.tag.removeprefix(_D): _text(child) for child in props}
    if "DataVersion" not in values and "Version" in values:
        values["DataVersion"] = values.pop("Version")  # 1C's documentation names it Version
    # No Ref_Key check here: a register's record set has none (its key is its dimensions),
    # and whether the type matters at all — mapped, or in ignore_types — is the caller's call.
    return FeedEntry(term.split(".", 1)[-1], values)


def _tombstone(node: ET.Element) -> FeedEntry:
    """``<at:deleted-entry ref="<base>Catalog_X(guid'…')">`` (RFC 6721): the object is gone."""
    ref = unquote(node.get("ref", ""))
    match = _REF.search(ref)
    if match is None:
        msg = (f"deleted-entry whose ref {ref[:200]!r} names no object: expected "
               "'<base>/<Set>(guid'<key>')'")
        raise ValueError(msg)
    return FeedEntry(match.group(1), {"Ref_Key": match.group(2)}, removed=True)


def parse_feed(body: bytes, message_no: int, *, backend: str = "1C") -> ChangePackage:
    """Parse one ``SelectChanges`` answer: its entries and its ``at:deleted-entry`` tombstones,
    in the order 1C wrote them.

    Raises:
        OneCUnavailable: the body is not an Atom feed (or carries a DTD) — it must never
            be taken for an empty package.
    """
    if declares_dtd(body):
        raise OneCUnavailable(f"{backend}: SelectChanges answer carries a DTD; refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise OneCUnavailable(f"{backend}: SelectChanges answer is not XML ({exc}); will retry") from exc
    if root.tag != f"{_ATOM}feed":
        raise OneCUnavailable(f"{backend}: SelectChanges answered <{root.tag}> instead of an Atom feed; will retry")
    package = ChangePackage(message_no)
    for node in root:
        read = {f"{_ATOM}entry": _entry, f"{_TOMBSTONES}deleted-entry": _tombstone}.get(node.tag)
        if read is None:
            continue  # the feed's own id, title, updated, links
        try:
            package.entries.append(read(node))
        except (ValueError, KeyError) as exc:
            package.unparsed.append((str(exc), ET.tostring(node, encoding="unicode")[:20000]))
    return package


class ExchangeFeed:
    """One node of one exchange plan, read through an ``ODataClient``.

    Example::

        feed = ExchangeFeed(client, plan="CRMBridge", node_code="CRMB")
        package = feed.read(feed.received_no() + 1)
        store(package)                          # one transaction
        feed.acknowledge(package.message_no)    # only after it is stored
    """

    def __init__(self, client: ODataClient, *, plan: str, node_code: str, max_bytes: int = MAX_PACKAGE_BYTES) -> None:
        self.client, self.plan, self.node_code, self.max_bytes = client, plan, node_code, max_bytes
        self._node_key: str | None = None

    @property
    def entity_set(self) -> str:
        return f"ExchangePlan_{self.plan}"

    def _node(self) -> dict[str, Any]:
        rows = self.client.query(self.entity_set, select=["Ref_Key", "Code", "ThisNode", "ReceivedNo"],
                                 filter=f"Code eq {string_literal(self.node_code)}")
        nodes = [r for r in rows if not r.get("ThisNode")]
        if not nodes:
            others = sorted(str(r.get("Code")) for r in self.client.query(self.entity_set, select=["Code", "ThisNode"])
                            if not r.get("ThisNode"))
            known = f"nodes there: {', '.join(map(repr, others))}" if others else "it has no node but the base's own"
            raise OneCRejected(
                f"{self.client.name}: exchange plan {self.plan} has no node with code {self.node_code!r} "
                f"(the base's own node cannot be used; {known}); create a node for crm-bridge in 1C with code "
                f"{self.node_code!r}, or set exchange_plan.node to the code of an existing one"
            )
        self._node_key = str(nodes[0]["Ref_Key"])
        return nodes[0]

    def received_no(self) -> int:
        """The last package number 1C knows we acknowledged."""
        return int(self._node().get("ReceivedNo") or 0)

    def _point(self) -> str:
        if self._node_key is None:
            self._node()
        # The node's URL as 1C writes its own (Cyrillic as text), percent-encoded once by _post.
        return f"'{unquote(self.client.base_url)}{self.entity_set}(guid'{self._node_key}')'"

    def _post(self, function: str, message_no: int) -> bytes:
        url = (f"{self.client.base_url}{function}?DataExchangePoint={quote(self._point(), safe=':/()')}"
               f"&MessageNo={message_no}")
        what = f"{function} #{message_no}"
        try:
            response = self.client.exchange("POST", url, what=what, max_bytes=self.max_bytes,
                                            cap_setting="exchange_plan.max_package_mb")
        except OneCAnswerTooLarge as exc:
            raise PackageTooLarge(
                f"{self.client.name}: {what}: the package is over {self.max_bytes // (1 << 20) or 1} MB, "
                "the exchange_plan.max_package_mb of this backend; raise it (the whole package is "
                "held in memory while it is stored), or have 1C register fewer changes per package") from exc
        return response.content

    def read(self, message_no: int) -> ChangePackage:
        """Package `message_no`, retried in place on a passing fault like any read: asking
        again with the same number returns the same package."""
        return self.client.retrying(
            lambda: parse_feed(self._post("SelectChanges", message_no), message_no, backend=self.client.name))

    def acknowledge(self, message_no: int) -> None:
        """Tell 1C the package is stored: its registrations are dropped."""
        self._post("NotifyChangesReceived", message_no)
