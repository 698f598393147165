"""Document actions and deletes through the OData client, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.onec.emulator import Emulator
from adapters.onec.errors import OneCRejected
from adapters.onec.odata import ODataClient

DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=10, seed=4, users={"Администратор": "demo"}) as emu:
        yield emu


def test_documents_are_posted_unposted_and_deleted_over_odata(emulator: Emulator) -> None:
    doc = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    key = str(doc["Ref_Key"])
    client = ODataClient(name="crm", base_url=emulator.base_url, username="Администратор", password="demo")
    try:
        client.unpost_document(DOC, key)
        assert emulator.get(DOC, key)["Posted"] is False  # type: ignore[index]
        client.post_document(DOC, key)
        assert emulator.get(DOC, key)["Posted"] is True  # type: ignore[index]
        with pytest.raises(OneCRejected):  # 1C refuses physical deletes unless the base allows them
            client.delete(DOC, key)
        assert emulator.get(DOC, key) is not None
    finally:
        client.close()
