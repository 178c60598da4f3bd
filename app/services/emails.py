"""Compose an email from its outbox row, in the supporter's language, and send it by SMTP."""

from __future__ import annotations

import atexit
import smtplib
import threading
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlencode

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from app import bidi
from app.extensions import db
from app.i18n import text_direction
from app.models import (
    EmailKind,
    EmailLog,
    Membership,
    Payment,
    Payout,
    Reminder,
    SignInToken,
    Supporter,
)
from app.services import attempts, receipts_pdf, supporters
from app.services.account import links

#: Kinds a reader can opt out of; receipts and account notices are not marketing.
UNSUBSCRIBABLE = frozenset({EmailKind.REMINDER})


def _subject(kind: EmailKind, context: dict[str, Any]) -> str:
    subjects = {
        EmailKind.RECEIPT: lambda: _("Your receipt %(number)s", number=context["payment"].receipt_number),
        EmailKind.WELCOME: lambda: _("Welcome, and thank you for supporting independent journalism"),
        EmailKind.PAYMENT_FAILED: lambda: _("Your payment did not go through"),
        EmailKind.ACTION_REQUIRED: lambda: _("Your bank asks you to confirm your membership payment"),
        EmailKind.CANCELLATION: lambda: _("Your membership has been cancelled"),
        EmailKind.REFUND: lambda: _("Your refund"),
        EmailKind.CARD_EXPIRING: lambda: _("Your card expires soon"),
        EmailKind.RENEWAL_UPCOMING: lambda: _("Your yearly membership renews soon"),
        EmailKind.REMINDER: lambda: _("A reminder you asked for"),
        EmailKind.MEMBERSHIP_LAPSED: lambda: _("A membership ended after failed payments"),
        EmailKind.PAYOUT_FAILED: lambda: _("A Stripe payout to the bank failed"),
        EmailKind.ATTEMPTS_SPIKE: lambda: _("Many payment attempts refused on the support page"),
        EmailKind.SIGN_IN_LINK: lambda: _("Your sign-in link"),
        EmailKind.ACCOUNT_ERASED: lambda: _("Your data has been erased"),
        EmailKind.GIFT_WITH_YOUR_ADDRESS: lambda: _("A gift was made with your email address"),
        EmailKind.PAYMENT_PENDING: lambda: _("Thank you: your gift is on its way from your bank"),
        EmailKind.DEBIT_FAILED: lambda: _("Your bank did not pay your gift"),
    }
    return str(subjects[kind]())


def _context(row: EmailLog) -> dict[str, Any]:
    config = current_app.config
    base = config["BASE_URL"].rstrip("/")
    context: dict[str, Any] = {
        "row": row,
        "locale": row.locale,
        "dir": text_direction(row.locale),
        "supporter": row.supporter,
        "support_url": f"{base}/{row.locale}/support",
        "manage_url": f"{base}/{row.locale}/account",
        "newsroom_name": config["NEWSROOM_NAME_AR" if row.locale == "ar" else "NEWSROOM_NAME"],
        "legal_name": config["NEWSROOM_LEGAL_NAME_AR" if row.locale == "ar" else "NEWSROOM_LEGAL_NAME"],
        "address": config["NEWSROOM_ADDRESS_AR" if row.locale == "ar" else "NEWSROOM_ADDRESS"],
    }
    kind, _sep, rest = row.about.partition(":")
    object_id = int(rest.split(":")[0]) if rest else 0
    if kind == "payment":
        payment = db.session.get(Payment, object_id)
        context["payment"] = payment
        context["membership"] = payment.membership if payment else None
    elif kind == "membership":
        context["membership"] = db.session.get(Membership, object_id)
    elif kind == "payout":
        context["payout"] = db.session.get(Payout, object_id)
        context["payout_url"] = f"{base}/staff/reconciliation/{object_id}"
    elif kind == "supporter":
        supporter = db.session.get(Supporter, object_id)
        context["supporter"] = supporter
        context["membership"] = supporters.running_membership(supporter)
    elif kind == "sign_in":
        token = db.session.get(SignInToken, object_id)
        context["sign_in_url"] = links.link_url(token, row.locale) if token else context["manage_url"]
        context["valid_minutes"] = config["ACCOUNT_LINK_MINUTES"]
    elif kind == "attempts":
        start, end = attempts.hour_window(object_id)
        context["window_start"], context["window_end"] = start, end
        context["attempts"] = attempts.summary(start, end)
    elif kind == "reminder":
        reminder = db.session.get(Reminder, object_id)
        context["reminder"] = reminder
        if reminder is not None:
            query = urlencode(reminder.choices or {})
            context["support_url"] = f"{base}/{row.locale}/support" + (f"?{query}" if query else "")
            context["unsubscribe_url"] = f"{base}/{row.locale}/reminders/unsubscribe/{reminder.token}"
    return context


