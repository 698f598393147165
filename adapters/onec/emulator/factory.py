"""Rows of one entity type built from a template: the generator's hot path.

A template list holds every column at its empty value; a row is a copy with the given
values written in. Names the EDMX does not publish are skipped, so the generator can
describe a full 1C:CRM object and still fit a trimmed publication.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .schema import EntityType
from .store import default_row

__all__ = ["RowFactory"]


class RowFactory:
    """Builds rows of one type from a template; names absent from the EDMX are skipped."""

    def __init__(self, etype: EntityType) -> None:
        self.template = default_row(etype)
        self.index = etype.index

    def make(self, values: Mapping[str, Any]) -> list[Any]:
        row = self.template.copy()
        index = self.index
        for name, value in values.items():
            position = index.get(name)
            if position is not None:
                row[position] = value
        return row

    def positional(self, names: Sequence[str]) -> Callable[[tuple[Any, ...]], list[Any]]:
        """A faster maker for a fixed name list: values come as a tuple in that order.

        One C-level ``itemgetter`` picks every column from ``values + defaults``; names
        the EDMX does not publish are simply never picked.
        """
        defaults = tuple(self.template)
        wanted = {name: k for k, name in enumerate(names)}
        order = [wanted.get(column, len(names) + j) for j, column in enumerate(self.index)]
        getter = operator.itemgetter(*order)
        return lambda values: list(getter(values + defaults))
