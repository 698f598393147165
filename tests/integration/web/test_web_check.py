"""`crm-bridge check` renders every page against samples: a user's typo fails there."""

from __future__ import annotations

from pathlib import Path

from web_fixtures import make_app

from web.pages import check_pages


def test_the_shipped_pages_render_in_both_languages(tmp_path: Path):
    app = make_app(tmp_path)
    try:
        [line] = check_pages(app)
    finally:
        app.close()
    assert line["ok"], line
    assert "5 pages x 2 languages" in line["detail"]  # dashboard, cabinet, login, message, confirm


def test_a_users_page_with_an_unknown_placeholder_fails_with_its_file_and_line(tmp_path: Path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "cabinet.html").write_text('{% extends "base.html" %}\n{% block content %}\n{{ cab.nmae }}\n{% endblock %}\n',
                                         encoding="utf-8")
    app = make_app(tmp_path, web_extra=f"  templates: {folder}\n")
    try:
        lines = check_pages(app)
    finally:
        app.close()
    assert [line["ok"] for line in lines] == [False]
    assert f"{folder / 'cabinet.html'}:3" in lines[0]["detail"]
    assert "nmae" in lines[0]["detail"]


def test_a_users_confirm_page_is_rendered_in_every_state_at_check_time(tmp_path: Path):
    folder = tmp_path / "pages"
    folder.mkdir()
    (folder / "confirm.html").write_text('{% extends "base.html" %}\n{% block content %}\n'
                                         '{% if said %}{{ t[said] }}{% else %}{{ t[kind ~ "_aks"] }}{% endif %}\n'
                                         '{% endblock %}\n', encoding="utf-8")
    app = make_app(tmp_path, web_extra=f"  templates: {folder}\n")
    try:
        lines = check_pages(app)
    finally:
        app.close()
    # the asking state (said None) of each kind has the typo: unsubscribe_aks, close_aks, reopen_aks
    assert [line["ok"] for line in lines] == [False, False, False]
    for line, kind in zip(lines, ("unsubscribe", "close", "reopen"), strict=True):
        assert f"{folder / 'confirm.html'}:3" in line["detail"]
        assert f"{kind}_aks" in line["detail"]
