"""What each domain error code says to a reader, in their language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

MESSAGES = {
    # the reader's choices
    "unknown_currency": _l("Please choose one of the currencies offered."),
    "unknown_frequency": _l("Please choose monthly, yearly or once."),
    "amount_missing": _l("Please choose or type an amount."),
    "amount_not_a_number": _l("Please type the amount as a number, for example 5 or 7.50."),
    "amount_too_precise": _l("Please use at most two digits after the decimal point."),
    "amount_below_minimum": _l("The smallest gift we can take in this currency is %(minimum)s."),
    "amount_above_maximum": _l(
        "The largest gift we can take online in this currency is %(maximum)s. Please write to us for larger gifts."
    ),
    "email_missing": _l("Please enter your email address so we can send your receipt."),
    "email_invalid": _l("This email address does not look right. Please check it."),
    "unknown_delay": _l("Please choose when we should remind you."),
    "too_many_reminders": _l("Too many reminders were asked for from here. Please try again in an hour."),
    "name_too_long": _l("Please shorten your name to 200 characters."),
    # the card and Stripe
    "card_declined": _l("Your card was declined. Please try another card or contact your bank."),
    "generic_decline": _l("Your card was declined. Please try another card or contact your bank."),
    "insufficient_funds": _l("Your card has insufficient funds. Please try another card."),
    "expired_card": _l("Your card has expired. Please use another card."),
    "incorrect_cvc": _l("The security code (CVC) is incorrect."),
    "incorrect_number": _l("The card number is incorrect."),
    "invalid_expiry_year": _l("The card's expiry year is not valid."),
    "invalid_expiry_month": _l("The card's expiry month is not valid."),
    "processing_error": _l("An error occurred while processing your card. Please try again."),
    "authentication_failed": _l(
        "Your bank could not confirm this payment. Please try again or use another card."
    ),
    "payment_intent_authentication_failure": _l(
        "Your bank could not confirm this payment. Please try again or use another card."
    ),
    "stripe_error": _l(
        "Payments are not available right now. Nothing was charged. Please try again in a few minutes."
    ),
    "payment_error": _l("The payment could not be completed. Nothing was charged. Please try again."),
    # the flow itself
    "too_many_attempts": _l(
        "We have seen too many payment attempts from here. Nothing was charged. Please try again in an hour."
    ),
    "quote_changed": _l(
        "The total has changed since the page showed it. Nothing was charged. Please check the new total and press the button again."
    ),
    "intent_mismatch": _l("This payment page has expired. Please start again; nothing was charged twice."),
    "customer_mismatch": _l("This payment page has expired. Please start again; nothing was charged twice."),
    "card_not_confirmed": _l("Your card has not been confirmed yet. Please enter it again."),
    "no_pending_donation": _l(
        "This payment page has expired. Please start again; nothing was charged twice."
    ),
    # HTTP
    "csrf": _l("This form has expired. Please reload the page and try again; nothing was charged."),
    "cross_site": _l(
        "This form was sent from another website, so it was refused; nothing was charged. "
        "Please open our support page yourself and try again."
    ),
    "too_large": _l("What was sent is too large. Please shorten it and try again."),
    "not_found": _l("This page does not exist."),
    "forbidden": _l("You may not open this page."),
    "method_not_allowed": _l("This page cannot be used that way."),
    "server_error": _l(
        "Something went wrong on our side. Nothing was charged. Please try again in a few minutes."
    ),
    "bad_request": _l("This request could not be understood. Please reload the page and try again."),
}

#: Stripe's codes for a refused card that the card forms put in words (their scripts show
#: the "payment_error" text for any other code).  Each form adds the code its own kind of
#: intent gives when the bank did not confirm the card.
DECLINE_CODES = (
    "card_declined",
    "generic_decline",
    "insufficient_funds",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "invalid_expiry_year",
    "invalid_expiry_month",
    "processing_error",
    "authentication_failed",
    "payment_error",
)
#: The support page's (``support.js``).
SUPPORT_DECLINE_CODES = (*DECLINE_CODES, "payment_intent_authentication_failure")
#: The account's card form's (``account.js``).
CARD_UPDATE_DECLINE_CODES = (*DECLINE_CODES, "setup_intent_authentication_failure")


def message_for(code: str, **values: str) -> str:
    message = MESSAGES.get(code) or MESSAGES["payment_error"]
    return str(message) % values if values else str(message)
