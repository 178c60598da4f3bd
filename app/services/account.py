"""Supporter self-service: sign in by an emailed link, then see and change one's
membership, replace the card, and take one's data or erase it.

Every change goes to Stripe through the gateway first.  The local rows are then
written from Stripe's answer at once, so the account page tells the truth
straight away; the webhooks that follow carry the same subscription, invoice
and payment ids and are applied by the same code (``memberships``), and the
outbox keys every email by what it is about, so nothing happens twice.  Every
action is written to the audit trail.  The caller (a view) owns the commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import email_validator
import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import (
    AuditEntry,
    EmailKind,
    EmailLog,
    EmailStatus,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    Reminder,
    SignInAttempt,
    SignInToken,
    Supporter,
)
from app.models.types import utcnow
from app.services import amounts, audit, erasure, memberships, outbox, payments
from app.services.donations import InvalidChoice
from app.services.errors import DomainError, InvalidDonation, NotFound, PaymentDeclined
from app.services.stripe_gateway import StripeGateway
from app.services.stripe_objects import card_details, invoice_subscription_id, period_end, plain
from app.services.supporters import remember_card

# How long links and sessions last and how often links may be asked for are
# settings (``ACCOUNT_*`` in ``app/config.py``), read when used.


def _setting(name: str) -> int:
    value: int = current_app.config[name]
    return value


def link_lifetime() -> timedelta:
    """A sign-in link works once, for this long."""
    return timedelta(minutes=_setting("ACCOUNT_LINK_MINUTES"))


def rate_window() -> timedelta:
    """Both limits on asking for links count the requests of this window."""
    return timedelta(minutes=_setting("ACCOUNT_RATE_WINDOW_MINUTES"))


FINAL_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.INCOMPLETE_EXPIRED)
RECEIPTED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)


class AccountError(DomainError):
    """Something the supporter asked for cannot be done; ``code`` says why."""


def actor(supporter: Supporter) -> str:
    return f"supporter:{supporter.id}"


# -- sign-in links ------------------------------------------------------------------------


def _secret() -> bytes:
    return str(current_app.config["SECRET_KEY"]).encode()


def _email_digest(email: str) -> str:
    return hmac.new(_secret(), b"sign-in-email:" + email.encode(), hashlib.sha256).hexdigest()


def link_secret(token: SignInToken) -> str:
    """The secret part of the emailed link, derived from the row's nonce (never stored)."""
    mac = hmac.new(_secret(), b"sign-in-link:" + token.nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def link_url(token: SignInToken, locale: str) -> str:
    base = str(current_app.config["BASE_URL"]).rstrip("/")
    return f"{base}/{locale}/account/sign-in/{link_secret(token)}"


def normalize_email(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidChoice({"email": "email_missing"})
    try:
        return str(email_validator.validate_email(text, check_deliverability=False).normalized).lower()
    except email_validator.EmailNotValidError:
        raise InvalidChoice({"email": "email_invalid"}) from None


def _count_recent(column: Any, value: str, since: datetime) -> int:
    query = select(sa.func.count()).select_from(SignInAttempt).where(column == value)
    return int(db.session.scalar(query.where(SignInAttempt.created_at > since)) or 0)


def request_link(email_text: str | None, ip: str | None, locale: str) -> SignInToken | None:
    """Email a sign-in link if the address is a supporter's; the caller answers the same either way.

    Raises ``AccountError("too_many_requests")`` when this IP asked too often
    (that says nothing about any address).  Past the limit for one address,
    nothing more is sent to it, silently.
    """
    email = normalize_email(email_text)
    now = utcnow()
    since = now - rate_window()
    # Older attempts count towards nothing; they (and their IP addresses) go.
    db.session.execute(sa.delete(SignInAttempt).where(SignInAttempt.created_at <= since))
    ip = (ip or "unknown")[:64]
    if _count_recent(SignInAttempt.ip, ip, since) >= _setting("ACCOUNT_MAX_REQUESTS_PER_IP"):
        raise AccountError("too_many_requests")
    digest = _email_digest(email)
    asked_before = _count_recent(SignInAttempt.email_digest, digest, since)
    db.session.add(SignInAttempt(email_digest=digest, ip=ip, created_at=now))
    if asked_before >= _setting("ACCOUNT_MAX_LINKS_PER_EMAIL"):
        return None
    supporter = db.session.scalar(
        select(Supporter).where(Supporter.email == email, Supporter.erased_at.is_(None))
    )
    if supporter is None:
        return None
    return issue_link(supporter, locale, now)


def issue_link(supporter: Supporter, locale: str, now: datetime | None = None) -> SignInToken:
    now = now or utcnow()
    nonce = secrets.token_urlsafe(32)
    token = SignInToken(
        supporter=supporter,
        nonce=nonce,
        token_hash="",
        created_at=now,
        expires_at=now + link_lifetime(),
    )
    token.token_hash = _hash(link_secret(token))
    db.session.add(token)
    db.session.flush()
    # Several links over time, one email each: the outbox key names the link.
    outbox.queue_to(EmailKind.SIGN_IN_LINK, f"sign_in:{token.id}", supporter.email, locale, supporter)
    audit.record(actor(supporter), "account.sign_in_link", supporter_id=supporter.id, token_id=token.id)
    return token


def find_link(raw: str) -> SignInToken:
    """The link's row if it can still sign in; ``AccountError`` says why not."""
    if not raw or len(raw) > 100:
        raise AccountError("link_invalid")
    token = db.session.scalar(select(SignInToken).where(SignInToken.token_hash == _hash(raw)))
    if token is None or token.supporter.erased_at is not None:
        raise AccountError("link_invalid")
    if token.used_at is not None:
        raise AccountError("link_used")
    if token.expires_at <= utcnow():
        raise AccountError("link_expired")
    return token


def use_link(raw: str) -> SignInToken:
    """Spend the link (once, even if two requests race) and start its session."""
    token = find_link(raw)
    now = utcnow()
    spent = db.session.execute(
        sa.update(SignInToken)
        .where(SignInToken.id == token.id, SignInToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise AccountError("link_used")
    db.session.refresh(token)
    audit.record(
        actor(token.supporter), "account.sign_in", supporter_id=token.supporter_id, token_id=token.id
    )
    return token


def session_data(token: SignInToken) -> dict[str, Any]:
    """What the signed cookie keeps: which link opened the session, for whom, when, last seen when."""
    assert token.used_at is not None
    at = int(token.used_at.timestamp())
    return {"token": token.id, "supporter": token.supporter_id, "at": at, "seen": at}


def _session_token(data: Mapping[str, Any] | None) -> SignInToken | None:
    if not data or not isinstance(data.get("token"), int):
        return None
    token = db.session.get(SignInToken, data["token"])
    if token is None or token.supporter_id != data.get("supporter") or token.used_at is None:
        return None
    return token


def session_supporter(data: Mapping[str, Any] | None, now: datetime | None = None) -> Supporter:
    """The supporter whose session this is, or ``AccountError`` saying why there is none.

    ``signed_out`` (no session, signed out, erased), ``session_expired``
    (``ACCOUNT_SESSION_HOURS`` after the link was used, however active) or
    ``session_idle`` (``ACCOUNT_IDLE_MINUTES`` since the last request).  The
    sign-in time is the server's; the last request's is in the signed cookie,
    which ``touch`` moves on, so an old copy of the cookie idles out too.
    """
    token = _session_token(data)
    if token is None or token.session_ended_at is not None or token.supporter.erased_at is not None:
        raise AccountError("signed_out")
    assert data is not None and token.used_at is not None
    now = now or utcnow()
    if now - token.used_at > timedelta(hours=_setting("ACCOUNT_SESSION_HOURS")):
        raise AccountError("session_expired")
    seen = data.get("seen", data.get("at"))
    idle = timedelta(minutes=_setting("ACCOUNT_IDLE_MINUTES"))
    if not isinstance(seen, int) or now.timestamp() - seen > idle.total_seconds():
        raise AccountError("session_idle")
    return token.supporter


def signed_in_supporter(data: Mapping[str, Any] | None) -> Supporter | None:
    """The supporter whose session this is, while it lasts."""
    try:
        return session_supporter(data)
    except AccountError:
        return None


def touch(data: Mapping[str, Any]) -> dict[str, Any]:
    """The session's cookie data as of this request (the idle time starts again)."""
    return {**data, "seen": int(utcnow().timestamp())}


def sign_out(data: Mapping[str, Any] | None) -> None:
    token = _session_token(data)
    if token is None or token.session_ended_at is not None:
        return
    token.session_ended_at = utcnow()
    audit.record(actor(token.supporter), "account.sign_out", supporter_id=token.supporter_id)


# -- what the account page shows -----------------------------------------------------------


def current_memberships(supporter: Supporter) -> list[Membership]:
    """Memberships still running (``past_due`` too: Stripe is retrying), newest first."""
    return sorted((m for m in supporter.memberships if m.is_member), key=lambda m: m.id, reverse=True)


def payments_of(supporter: Supporter) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.supporter_id == supporter.id)
            .order_by(sa.func.coalesce(Payment.paid_at, Payment.created_at).desc(), Payment.id.desc())
        )
    )


def statement_years(supporter: Supporter) -> list[int]:
    years = {p.paid_at.year for p in payments_of(supporter) if p.paid_at and p.status in RECEIPTED}
    return sorted(years, reverse=True)


def own_membership(supporter: Supporter, membership_id: int) -> Membership:
    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.supporter_id != supporter.id:
        raise AccountError("not_found")
    return membership


def own_payment(supporter: Supporter, payment_id: int) -> Payment:
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.supporter_id != supporter.id or not payment.receipt_number:
        raise AccountError("not_found")
    return payment


def _major(minor: int, currency: str) -> str:
    return format(amounts.to_decimal(minor, currency).normalize(), "f")


def amount_args(gift: int, currency: str) -> dict[str, str]:
    """The support page's amount fields for ``gift``: a preset, or "other" with the number."""
    if gift in amounts.CURRENCIES[currency].presets:
        return {"amount": _major(gift, currency)}
    return {"amount": "other", "custom_amount": _major(gift, currency)}


def give_again_args(supporter: Supporter) -> dict[str, str] | None:
    """For a one-time donor with no running membership: their last gift, to fill the support page."""
    if current_memberships(supporter):
        return None
    last = next(
        (p for p in payments_of(supporter) if p.is_one_time and p.status in RECEIPTED),
        None,
    )
    if last is None or last.currency not in amounts.CURRENCIES:
        return None
    gift = last.amount - (last.fee_cover or 0)
    args = {"currency": last.currency, "frequency": "once", **amount_args(gift, last.currency)}
    if last.fee_cover:
        args["cover_fees"] = "1"
    return args


# -- change the amount or frequency ------------------------------------------------------------


@dataclass(frozen=True)
class NewTerms:
    gift: int
    fee_cover: int
    currency: str
    interval: Interval

    @property
    def total(self) -> int:
        return self.gift + self.fee_cover


@dataclass(frozen=True)
class Change:
    """What a change does: the charge before and after, and from when."""

    before_amount: int
    before_interval: Interval
    after: NewTerms
    effective: datetime | None


def gift_of(membership: Membership, fee_percent_bps: int, fee_fixed: dict[str, int]) -> int:
    """The gift inside the charged amount (which may include the card fees the member covers)."""
    if not membership.covers_fees:
        return membership.amount
    rate = 10_000 - fee_percent_bps
    guess = membership.amount * rate // 10_000 - fee_fixed.get(membership.currency, 0)
    for gift in range(max(guess - 3, 1), guess + 4):
        if (
            gift + amounts.fee_cover(gift, membership.currency, fee_percent_bps, fee_fixed)
            == membership.amount
        ):
            return gift
    return membership.amount


def terms_from_form(
    form: Mapping[str, str], membership: Membership, fee_percent_bps: int, fee_fixed: dict[str, int]
) -> NewTerms:
    """The new amount and frequency, checked as the support page checks them.

    The currency stays: Stripe keeps one currency per subscription.
    """
    errors: dict[str, str] = {}
    frequency = (form.get("frequency") or membership.interval.value).strip().lower()
    if frequency not in (Interval.MONTH, Interval.YEAR):
        errors["frequency"] = "unknown_frequency"
    currency = membership.currency
    chosen = (form.get("amount") or "").strip()
    text = (form.get("custom_amount") or "") if chosen in ("", "other") else chosen
    gift = 0
    try:
        gift = amounts.parse_amount(text, currency)
        amounts.check_limits(gift, currency)
    except InvalidDonation as exc:
        errors["amount"] = exc.code
    if errors:
        raise InvalidChoice(errors)
    cover = form.get("cover_fees") in ("1", "on", "true", "yes")
    fee_cover = amounts.fee_cover(gift, currency, fee_percent_bps, fee_fixed) if cover else 0
    terms = NewTerms(gift=gift, fee_cover=fee_cover, currency=currency, interval=Interval(frequency))
    if terms.total == membership.amount and terms.interval == membership.interval:
        raise InvalidChoice({"amount": "nothing_to_change"})
    return terms


def _require_running(membership: Membership) -> None:
    if not membership.is_member:
        raise AccountError("membership_ended")


def preview_change(membership: Membership, terms: NewTerms) -> Change:
    _require_running(membership)
    if membership.cancel_at_period_end:
        raise AccountError("membership_ending")
    if membership.status == MembershipStatus.PAST_DUE and terms.interval != membership.interval:
        # The new interval starts after a free stretch up to the period's end
        # (see ``change_membership``); while that period's invoice is unpaid it
        # would be given away, and Stripe's retries would meet a trialing
        # subscription.  A new card first.
        raise AccountError("update_card_first")
    return Change(
        before_amount=membership.amount,
        before_interval=membership.interval,
        after=terms,
        effective=membership.current_period_end,
    )


def _store(membership: Membership, subscription: Any, gateway: StripeGateway) -> None:
    """Write Stripe's answer to the row now, as its webhook will (same code, same result)."""
    memberships.write_membership(membership, plain(subscription), utcnow(), gateway)


def change_membership(
    supporter: Supporter, membership: Membership, terms: NewTerms, gateway: StripeGateway
) -> Change:
    """New amount and/or frequency from the next charge on; nothing charged or credited now."""
    change = preview_change(membership, terms)
    plan_id = gateway.ensure_plan(terms.total, terms.currency, terms.interval.value)
    subscription = gateway.retrieve_subscription(membership.stripe_subscription_id)
    item_id = subscription["items"]["data"][0]["id"]
    next_charge = period_end(subscription)
    # Same interval: ``proration_behavior="none"`` and the billing date stays;
    # the next invoice has the new amount.  Another interval is different at
    # Stripe: it resets the billing cycle anchor to now and invoices the new
    # price at once (no credit either, with proration off), which would charge
    # a monthly member a whole year today.  So the rest of the paid period
    # becomes a trial that ends on the next charge date, Stripe's documented
    # way to move a billing date: "introducing a trial results in setting the
    # anchor to the end of the trial", with proration off so that the paid
    # days are not credited
    # (https://docs.stripe.com/billing/subscriptions/billing-cycle).  Nothing
    # is charged now (a $0 invoice at most), the subscription reads
    # ``trialing`` until then, and the first invoice of the new interval is
    # made at ``trial_end``.  A subscription schedule (a second phase from the
    # period's end) would do the same without the trialing status, but
    # localstripe has no schedules, and the membership would show its old
    # terms until the phase starts.  README, "Supporter self-service", says more.
    trial_end = next_charge if terms.interval != membership.interval else None
    metadata = {
        "frequency": terms.interval.value,
        "gift": str(terms.gift),
        "fee_cover": str(terms.fee_cover),
    }
    updated = gateway.change_subscription_plan(
        membership.stripe_subscription_id, item_id, plan_id, metadata, trial_end=trial_end
    )
    _store(membership, updated, gateway)
    membership.covers_fees = terms.fee_cover > 0
    audit.record(
        actor(supporter),
        "membership.change",
        supporter_id=supporter.id,
        membership_id=membership.id,
        before={"amount": change.before_amount, "interval": change.before_interval.value},
        after={"amount": terms.total, "interval": terms.interval.value, "currency": terms.currency},
    )
    return change


# -- cancel and resume -----------------------------------------------------------------------


def cancel_membership(
    supporter: Supporter, membership: Membership, reason: str | None, gateway: StripeGateway
) -> None:
    """Stop at the end of the paid period; the reader's reason is kept for the newsroom."""
    _require_running(membership)
    if membership.cancel_at_period_end:
        return
    reason = " ".join((reason or "").split())[: memberships.MAX_CANCELLATION_REASON] or None
    # Sent as ``cancellation_details.comment``, exactly as stored here, so the
    # webhooks that echo it back agree with us; without a reason we keep
    # whatever Stripe records (``cancellation_requested``).
    subscription = gateway.set_cancel_at_period_end(membership.stripe_subscription_id, True, reason or "")
    if reason:
        membership.cancellation_reason = reason
    _store(membership, subscription, gateway)
    audit.record(
        actor(supporter),
        "membership.cancel",
        supporter_id=supporter.id,
        membership_id=membership.id,
        reason_given=reason is not None,
    )


def resume_membership(supporter: Supporter, membership: Membership, gateway: StripeGateway) -> None:
    """Take back a cancellation before the period ends."""
    _require_running(membership)
    if not membership.cancel_at_period_end:
        return
    subscription = gateway.set_cancel_at_period_end(membership.stripe_subscription_id, False)
    _store(membership, subscription, gateway)  # no longer ending: no reason either
    audit.record(
        actor(supporter), "membership.resume", supporter_id=supporter.id, membership_id=membership.id
    )


# -- a new card ------------------------------------------------------------------------------


def start_card_update(supporter: Supporter, gateway: StripeGateway) -> Any:
    """A SetupIntent for the browser to confirm with the new card (the card goes to Stripe only)."""
    if not supporter.stripe_customer_id:
        raise AccountError("no_customer")
    return gateway.create_setup_intent(
        supporter.stripe_customer_id, {"purpose": "card_update", "supporter": str(supporter.id)}
    )


@dataclass
class CardUpdate:
    card: dict[str, Any] | None
    #: Open invoices charged again with the new card: (payment row, paid?, decline code).
    retried: list[tuple[Payment | None, bool, str | None]] = field(default_factory=list)


def finish_card_update(supporter: Supporter, setup_intent_id: str, gateway: StripeGateway) -> CardUpdate:
    """Make the confirmed card the default everywhere, then charge any failed renewal again."""
    customer_id = supporter.stripe_customer_id
    if not customer_id:
        raise AccountError("no_customer")
    setup = gateway.retrieve_setup_intent(setup_intent_id)
    if setup["customer"] != customer_id:
        raise AccountError("customer_mismatch")
    method_id = setup["payment_method"]
    if not isinstance(method_id, str) and method_id is not None:
        method_id = method_id["id"]
    if setup["status"] != "succeeded" or not method_id:
        raise AccountError("card_not_confirmed")
    method = gateway.make_default_payment_method(customer_id, method_id)
    # Stripe charges (and retries) a subscription's own default before the customer's.
    for membership in current_memberships(supporter):
        gateway.set_subscription_payment_method(membership.stripe_subscription_id, method_id)
    card = card_details(method)
    remember_card(supporter, card)
    audit.record(
        actor(supporter),
        "card.update",
        supporter_id=supporter.id,
        brand=card["brand"] if card else None,
        last4=card["last4"] if card else None,
    )
    outcome = CardUpdate(card=card)
    outcome.retried = retry_open_invoices(supporter, gateway)
    return outcome


def retry_open_invoices(
    supporter: Supporter, gateway: StripeGateway
) -> list[tuple[Payment | None, bool, str | None]]:
    assert supporter.stripe_customer_id
    results: list[tuple[Payment | None, bool, str | None]] = []
    for invoice in gateway.list_open_invoices(supporter.stripe_customer_id):
        if not invoice["amount_due"]:
            continue
        payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice["id"]))
        try:
            paid = gateway.pay_invoice(invoice["id"])
        except PaymentDeclined as exc:
            results.append((payment, False, exc.code))
            audit.record(
                actor(supporter),
                "invoice.retry",
                supporter_id=supporter.id,
                invoice=invoice["id"],
                paid=False,
            )
            continue
        if paid["status"] != "paid":
            results.append((payment, False, "card_declined"))
            audit.record(
                actor(supporter),
                "invoice.retry",
                supporter_id=supporter.id,
                invoice=invoice["id"],
                paid=False,
            )
            continue
        # The same handler as the ``invoice.paid`` webhook that follows: one payment, one receipt.
        payments.invoice_paid(plain(paid), utcnow(), gateway)
        subscription_id = invoice_subscription_id(plain(paid))
        if subscription_id:
            membership = db.session.scalar(
                select(Membership).where(Membership.stripe_subscription_id == subscription_id)
            )
            if membership is not None:
                _store(membership, gateway.retrieve_subscription(subscription_id), gateway)
        payment = db.session.scalar(select(Payment).where(Payment.stripe_invoice_id == invoice["id"]))
        results.append((payment, True, None))
        audit.record(
            actor(supporter), "invoice.retry", supporter_id=supporter.id, invoice=invoice["id"], paid=True
        )
    return results


