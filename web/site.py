"""What the web application lends another addon's pages: ``Site``.

An addon registers a function ``mount(api, site)`` for the usage ``web.router``; the web
addon calls it once the application is built, so the addon's routes share the pages'
look, language choice, CSRF check and refusal page without web importing the addon::

    def mount(api: FastAPI, site: Site) -> None:
        site.pages.add_folder(Path(__file__).parent / "templates")

        @api.get("/rate/{token}", include_in_schema=False)
        def rate(request: Request, token: str) -> Response:
            link = verify(site.link_key, token, "rating", site.bridge.clock())  # refused: web's page
            return site.page(request, "rate.html", ...)

    registry.add(Lazy("csat.web:mount"), usage="web.router", name="csat")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import HTMLResponse

from crm_bridge.app import App
from web.pages import Pages

__all__ = ["Site"]


@dataclass(frozen=True, slots=True)
class Site:
    """The running application's parts an addon's routes use.

    Attributes:
        bridge: the ``App`` (store, configuration, clock).
        link_key: the ``links.secret`` that signs customer links (``crm_bridge.links.verify``).
        pages: the templates; ``add_folder`` makes an addon's pages findable.
        page: ``page(request, name, status=200, **context)`` renders a page with what every
            page sees (language, CSRF token, the switch).
        lang_of: the visitor's language (``ru``/``en``).
        csrf_checked: the FastAPI dependency that refuses a form without a valid CSRF token.
    """

    bridge: App
    link_key: bytes
    pages: Pages
    page: Callable[..., HTMLResponse]
    lang_of: Callable[[Request], str]
    csrf_checked: Callable[[Request], Awaitable[None]]

    def words(self, request: Request, table: dict[str, dict[str, str]]) -> dict[str, str]:
        """`table`'s words in the visitor's language."""
        return table[self.lang_of(request)]
