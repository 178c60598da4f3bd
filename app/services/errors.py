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


class PaymentServiceUnavailable(DomainError):
    """Stripe could not be reached or answered with an error that is not the reader's."""


class DonationStateError(DomainError):
    """A confirm step does not match what this browser started (replayed or stale)."""


class NotFound(DomainError):
    """Stripe has no such object."""
