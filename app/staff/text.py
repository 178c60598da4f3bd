"""Words the staff pages show for codes and states, in the staff member's language."""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import gettext, lazy_pgettext, ngettext
from flask_babel import lazy_gettext as _l

from app.i18n import localize_digits
from app.models import EmailKind, EmailStatus, MembershipStatus, PaymentStatus, StaffRole


def for_enum(values: type[enum.Enum], words: dict[str, Any]) -> dict[str, Any]:
    """A label table for every value of ``values``: one missing (a new status) fails at import."""
    missing = {str(member.value) for member in values} - set(words)
    if missing:
        raise KeyError(f"no label for {values.__name__} {sorted(missing)}")
    return words


ERRORS = {
    "bad_credentials": _l("That email and password do not match an account."),
    "bad_code": _l("That code is not right, or was used already. Please enter the current code."),
    "email_invalid": _l("Please enter a valid email address."),
    "email_taken": _l("There is already a staff account with this email address."),
    "password_too_short": _l("The password must have at least 12 characters."),
    "password_too_long": _l("The password is too long."),
    "password_mismatch": _l("The two passwords are not the same."),
    "password_wrong": _l("Your current password is not right."),
    "two_factor_required": _l("Admins must keep two-factor sign-in on."),
    "not_refundable": _l("This payment cannot be refunded (it failed, is disputed or was refunded in full)."),
    "refund_amount": _l("Please enter an amount between 0.01 and what is left to refund."),
    "not_cancellable": _l("This membership has already ended or is already set to end."),
    "not_found": _l("Nothing was found."),
    "stripe_error": _l(
        "Stripe could not be reached or refused the request. Nothing was changed. Please try again."
    ),
    "bad_dates": _l("Please choose a valid period (the first day before the last, at most ten years)."),
    "session_expired": _l("Your session ended. Please sign in again."),
    "forbidden": _l("Your role does not allow this page."),
}


def wait_message(code: str, minutes: int) -> str:
    """A lockout ("locked": this account; else: this network), the minutes in their plural form."""
    if code == "locked":
        said = ngettext(
            "Too many failed tries for this account. Please wait %(num)d minute and try again.",
            "Too many failed tries for this account. Please wait %(num)d minutes and try again.",
            minutes,
        )
    else:
        said = ngettext(
            "Too many failed tries from your network. Please wait %(num)d minute and try again.",
            "Too many failed tries from your network. Please wait %(num)d minutes and try again.",
            minutes,
        )
    return localize_digits(said)


ROLES = for_enum(StaffRole, {"finance": _l("Finance"), "admin": _l("Admin")})

MEMBERSHIP_STATUSES = for_enum(
    MembershipStatus,
    {
        "incomplete": _l("Incomplete"),
        "incomplete_expired": _l("Never started"),
        "trialing": _l("Trial"),
        "active": _l("Active"),
        "past_due": _l("In grace (payment failed)"),
        "canceled": _l("Cancelled"),
        "unpaid": _l("Unpaid"),
        "paused": _l("Paused"),
    },
)

PAYMENT_STATUSES = for_enum(
    PaymentStatus,
    {
        "pending": _l("Pending: the bank has not paid yet"),
        "succeeded": _l("Paid"),
        "failed": lazy_pgettext("payment status", "Failed"),
        "refunded": lazy_pgettext("payment status", "Refunded"),
        "disputed": _l("Disputed"),
    },
)

FREQUENCIES = {"month": _l("Monthly"), "year": _l("Yearly"), "once": _l("One-time")}

EMAIL_KINDS = for_enum(
    EmailKind,
    {
        "receipt": _l("Receipt"),
        "welcome": _l("Welcome"),
        "payment_failed": _l("Payment failed"),
        "action_required": _l("Payment to confirm with the bank"),
        "cancellation": _l("Cancellation"),
        "refund": _l("Refund"),
        "card_expiring": _l("Card expiring"),
        "renewal_upcoming": _l("Yearly renewal"),
        "reminder": _l("Reminder"),
        "membership_lapsed": _l("Membership lapsed (to finance)"),
        "sign_in_link": _l("Sign-in link"),
        "account_erased": lazy_pgettext("email kind", "Data erased"),
        "payout_failed": _l("Payout failed (to finance)"),
        "attempts_spike": _l("Many refused payment attempts (to finance)"),
        "gift_with_your_address": _l("Gift with a supporter's address"),
        "payment_pending": _l("Bank debit on its way"),
        "debit_failed": _l("Bank debit refused"),
    },
)

EMAIL_STATUSES = for_enum(EmailStatus, {"pending": _l("Waiting"), "sent": _l("Sent"), "failed": _l("Failed")})

