"""Staff accounts and signed-in browsers (test clients) for the /staff tests.

``sign_in`` goes through the real pages: the password form, then the
authenticator code computed from the account's secret, as a phone would.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.extensions import db
from app.models import StaffRole, StaffUser
from app.services.staff import accounts
from app.services.staff.two_factor import seal
from app.staff import auth

PASSWORD = "a long staff passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Staff:
    id: int
    email: str
    role: StaffRole
    secret: str | None
    password: str = PASSWORD

    def code(self, when: datetime | None = None) -> str:
        assert self.secret
        return pyotp.TOTP(self.secret).at(when or datetime.now(UTC))


def make_staff(
    app: Flask, email: str, role: StaffRole, two_factor: bool | None = None, password: str = PASSWORD
) -> Staff:
    """An account; admins get a second factor unless ``two_factor=False`` (not yet enrolled)."""
    two_factor = role == StaffRole.ADMIN if two_factor is None else two_factor
    with app.app_context():
        user = accounts.create_staff(email, role, password, name=email.split("@")[0])
        secret = None
        if two_factor:
            secret = pyotp.random_base32()
            user.totp_secret = seal(secret)
            user.totp_enabled_at = datetime.now(UTC)
        db.session.commit()
        return Staff(user.id, user.email, role, secret, password)


def csrf(client: FlaskClient) -> str:
    """The session's CSRF token, from a page that has a form."""
    page = client.get("/staff/sign-in", follow_redirects=True).get_data(as_text=True)
    match = CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None, **kw: object) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kw)  # type: ignore[arg-type]


def sign_in(client: FlaskClient, staff: Staff, lang: str | None = None) -> TestResponse:
    """Password, then the code if the account has a second factor; returns the landing page."""
    if lang:
        client.get(f"/staff/sign-in?lang={lang}")
    response = post(client, "/staff/sign-in", {"email": staff.email, "password": staff.password})
    assert response.status_code == 302, response.get_data(as_text=True)
    if response.headers["Location"].endswith("/staff/sign-in/code"):
        response = post(client, "/staff/sign-in/code", {"code": staff.code()})
        assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.headers["Location"])


@pytest.fixture()
def finance(app: Flask) -> Staff:
    return make_staff(app, "finance@newsroom.example", StaffRole.FINANCE)


@pytest.fixture()
def admin(app: Flask) -> Staff:
    return make_staff(app, "admin@newsroom.example", StaffRole.ADMIN)


@pytest.fixture()
def finance_client(app: Flask, finance: Staff) -> FlaskClient:
    client = app.test_client()
    sign_in(client, finance)
    return client


@pytest.fixture()
def admin_client(app: Flask, admin: Staff) -> FlaskClient:
    client = app.test_client()
    sign_in(client, admin)
    return client


def age_session(client: FlaskClient, minutes: float) -> None:
    """Pretend the signed-in session was last used ``minutes`` ago."""
    with client.session_transaction() as session:
        data = dict(session[auth.SESSION_KEY])
        data["seen"] -= minutes * 60
        data["at"] -= minutes * 60
        session[auth.SESSION_KEY] = data


def shift_attempts(app: Flask, minutes: float) -> None:
    """Move every recorded sign-in try ``minutes`` into the past."""
    import sqlalchemy as sa

    from app.models import StaffSignInAttempt

    with app.app_context():
        for attempt in db.session.scalars(sa.select(StaffSignInAttempt)):
            attempt.created_at = attempt.created_at - timedelta(minutes=minutes)
        db.session.commit()


def staff_row(app: Flask, staff_id: int, change: Callable[[StaffUser], None] | None = None) -> StaffUser:
    with app.app_context():
        user = db.session.get(StaffUser, staff_id)
        assert user is not None
        if change:
            change(user)
            db.session.commit()
        db.session.expunge(user)
        return user