# -- my data -------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_data(supporter: Supporter) -> dict[str, Any]:
    """Everything we hold about the supporter, as plain JSON."""
    audit.record(actor(supporter), "data.export", supporter_id=supporter.id)
    db.session.flush()
    emails = db.session.scalars(
        select(EmailLog).where(EmailLog.supporter_id == supporter.id).order_by(EmailLog.id)
    )
    reminders = db.session.scalars(select(Reminder).where(Reminder.email == supporter.email))
    sign_ins = db.session.scalars(
        select(SignInToken).where(SignInToken.supporter_id == supporter.id).order_by(SignInToken.id)
    )
    entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.supporter_id == supporter.id).order_by(AuditEntry.id)
    )
    return {
        "exported_at": utcnow().isoformat(),
        "supporter": {
            "id": supporter.id,
            "email": supporter.email,
            "name": supporter.name,
            "language": supporter.locale,
            "created_at": _when(supporter.created_at),
            "stripe_customer_id": supporter.stripe_customer_id,
            "card": (
                {
                    "brand": supporter.card_brand,
                    "last4": supporter.card_last4,
                    "exp_month": supporter.card_exp_month,
                    "exp_year": supporter.card_exp_year,
                }
                if supporter.card_last4
                else None
            ),
        },
        "memberships": [
            {
                "id": m.id,
                "stripe_subscription_id": m.stripe_subscription_id,
                "status": m.status.value,
                "amount": m.amount,
                "currency": m.currency,
                "interval": m.interval.value,
                "covers_fees": m.covers_fees,
                "current_period_end": _when(m.current_period_end),
                "cancel_at_period_end": m.cancel_at_period_end,
                "canceled_at": _when(m.canceled_at),
                "cancellation_reason": m.cancellation_reason,
                "campaign": m.campaign,
                "utm": m.utm,
                "created_at": _when(m.created_at),
            }
            for m in sorted(supporter.memberships, key=lambda m: m.id)
        ],
        "payments": [
            {
                "id": p.id,
                "membership_id": p.membership_id,
                "amount": p.amount,
                "currency": p.currency,
                "fee_cover": p.fee_cover,
                "status": p.status.value,
                "refunded_amount": p.refunded_amount,
                "paid_at": _when(p.paid_at),
                "receipt_number": p.receipt_number,
                "stripe_invoice_id": p.stripe_invoice_id,
                "stripe_payment_intent_id": p.stripe_payment_intent_id,
                "stripe_charge_id": p.stripe_charge_id,
                "campaign": p.campaign,
                "utm": p.utm,
            }
            for p in reversed(payments_of(supporter))
        ],
        "emails": [
            {
                "kind": e.kind.value,
                "to": e.to_address,
                "subject": e.subject,
                "status": e.status.value,
                "created_at": _when(e.created_at),
                "sent_at": _when(e.sent_at),
            }
            for e in emails
        ],
        "reminders": [
            {"remind_at": _when(r.remind_at), "choices": r.choices, "created_at": _when(r.created_at)}
            for r in reminders
        ],
        "sign_in_links": [{"created_at": _when(t.created_at), "used_at": _when(t.used_at)} for t in sign_ins],
        "activity": [
            {"action": a.action, "at": _when(a.created_at), "ip": a.ip, "details": a.details} for a in entries
        ],
    }


