"""``kind: onec_soap`` in the configuration file: defaults, secrets from the environment,
and strict keys reported with file:line like the rest of the configuration."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from adapters.onec.config import DEFAULT_WRITERS, OneCSoapConfig
from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, load_config
from crm_bridge.registry import Registry

GOOD = """\
backends:
  crm-ws:
    kind: onec_soap
    wsdl: http://1c.example/crm/ws/CrmExchange.1cws?wsdl
    username: Интеграция
    password: ${ONEC_PASSWORD}
    service:
      operation: GetChangedRequests
      items: Обращение
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_minimal_entry_gets_the_fixture_services_names_and_a_secret_from_the_environment(
    tmp_path: Path, registry: Registry
) -> None:
    cfg = load_config(write(tmp_path, GOOD), registry, environ={"ONEC_PASSWORD": "s3cr3t"})
    backend = cfg.backends["crm-ws"]
    assert isinstance(backend, OneCSoapConfig)
    assert backend.password.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(backend)
    assert str(backend.wsdl) == "http://1c.example/crm/ws/CrmExchange.1cws?wsdl"
    assert (backend.service.stamp, backend.service.more, backend.service.cursor) == ("ДатаИзменения", "ЕстьЕще", "Курсор")
    assert (backend.models, backend.page_size, backend.mappings, backend.timezone) == (["ticket"], 500, None, "Europe/Moscow")
    assert (backend.timeout.connect, backend.timeout.read) == (5.0, 60.0)
    assert backend.writers == dict(DEFAULT_WRITERS)


def test_writers_are_read_as_operation_and_parameter(tmp_path: Path, registry: Registry) -> None:
    text = GOOD + "    writers:\n      СрокРешения: [УстановитьСрок, Срок]\n"
    cfg = load_config(write(tmp_path, text), registry, environ={"ONEC_PASSWORD": "x"})
    assert cfg.backends["crm-ws"].writers == {"СрокРешения": ("УстановитьСрок", "Срок")}


def test_a_misspelt_key_under_service_names_file_line_and_the_valid_keys(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD.replace("      items:", "      itmes:"))
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    assert err.value.problems == [
        f"{path}:9:7: backends.crm-ws.service.itmes: unknown key. Did you mean 'items'? "
        "Valid keys here: operation, items, stamp, more, cursor"
    ]


def test_a_misspelt_backend_key_and_a_bad_page_size_are_reported_together(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD + "    pagesize: 100\n    page_size: 5000\n")
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    problems = err.value.problems
    assert any(p.startswith(f"{path}:10:5: backends.crm-ws.pagesize: unknown key. Did you mean 'page_size'?") for p in problems)
    assert any(p.startswith(f"{path}:11:5: backends.crm-ws.page_size: must be at most 1000 (got 5000)")
               for p in problems)


def test_a_writer_must_name_operation_and_parameter(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD + "    writers: {СрокИсполнения: [SetRequestDueDate]}\n")
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith(f"{path}:10:")
    assert "backends.crm-ws.writers.СрокИсполнения" in err.value.problems[0]


def test_create_remote_is_refused_the_service_cannot_create(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD + "    create_remote: [ticket]\n")
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    assert "cannot create records — remove create_remote" in err.value.problems[0]


def test_the_window_overlap_and_lag_reach_the_change_source(tmp_path: Path, registry: Registry) -> None:
    from adapters.onec.soap_source import SoapChangeSource

    text = GOOD + "    window_overlap: 900\n    window_lag: 5\n"
    backend = load_config(write(tmp_path, text), registry, environ={"ONEC_PASSWORD": "x"}).backends["crm-ws"]
    assert isinstance(backend, OneCSoapConfig)
    source = SoapChangeSource.from_config("crm-ws", backend)  # zeep loads the WSDL lazily: no call here
    assert (source.cursor_overlap.total_seconds(), source.cursor_lag.total_seconds()) == (900.0, 5.0)


def test_a_login_inside_a_url_is_refused_without_echoing_the_password(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("http://1c.example/", "http://Интеграция:Hunter2@1c.example/") + """\
  crm:
    kind: onec_odata
    url: https://odata:Hunter2@1c.example/crm/odata/standard.odata/
    username: odata
    password: ${ONEC_PASSWORD}
"""
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    problems = sorted(err.value.problems)
    assert "Hunter2" not in "\n".join(problems)
    hint = "the URL carries a login; put it in username: and password: (the password as ${ENV_VAR}) instead"
    assert problems == [
        f"{path}:12:5: backends.crm.url: {hint} (got 'https://***@1c.example/crm/odata/standard.odata/')",
        f"{path}:4:5: backends.crm-ws.wsdl: {hint} (got 'http://***@1c.example/crm/ws/CrmExchange.1cws?wsdl')",
    ]


@pytest.mark.parametrize("url", ["http://admin:Tr0ub@4dor@1c.example/crm/odata/standard.odata/",
                                 "http://admin:Tr0ub/4dor@1c.example/crm/odata/standard.odata/",
                                 "http://admin:Tr0ub4dor@1c.example:99999/crm/odata/standard.odata/"])
def test_a_password_holding_an_at_sign_or_a_slash_is_not_echoed_either(tmp_path: Path, registry: Registry, url: str) -> None:
    text = GOOD + f"""\
  crm:
    kind: onec_odata
    url: {url}
    username: odata
    password: ${{ONEC_PASSWORD}}
"""
    with pytest.raises(ConfigErrors) as err:
        load_config(write(tmp_path, text), registry, environ={"ONEC_PASSWORD": "x"})
    [problem] = err.value.problems
    assert "backends.crm.url" in problem
    assert "Tr0ub" not in problem
    assert "4dor" not in problem
