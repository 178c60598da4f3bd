"""What the account pages show: the supporter's memberships, payments, statements, and
the support page's fields to give again.

Only the supporter's own rows: ``own_membership`` and ``own_payment`` refuse
another's id as if it did not exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select

from app.extensions import db
from app.models import CHARGED_STATUSES, Membership, Payment, Supporter
from app.services import amounts
from app.services.errors import AccountError
from app.services.supporters import running_memberships


def payments_of(supporter: Supporter) -> list[Payment]:
    return list(
        db.session.scalars(
            select(Payment)
            .where(Payment.supporter_id == supporter.id)
            .order_by(sa.func.coalesce(Payment.paid_at, Payment.created_at).desc(), Payment.id.desc())
        )
    )


def statement_years(supporter: Supporter) -> list[int]:
    years = {p.paid_at.year for p in payments_of(supporter) if p.paid_at and p.status in CHARGED_STATUSES}
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


def amount_args(gift: int, currency: str) -> dict[str, str]:
    """The support page's amount fields for ``gift``: a preset, or "other" with the number."""
    if gift in amounts.CURRENCIES[currency].presets:
        return {"amount": amounts.major_units(gift, currency, trim=True)}
    return {"amount": "other", "custom_amount": amounts.major_units(gift, currency, trim=True)}


def give_again_args(supporter: Supporter) -> dict[str, str] | None:
    """For a one-time donor with no running membership: their last gift, to fill the support page."""
    if running_memberships(supporter):
        return None
    last = next(
        (p for p in payments_of(supporter) if p.is_one_time and p.status in CHARGED_STATUSES),
        None,
    )
    if last is None or last.currency not in amounts.CURRENCIES:
        return None
    gift = last.amount - (last.fee_cover or 0)
    args = {"currency": last.currency, "frequency": "once", **amount_args(gift, last.currency)}
    if last.fee_cover:
        args["cover_fees"] = "1"
    return args
