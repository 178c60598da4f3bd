"""Remind me later, and the card-expiring notice: each sent once, in the reader's language."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import EmailKind, EmailLog, MembershipStatus, Reminder
from app.services import emails, reminders
from tests import i18n
from tests.conftest import csrf_token
from tests.factories import MembershipFactory, PaymentFactory
from tests.mail import parts


def ask(client: FlaskClient, lang: str = "ar", **fields: str):  # type: ignore[no-untyped-def]
    form = {"csrf_token": csrf_token(client, lang), "email": "later@example.org", "when": "week", **fields}
    return client.post(f"/{lang}/support/remind", data=form)


def emails_of(app: Flask, kind: EmailKind) -> list[EmailLog]:
    with app.app_context():
        return list(db.session.scalars(sa.select(EmailLog).where(EmailLog.kind == kind)))


def test_remind_me_in_a_week_sends_one_email_with_the_choices_filled_in(
    app: Flask, client: FlaskClient
) -> None:
    response = ask(client, amount="5", currency="eur", frequency="year", campaign="spring")
    assert response.status_code == 200
    expected_day = (datetime.now(UTC) + timedelta(days=7)).date()
    with app.app_context():
        from app.i18n import format_day

        day = format_day(expected_day, "ar")
    assert i18n.translate(app, "We will remind you once, on %(date)s.", date=day) in response.get_data(
        as_text=True
    )
    with app.app_context():
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=6)) == 0
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=8)) == 1
        db.session.commit()
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=40)) == 0  # never twice
        (row,) = db.session.scalars(sa.select(EmailLog)).all()
        message = emails.compose(row)
    text, html = parts(message)
    assert (
        message["List-Unsubscribe"].startswith("<http")
        and "/reminders/unsubscribe/" in message["List-Unsubscribe"]
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert '<html lang="ar" dir="rtl">' in html
    link = re.search(r"(http\S+/ar/support\?\S+)", text)
    assert link
    for part in ("amount=5", "currency=eur", "frequency=year", "campaign=spring"):
        assert part in link.group(1)


def test_asking_twice_still_means_one_reminder(app: Flask, client: FlaskClient) -> None:
    ask(client)
    ask(client, when="month")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == 1
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=31)) == 1


def test_one_click_unsubscribe_stops_every_reminder(app: Flask, client: FlaskClient) -> None:
    ask(client)
    with app.app_context():
        token = db.session.scalars(sa.select(Reminder.token)).one()
    page = client.get(f"/en/reminders/unsubscribe/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.get_data(as_text=True)
    done = client.post(f"/en/reminders/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    ask(client)  # asking again after unsubscribing: same answer, nothing sent
    with app.app_context():
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=40)) == 0
    assert client.post("/en/reminders/unsubscribe/not-a-token").status_code == 404


def test_no_reminder_for_a_reader_who_gave_meanwhile(app: Flask, client: FlaskClient) -> None:
    ask(client)
    with app.app_context():
        PaymentFactory(
            membership__supporter__email="later@example.org", paid_at=datetime.now(UTC) + timedelta(days=1)
        )
        db.session.commit()
        assert reminders.queue_due_reminders(datetime.now(UTC) + timedelta(days=8)) == 0


def test_bad_reminder_request_is_refused_in_arabic(app: Flask, client: FlaskClient) -> None:
    response = ask(client, email="nope", when="tomorrow")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert i18n.message(app, "email_invalid") in html
    assert i18n.message(app, "unknown_delay") in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reminder)) == 0


def test_card_expiring_at_the_end_of_next_month_is_noticed_once(app: Flask) -> None:
    with app.app_context():
        expiring = MembershipFactory(
            supporter__card_brand="visa",
            supporter__card_last4="4242",
            supporter__card_exp_month=12,
            supporter__card_exp_year=2026,
        )
        MembershipFactory(supporter__card_exp_month=1, supporter__card_exp_year=2027)  # later
        MembershipFactory(
            status=MembershipStatus.CANCELED, supporter__card_exp_month=12, supporter__card_exp_year=2026
        )  # not a member any more
        db.session.commit()
        assert reminders.queue_card_expiring(date(2026, 11, 25)) == 1
        assert reminders.queue_card_expiring(date(2026, 11, 26)) == 0
        db.session.commit()
        (row,) = db.session.scalars(sa.select(EmailLog)).all()
        assert row.supporter_id == expiring.supporter_id
        text, _ = parts(emails.compose(row))
    assert "4242" in text and "كانون الأول 2026" in text


def _ask_from(client: FlaskClient, ip: str, email: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    form = {"csrf_token": csrf_token(client, lang), "email": email, "when": "week"}
    return client.post(f"/{lang}/support/remind", data=form, environ_base={"REMOTE_ADDR": ip})


def _reminders(app: Flask) -> list[Reminder]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Reminder).order_by(Reminder.id)))


def test_one_address_cannot_have_our_reminders_sent_to_any_number_of_others(
    app: Flask, client: FlaskClient
) -> None:
    per_ip = app.config["REMINDER_MAX_PER_IP"]
    assert per_ip == 5  # the default, per hour
    for n in range(per_ip):
        assert _ask_from(client, "10.0.0.1", f"reader{n}@example.org").status_code == 200
    refused = _ask_from(client, "10.0.0.1", "victim@example.org", "ar")
    assert refused.status_code == 429
    assert i18n.message(app, "too_many_reminders", "ar") in refused.get_data(as_text=True)
    assert "victim@example.org" not in {r.email for r in _reminders(app)}
    assert _ask_from(client, "10.0.0.2", "victim@example.org").status_code == 200  # another IP may


def test_one_address_is_not_asked_about_again_and_again(app: Flask, client: FlaskClient) -> None:
    per_email = app.config["REMINDER_MAX_PER_EMAIL"]
    assert per_email == 3  # the default, per hour
    for n in range(per_email):
        assert _ask_from(client, f"10.0.1.{n}", "later@example.org", "ar").status_code == 200
    (kept,) = _reminders(app)
    page = _ask_from(client, "10.0.2.1", "later@example.org", "en")  # from yet another address
    assert page.status_code == 200  # the same answer: nobody learns what was asked before
    (after,) = _reminders(app)
    assert (after.locale, after.remind_at) == (kept.locale, kept.remind_at) == ("ar", kept.remind_at)
