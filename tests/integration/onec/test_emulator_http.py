"""The 1C emulator over real HTTP: transport, auth, encoding and life cycle."""

from __future__ import annotations

import base64
import socket
import threading
import time
from urllib.parse import quote

import pytest
import requests

from adapters.onec.emulator import Emulator


def test_list_over_http_with_percent_encoded_cyrillic_path(
    onec_emulator: Emulator, onec_session: requests.Session
) -> None:
    url = onec_emulator.base_url + quote("Document_Интерес") + "?$format=json&$top=3"
    response = onec_session.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert len(response.json()["value"]) == 3


def test_requests_encodes_params_with_plus_so_1c_ignores_the_filter(
    onec_emulator: Emulator, onec_session: requests.Session
) -> None:
    """`params=` form-encodes spaces as '+': the filter is silently dropped, like real 1C."""
    url = onec_emulator.base_url + "Document_Интерес"
    response = onec_session.get(url, params={"$format": "json", "$filter": "Posted eq false"},
                                timeout=10)
    assert len(response.json()["value"]) == 300
    careful = onec_session.get(url + "?$format=json&$filter=" + quote("Posted eq false"), timeout=10)
    assert len(careful.json()["value"]) < 300


def test_no_credentials_is_401(onec_emulator: Emulator) -> None:
    response = requests.get(onec_emulator.base_url + "$metadata", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_is_401(onec_emulator: Emulator) -> None:
    response = requests.get(onec_emulator.base_url + "$metadata",
                            auth=("Администратор".encode(), b"wrong"), timeout=10)
    assert response.status_code == 401


def test_metadata_over_http_is_xml(onec_emulator: Emulator, onec_session: requests.Session) -> None:
    response = onec_session.get(onec_emulator.base_url + "$metadata", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert "EnterpriseV8" in response.text


def test_location_header_carries_raw_utf8_like_1c(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    """1C writes Cyrillic unescaped into Location; http.client reads it as latin-1."""
    response = onec_session.post(fresh_emulator.base_url + "Catalog_Партнеры?$format=json",
                                 json={"Description": "ООО Тест"}, timeout=10)
    assert response.status_code == 201
    location = response.headers["Location"].encode("latin-1").decode("utf-8")
    assert location == (f"{fresh_emulator.base_url}Catalog_Партнеры"
                        f"(guid'{response.json()['Ref_Key']}')")


def test_patch_over_http_then_read_back(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    doc = fresh_emulator.records("Document_Интерес")[0]
    url = f"{fresh_emulator.base_url}Document_Интерес(guid'{doc['Ref_Key']}')?$format=json"
    patched = onec_session.patch(url, json={"СрокИсполнения": "2024-03-22T18:00:00"},
                                 headers={"If-Match": "*"}, timeout=10)
    assert patched.status_code == 200
    read = onec_session.get(url, timeout=10).json()
    assert read["СрокИсполнения"] == "2024-03-22T18:00:00"
    assert read["DataVersion"] == patched.json()["DataVersion"]


def test_error_body_bom_switch() -> None:
    with Emulator(requests=10, seed=1, error_bom=True) as emu, requests.Session() as session:
        session.auth = ("Администратор".encode(), b"demo")
        response = session.get(emu.base_url + "Nope?$format=json", timeout=10)
        assert response.status_code == 404
        assert response.content.startswith(b"\xef\xbb\xbf")


def test_configured_users_with_cyrillic_logins() -> None:
    with Emulator(requests=10, users={"Оператор": "пароль"}) as emu:
        ok = requests.get(emu.base_url + "$metadata", auth=("Оператор".encode(), "пароль".encode()),
                          timeout=10)
        refused = requests.get(emu.base_url + "$metadata",
                               auth=("Администратор".encode(), b"demo"), timeout=10)
    assert (ok.status_code, refused.status_code) == (200, 401)


def test_other_paths_are_plain_404(onec_emulator: Emulator, onec_session: requests.Session) -> None:
    response = onec_session.get(f"http://127.0.0.1:{onec_emulator.port}/other/odata/", timeout=10)
    assert response.status_code == 404


def test_keep_alive_connection_is_reused(
    onec_emulator: Emulator, onec_session: requests.Session
) -> None:
    url = onec_emulator.base_url + "Catalog_Пользователи?$format=json"
    first = onec_session.get(url, timeout=10)
    second = onec_session.get(url, timeout=10)
    assert first.status_code == second.status_code == 200
    assert first.headers.get("Connection", "").lower() != "close"


def test_stop_closes_the_listening_socket_and_idle_connections() -> None:
    emu = Emulator(requests=10).start()
    port = emu.port
    with requests.Session() as session:
        session.auth = ("Администратор".encode(), b"demo")
        assert session.get(emu.base_url + "$metadata", timeout=10).status_code == 200
        emu.stop()
        emu.stop()  # idempotent
    with socket.socket() as probe:
        probe.settimeout(1)
        with pytest.raises(OSError):
            probe.connect(("127.0.0.1", port))


def test_serve_forever_stops_when_stop_is_called_from_another_thread() -> None:
    emu = Emulator(requests=10)
    thread = threading.Thread(target=emu.serve_forever)
    thread.start()
    deadline = time.monotonic() + 5
    while emu._server is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert requests.get(emu.base_url + "$metadata", timeout=10).status_code == 401
    emu.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_concurrent_clients_are_served(onec_emulator: Emulator) -> None:
    url = onec_emulator.base_url + "Document_Интерес?$format=json&$top=50"
    statuses: list[int] = []

    def fetch() -> None:
        with requests.Session() as session:
            session.auth = ("Администратор".encode(), b"demo")
            statuses.extend(session.get(url, timeout=10).status_code for _ in range(5))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40


def test_stats_count_requests_per_method(
    fresh_emulator: Emulator, onec_session: requests.Session
) -> None:
    onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10)
    onec_session.get(fresh_emulator.base_url + "$metadata", timeout=10)
    stats = requests.get(f"http://127.0.0.1:{fresh_emulator.port}/__emulator__/stats",
                         timeout=10).json()
    assert stats["requests"]["GET"] == 2


def test_malformed_content_length_is_a_400_not_a_crash(onec_emulator: Emulator) -> None:
    host, port = "127.0.0.1", onec_emulator.port
    request = (f"POST /crm/odata/standard.odata/Catalog_Партнеры HTTP/1.1\r\nHost: {host}\r\n"
               "Content-Length: lots\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=5) as raw:
        raw.sendall(request)
        reply = raw.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")


def test_raw_utf8_path_like_curl_sends_is_understood(onec_emulator: Emulator) -> None:
    auth = base64.b64encode("Администратор:demo".encode()).decode()
    request = ("GET /crm/odata/standard.odata/Catalog_СостоянияИнтересов/$count HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", onec_emulator.port), timeout=5) as raw:
        raw.sendall(request.encode())
        reply = b""
        while chunk := raw.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    assert reply.endswith(b"\r\n\r\n6")


def test_concurrent_patches_each_bump_the_version_exactly_once(fresh_emulator: Emulator) -> None:
    doc = fresh_emulator.records("Document_Интерес")[0]
    url = f"{fresh_emulator.base_url}Document_Интерес(guid'{doc['Ref_Key']}')?$format=json"
    statuses: list[int] = []

    def patch_many(worker: int) -> None:
        with requests.Session() as session:
            session.auth = ("Администратор".encode(), b"demo")
            statuses.extend(session.patch(url, json={"Комментарий": f"{worker}-{n}"},
                                          timeout=10).status_code for n in range(10))

    threads = [threading.Thread(target=patch_many, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = fresh_emulator.get("Document_Интерес", doc["Ref_Key"])
    assert after is not None
    counter = [int.from_bytes(base64.b64decode(d["DataVersion"]), "big") for d in (doc, after)]
    assert statuses == [200] * 60
    assert counter[1] - counter[0] == 60
