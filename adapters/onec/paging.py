"""That a keyset pass moves on: each page's keys against those read before in the pass.

1C (with a ``+`` in ``$filter``) or a proxy rewriting the URL can ignore the filter and
answer the first page again, forever; a pass must notice and stop rather than read it
thousands of times. Only the first and the previous page's keys are kept: a pass over a
million records costs two pages of keys, not a million.
"""

from __future__ import annotations

from collections import Counter

from adapters.onec.errors import OneCNoProgress

__all__ = ["IGNORED", "NO_COUNT_CEILING", "Progress"]

#: the most records one paging pass reads when 1C offers no count of the set
NO_COUNT_CEILING = 20_000_000
IGNORED = "1C ignored the filter — check for `+` in the URL or a proxy rewriting it"


class Progress:
    """What one keyset pass has read so far, to see that each page moves on."""

    def __init__(self, backend: str, entity_set: str) -> None:
        self.backend, self.entity_set = backend, entity_set
        self.first: frozenset[str] = frozenset()
        self.previous: frozenset[str] = frozenset()
        self.pages = self.records = 0
        self.ceiling: tuple[int, str] | None = None

    def page(self, keys: list[str]) -> None:
        """Take one page's keys in; raise ``OneCNoProgress`` when it repeats or overruns."""
        where = f"{self.backend}: GET {self.entity_set}: page {self.pages + 1} of a keyset pass"
        current = frozenset(keys)
        twice = [key for key, seen in Counter(keys).items() if seen > 1] if len(current) < len(keys) else []
        again = sorted((self.previous | self.first) & current) or twice
        if again:
            raise OneCNoProgress(f"{where} repeats key {again[0]}, already read in this pass: {IGNORED}; "
                                 "the pass stops here (records read before it are kept)")
        self.pages += 1
        self.records += len(keys)
        if self.ceiling is not None and self.records > self.ceiling[0]:
            raise OneCNoProgress(f"{where} brings the pass to {self.records} records, over its ceiling of "
                                 f"{self.ceiling[0]} ({self.ceiling[1]}): {IGNORED}; the pass stops here")
        self.first = self.first or current
        self.previous = current