def compose(row: EmailLog) -> EmailMessage:
    with force_locale(row.locale):
        context = _context(row)
        subject = bidi.plain_text(_subject(row.kind, context), row.locale)
        context["subject"] = subject
        text = bidi.plain_text(render_template(f"emails/{row.kind.value}.txt", **context), row.locale)
        html = render_template(f"emails/{row.kind.value}.html", **context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender(row.locale)
    message["To"] = str(Address(addr_spec=row.to_address)) if row.to_address else ""
    message["Message-ID"] = make_msgid(idstring=f"{row.kind.value}.{row.id}")
    message["Date"] = formatdate(usegmt=True)
    if row.kind in UNSUBSCRIBABLE:
        unsubscribe = context.get("unsubscribe_url") or context["support_url"]
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    payment = context.get("payment")
    if row.kind == EmailKind.RECEIPT and payment is not None and payment.receipt_number:
        message.add_attachment(
            receipts_pdf.receipt_pdf(payment, row.locale),
            maintype="application",
            subtype="pdf",
            filename=receipts_pdf.receipt_filename(payment),
        )
    # After the bodies: set_content() drops Content-* headers set before it.
    message["Content-Language"] = row.locale
    return message


def sender(locale: str) -> str:
    """``MAIL_FROM``, under the newsroom's Arabic name (``NEWSROOM_NAME_AR``) in Arabic emails."""
    config = current_app.config
    if locale != "ar":
        return str(config["MAIL_FROM"])
    return str(Address(display_name=config["NEWSROOM_NAME_AR"], addr_spec=parseaddr(config["MAIL_FROM"])[1]))


def send(message: EmailMessage) -> None:
    """Send over this thread's SMTP connection, kept open from one email to the next.

    A new connection for each email (with its greeting, EHLO, STARTTLS and
    login) cost as much as sending it (``bench/receipts.py``).  A kept
    connection is checked with ``NOOP`` before it is used again, and made
    anew if the server has closed it meanwhile, so that nothing is sent on a
    connection that turns out dead half-way; an error while sending closes it
    and is the task's to retry, as before.
    """
    smtp = _connection()
    try:
        smtp.send_message(message)
    except BaseException:
        _close()
        raise


class _Kept(threading.local):
    """This thread's SMTP connection; closed with the thread, or when the process exits."""

    smtp: smtplib.SMTP | None = None
    key: tuple[Any, ...] = ()

    def __del__(self) -> None:
        if self.smtp is not None:
            self.smtp.close()


_kept = _Kept()
_at_exit: list[bool] = []


def _connection() -> smtplib.SMTP:
    config = current_app.config
    key = tuple(
        config[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_STARTTLS", "SMTP_USERNAME", "SMTP_PASSWORD")
    )
    smtp = _kept.smtp
    if smtp is not None and _kept.key == key:
        try:
            if smtp.noop()[0] == 250:
                return smtp
        except (smtplib.SMTPException, OSError):
            pass
    _close()
    smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=20)
    try:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
    except BaseException:
        smtp.close()
        raise
    _kept.smtp, _kept.key = smtp, key
    if not _at_exit:
        _at_exit.append(atexit.register(_close) is _close)  # QUIT on the way out (this thread's)
    return smtp


def _close() -> None:
    smtp, _kept.smtp = _kept.smtp, None
    if smtp is not None:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
