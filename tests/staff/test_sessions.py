"""Staff sessions end on the server: a copied cookie dies with the session it was copied from.

The cookie names a ``staff_session`` row by a random key the server keeps only the hash of;
signing out ends the row, and disabling the account or changing its password, role or second
factor ends every row of the account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import StaffRole, StaffSession, StaffUser
from app.services.staff import accounts
from tests.staff.conftest import Staff, make_staff, post, sign_in, staff_row

EXPORT = "/staff/export/payments.csv?from=2026-03-01&to=2026-03-31"


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie (stolen, or a backup)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_copied_cookie_stops_working_after_sign_out(app: Flask, finance_client: FlaskClient) -> None:
    thief = _copy(app, finance_client)
    assert thief.get("/staff/").status_code == 200
    assert thief.get(EXPORT).status_code == 200
    assert post(finance_client, "/staff/sign-out").status_code == 302
    for path in ("/staff/", EXPORT, "/staff/account"):
        response = thief.get(path)
        assert response.status_code == 302 and "/staff/sign-in" in response.headers["Location"], path
    # Signing in again makes a new session; the old copy stays dead.
    assert thief.get("/staff/").status_code == 302


def test_signing_out_one_browser_leaves_the_others_signed_in(app: Flask, finance: Staff) -> None:
    first, second = app.test_client(), app.test_client()
    sign_in(first, finance)
    sign_in(second, finance)
    post(first, "/staff/sign-out")
    assert first.get("/staff/").status_code == 302
    assert second.get("/staff/").status_code == 200


def _ends_every_session(app: Flask, staff: Staff, change: Callable[[StaffUser], None]) -> None:
    client = app.test_client()
    sign_in(client, staff)
    thief = _copy(app, client)
    assert thief.get("/staff/").status_code == 200
    staff_row(app, staff.id, change)
    assert client.get("/staff/").status_code == 302
    assert thief.get("/staff/").status_code == 302
    with app.app_context():
        open_rows = db.session.scalars(
            sa.select(StaffSession).where(
                StaffSession.staff_user_id == staff.id, StaffSession.ended_at.is_(None)
            )
        ).all()
        assert open_rows == []


def test_disable_password_role_and_two_factor_changes_end_every_session(
    app: Flask, finance: Staff, admin: Staff
) -> None:
    _ends_every_session(app, finance, lambda u: accounts.set_password(u, "a brand new passphrase", "test"))
    _ends_every_session(app, admin, lambda u: accounts.set_role(u, StaffRole.FINANCE, "test"))
    other = make_staff(app, "other@newsroom.example", StaffRole.ADMIN)
    _ends_every_session(app, other, lambda u: accounts.reset_two_factor(u, "test"))
    third = make_staff(app, "third@newsroom.example", StaffRole.FINANCE)
    _ends_every_session(app, third, lambda u: accounts.set_disabled(u, True, "test"))


def test_the_server_keeps_only_a_hash_of_the_session_key(app: Flask, finance_client: FlaskClient) -> None:
    with finance_client.session_transaction() as session:
        key = session["staff"]["key"]
    with app.app_context():
        row = db.session.scalars(sa.select(StaffSession)).one()
        assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert key not in (row.key_hash, str(row.id))
