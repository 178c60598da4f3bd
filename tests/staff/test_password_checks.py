"""A password asked for again once signed in (the change-password form) is checked like a sign-in.

Someone holding a signed-in browser (a copied cookie, a shared computer) must not be able to try
passwords there without limit, nor learn from the answer whether a guess was right.
"""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.staff.conftest import PASSWORD, Staff, post

FLASH = re.compile(r'class="flash error"[^>]*>([^<]+)<')


def _change(client: FlaskClient, current: str, new: str, confirm: str) -> str:
    """The error the account page shows after the change-password form is sent."""
    response = post(
        client,
        "/staff/account/password",
        {"current_password": current, "new_password": new, "confirm_password": confirm},
        follow_redirects=True,
    )
    found = FLASH.findall(response.get_data(as_text=True))
    return " ".join(found)


def test_wrong_current_passwords_count_towards_the_lockout(
    app: Flask, finance: Staff, finance_client: FlaskClient
) -> None:
    new = "an even longer passphrase"
    finance_client.get("/staff/sign-in?lang=en")
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        assert _change(finance_client, "a guess at the password", new, new)
    # The account is locked now: its right password no longer signs anyone in...
    fresh = app.test_client()
    fresh.get("/staff/sign-in?lang=en")
    refused = post(fresh, "/staff/sign-in", {"email": finance.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "Too many failed tries" in refused.get_data(as_text=True)
    # ...nor changes the password from the signed-in browser.
    assert "Too many failed tries" in _change(finance_client, PASSWORD, new, new)
    assert post(fresh, "/staff/sign-in", {"email": finance.email, "password": new}).status_code == 429


def test_the_answer_does_not_tell_whether_the_current_password_was_right(
    finance: Staff, finance_client: FlaskClient
) -> None:
    for new, confirm in (("an even longer passphrase", "not the same one"), ("short", "short")):
        right = _change(finance_client, PASSWORD, new, confirm)
        wrong = _change(finance_client, "a guess at the password", new, confirm)
        assert right and right == wrong
