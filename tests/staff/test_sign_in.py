"""Signing in to /staff: passwords, two-factor, lockout, rate limit, session end, the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEntry, StaffRole, StaffUser
from app.services.staff import accounts, two_factor
from tests.staff.conftest import (
    PASSWORD,
    Staff,
    age_session,
    make_staff,
    post,
    shift_attempts,
    sign_in,
    staff_row,
)


def _audit(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (e.actor, e.action) for e in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_finance_without_two_factor_signs_in_with_the_password(app: Flask, finance: Staff) -> None:
    client = app.test_client()
    assert client.get("/staff/").headers["Location"].startswith("/staff/sign-in")
    page = sign_in(client, finance)
    assert page.status_code == 200
    assert 'id="fig-members"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert (f"staff:{finance.id}", "staff.sign_in") in _audit(app)
    # Signing out ends it.
    assert post(client, "/staff/sign-out").headers["Location"] == "/staff/sign-in"
    assert client.get("/staff/").status_code == 302
    assert (f"staff:{finance.id}", "staff.sign_out") in _audit(app)


def test_wrong_password_and_unknown_email_get_the_same_answer(app: Flask, finance: Staff) -> None:
    client = app.test_client()
    wrong = post(client, "/staff/sign-in", {"email": finance.email, "password": "not the password"})
    unknown = post(client, "/staff/sign-in", {"email": "nobody@newsroom.example", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    error = re.compile(r'id="sign-in-error">([^<]+)<')
    wrong_match = error.search(wrong.get_data(as_text=True))
    unknown_match = error.search(unknown.get_data(as_text=True))
    assert wrong_match and unknown_match
    assert wrong_match.group(1) == unknown_match.group(1)
    assert client.get("/staff/").status_code == 302


def test_admin_must_enrol_a_second_factor_at_first_sign_in(app: Flask) -> None:
    make_staff(app, "new-admin@newsroom.example", StaffRole.ADMIN, two_factor=False)
    client = app.test_client()
    response = post(client, "/staff/sign-in", {"email": "new-admin@newsroom.example", "password": PASSWORD})
    assert response.headers["Location"] == "/staff/sign-in/enrol"
    # Nothing else opens before enrolment.
    assert client.get("/staff/").headers["Location"].startswith("/staff/sign-in")
    page = client.get("/staff/sign-in/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    uri = re.search(r'id="totp-uri"[^>]*>([^<]+)<', page)
    assert secret and uri
    key = secret.group(1).replace(" ", "")
    assert uri.group(1).startswith("otpauth://totp/")
    assert f"secret={key}" in uri.group(1) and "new-admin%40newsroom.example" in uri.group(1)

    refused = post(client, "/staff/sign-in/enrol", {"code": "000000"})
    assert refused.status_code == 401
    done = post(client, "/staff/sign-in/enrol", {"code": pyotp.TOTP(key).now()})
    # Signed in, and shown the ten recovery codes once before going on.
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    assert len(set(codes)) == 10
    assert 'href="/staff/"' in done.get_data(as_text=True)
    assert client.get("/staff/users").status_code == 200
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == "new-admin@newsroom.example"))
        assert user is not None and user.has_two_factor and two_factor.totp_secret_of(user) == key


def test_admin_with_two_factor_needs_the_current_code_and_each_code_works_once(
    app: Flask, admin: Staff
) -> None:
    client = app.test_client()
    step_one = post(client, "/staff/sign-in", {"email": admin.email, "password": PASSWORD})
    assert step_one.headers["Location"] == "/staff/sign-in/code"
    assert client.get("/staff/").status_code == 302  # the password alone opens nothing
    stale = admin.code(datetime.now(UTC) - timedelta(minutes=5))
    assert post(client, "/staff/sign-in/code", {"code": stale}).status_code == 401
    code = admin.code()
    assert post(client, "/staff/sign-in/code", {"code": code}).headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200

    # The same code again (a shoulder-surfer replaying it) is refused.
    other = app.test_client()
    post(other, "/staff/sign-in", {"email": admin.email, "password": PASSWORD})
    assert post(other, "/staff/sign-in/code", {"code": code}).status_code == 401


def test_codes_typed_with_arabic_digits_are_understood(app: Flask, admin: Staff) -> None:
    client = app.test_client()
    post(client, "/staff/sign-in", {"email": admin.email, "password": PASSWORD})
    arabic = admin.code().translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert post(client, "/staff/sign-in/code", {"code": arabic}).headers["Location"] == "/staff/"


def test_five_failures_lock_the_account_for_fifteen_minutes(app: Flask, finance: Staff) -> None:
    client = app.test_client()
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        assert (
            post(client, "/staff/sign-in", {"email": finance.email, "password": "guess"}).status_code == 401
        )
    locked = post(client, "/staff/sign-in", {"email": finance.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "15" in locked.get_data(as_text=True)  # "wait 15 minutes"
    # An unknown address is locked the same way: the answer says nothing about who has an account.
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        post(client, "/staff/sign-in", {"email": "ghost@newsroom.example", "password": "guess"})
    assert (
        post(client, "/staff/sign-in", {"email": "ghost@newsroom.example", "password": "x"}).status_code
        == 429
    )
    assert ("anonymous", "staff.locked") in _audit(app)
    assert (f"staff:{finance.id}", "staff.locked") in _audit(app)

    shift_attempts(app, 16)
    assert sign_in(client, finance).status_code == 200


def test_wrong_codes_count_towards_the_lockout(app: Flask, admin: Staff) -> None:
    client = app.test_client()
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        post(client, "/staff/sign-in", {"email": admin.email, "password": PASSWORD})
        post(client, "/staff/sign-in/code", {"code": "000000"})
    response = post(client, "/staff/sign-in", {"email": admin.email, "password": PASSWORD})
    assert response.status_code == 429


def test_an_admin_lifts_a_lockout(app: Flask, admin: Staff, finance: Staff) -> None:
    client = app.test_client()
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        post(client, "/staff/sign-in", {"email": finance.email, "password": "guess"})
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    assert "Locked" in admin_client.get("/staff/users?lang=en").get_data(as_text=True)
    assert post(admin_client, f"/staff/users/{finance.id}", {"action": "unlock"}).status_code == 302
    assert sign_in(client, finance).status_code == 200
    assert (f"staff:{admin.id}", "staff.unlock") in _audit(app)


def test_one_address_is_rate_limited_across_many_emails(app: Flask, finance: Staff) -> None:
    client = app.test_client()
    for number in range(app.config["STAFF_IP_LIMIT"]):
        post(client, "/staff/sign-in", {"email": f"guess{number}@newsroom.example", "password": "guess"})
    # The right password from the same address is refused too...
    assert post(client, "/staff/sign-in", {"email": finance.email, "password": PASSWORD}).status_code == 429
    # ...but another address is not.
    other = app.test_client()
    response = post(
        other,
        "/staff/sign-in",
        {"email": finance.email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302


def test_idle_session_ends_after_thirty_minutes(app: Flask, finance_client) -> None:  # type: ignore[no-untyped-def]
    assert finance_client.get("/staff/").status_code == 200
    age_session(finance_client, 29)
    assert finance_client.get("/staff/").status_code == 200  # and this request counts as activity
    age_session(finance_client, 31)
    response = finance_client.get("/staff/supporters")
    assert response.headers["Location"].startswith("/staff/sign-in")
    # Signing in again works.
    page = finance_client.get(response.headers["Location"], follow_redirects=True)
    assert page.status_code == 200


def test_sessions_end_after_twelve_hours_even_when_active(app: Flask, finance_client) -> None:  # type: ignore[no-untyped-def]
    with finance_client.session_transaction() as session:
        data = dict(session["staff"])
        data["at"] -= 12 * 3600 + 1
        session["staff"] = data
    assert finance_client.get("/staff/").status_code == 302


def test_disabling_an_account_ends_its_sessions(app: Flask, finance: Staff, finance_client) -> None:  # type: ignore[no-untyped-def]
    assert finance_client.get("/staff/").status_code == 200
    staff_row(app, finance.id, lambda u: accounts.set_disabled(u, True, "test"))
    assert finance_client.get("/staff/").status_code == 302
    fresh = app.test_client()
    assert post(fresh, "/staff/sign-in", {"email": finance.email, "password": PASSWORD}).status_code == 401


def test_changing_the_password_signs_out_other_sessions(app: Flask, finance: Staff, finance_client) -> None:  # type: ignore[no-untyped-def]
    other = app.test_client()
    sign_in(other, finance)
    new = "an even longer passphrase"
    response = post(
        finance_client,
        "/staff/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert response.status_code == 302
    assert finance_client.get("/staff/").status_code == 200  # this one goes on
    assert other.get("/staff/").status_code == 302  # the other one ended
    assert (
        sign_in(app.test_client(), Staff(finance.id, finance.email, finance.role, None, new)).status_code
        == 200
    )


def test_finance_may_turn_two_factor_on_and_then_must_use_it(
    app: Flask, finance: Staff, finance_client
) -> None:  # type: ignore[no-untyped-def]
    page = finance_client.get("/staff/account").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert secret
    key = secret.group(1).replace(" ", "")
    post(finance_client, "/staff/account/two-factor", {"code": pyotp.TOTP(key).now()})
    assert 'id="two-factor-state">On' in finance_client.get("/staff/account?lang=en").get_data(as_text=True)
    fresh = app.test_client()
    response = post(fresh, "/staff/sign-in", {"email": finance.email, "password": PASSWORD})
    assert response.headers["Location"] == "/staff/sign-in/code"


def test_csrf_token_is_required_on_staff_forms(app: Flask, finance: Staff) -> None:
    client = app.test_client()
    response = client.post("/staff/sign-in", data={"email": finance.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302


def test_passwords_are_stored_as_argon2id_hashes(app: Flask, finance: Staff) -> None:
    user = staff_row(app, finance.id)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_staff_create_command_reads_the_password_from_stdin(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["staff", "create", "Editor@Newsroom.Example", "--role", "finance", "--password-stdin"],
        input="twelve chars or more\n",
    )
    assert result.exit_code == 0, result.output
    assert "created finance editor@newsroom.example" in result.output
    short = runner.invoke(args=["staff", "create", "x@newsroom.example", "--role", "admin"], input="short\n")
    assert short.exit_code != 0 and "12 characters" in short.output
    taken = runner.invoke(
        args=["staff", "create", "editor@newsroom.example", "--role", "admin"], input="twelve chars or more\n"
    )
    assert taken.exit_code != 0 and "exists" in taken.output
    listed = runner.invoke(args=["staff", "list"])
    assert "editor@newsroom.example\tfinance\tno-2fa\tactive" in listed.output
    assert (
        sign_in(
            app.test_client(),
            Staff(0, "editor@newsroom.example", StaffRole.FINANCE, None, "twelve chars or more"),
        ).status_code
        == 200
    )
    assert ("system:cli", "staff.create") in _audit(app)
