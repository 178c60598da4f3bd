"""The support page is rendered once per language and query string; each reader still gets a token of
their own (``app/donate/page_cache.py``)."""

from __future__ import annotations

from flask import Flask

from app.donate import page_cache
from tests.conftest import CSRF


def test_each_reader_gets_a_csrf_token_of_their_own_that_works(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    pages = [c.get("/ar/support").get_data(as_text=True) for c in (first, second)]
    tokens = [CSRF.findall(page) for page in pages]
    assert all(len(t) == 2 and t[0] == t[1] for t in tokens), tokens  # the gift form and the reminder form
    assert tokens[0][0] != tokens[1][0]
    assert page_cache.CSRF_SLOT not in pages[0] + pages[1]
    assert pages[0].replace(tokens[0][0], "") == pages[1].replace(tokens[1][0], "")
    assert len(app.extensions["page_cache"]._pages) == 1
    choice = {"amount": "1", "currency": "usd", "frequency": "month", "email": "reader@example.org"}
    answer = second.post("/ar/support", data={**choice, "csrf_token": tokens[1][0]})
    assert answer.status_code == 200  # the choice is checked: the token was accepted
    refused = first.post("/ar/support", data={**choice, "csrf_token": tokens[1][0]})
    assert refused.status_code == 400  # another reader's token


def test_the_language_and_the_query_string_make_the_page(app: Flask) -> None:
    client = app.test_client()
    plain = client.get("/en/support").get_data(as_text=True)
    euros = client.get("/en/support?currency=eur&frequency=year").get_data(as_text=True)
    arabic = client.get("/ar/support?currency=eur&frequency=year").get_data(as_text=True)
    assert '<option value="usd" selected>' in plain and '<option value="eur" selected>' in euros
    assert 'value="year" checked' in euros and 'value="year" checked' in arabic
    assert '<html lang="en"' in euros and '<html lang="ar"' in arabic
    assert "/ar/support?currency=eur&amp;frequency=year" in euros  # the other language keeps the choice
    again = client.get("/en/support").get_data(as_text=True)
    # Each page without its own token (a token carries the second it was signed in).
    assert again.replace(CSRF.findall(again)[0], "") == plain.replace(CSRF.findall(plain)[0], "")
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
