"""The support page is rendered once per language and query string, the same bytes for every reader
(``app/donate/page_cache.py``); its forms are checked by where they come from (``test_cross_site``)."""

from __future__ import annotations

from flask import Flask

from app.donate import page_cache


def test_every_reader_gets_the_same_page_with_no_token_and_no_cookie(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    answers = [c.get("/ar/support?currency=eur") for c in (first, second)]
    assert answers[0].get_data() == answers[1].get_data()
    for answer in answers:
        assert answer.status_code == 200
        assert "Set-Cookie" not in answer.headers
        assert b"csrf_token" not in answer.get_data()
        control = answer.headers["Cache-Control"]
        assert control == "public, max-age=300, stale-while-revalidate=300", control
        assert "Cookie" not in answer.headers.get("Vary", "")  # the session was never looked at
    assert len(app.extensions["page_cache"]._pages) == 1


def test_the_language_and_the_query_string_make_the_page(app: Flask) -> None:
    client = app.test_client()
    plain = client.get("/en/support").get_data(as_text=True)
    euros = client.get("/en/support?currency=eur&frequency=year").get_data(as_text=True)
    arabic = client.get("/ar/support?currency=eur&frequency=year").get_data(as_text=True)
    assert '<option value="usd" selected>' in plain and '<option value="eur" selected>' in euros
    assert 'value="year" checked' in euros and 'value="year" checked' in arabic
    assert '<html lang="en"' in euros and '<html lang="ar"' in arabic
    assert "/ar/support?currency=eur&amp;frequency=year" in euros  # the other language keeps the choice
    assert client.get("/en/support").get_data(as_text=True) == plain
    assert len(app.extensions["page_cache"]._pages) == 3


def test_kept_copies_are_bounded_and_not_kept_while_templates_reload(app: Flask) -> None:
    client = app.test_client()
    for n in range(page_cache.SIZE + 10):
        assert client.get(f"/ar/support?campaign=c{n}").status_code == 200
    assert len(app.extensions["page_cache"]._pages) == page_cache.SIZE
    assert client.get("/ar/support?campaign=" + "x" * 600).status_code == 200  # too long to keep
    assert len(app.extensions["page_cache"]._pages) == page_cache.SIZE

    app.jinja_env.auto_reload = True  # debug: an edited template shows at once
    app.extensions.pop("page_cache")
    assert client.get("/ar/support").status_code == 200
    assert "page_cache" not in app.extensions