def erase(supporter: Supporter, gateway: StripeGateway) -> None:
    """Forget the person, keep the money's trail.

    Any running membership ends at Stripe now; the Stripe customer loses its
    name, email, phone and addresses, and its cards are detached; the
    confirmation is queued to the address we had before it goes; our copies
    of the person's data (stored Stripe events, audit entries' IP addresses,
    email errors) are scrubbed; then the row becomes a tombstone.  Payments
    stay (accounting must keep them) but point at nobody.  The tombstone
    keeps its Stripe customer id so that a late event from Stripe finds it
    instead of recreating the person (and is stored scrubbed).
    """
    if supporter.erased_at is not None:
        return
    now = utcnow()
    for membership in supporter.memberships:
        if membership.status in FINAL_STATUSES:
            continue
        try:
            subscription = gateway.retrieve_subscription(membership.stripe_subscription_id)
            if subscription["status"] not in ("canceled", "incomplete_expired"):
                subscription = gateway.cancel_subscription(membership.stripe_subscription_id)
        except NotFound:
            membership.status = MembershipStatus.CANCELED
            membership.canceled_at = membership.canceled_at or now
            continue
        _store(membership, subscription, gateway)
    if supporter.stripe_customer_id:
        erasure.forget_at_stripe(supporter.stripe_customer_id, gateway)
    original_email, original_name = supporter.email, supporter.name
    confirmation = outbox.queue_to(
        EmailKind.ACCOUNT_ERASED, f"erasure:{supporter.id}", original_email, supporter.locale, supporter
    )
    tombstone = f"erased-{supporter.id}@invalid"
    # Unsent emails to the person are dropped; sent ones keep no address.  The
    # confirmation loses its address once it is sent (``outbox.settle``).
    for row in db.session.scalars(select(EmailLog).where(EmailLog.supporter_id == supporter.id)):
        if confirmation is not None and row.id == confirmation.id:
            continue
        if row.status == EmailStatus.PENDING:
            db.session.delete(row)
        else:
            row.to_address = tombstone
    db.session.execute(sa.delete(Reminder).where(Reminder.email == original_email))
    db.session.execute(
        sa.delete(SignInAttempt).where(SignInAttempt.email_digest == _email_digest(original_email))
    )
    for token in db.session.scalars(select(SignInToken).where(SignInToken.supporter_id == supporter.id)):
        token.session_ended_at = token.session_ended_at or now
    for membership in supporter.memberships:
        membership.cancellation_reason = None  # free text the person wrote
    erasure.scrub_records(supporter, original_email, original_name, actor(supporter))
    supporter.email = tombstone
    supporter.name = ""
    supporter.card_brand = None
    supporter.card_last4 = None
    supporter.card_exp_month = None
    supporter.card_exp_year = None
    supporter.erased_at = now
    audit.record(actor(supporter), "supporter.erase", supporter_id=supporter.id).ip = None
