"""What the account pages say: error codes and summaries, in the reader's language."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from app.messages import message_for

MESSAGES = {
    # Signing in sends no receipt: the support page's "so we can send your receipt" is wrong here.
    "email_missing": _l("Please enter the email address you used when you gave."),
    "link_invalid": _l("This sign-in link is not valid. Please ask for a new one below."),
    "link_used": _l("This sign-in link has been used already. Please ask for a new one below."),
    "link_expired": _l("This sign-in link has expired. Please ask for a new one below."),
    "signed_out": _l("Your session has ended. Please sign in again."),
    "membership_ended": _l("This membership has ended, so it cannot be changed."),
    "membership_ending": _l(
        "This membership is cancelled. Resume it first if you want to change the amount or frequency."
    ),
    "nothing_to_change": _l("This is what you give already. Choose another amount or frequency."),
    "no_customer": _l("We have no card on file for you yet. Please give once from the support page."),
    "customer_mismatch": _l("This card form has expired. Please reload the page and try again."),
    "confirm_erase": _l("Please tick the box to confirm that you want your data erased."),
    "authentication_required": _l(
        "Your bank asks you to confirm this payment. Please press “Confirm the payment” on your account page."
    ),
    "invoice_payment_intent_requires_action": _l(
        "Your bank asks you to confirm this payment. Please press “Confirm the payment” on your account page."
    ),
    "payment_not_waiting": _l("This payment no longer waits for your confirmation. Please reload the page."),
    "authentication_needs_card": _l(
        "Your bank did not confirm this payment. Please update your card: we then charge the payment to it straight away."
    ),
    "resource_missing": _l(
        "Our payment processor, Stripe, no longer has this membership or card on record, so nothing was changed. Please write to us and we will put it right."
    ),
    "update_card_first": _l(
        "A payment failed. Please update your card first; then you can change how often you give."
    ),
}

#: "From <date> you will give <after> a <interval> instead of <before> a <interval>."
CHANGE_SUMMARIES = {
    ("month", "month"): _l("From %(date)s you will give %(after)s a month instead of %(before)s a month."),
    ("year", "year"): _l("From %(date)s you will give %(after)s a year instead of %(before)s a year."),
    ("month", "year"): _l("From %(date)s you will give %(after)s a year instead of %(before)s a month."),
    ("year", "month"): _l("From %(date)s you will give %(after)s a month instead of %(before)s a year."),
}


def _counted(code: str) -> str | None:
    """Messages that name a setting's number (six plural forms in Arabic)."""
    config = current_app.config
    match code:
        case "too_many_requests":
            return ngettext(
                "Too many sign-in links were asked for from here. Please wait %(num)s minute and try again.",
                "Too many sign-in links were asked for from here. Please wait %(num)s minutes and try again.",
                config["ACCOUNT_RATE_WINDOW_MINUTES"],
            )
        case "session_idle":
            return ngettext(
                "You were signed out after %(num)s minute without activity. Please sign in again.",
                "You were signed out after %(num)s minutes without activity. Please sign in again.",
                config["ACCOUNT_IDLE_MINUTES"],
            )
        case "session_expired":
            return ngettext(
                "For your safety, a session lasts at most %(num)s hour. Please sign in again.",
                "For your safety, a session lasts at most %(num)s hours. Please sign in again.",
                config["ACCOUNT_SESSION_HOURS"],
            )
    return None


def message(code: str, **values: str) -> str:
    counted = _counted(code)
    if counted is not None:
        return counted
    text = MESSAGES.get(code)
    if text is None:
        return message_for(code, **values)  # card declines, Stripe outages, form errors
    return str(text) % values if values else str(text)
