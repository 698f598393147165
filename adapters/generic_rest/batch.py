"""Several calls in one request, as the connector's ``batch:`` section says (Bitrix24's
``batch``: up to 50 ``cmd[name]=method?query`` commands, ``halt``, the answers by name under
``result.result`` and the failed ones under ``result.result_error``).

``php_query`` writes a body as the bracketed query a command carries
(``{"id": 5, "fields": {"TITLE": "x"}}`` → ``id=5&fields[TITLE]=x``); ``run_batch`` sends
the commands in requests of ``size`` and returns each command's result or error. A
request that fails as a whole raises as any call does; a command that fails is its own
error, beside the others' results.

Example::

    results, errors = run_batch(client, spec, {"r1": "crm.deal.get?id=1", "r2": "crm.deal.get?id=2"})
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from adapters.generic_rest.connector import Batch
from adapters.generic_rest.select import MISSING, parse_path, select
from crm_bridge.errors import RemoteUnavailable

if TYPE_CHECKING:
    from adapters.generic_rest.client import RestClient

__all__ = ["command", "error_text", "php_query", "run_batch"]


def _pairs(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _pairs(f"{prefix}[{k}]" if prefix else str(k), v)]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _pairs(f"{prefix}[{i}]", v)]
    if value is None:
        return [(prefix, "")]
    if isinstance(value, bool):
        return [(prefix, "Y" if value else "N")]
    return [(prefix, str(value))]


def php_query(body: Mapping[str, Any]) -> str:
    """`body` as a bracketed query string (PHP's ``http_build_query``)."""
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in _pairs("", body))


def command(path: str, body: Mapping[str, Any] | None = None) -> str:
    """One command: `path` (which may hold a query already) with `body` appended as a query."""
    if not body:
        return path
    return f"{path}{'&' if '?' in path else '?'}{php_query(body)}"


def error_text(error: Any) -> str:
    """A command's error as one line (``{"error": "...", "error_description": "..."}`` or a string)."""
    if isinstance(error, Mapping):
        return ": ".join(str(error[k]) for k in ("error", "error_description") if error.get(k)) or str(dict(error))
    return str(error)


def _by_name(found: Any) -> dict[str, Any]:
    """Answers by command name; PHP encodes an empty map as ``[]``."""
    return dict(found) if isinstance(found, Mapping) else {}


def run_batch(client: RestClient, spec: Batch, commands: Mapping[str, str], *, halt: bool = False,
              what: str = "batch") -> tuple[dict[str, Any], dict[str, Any]]:
    """(results by name, errors by name) of `commands`, sent `spec.size` a request.

    Raises:
        RemoteUnavailable: an answer without its results map (a malformed answer: retried).
        RemoteRejected / RemoteUnavailable: a request that fails as a whole, as ``client.call``.
    """
    results: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    names = iter(commands)
    while chunk := list(islice(names, spec.size)):
        body: dict[str, Any] = {**spec.body, spec.commands: {n: commands[n] for n in chunk}}
        if spec.halt:
            body[spec.halt] = 1 if halt else 0
        answer = client.call("POST", spec.path, json=body, what=f"{what} ({len(chunk)} commands in one batch)")
        found = select(answer, parse_path(spec.results))
        if found is MISSING:
            msg = f"{client.name}: {what}: the batch answer holds no results at {spec.results!r}; will retry"
            raise RemoteUnavailable(msg)
        results.update(_by_name(found))
        failed = select(answer, parse_path(spec.errors))
        errors.update(_by_name(failed) if failed is not MISSING else {})
        if halt and errors:
            break  # the CRM stopped at the failed command: the rest were not run
    return results, errors
