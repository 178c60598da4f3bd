"""The other-language link carries only our own query keys, as a relative URL (issue 15, finding 1).

Query keys that are ``url_for``'s own keywords (``_external``, ``_scheme``,
``_anchor``, ``_method``), a repeated ``lang``, or a forged ``Host`` must not
change how the link is built, nor reach the copy of the support page kept for
every later reader.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

SWITCH = re.compile(r'<a (?:class="lang" )?href="([^"]*)"[^>]*id="lang-switch"')
FRAMEWORK_KEYS = "_external=1&_scheme=https&_anchor=x&_method=POST"


def switch_link(page: str) -> str:
    match = SWITCH.search(page)
    assert match, "no language switch on the page"
    return match.group(1)


def test_a_forged_host_and_framework_keys_do_not_reach_the_kept_support_page(app: Flask) -> None:
    attacker = app.test_client()
    poisoned = attacker.get(
        f"/en/support?currency=eur&{FRAMEWORK_KEYS}",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert poisoned.status_code == 200
    reader = app.test_client()
    page = reader.get(f"/en/support?currency=eur&{FRAMEWORK_KEYS}").get_data(as_text=True)
    link = switch_link(page)
    assert link == "/ar/support?currency=eur"  # relative, our keys only
    assert "evil.example" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/en/support?lang=ar&lang=en",
        "/en/support?_method=POST",
        "/en/support/confirming?lang=ar",
        "/en/account/sign-in?lang=ar&_external=1",
        "/staff/sign-in?lang=ar&lang=en&_external=1",
        "/staff/sign-in?_method=POST&_anchor=x",
        "/?lang=en&_external=1",
    ],
)
def test_framework_keywords_and_repeated_lang_are_ignored(app: Flask, path: str) -> None:
    client = app.test_client()
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/")  # relative, on our own host
        assert "_external" not in response.headers["Location"]
        return
    link = switch_link(response.get_data(as_text=True))
    assert link.startswith("/") and not link.startswith("//")
    assert "_" not in link.partition("?")[2]  # no framework keyword carried on
    assert "evil" not in link
