"""Domain errors carry a code; views turn the code into words in the reader's language."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, code: str, field: str | None = None, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.field = field
        self.detail = detail


class InvalidDonation(DomainError):
    """The reader's choices cannot be taken as they are."""


class PaymentDeclined(DomainError):
    """The card or Stripe refused the payment; ``code`` is Stripe's decline code."""

    def __init__(self, code: str, detail: str = "", card_fingerprint: str | None = None) -> None:
        super().__init__(code, detail=detail)
        #: Stripe's fingerprint of the declined card, when Stripe said which card it was.
        self.card_fingerprint = card_fingerprint


class PaymentServiceUnavailable(DomainError):
    """Stripe could not be reached or answered with an error that is not the reader's."""


class DonationStateError(DomainError):
    """A confirm step does not match what this browser started (replayed or stale)."""


class NotFound(DomainError):
    """Stripe has no such object."""


class AlreadyExists(DomainError):
    """Stripe has an object with the id we chose (``resource_already_exists``)."""


class AccountError(DomainError):
    """Something the supporter asked for on their account cannot be done; ``code`` says why."""


class EventNotApplied(DomainError):
    """The Stripe event cannot be applied now; it stays unprocessed with this code as its error."""


class InvalidChoice(DomainError):
    """Several fields are wrong at once: ``errors`` maps field -> code."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid_choice", detail=",".join(f"{k}={v}" for k, v in errors.items()))
        self.errors = errors
