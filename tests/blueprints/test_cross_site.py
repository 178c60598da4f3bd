"""The support page's forms with no token in the page: a POST from another site is refused,
one from our own page goes through (``app/donate/same_origin.py``)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Reminder
from tests import i18n
from tests.conftest import count_rows, csrf_token, quoted

JSON = {"Accept": "application/json"}
CHOICE = {"frequency": "month", "currency": "usd", "amount": "1", "email": "reader@example.org"}
REMIND = {"email": "later@example.org", "when": "week", "amount": "5"}
FOREIGN = [
    {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://news.localhost"},  # a sibling subdomain
    {"Origin": "https://evil.example"},  # a browser without Fetch Metadata
    {"Origin": "null"},  # a sandboxed frame, or a redirect from elsewhere
    {"Origin": "http://localhost.evil.example"},
]


def reminders(app: Flask) -> int:
    with app.app_context():
        return db.session.query(Reminder).count()


@pytest.mark.parametrize("headers", FOREIGN)
def test_a_payment_started_from_another_site_is_refused_in_the_readers_language(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    token = csrf_token(client, "ar")  # even with the reader's own token: the browser says it is not our page
    response = client.post(
        "/ar/support/start", data={**CHOICE, "csrf_token": token}, headers={**JSON, **headers}
    )
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "cross_site" and error["message"] == i18n.message(app, "cross_site")
    assert i18n.is_arabic(error["message"])
    assert sum(count_rows(app).values()) == 0


def test_a_reminder_asked_from_another_site_is_refused_on_a_page(app: Flask, client: FlaskClient) -> None:
    response = client.post("/en/support/remind", data=REMIND, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert i18n.message(app, "cross_site", "en") in response.get_data(as_text=True)
    assert reminders(app) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Origin": "http://localhost"},  # no Fetch Metadata (Safari before 16.4)
        {"Origin": "https://localhost"},  # TLS ended by a proxy in front: the host is what counts
    ],
)
def test_the_javascript_off_reminder_form_from_our_page_needs_no_token(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post("/en/support/remind", data=REMIND, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert reminders(app) == 1
    assert response.headers["Cache-Control"] == "no-store, private"  # it shows what the reader typed


def test_without_origin_or_fetch_metadata_the_token_is_required(app: Flask, client: FlaskClient) -> None:
    refused = client.post("/en/support/remind", data=REMIND)
    assert refused.status_code == 400
    assert i18n.message(app, "csrf", "en") in refused.get_data(as_text=True)
    assert reminders(app) == 0
    token = client.get("/en/support/token")
    assert token.headers["Cache-Control"] == "no-store, private" and "Set-Cookie" in token.headers
    asked = client.post(
        "/en/support/remind", data=REMIND, headers={"X-CSRFToken": token.get_json()["csrf_token"]}
    )
    assert asked.status_code == 200
    assert reminders(app) == 1


def test_the_javascript_off_choice_from_our_page_is_checked(client: FlaskClient) -> None:
    response = client.post("/ar/support", data=CHOICE, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store, private"
    assert 'role="status"' in response.get_data(as_text=True)  # "your choice is ready"


def test_a_payment_from_our_page_reaches_stripe_with_no_token(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        "/en/support/start",
        data=quoted(client, "en", CHOICE),
        headers={**JSON, "Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["client_secret"]
