"""Inputs that used to answer 500 (issue 15, finding 7): each is a clear 4xx in the page's language."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import StaffRole
from tests import stripe_events as se
from tests.conftest import count_rows
from tests.staff.conftest import make_staff, post, sign_in

HUGE = "99999999999999999999"


@pytest.fixture()
def finance_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    sign_in(client, make_staff(app, "finance@newsroom.example", StaffRole.FINANCE))
    return client


@pytest.mark.parametrize(
    "path",
    [
        f"/staff/supporters/{HUGE}",
        f"/staff/reconciliation/{HUGE}",
        "/staff/supporters/9223372036854775808",
        "/staff/supporters/2147483648",
        f"/staff/audit?page={HUGE}",
        "/staff/?from=9999-12-31&to=9999-12-31",
        "/staff/?from=0001-01-01&to=9999-12-31",
        "/staff/?from=2026-13-01&to=x",
        f"/staff/supporters?q=%00{HUGE}",
    ],
)
def test_huge_numbers_in_staff_urls_are_not_a_server_error(finance_client: FlaskClient, path: str) -> None:
    response = finance_client.get(path)
    assert response.status_code < 500, response.get_data(as_text=True)[-500:]


def event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "evt_odd",
        "object": "event",
        "type": "customer.updated",
        "created": 1767225600,
        "livemode": False,
        "data": {"object": {"id": "cus_odd", "object": "customer"}},
    }
    return {**base, **fields}


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "evt_deep", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"a": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
        json.dumps(event(created=10**20)).encode(),
        json.dumps(event(created=2**63)).encode(),
        json.dumps(event(id="evt_\u0000nul")).encode(),
        json.dumps(event(type="customer.\u0000updated")).encode(),
    ],
    ids=["deep-list", "deep-object", "huge-created", "created-past-64-bits", "nul-in-id", "nul-in-type"],
)
def test_a_signed_body_stripe_never_sends_is_refused_not_a_server_error(app: Flask, body: bytes) -> None:
    client = app.test_client()
    before = count_rows(app)
    response = se.post(client, body)
    assert response.status_code == 400, response.get_data(as_text=True)[-300:]
    assert response.get_json() == {"error": "malformed_event"}
    assert count_rows(app) == before


@pytest.mark.parametrize("line_break", ["\n", "\r\n", "\r", "%0d%0a"])
def test_a_line_break_in_the_target_after_sign_in_is_not_a_server_error(app: Flask, line_break: str) -> None:
    staff = make_staff(app, "finance@newsroom.example", StaffRole.FINANCE)
    client = app.test_client()
    target = f"/staff/supporters{line_break}Set-Cookie: x=1"
    response = post(
        client, "/staff/sign-in", {"email": staff.email, "password": staff.password, "next": target}
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "\n" not in location and "\r" not in location
    assert not any("x=1" in cookie for cookie in response.headers.getlist("Set-Cookie"))


def test_a_line_break_in_a_staff_path_survives_the_trip_through_sign_in(app: Flask) -> None:
    staff = make_staff(app, "finance@newsroom.example", StaffRole.FINANCE)
    client = app.test_client()
    sent = client.get("/staff/supporters%0d%0aX:1")
    assert sent.status_code in (302, 404)
    response = post(
        client, "/staff/sign-in", {"email": staff.email, "password": staff.password, "next": "/staff/%0d%0a"}
    )
    assert response.status_code == 302


NOT_UNDERSTOOD = {"ar": "تعذّر فهم هذا الطلب", "en": "This request could not be understood"}
NO_SUCH_PAGE = {"ar": "هذه الصفحة غير موجودة", "en": "This page does not exist"}


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_huge_id_is_a_page_that_does_not_exist_in_the_readers_language(
    finance_client: FlaskClient, lang: str
) -> None:
    finance_client.get(f"/staff/?lang={lang}")
    for path in (
        f"/staff/supporters/{HUGE}",
        "/staff/reconciliation/2147483648",
        f"/{lang}/account/membership/{HUGE}/cancel",
    ):
        response = finance_client.get(path)
        assert response.status_code == 404, path
        assert NO_SUCH_PAGE[lang] in response.get_data(as_text=True)


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_nul_character_anywhere_is_refused_in_the_pages_language(
    app: Flask, finance_client: FlaskClient, lang: str
) -> None:
    before = count_rows(app)
    reader = app.test_client()
    finance_client.get(f"/staff/?lang={lang}")
    answers = [
        finance_client.get("/staff/supporters?q=a%00b"),
        reader.get(f"/{lang}/support?campaign=%00"),
        reader.get(f"/{lang}/account/sign-in/abc%00def"),
        reader.post(f"/{lang}/account/sign-in", data={"email": "a\x00@example.org", "csrf_token": "x"}),
    ]
    for response in answers:
        assert response.status_code == 400
        assert NOT_UNDERSTOOD[lang] in response.get_data(as_text=True)
    assert count_rows(app) == before


@pytest.mark.parametrize("header", ["Host", "X-Forwarded-Host"])
@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_host_that_cannot_be_a_name_is_a_bad_request(
    database_url: str, localstripe_url: str, header: str, lang: str
) -> None:
    from tests.conftest import make_app

    app = make_app(database_url, localstripe_url, PROXY_COUNT=1)
    response = app.test_client().get(f"/{lang}/support", headers={header: "a" * 200})
    assert response.status_code == 400
    assert NOT_UNDERSTOOD[lang] in response.get_data(as_text=True)
