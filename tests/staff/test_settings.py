"""The staff settings an operator tunes (app/config.py SETTINGS) change what the pages do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app import config
from app.models import StaffRole
from tests.conftest import empty_tables, make_app
from tests.staff.conftest import PASSWORD, age_session, make_staff, post, shift_attempts, sign_in


def test_the_staff_settings_are_read_from_the_environment() -> None:
    defaults = config.load({})
    assert (defaults["STAFF_IDLE_MINUTES"], defaults["STAFF_SESSION_HOURS"]) == (30, 12)
    assert (defaults["STAFF_LOCK_AFTER"], defaults["STAFF_LOCK_MINUTES"], defaults["STAFF_IP_LIMIT"]) == (
        5,
        15,
        30,
    )
    assert defaults["STAFF_EXPORT_BATCH"] == 1000
    assert defaults["STAFF_TOTP_KEY"] == ""
    tuned = config.load(
        {
            "STAFF_IDLE_MINUTES": "7.5",
            "STAFF_SESSION_HOURS": "2",
            "STAFF_LOCK_AFTER": "3",
            "STAFF_LOCK_MINUTES": "60",
            "STAFF_IP_LIMIT": "100",
            "STAFF_EXPORT_BATCH": "250",
        }
    )
    assert tuned["STAFF_IDLE_MINUTES"] == 7.5 and tuned["STAFF_SESSION_HOURS"] == 2
    assert (tuned["STAFF_LOCK_AFTER"], tuned["STAFF_LOCK_MINUTES"], tuned["STAFF_IP_LIMIT"]) == (3, 60, 100)
    assert tuned["STAFF_EXPORT_BATCH"] == 250


@pytest.fixture()
def tuned(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    app = make_app(
        database_url,
        localstripe_url,
        STAFF_IDLE_MINUTES=5,
        STAFF_SESSION_HOURS=1,
        STAFF_LOCK_AFTER=2,
        STAFF_LOCK_MINUTES=3,
        STAFF_IP_LIMIT=4,
    )
    yield app
    empty_tables(app)


def test_session_lengths_follow_the_settings(tuned: Flask) -> None:
    finance = make_staff(tuned, "finance@newsroom.example", StaffRole.FINANCE)
    client = tuned.test_client()
    sign_in(client, finance)
    age_session(client, 4)
    assert client.get("/staff/").status_code == 200
    age_session(client, 6)  # idle longer than STAFF_IDLE_MINUTES=5
    assert client.get("/staff/").headers["Location"].startswith("/staff/sign-in")

    sign_in(client, finance)
    with client.session_transaction() as session:
        data = dict(session["staff"])
        data["at"] -= 3600 + 1  # signed in longer ago than STAFF_SESSION_HOURS=1, though busy
        session["staff"] = data
    assert client.get("/staff/").status_code == 302


def test_lockout_follows_the_settings(tuned: Flask) -> None:
    finance = make_staff(tuned, "finance@newsroom.example", StaffRole.FINANCE)
    client = tuned.test_client()
    for _ in range(2):  # STAFF_LOCK_AFTER=2
        assert (
            post(client, "/staff/sign-in", {"email": finance.email, "password": "guess"}).status_code == 401
        )
    locked = post(client, "/staff/sign-in?lang=en", {"email": finance.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "wait 3 minutes" in locked.get_data(as_text=True)  # STAFF_LOCK_MINUTES=3
    shift_attempts(tuned, 4)
    assert sign_in(client, finance).status_code == 200


def test_the_address_limit_follows_the_settings(tuned: Flask) -> None:
    finance = make_staff(tuned, "finance@newsroom.example", StaffRole.FINANCE)
    client = tuned.test_client()
    for number in range(4):  # STAFF_IP_LIMIT=4, each email below its own lockout
        post(client, "/staff/sign-in", {"email": f"guess{number}@newsroom.example", "password": "guess"})
    refused = post(client, "/staff/sign-in?lang=en", {"email": finance.email, "password": PASSWORD})
    assert refused.status_code == 429
    assert "from your network. Please wait 3 minutes" in refused.get_data(as_text=True)
