"""Words the staff pages show for codes and states, in the staff member's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ERRORS = {
    "bad_credentials": _l("That email and password do not match an account."),
    "bad_code": _l("That code is not right, or was used already. Please enter the current code."),
    "locked": _l("Too many failed tries for this account. Please wait %(minutes)s minutes and try again."),
    "rate_limited": _l("Too many failed tries from your network. Please wait 15 minutes and try again."),
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

ROLES = {"finance": _l("Finance"), "admin": _l("Admin")}

MEMBERSHIP_STATUSES = {
    "incomplete": _l("Incomplete"),
    "incomplete_expired": _l("Never started"),
    "trialing": _l("Trial"),
    "active": _l("Active"),
    "past_due": _l("In grace (payment failed)"),
    "canceled": _l("Cancelled"),
    "unpaid": _l("Unpaid"),
    "paused": _l("Paused"),
}

PAYMENT_STATUSES = {
    "succeeded": _l("Paid"),
    "failed": _l("Failed"),
    "refunded": _l("Refunded"),
    "disputed": _l("Disputed"),
}

FREQUENCIES = {"month": _l("Monthly"), "year": _l("Yearly"), "once": _l("One-time")}

EMAIL_KINDS = {
    "receipt": _l("Receipt"),
    "welcome": _l("Welcome"),
    "payment_failed": _l("Payment failed"),
    "cancellation": _l("Cancellation"),
    "refund": _l("Refund"),
    "card_expiring": _l("Card expiring"),
    "renewal_upcoming": _l("Yearly renewal"),
    "reminder": _l("Reminder"),
    "membership_lapsed": _l("Membership lapsed (to finance)"),
}

EMAIL_STATUSES = {"pending": _l("Waiting"), "sent": _l("Sent"), "failed": _l("Failed")}

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
    "supporter.view": _l("Viewed a supporter"),
    "supporter.search": _l("Searched supporters"),
    "export.members": _l("Exported members"),
    "export.payments": _l("Exported payments"),
    "payment.refund": _l("Refunded a payment"),
    "membership.cancel": _l("Cancelled a membership"),
}


def label(table: dict[str, object], code: object) -> str:
    """The words for ``code``, or the code itself when it is not one we know (a new Stripe value)."""
    key = str(getattr(code, "value", code) or "")
    return str(table.get(key, key))
