"""What the account pages say: error codes and summaries, in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.messages import message_for

MESSAGES = {
    "link_invalid": _l("This sign-in link is not valid. Please ask for a new one below."),
    "link_used": _l("This sign-in link has been used already. Please ask for a new one below."),
    "link_expired": _l(
        "This sign-in link has expired: links work for 30 minutes. Please ask for a new one below."
    ),
    "too_many_requests": _l(
        "Too many sign-in links were asked for from here. Please wait a quarter of an hour and try again."
    ),
    "signed_out": _l("Your session has ended. Please sign in again."),
    "membership_ended": _l("This membership has ended, so it cannot be changed."),
    "membership_ending": _l(
        "This membership is cancelled. Resume it first if you want to change the amount or frequency."
    ),
    "nothing_to_change": _l("This is what you give already. Choose another amount or frequency."),
    "no_customer": _l("We have no card on file for you yet. Please give once from the support page."),
    "customer_mismatch": _l("This card form has expired. Please reload the page and try again."),
    "card_not_confirmed": _l("Your card has not been confirmed yet. Please enter it again."),
    "confirm_erase": _l("Please tick the box to confirm that you want your data erased."),
}

#: "From <date> you will give <after> a <interval> instead of <before> a <interval>."
CHANGE_SUMMARIES = {
    ("month", "month"): _l("From %(date)s you will give %(after)s a month instead of %(before)s a month."),
    ("year", "year"): _l("From %(date)s you will give %(after)s a year instead of %(before)s a year."),
    ("month", "year"): _l("From %(date)s you will give %(after)s a year instead of %(before)s a month."),
    ("year", "month"): _l("From %(date)s you will give %(after)s a month instead of %(before)s a year."),
}


def message(code: str, **values: str) -> str:
    text = MESSAGES.get(code)
    if text is None:
        return message_for(code, **values)  # card declines, Stripe outages, form errors
    return str(text) % values if values else str(text)
