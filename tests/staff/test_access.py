"""Every /staff route refuses a visitor who is not signed in, and a finance user where admin is needed.

The list of routes comes from the app itself, so a page added later is checked
without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from app.models import StaffRole
from app.staff.auth import PENDING, PUBLIC, access_of
from tests.conftest import make_app
from tests.factories import PaymentFactory
from tests.staff.conftest import Staff, make_staff, sign_in

OPEN = (PUBLIC, PENDING)


@pytest.fixture()
def app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    """CSRF off: these tests are about roles (CSRF has its own test), and a POST must reach the check."""
    from tests.conftest import empty_tables

    app = make_app(database_url, localstripe_url, WTF_CSRF_ENABLED=False)
    yield app
    empty_tables(app)


def staff_rules(app: Flask) -> list[tuple[Rule, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/staff"):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((rule, method))
    assert len(found) >= 20, "the staff pages went missing"
    return found


def url(rule: Rule) -> str:
    return re.sub(r"<[^>]+>", "1", rule.rule)


def call(client: FlaskClient, rule: Rule, method: str):  # type: ignore[no-untyped-def]
    return client.open(url(rule), method=method, data={})


def test_every_staff_view_says_who_may_open_it(app: Flask) -> None:
    for rule, _ in staff_rules(app):
        access = access_of(app.view_functions[rule.endpoint])
        assert access in (*OPEN, StaffRole.FINANCE, StaffRole.ADMIN), rule.rule


def test_a_visitor_who_is_not_signed_in_reaches_nothing(app: Flask) -> None:
    client = app.test_client()
    for rule, method in staff_rules(app):
        access = access_of(app.view_functions[rule.endpoint])
        response = call(client, rule, method)
        if access == PUBLIC:
            assert response.status_code in (200, 401), (method, rule.rule)
            continue
        # Sent to the sign-in page, with nothing of the page in the answer.
        assert response.status_code == 302, (method, rule.rule, response.status_code)
        assert response.headers["Location"].startswith("/staff/sign-in"), (method, rule.rule)
        assert b"<table" not in response.data


def test_a_finance_user_is_refused_every_admin_route(app: Flask) -> None:
    with app.app_context():
        PaymentFactory(id=1)  # something for /staff/payments/1/refund to find
        from app.extensions import db

        db.session.commit()
    finance = make_staff(app, "finance@newsroom.example", StaffRole.FINANCE)
    client = app.test_client()
    sign_in(client, finance)
    admin_only = 0
    for rule, method in staff_rules(app):
        access = access_of(app.view_functions[rule.endpoint])
        if access != StaffRole.ADMIN:
            continue
        admin_only += 1
        response = call(client, rule, method)
        assert response.status_code == 403, (method, rule.rule, response.status_code)
    assert admin_only >= 6
    # Still signed in, and the finance pages open.
    assert client.get("/staff/").status_code == 200


def test_an_admin_passes_every_role_check(app: Flask) -> None:
    admin: Staff = make_staff(app, "admin@newsroom.example", StaffRole.ADMIN)
    client = app.test_client()
    sign_in(client, admin)
    for rule, method in staff_rules(app):
        if access_of(app.view_functions[rule.endpoint]) in OPEN or rule.endpoint == "staff.sign_out":
            continue
        response = call(client, rule, method)
        assert response.status_code not in (401, 403), (method, rule.rule, response.status_code)
        if response.status_code == 302:
            assert not response.headers["Location"].startswith("/staff/sign-in"), (method, rule.rule)


def test_a_reader_on_the_support_page_has_no_way_in(app: Flask) -> None:
    client = app.test_client()
    client.get("/ar/support")  # a reader's session cookie
    assert client.get("/staff/").status_code == 302
    assert client.get("/staff/export/payments.csv").status_code == 302