#: Stripe's payout statuses (a string column: Stripe may add one, shown as it is).
PAYOUT_STATUSES = {
    "paid": lazy_pgettext("payout status", "Paid"),
    "pending": _l("Pending"),
    "in_transit": _l("On its way"),
    "failed": _l("Failed: the bank refused it"),
    "canceled": lazy_pgettext("payout status", "Cancelled"),
}

RECONCILIATION_KINDS = {
    "charge": _l("Charge"),
    "refund": _l("Refund"),
    "dispute": _l("Dispute"),
    "fee": _l("Stripe fee"),
    "other": _l("Other"),
}

RECONCILIATION_STATES = {
    "matched": _l("Matches our records"),
    "missing": _l("Not in our records"),
    "differs": _l("Amount differs from our records"),
    "stripe_only": _l("Stripe's figure"),
}

AUDIT_ACTIONS = {
    "staff.sign_in": _l("Signed in"),
    "staff.sign_in_failed": _l("Failed sign-in"),
    "staff.locked": _l("Account locked"),
    "staff.unlock": _l("Account unlocked"),
    "staff.sign_out": _l("Signed out"),
    "staff.create": _l("Staff account created"),
    "staff.password": _l("Password changed"),
    "staff.role": _l("Role changed"),
    "staff.disable": _l("Account disabled"),
    "staff.enable": _l("Account enabled"),
    "staff.two_factor_enabled": _l("Two-factor sign-in turned on"),
    "staff.two_factor_disabled": _l("Two-factor sign-in turned off"),
    "staff.two_factor_reset": _l("Two-factor sign-in reset"),
    "staff.recovery_codes_created": _l("Recovery codes made"),
    "staff.recovery_code_used": _l("Signed in with a recovery code"),
    "supporter.view": _l("Viewed a supporter"),
    "supporter.search": _l("Searched supporters"),
    "export.members": _l("Exported members"),
    "export.payments": _l("Exported payments"),
    "payment.refund": _l("Refunded a payment"),
    "membership.cancel": _l("Cancelled a membership"),
    # a supporter's own actions on their account
    "account.sign_in_link": _l("Asked for a sign-in link"),
    "account.sign_in": _l("Signed in to the account"),
    "account.sign_out": _l("Signed out of the account"),
    "card.update": _l("Card updated"),
    "data.export": _l("Data downloaded"),
    "invoice.retry": _l("Failed payment charged again"),
    "membership.change": _l("Membership changed"),
    "membership.resume": _l("Membership resumed"),
    "supporter.erase": lazy_pgettext("audit action", "Data erased"),
    "receipt.download": _l("Receipt downloaded"),
    "statement.download": _l("Statement downloaded"),
    "invoice.authenticate": _l("Payment confirmed with the bank"),
}

#: The audit entries' detail keys, as a column of the audit log says them.
AUDIT_DETAILS = {
    "after": _l("after"),
    "amount": _l("amount"),
    "at_period_end": _l("at the end of the period"),
    "before": _l("before"),
    "brand": _l("card brand"),
    "comment": _l("comment"),
    "count": _l("count"),
    "currency": _l("currency"),
    "email": _l("email"),
    "first": _l("from"),
    "interval": _l("frequency"),
    "invoice": _l("invoice"),
    "last": _l("to"),
    "last4": _l("card's last digits"),
    "left": _l("left"),
    "membership_id": _l("membership"),
    "paid": _l("paid"),
    "payment_id": _l("payment"),
    "reason": _l("reason"),
    "reason_given": _l("reason given"),
    "role": _l("role"),
    "staff_id": _l("staff account"),
    "stripe_refund_id": _l("Stripe refund"),
    "token_id": _l("sign-in link"),
    "two_factor": _l("two-factor"),
    "year": _l("year"),
}


def audit_details(details: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An audit entry's details as (label, value) pairs in the staff member's language: known keys
    and yes/no translated, values (ids, codes, amounts) as they are; an unknown key shown as it is."""

    def value(raw: Any) -> str:
        if isinstance(raw, bool):
            return str(_l("yes") if raw else _l("no"))
        if isinstance(raw, dict):
            return ", ".join(f"{label(AUDIT_DETAILS, k)}={value(v)}" for k, v in sorted(raw.items()))
        return "—" if raw is None else str(raw)

    return [(label(AUDIT_DETAILS, key), value(raw)) for key, raw in sorted((details or {}).items())]


def recovery_codes_left(left: int) -> str:
    """Said after a sign-in with a recovery code."""
    if left == 0:
        return gettext("You signed in with your last recovery code. Make new ones on your account page now.")
    return ngettext(
        "You signed in with a recovery code. %(num)d code is left.",
        "You signed in with a recovery code. %(num)d codes are left.",
        left,
    )


def label(table: dict[str, object], code: object) -> str:
    """The words for ``code``, or the code itself when it is not one we know (a new Stripe value)."""
    key = str(getattr(code, "value", code) or "")
    return str(table.get(key, key))
