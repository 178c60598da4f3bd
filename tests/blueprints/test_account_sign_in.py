"""Signing in to the account by an emailed link: end to end through the outbox and a real SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, ngettext
from sqlalchemy import event

from app import config
from app.account.messages import message
from app.extensions import db
from app.i18n import format_money
from app.models import AuditEntry, EmailLog, SignInAttempt, SignInToken
from app.models.types import utcnow
from app.services.account import links
from tests import i18n
from tests.account_helpers import (
    EMAIL,
    LINK,
    ask_for_link,
    give,
    latest_link,
    open_link,
    page_csrf,
    sign_in,
    sign_in_emails,
)
from tests.conftest import CSRF, count_rows, empty_tables, make_app
from tests.harness import StripeJs
from tests.mail import parts
from workers.tasks import send_email, send_sign_in_link, sweep_sign_in_asks


def test_link_by_email_opens_the_account_in_arabic(
    app: Flask, client: FlaskClient, stripe_js: StripeJs, smtp: Any
) -> None:
    give(client, stripe_js, "ar")
    app.config.update(SMTP_PORT=smtp.port)
    page = ask_for_link(client, "Reader@Example.org", "ar")
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.get_data(as_text=True)
    (email_id,) = sign_in_emails(app)
    with app.app_context():
        assert send_email.run(email_id) == "sent"
    (message,) = smtp.inbox.wait_for(1)
    assert message["To"] == EMAIL
    assert message["Subject"] == i18n.subject(app, "Your sign-in link")
    text, html = parts(message)
    assert '<html lang="ar" dir="rtl">' in html
    link = LINK.search(text)
    assert link, text
    with app.test_request_context("/ar/account"), force_locale("ar"):
        lifetime = ngettext(
            "The link works once, for %(num)d minute.", "The link works once, for %(num)d minutes.", 30
        )
    assert lifetime in text and "30" in lifetime
    path = link.group(0).split("127.0.0.1:5000", 1)[1]
    assert path.startswith("/ar/account/sign-in/")

    # Before the link: no account page.
    assert client.get("/ar/account").headers["Location"].endswith("/ar/account/sign-in")
    button = client.get(path)
    assert i18n.translate(
        app, "You are signing in as %(email)s.", email=f"<bdi>{EMAIL}</bdi>"
    ) in button.get_data(as_text=True)
    response = open_link(client, path)
    assert response.status_code == 302
    home = client.get("/ar/account")
    assert home.status_code == 200
    body = home.get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in body
    assert i18n.translate(app, "Active") in body
    with app.test_request_context("/ar/account"):
        assert format_money(100, "usd", "ar") in body
    assert i18n.translate(app, "Monthly") in body

    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["account.sign_in_link", "account.sign_in"]


def test_only_a_hash_of_the_link_is_stored(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    give(client, stripe_js, "en")
    ask_for_link(client, EMAIL, "en")
    secret = latest_link(app, EMAIL, "en").rsplit("/", 1)[1]
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken)).one()
        assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        row = {c.name: getattr(token, c.key) for c in SignInToken.__table__.columns}
        assert secret not in {str(v) for v in row.values()}
        assert token.expires_at - token.created_at == timedelta(minutes=30)
        email = db.session.scalars(sa.select(EmailLog).where(EmailLog.about == f"sign_in:{token.id}")).one()
        assert email.locale == "en"


def test_an_unknown_address_gets_the_same_answer_and_no_email(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en")
    known = ask_for_link(client, EMAIL, "en")
    unknown = ask_for_link(client, "stranger@example.org", "en")
    assert known.status_code == unknown.status_code == 200
    assert "a sign-in link is on its way" in known.get_data(as_text=True)
    # Word for word the same page, but for the address the reader typed.
    assert unknown.get_data(as_text=True).replace("stranger@example.org", EMAIL) == known.get_data(
        as_text=True
    )
    assert len(sign_in_emails(app)) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInAttempt)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInToken)) == 1


def test_the_database_and_the_secret_key_do_not_rebuild_a_link(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    """A copy of the database plus ``SECRET_KEY`` (a leaked config) gives no live link."""
    give(client, stripe_js, "en")
    ask_for_link(client, EMAIL, "en")
    secret = latest_link(app, EMAIL, "en").rsplit("/", 1)[1]
    key = str(app.config["SECRET_KEY"]).encode()
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken)).one()
        stored = [str(getattr(token, c.key)) for c in SignInToken.__table__.columns]
    for value in stored:  # as a link derived from a stored nonce was: an HMAC of it under the key
        mac = hmac.new(key, b"sign-in-link:" + value.encode(), hashlib.sha256).digest()
        assert base64.urlsafe_b64encode(mac).rstrip(b"=").decode() != secret


def test_a_known_and_an_unknown_address_take_the_same_path(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    """The request only notes the ask: the same statements, rows and page for any address.

    Whether the address is a supporter's is looked up by a worker afterwards,
    so the time of the answer cannot tell (finding 4 of issue 15).
    """
    give(client, stripe_js, "en")
    app.extensions.pop("sign_in_hand_over", None)  # the request alone, as in production (the worker apart)
    with app.app_context():
        engine = db.engine

    def ask(email: str) -> tuple[int, str, list[str], dict[str, int]]:
        form = {"csrf_token": page_csrf(client, "/en/account/sign-in"), "email": email}
        before, statements = count_rows(app), []

        def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", note)
        try:
            page = client.post("/en/account/sign-in", data=form)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        after = count_rows(app)
        written = {table: after[table] - before[table] for table in after if after[table] != before[table]}
        text = CSRF.sub("csrf", page.get_data(as_text=True)).replace(email, "ADDRESS")
        return page.status_code, text, statements, written

    known, unknown = ask(EMAIL), ask("stranger@example.org")
    assert known == unknown
    assert known[3] == {"sign_in_attempt": 1}
    assert sign_in_emails(app) == []
    with app.app_context():  # the worker's part: a link for the supporter only
        for attempt_id in db.session.scalars(sa.select(SignInAttempt.id).order_by(SignInAttempt.id)):
            links.send_link(attempt_id)
        db.session.commit()
    assert len(sign_in_emails(app)) == 1
    assert re.fullmatch(r"/en/account/sign-in/[A-Za-z0-9_-]{40,}", latest_link(app, EMAIL, "en"))


def test_a_link_works_once(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    give(client, stripe_js, "en")
    sign_in(app, client, EMAIL, "en")
    path = latest_link(app, EMAIL, "en")
    other = app.test_client()
    page = other.get(path)
    assert page.status_code == 410
    assert "has been used already" in page.get_data(as_text=True)
    token = page_csrf(other, "/en/account/sign-in")
    assert other.post(path, data={"csrf_token": token}).status_code == 410
    assert other.get("/en/account").status_code == 302


def test_an_expired_or_forged_link_is_refused(app: Flask, client: FlaskClient, stripe_js: StripeJs) -> None:
    give(client, stripe_js, "en")
    ask_for_link(client, EMAIL, "en")
    path = latest_link(app, EMAIL, "en")
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken)).one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    expired = client.get(path)
    assert expired.status_code == 410
    assert "has expired" in expired.get_data(as_text=True)
    assert client.get("/en/account/sign-in/" + "A" * 43).status_code == 410
    assert "is not valid" in client.get("/en/account/sign-in/forged").get_data(as_text=True)


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en")
    sign_in(app, client, EMAIL, "en")
    cookie = client.get_cookie("session")
    assert cookie is not None
    copied = cookie.value
    token = page_csrf(client, "/en/account")
    out = client.post("/en/account/sign-out", data={"csrf_token": token})
    assert out.headers["Location"].endswith("/en/account/sign-in")
    assert "You are signed out." in client.get("/en/account/sign-in").get_data(as_text=True)
    assert client.get("/en/account").status_code == 302
    client.set_cookie("session", copied)  # someone kept the old cookie
    assert client.get("/en/account").status_code == 302


def idle_for(client: FlaskClient, how_long: timedelta) -> None:
    """As if the last request had been ``how_long`` ago."""
    with client.session_transaction() as cookie:
        data = dict(cookie["account"])
        data["seen"] -= int(how_long.total_seconds())
        cookie["account"] = data


def test_an_idle_session_ends_with_a_message_in_the_readers_language(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "ar")
    sign_in(app, client, EMAIL, "ar")
    idle = timedelta(minutes=app.config["ACCOUNT_IDLE_MINUTES"])
    assert idle == timedelta(minutes=30)  # the default
    idle_for(client, idle - timedelta(minutes=1))  # a minute to spare
    assert client.get("/ar/account").status_code == 200  # and the idle time starts again
    with client.session_transaction() as cookie:
        assert cookie["account"]["seen"] >= int(utcnow().timestamp()) - 5
    idle_for(client, idle + timedelta(seconds=1))
    response = client.get("/ar/account")
    assert response.status_code == 302 and response.headers["Location"].endswith("/ar/account/sign-in")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    with app.test_request_context("/ar/account"), force_locale("ar"):
        expected = message("session_idle")
    assert "30" in expected and i18n.is_arabic(expected)
    assert expected in page
    assert client.get("/ar/account").status_code == 302  # the cookie no longer names a session


def test_a_session_ends_after_its_lifetime_however_active(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en")
    sign_in(app, client, EMAIL, "en")
    lifetime = timedelta(hours=app.config["ACCOUNT_SESSION_HOURS"])
    assert lifetime == timedelta(hours=12)  # the default
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken)).one()
        token.used_at = utcnow() - lifetime + timedelta(minutes=1)
        db.session.commit()
    assert client.get("/en/account").status_code == 200  # active all along: still in
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken)).one()
        token.used_at = utcnow() - lifetime - timedelta(seconds=1)
        db.session.commit()
    response = client.get("/en/account/card", headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "session_expired"
    sign_in(app, client, EMAIL, "en")
    with app.app_context():
        token = db.session.scalars(sa.select(SignInToken).order_by(SignInToken.id.desc())).first()
        token.used_at = utcnow() - lifetime - timedelta(seconds=1)
        db.session.commit()
    response = client.get("/en/account")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "For your safety, a session lasts at most 12 hours. Please sign in again." in page


def test_the_limits_follow_the_settings(database_url: str, localstripe_url: str, stripe_js: StripeJs) -> None:
    app = make_app(
        database_url,
        localstripe_url,
        ACCOUNT_LINK_MINUTES=1,
        ACCOUNT_IDLE_MINUTES=5,
        ACCOUNT_MAX_LINKS_PER_EMAIL=1,
        ACCOUNT_MAX_REQUESTS_PER_IP=2,
        ACCOUNT_RATE_WINDOW_MINUTES=60,
    )
    try:
        client = app.test_client()
        give(client, stripe_js, "en")
        page = client.get("/en/account/sign-in").get_data(as_text=True)
        assert "The link works once, for 1 minute." in page
        assert ask_for_link(client, EMAIL, "en").status_code == 200
        with app.app_context():
            token = db.session.scalars(sa.select(SignInToken)).one()
            assert token.expires_at - token.created_at == timedelta(minutes=1)
        assert ask_for_link(client, EMAIL, "en").status_code == 200  # past the limit: no email
        assert len(sign_in_emails(app)) == 1
        limited = ask_for_link(client, EMAIL, "en")
        assert limited.status_code == 429
        assert "Please wait 60 minutes and try again." in limited.get_data(as_text=True)
        with app.test_request_context("/ar/account"), force_locale("ar"):
            assert "60" in message("too_many_requests") and i18n.is_arabic(message("too_many_requests"))
            assert "5" in message("session_idle")
    finally:
        empty_tables(app)


def test_settings_must_be_whole_numbers_of_at_least_one() -> None:
    assert config.load({})["ACCOUNT_SESSION_HOURS"] == 12
    for bad in ("0", "-3", "half an hour"):
        with pytest.raises(config.ConfigError, match="ACCOUNT_IDLE_MINUTES"):
            config.load({"ACCOUNT_IDLE_MINUTES": bad})


def test_links_are_rate_limited_per_address_and_per_ip(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en")
    per_email, per_ip = app.config["ACCOUNT_MAX_LINKS_PER_EMAIL"], app.config["ACCOUNT_MAX_REQUESTS_PER_IP"]
    assert (per_email, per_ip) == (3, 10)  # the defaults
    for _ in range(per_email + 2):
        page = ask_for_link(client, EMAIL, "en", REMOTE_ADDR="10.0.0.1")
        assert page.status_code == 200  # the same answer, past the limit too
    assert len(sign_in_emails(app)) == per_email
    # Another address from a new IP still gets its link.
    assert ask_for_link(client, "other@example.org", "en", REMOTE_ADDR="10.0.0.2").status_code == 200
    for n in range(per_ip - 1):
        ask_for_link(client, f"nobody{n}@example.org", "en", REMOTE_ADDR="10.0.0.2")
    limited = ask_for_link(client, EMAIL, "en", REMOTE_ADDR="10.0.0.2")
    assert limited.status_code == 429
    assert "Too many sign-in links" in limited.get_data(as_text=True)
    assert "Please wait 15 minutes" in limited.get_data(as_text=True)
    assert len(sign_in_emails(app)) == per_email


def test_asking_needs_a_valid_address_and_a_csrf_token(app: Flask, client: FlaskClient) -> None:
    bad = ask_for_link(client, "not-an-address", "en")
    assert bad.status_code == 400
    assert i18n.message(app, "email_invalid", "en") in bad.get_data(as_text=True)
    assert client.post("/en/account/sign-in", data={"email": EMAIL}).status_code == 400
    assert count_rows(app)["sign_in_attempt"] == 0


def test_the_worker_sends_a_link_once_and_forgets_the_address(
    app: Flask, client: FlaskClient, stripe_js: StripeJs
) -> None:
    give(client, stripe_js, "en")
    step = app.extensions.pop("sign_in_hand_over")  # the broker lost the hand-over
    ask_for_link(client, EMAIL, "en")
    ask_for_link(client, "stranger@example.org", "en")
    with app.app_context():
        assert links.due_for_sweep() == []  # given a minute
        asks = links.due_for_sweep(older_than=timedelta(0))
    assert len(asks) == 2 and sign_in_emails(app) == []
    app.extensions["sign_in_hand_over"] = step
    with app.app_context():
        db.session.execute(sa.update(SignInAttempt).values(created_at=utcnow() - timedelta(minutes=2)))
        db.session.commit()
        assert sweep_sign_in_asks.run() == 2  # the beat job hands them over again
        assert [send_sign_in_link.run(i) for i in asks] == ["nothing to do"] * 2  # done already
        assert db.session.scalars(sa.select(SignInAttempt.email)).all() == [None, None]
    assert len(sign_in_emails(app)) == 1
