"""Size targets of the emulator (benchmarks: ``pytest -m bench``, off by default)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, resource, time
from urllib.parse import quote
import requests
from adapters.onec.emulator import Emulator
started = time.monotonic()
emu = Emulator(requests=1_000_000, seed=1)
generated = time.monotonic() - started
with emu, requests.Session() as session:
    session.auth = ("Администратор".encode(), b"demo")
    url = emu.base_url + "Document_Интерес?$format=json&$orderby=Ref_Key&$top=1000&$select=Ref_Key,DataVersion"
    session.get(url, timeout=60).raise_for_status()  # builds the index
    last = session.get(url, timeout=60).json()["value"][-1]["Ref_Key"]
    started = time.monotonic()
    session.get(url + "&$filter=" + quote(f"Ref_Key gt guid'{last}'"), timeout=60).raise_for_status()
    page = time.monotonic() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"generated": generated, "page": page, "rss": rss}))
"""


@pytest.mark.bench
def test_a_million_requests_generate_in_under_a_minute_and_1_5_gb() -> None:
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            timeout=300, check=True)
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["generated"] < 60
    assert numbers["rss"] < 1.5 * 1024**3
    assert numbers["page"] < 0.5  # a keyset page does not scan the set
