"""How to read the rows of a list query without scanning a million of them each time.

Clients page big sets the 1C way: keyset pages ``$filter=Ref_Key gt guid'…'&$orderby=
Ref_Key&$top=1000``, batches of ``Ref_Key eq … or Ref_Key eq …``, date windows
``Date ge datetime'…'``. A plain scan costs the whole set per page. The planner reads
the filter's top-level structure (never its meaning: the compiled predicate still
checks every row it yields) and picks a cheaper source:

* an ``or`` chain of ``Ref_Key eq guid'…'`` → direct look-ups;
* an ``or`` chain of ``Field eq '…'`` on one string field (a client's look-up of 64 of its
  own keys, ``ИдентификаторВнешний``) → one pass over the set keeping the rows whose value
  is one of the literals (a set look-up a row), instead of the predicate's 64 comparisons
  a row. The live rows are read each time: a cached value index would have to follow rows
  the base changes in place without a write event (exchange-plan counters, the seed);
* ``$orderby`` on one plain column → a sorted index of that column, entered by binary
  search at the bounds the filter's ``and``-ed comparisons on that column give.

Sorted indexes (``Ref_Key`` lists in column order, ties in storage order) are cached per
(set, column): the ``Ref_Key`` index is kept up to date in place on creations and
deletions, any other index is rebuilt after a write to its set. References (GUID
columns) are ordered as the base orders them (``ref_order``, see ``refs.REF_ORDERS``),
the order the compiled predicate compares them in.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..refs import stored_order
from .predicate import RefOrder
from .query import Binary, Expr, FilterSyntaxError, Literal, Path, parse_filter
from .schema import EntitySet
from .store import Store

__all__ = ["Planner"]

_FLIP = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq"}
Bound = tuple[Any, bool]  # (sort key, inclusive)


class Planner:
    """Row sources for list queries over one store."""

    def __init__(self, store: Store, order: RefOrder = stored_order) -> None:
        self.store, self.order = store, order
        self._written: dict[str, int] = {}  # set → writes seen
        #: (set, column) → (writes seen when built, Ref_Keys in column order, boxed?)
        self._indexes: dict[tuple[str, str], tuple[int, list[str], bool]] = {}
        store.listeners.append(self._on_write)

    def _on_write(self, set_name: str, ref_key: str, action: str) -> None:
        self._written[set_name] = self._written.get(set_name, 0) + 1
        by_ref = self._indexes.get((set_name, "Ref_Key"))
        if by_ref is None:
            return
        refs = by_ref[1]  # keys never change: keep this index up to date in place
        position = bisect.bisect_left(refs, self.order(ref_key), key=self.order)
        present = position < len(refs) and refs[position] == ref_key
        if action == "create" and not present:
            refs.insert(position, ref_key)
        elif action == "delete" and present:
            del refs[position]

    # ---------------------------------------------------------------- sources
    def by_keys(self, entity_set: EntitySet, filter_text: str | None) -> list[Sequence[Any]] | None:
        """Rows named by an ``or`` chain of ``Ref_Key eq guid'…'``, else None."""
        if entity_set.owner is not None or not filter_text:
            return None
        keys = _key_candidates(_parse(filter_text))
        if keys is None:
            return None
        table = self.store.tables.get(entity_set.name, {})
        seen: set[str] = set()
        rows: list[Sequence[Any]] = []
        for key in keys:
            if key not in seen and key in table:
                seen.add(key)
                rows.append(table[key])
        return rows

    def by_values(self, entity_set: EntitySet, filter_text: str | None) -> list[Sequence[Any]] | None:
        """Rows, in storage order, whose string field equals one of the literals of an ``or``
        chain of ``Field eq '…'`` on that one field, else None. A superset is all this must
        give (the compiled predicate still judges each row): here it is exactly the rows
        ``eq`` (Python ``==`` on the stored text) keeps."""
        if entity_set.owner is not None or not filter_text:
            return None
        wanted = _value_candidates(_parse(filter_text))
        if wanted is None:
            return None
        column, values = wanted
        prop = entity_set.type.properties.get(column)
        if prop is None or prop.edm != "Edm.String" or prop.is_number:
            return None
        position = entity_set.type.index[column]
        table = self.store.tables.get(entity_set.name, {})
        return [row for row in table.values() if row[position] in values]

    def ordered(
        self, entity_set: EntitySet, column: str, *, descending: bool, filter_text: str | None
    ) -> Iterator[Sequence[Any]] | None:
        """Rows in ``column`` order from a sorted index, or None when not applicable."""
        etype = entity_set.type
        if entity_set.owner is not None or column not in etype.properties:
            return None
        table = self.store.tables[entity_set.name]
        position = etype.index[column]
        order = self.order if etype.properties[column].edm == "Edm.Guid" else None  # references: the base's order
        refs, boxed = self._index(entity_set.name, column, position, order=order)

        def key(ref: str) -> Any:
            return _column_key(table[ref][position], boxed=boxed, order=order)

        low, high = _bounds(_parse(filter_text) if filter_text else None, column, boxed=boxed, order=order)
        start, stop = 0, len(refs)
        try:
            if low is not None:
                find = bisect.bisect_left if low[1] else bisect.bisect_right
                start = find(refs, low[0], key=key)
            if high is not None:
                find = bisect.bisect_right if high[1] else bisect.bisect_left
                stop = find(refs, high[0], key=key)
        except TypeError:
            start, stop = 0, len(refs)  # a literal of another type: let the predicate judge
        positions: Iterable[int] = range(stop - 1, start - 1, -1) if descending else range(
            start, stop)
        return (table[refs[i]] for i in positions if refs[i] in table)

    def _index(self, set_name: str, column: str, position: int, *, order: RefOrder | None) -> tuple[list[str], bool]:
        written = self._written.get(set_name, 0)
        cached = self._indexes.get((set_name, column))
        if cached is not None and (column == "Ref_Key" or cached[0] == written):
            return cached[1], cached[2]
        table = self.store.tables.get(set_name, {})
        if column == "Ref_Key":
            refs, boxed = sorted(table, key=self.order), False
        else:
            boxed = any(row[position] is None for row in table.values())
            refs = sorted(table, key=lambda ref: _column_key(table[ref][position], boxed=boxed, order=order))
        self._indexes[(set_name, column)] = (written, refs, boxed)
        return refs, boxed


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value)


def _column_key(value: Any, *, boxed: bool, order: RefOrder | None) -> Any:
    """A column value as the index orders it: references (`order` given) in the base's
    order, None first."""
    if order is not None and value is not None:
        value = order(str(value).lower())
    return _sort_key(value) if boxed else value


def _parse(text: str) -> Expr | None:
    try:
        return parse_filter(text)
    except FilterSyntaxError:
        return None  # the compiled predicate reports the error


def _key_candidates(expr: Expr | None) -> list[str] | None:
    if isinstance(expr, Binary):
        if expr.op == "or":
            left, right = _key_candidates(expr.left), _key_candidates(expr.right)
            return None if left is None or right is None else left + right
        if expr.op == "and":
            left, right = _key_candidates(expr.left), _key_candidates(expr.right)
            return left if left is not None else right
        comparison = _comparison(expr)
        if comparison is not None and comparison[0] == "Ref_Key" and comparison[1] == "eq" \
                and comparison[2].kind == "guid":
            return [str(comparison[2].value)]
    return None


def _value_candidates(expr: Expr | None) -> tuple[str, frozenset[str]] | None:
    """(field, its literals) of an ``or`` chain of ``Field eq 'text'`` on one field (either
    side of ``eq``), or of one side of a top-level ``and``; else None."""
    if not isinstance(expr, Binary):
        return None
    if expr.op == "and":
        return _value_candidates(expr.left) or _value_candidates(expr.right)
    if expr.op == "or":
        left, right = _or_values(expr.left), _or_values(expr.right)
        if left is None or right is None or left[0] != right[0]:
            return None
        return left[0], left[1] | right[1]
    return _or_values(expr)


def _or_values(expr: Expr) -> tuple[str, frozenset[str]] | None:
    if isinstance(expr, Binary) and expr.op == "or":
        return _value_candidates(expr)
    comparison = _comparison(expr) if isinstance(expr, Binary) else None
    if comparison is None or comparison[1] != "eq" or comparison[2].kind != "string":
        return None
    return comparison[0], frozenset([str(comparison[2].value)])


def _comparison(expr: Binary) -> tuple[str, str, Literal] | None:
    """``Column op literal`` (either side) → (column, op as if column is left, literal)."""
    if expr.op not in _FLIP:
        return None
    if isinstance(expr.left, Path) and len(expr.left.parts) == 1 and isinstance(
            expr.right, Literal):
        return expr.left.parts[0], expr.op, expr.right
    if isinstance(expr.right, Path) and len(expr.right.parts) == 1 and isinstance(
            expr.left, Literal):
        return expr.right.parts[0], _FLIP[expr.op], expr.left
    return None


def _bounds(
    expr: Expr | None, column: str, *, boxed: bool, order: RefOrder | None = None
) -> tuple[Bound | None, Bound | None]:
    """Tightest bounds on ``column`` implied by the top-level ``and`` conjuncts."""
    low: Bound | None = None
    high: Bound | None = None
    for conjunct in _conjuncts(expr):
        comparison = _comparison(conjunct) if isinstance(conjunct, Binary) else None
        if comparison is None or comparison[0] != column or comparison[2].kind == "null":
            continue
        _, op, literal = comparison
        if order is not None and literal.kind != "guid":
            continue  # a string against a reference: the predicate judges every row
        key = _column_key(literal.value, boxed=boxed, order=order)
        if op in ("gt", "ge", "eq") and (low is None or key > low[0]):
            low = (key, op != "gt")
        if op in ("lt", "le", "eq") and (high is None or key < high[0]):
            high = (key, op != "lt")
    return low, high


def _conjuncts(expr: Expr | None) -> list[Expr]:
    if isinstance(expr, Binary) and expr.op == "and":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [] if expr is None else [expr]
