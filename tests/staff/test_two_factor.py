"""The second factor at rest and its way back: TOTP secrets encrypted, recovery codes, resets.

Secrets are sealed with Fernet under a key from ``STAFF_TOTP_KEY`` (or
``SECRET_KEY``); recovery codes are kept as keyed hashes, shown once, each good
for one sign-in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEntry, StaffRecoveryCode, StaffRole, StaffUser
from app.services.staff import two_factor
from tests.staff.conftest import PASSWORD, Staff, make_staff, post, sign_in, staff_row

CODE = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
OLD_KEY = "an old staff TOTP key of more than thirty-two characters"
NEW_KEY = "a new staff TOTP key, also longer than thirty-two characters"


def audit_of(app: Flask, action: str) -> list[dict[str, object]]:
    with app.app_context():
        return [
            dict(e.details or {}, actor=e.actor)
            for e in db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        ]


def enrol_admin(
    app: Flask, email: str = "new-admin@newsroom.example"
) -> tuple[Staff, list[str], FlaskClient]:
    """An admin's first sign-in: password, enrolment, the page of recovery codes."""
    made = make_staff(app, email, StaffRole.ADMIN, two_factor=False)
    client = app.test_client()
    post(client, "/staff/sign-in", {"email": email, "password": PASSWORD})
    page = client.get("/staff/sign-in/enrol?lang=en").get_data(as_text=True)
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert found
    secret = found.group(1).replace(" ", "")
    done = post(client, "/staff/sign-in/enrol", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = CODE.findall(done.get_data(as_text=True))
    return Staff(made.id, made.email, StaffRole.ADMIN, secret), codes, client


def password_step(app: Flask, staff: Staff) -> FlaskClient:
    client = app.test_client()
    client.get("/staff/sign-in?lang=en")
    response = post(client, "/staff/sign-in", {"email": staff.email, "password": PASSWORD})
    assert response.headers["Location"] == "/staff/sign-in/code"
    return client


# -- secrets at rest -----------------------------------------------------------------------


def test_the_totp_secret_is_stored_encrypted(app: Flask) -> None:
    staff, _codes, _client = enrol_admin(app)
    stored = staff_row(app, staff.id).totp_secret
    assert stored and stored.startswith("f1:")
    assert staff.secret and staff.secret not in stored
    with app.app_context():
        assert two_factor.open_secret(stored) == staff.secret
        # Another key opens nothing: the database alone does not give the secret away.
        with pytest.raises(two_factor.SecretUnreadable):
            two_factor.open_secret(stored, {"STAFF_TOTP_KEY": NEW_KEY})


def test_the_secret_being_enrolled_rides_in_the_cookie_encrypted(app: Flask) -> None:
    make_staff(app, "new-admin@newsroom.example", StaffRole.ADMIN, two_factor=False)
    client = app.test_client()
    post(client, "/staff/sign-in", {"email": "new-admin@newsroom.example", "password": PASSWORD})
    page = client.get("/staff/sign-in/enrol").get_data(as_text=True)
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert found
    with client.session_transaction() as session:
        sealed = session["staff_pending"]["secret"]
    assert sealed.startswith("f1:") and found.group(1).replace(" ", "") not in sealed


def test_a_plaintext_secret_from_before_0009_still_works_and_is_sealed_at_sign_in(app: Flask) -> None:
    secret = pyotp.random_base32()
    admin = make_staff(app, "old-admin@newsroom.example", StaffRole.ADMIN)

    def plaintext(user) -> None:  # type: ignore[no-untyped-def]
        user.totp_secret = secret  # as migration 0007 stored it

    staff_row(app, admin.id, plaintext)
    client = password_step(app, admin)
    response = post(client, "/staff/sign-in/code", {"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"] == "/staff/"
    stored = staff_row(app, admin.id).totp_secret
    assert stored and stored.startswith("f1:") and secret not in stored


def test_rotating_the_key(app: Flask) -> None:
    app.config["STAFF_TOTP_KEY"] = OLD_KEY
    admin = make_staff(app, "admin@newsroom.example", StaffRole.ADMIN)
    sealed_old = staff_row(app, admin.id).totp_secret

    # The new key first, the old one still listed: the old secret opens, and the command
    # seals it again under the new key.
    app.config["STAFF_TOTP_KEY"] = f"{NEW_KEY}, {OLD_KEY}"
    result = app.test_cli_runner().invoke(args=["staff", "reseal-2fa"])
    assert result.exit_code == 0, result.output
    assert "sealed again: 1" in result.output
    assert sign_in(app.test_client(), admin).status_code == 200
    with app.app_context():
        sealed_new = staff_row(app, admin.id).totp_secret
        assert sealed_new != sealed_old
        assert two_factor.open_secret(sealed_new, {"STAFF_TOTP_KEY": NEW_KEY}) == admin.secret

    # The old key gone: still signs in (with the next code: each works once).
    app.config["STAFF_TOTP_KEY"] = NEW_KEY
    client = password_step(app, admin)
    later = admin.code(datetime.now(UTC) + timedelta(seconds=30))
    assert post(client, "/staff/sign-in/code", {"code": later}).headers["Location"] == "/staff/"

    # A key dropped too soon: no code is accepted, and the command names who must enrol again.
    app.config["STAFF_TOTP_KEY"] = OLD_KEY
    with app.app_context():
        user = db.session.get(StaffUser, admin.id)
        assert user is not None and two_factor.totp_secret_of(user) is None
    client = password_step(app, admin)
    assert post(client, "/staff/sign-in/code", {"code": admin.code()}).status_code == 401
    result = app.test_cli_runner().invoke(args=["staff", "reseal-2fa"])
    assert result.exit_code == 1 and admin.email in result.output


# -- recovery codes ------------------------------------------------------------------------


def test_enrolment_shows_ten_codes_once_and_keeps_only_keyed_hashes(app: Flask) -> None:
    staff, codes, client = enrol_admin(app)
    assert len(codes) == len(set(codes)) == two_factor.RECOVERY_CODES
    assert all(re.fullmatch(r"[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}", c) for c in codes)
    with app.app_context():
        stored = list(db.session.scalars(sa.select(StaffRecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)
    # Not shown again anywhere.
    account = client.get("/staff/account?lang=en").get_data(as_text=True)
    assert not CODE.findall(account)
    assert "10 unused recovery codes are left." in account
    assert audit_of(app, "staff.recovery_codes_created")[0]["count"] == 10


def test_a_recovery_code_signs_in_once_in_place_of_the_app(app: Flask) -> None:
    staff, codes, _client = enrol_admin(app)
    client = password_step(app, staff)
    # Typed as a person might read it out: upper case, spaces instead of hyphens.
    typed = codes[3].upper().replace("-", " ")
    response = post(client, "/staff/sign-in/code", {"code": typed})
    assert response.headers["Location"] == "/staff/"
    page = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "You signed in with a recovery code. 9 codes are left." in page
    used = audit_of(app, "staff.recovery_code_used")
    assert used == [{"left": 9, "actor": f"staff:{staff.id}"}]
    assert "9 unused recovery codes are left." in client.get("/staff/account?lang=en").get_data(as_text=True)

    # The same code again is refused, and counts as a failed try.
    again = password_step(app, staff)
    refused = post(again, "/staff/sign-in/code", {"code": codes[3]})
    assert refused.status_code == 401
    assert audit_of(app, "staff.sign_in_failed")[-1]["reason"] == "bad_code"
    # Another of the ten still works.
    assert post(again, "/staff/sign-in/code", {"code": codes[0]}).headers["Location"] == "/staff/"


def test_the_last_recovery_code_says_to_make_new_ones(app: Flask) -> None:
    staff, codes, _client = enrol_admin(app)
    for code in codes:
        client = password_step(app, staff)
        assert post(client, "/staff/sign-in/code", {"code": code}).status_code == 302
    page = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "You signed in with your last recovery code." in page
    assert [e["left"] for e in audit_of(app, "staff.recovery_code_used")] == list(range(9, -1, -1))


def test_one_accounts_code_does_not_open_another(app: Flask) -> None:
    _first, codes, _client = enrol_admin(app, "first-admin@newsroom.example")
    second, _codes, _client = enrol_admin(app, "second-admin@newsroom.example")
    client = password_step(app, second)
    assert post(client, "/staff/sign-in/code", {"code": codes[0]}).status_code == 401


def test_wrong_recovery_codes_count_towards_the_lockout(app: Flask) -> None:
    staff, codes, _client = enrol_admin(app)
    for _ in range(app.config["STAFF_LOCK_AFTER"]):
        client = password_step(app, staff)
        assert post(client, "/staff/sign-in/code", {"code": "abcd-efgh-jkmn"}).status_code == 401
    locked = post(app.test_client(), "/staff/sign-in", {"email": staff.email, "password": PASSWORD})
    assert locked.status_code == 429


def test_new_recovery_codes_need_a_current_app_code_and_end_the_old_ones(app: Flask) -> None:
    staff, old_codes, client = enrol_admin(app)
    refused = post(client, "/staff/account/recovery-codes", {"code": "123456"})
    assert refused.headers["Location"] == "/staff/account"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffRecoveryCode)) == 10
    # Nor does a recovery code stand in for the app here.
    post(client, "/staff/account/recovery-codes", {"code": old_codes[0]})
    assert len(audit_of(app, "staff.recovery_codes_created")) == 1

    # The code the enrolment used is spent; the next step's code is accepted.
    assert staff.secret
    later = pyotp.TOTP(staff.secret).at(datetime.now(UTC) + timedelta(seconds=30))
    made = post(client, "/staff/account/recovery-codes", {"code": later})
    assert made.status_code == 200
    new_codes = CODE.findall(made.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert len(audit_of(app, "staff.recovery_codes_created")) == 2

    old = password_step(app, staff)
    assert post(old, "/staff/sign-in/code", {"code": old_codes[1]}).status_code == 401
    assert post(old, "/staff/sign-in/code", {"code": new_codes[1]}).headers["Location"] == "/staff/"


def test_finance_turning_two_factor_on_gets_codes_and_off_forgets_them(
    app: Flask, finance: Staff, finance_client: FlaskClient
) -> None:
    page = finance_client.get("/staff/account").get_data(as_text=True)
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert found
    totp = pyotp.TOTP(found.group(1).replace(" ", ""))
    done = post(finance_client, "/staff/account/two-factor", {"code": totp.now()})
    assert done.status_code == 200 and len(CODE.findall(done.get_data(as_text=True))) == 10
    later = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    assert post(finance_client, "/staff/account/two-factor/off", {"code": later}).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffRecoveryCode)) == 0


def test_an_admin_resets_another_persons_two_factor(app: Flask, admin: Staff) -> None:
    other, codes, _client = enrol_admin(app, "other-admin@newsroom.example")
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    page = admin_client.get("/staff/users?lang=en").get_data(as_text=True)
    assert "Reset two-factor" in page
    # Not one's own (another admin must do it).
    own = post(admin_client, f"/staff/users/{admin.id}", {"action": "reset_two_factor"})
    assert own.status_code == 302 and staff_row(app, admin.id).has_two_factor

    assert post(admin_client, f"/staff/users/{other.id}", {"action": "reset_two_factor"}).status_code == 302
    row = staff_row(app, other.id)
    assert (row.totp_secret, row.totp_enabled_at) == (None, None)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffRecoveryCode)) == 0
    assert audit_of(app, "staff.two_factor_reset") == [{"staff_id": other.id, "actor": f"staff:{admin.id}"}]
    # The codes are gone with it, and the admin enrols again at the next sign-in.
    again = post(app.test_client(), "/staff/sign-in", {"email": other.email, "password": PASSWORD})
    assert again.headers["Location"] == "/staff/sign-in/enrol"


def test_finance_cannot_reset_anyones_two_factor(app: Flask, finance_client: FlaskClient) -> None:
    other, _codes, _client = enrol_admin(app)
    response = post(finance_client, f"/staff/users/{other.id}", {"action": "reset_two_factor"})
    assert response.status_code == 403
    assert staff_row(app, other.id).has_two_factor
