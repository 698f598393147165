"""Whether an XML answer declares a DTD: such a body is refused before any parser expands
it (entity bombs, external entities). Its own module, below both the error translation
and the metadata reader, which each ask it."""

from __future__ import annotations

import contextlib
from xml.parsers import expat

__all__ = ["declares_dtd"]


class _Prolog(Exception):  # noqa: N818 - a signal, not an error: the prolog has been read
    pass


def declares_dtd(xml: bytes) -> bool:
    """Whether the document declares a DTD (in its prolog, however long: a comment cannot
    hide it). Read by expat up to the root element only; a body that is not XML is False
    (the real parse then says what is wrong)."""
    found = False

    def doctype(*_: object) -> None:
        nonlocal found
        found = True
        raise _Prolog

    def root(*_: object) -> None:
        raise _Prolog

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = root
    with contextlib.suppress(_Prolog, expat.ExpatError):
        parser.Parse(xml, True)  # noqa: FBT003 - expat's isfinal
    return found
