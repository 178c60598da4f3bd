"""Currencies, preset amounts, limits and fees: one table for the whole service.

Money is always an integer of minor units with a lower-case ISO 4217 code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import get_currency_precision

from app.services.errors import InvalidChoice, InvalidDonation


@dataclass(frozen=True)
class CurrencyRule:
    code: str
    presets: tuple[int, ...]
    minimum: int
    maximum: int
    exponent: int = 2


#: Minimums sit at or above Stripe's minimum charge (USD 0.50, EUR 0.50, and
#: about USD 0.50 converted for TRY); maximums stop typos like 10000 for 100.
CURRENCIES: dict[str, CurrencyRule] = {
    "usd": CurrencyRule("usd", presets=(100, 300, 500, 1000), minimum=100, maximum=500_000),
    "eur": CurrencyRule("eur", presets=(100, 300, 500, 1000), minimum=100, maximum=500_000),
    "try": CurrencyRule("try", presets=(5000, 10000, 25000, 50000), minimum=5000, maximum=20_000_000),
}
DEFAULT_CURRENCY = "usd"
FREQUENCIES = ("month", "year", "once")
DEFAULT_FREQUENCY = "month"

#: Digits people type besides 0-9 (Arabic-Indic and Persian), read as 0-9: amounts, codes.
LATIN_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_AMOUNT = re.compile(r"^(\d+)(?:\.(\d+))?$")


def currency_rule(code: str) -> CurrencyRule:
    try:
        return CURRENCIES[code]
    except KeyError:
        raise InvalidDonation("unknown_currency", field="currency") from None


def parse_amount(text: str, currency: str) -> int:
    """Read an amount a reader typed into minor units.

    Understands Arabic-Indic and Persian digits, the Arabic decimal separator
    (٫) and a decimal comma; thousands separators are refused rather than
    guessed (is "1,000" one thousand or one?).
    """
    rule = currency_rule(currency)
    cleaned = text.strip().translate(LATIN_DIGITS).upper()
    # Longest first: "USD" must not be read as "US" and a stray "D".
    for symbol in ("USD", "EUR", "TRY", "US", "TL", "$", "€", "₺"):
        cleaned = cleaned.replace(symbol, "")
    cleaned = cleaned.replace("\u066b", ".").replace(",", ".").replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        raise InvalidDonation("amount_missing", field="amount")
    match = _AMOUNT.match(cleaned)
    if not match:
        raise InvalidDonation("amount_not_a_number", field="amount")
    # "1,000" reads as 1.000: refuse it instead of taking one dollar for a thousand.
    if match.group(2) is not None and len(match.group(2)) > rule.exponent:
        raise InvalidDonation("amount_too_precise", field="amount")
    return int(Decimal(cleaned).scaleb(rule.exponent))


def check_limits(amount: int, currency: str) -> None:
    rule = currency_rule(currency)
    if amount < rule.minimum:
        raise InvalidDonation("amount_below_minimum", field="amount")
    if amount > rule.maximum:
        raise InvalidDonation("amount_above_maximum", field="amount")


def fee_cover(amount: int, currency: str, percent_bps: int, fixed: dict[str, int]) -> int:
    """What to add so that after Stripe's fee the newsroom receives ``amount``.

    Gross-up: total = ceil((amount + fixed) / (1 - rate)).  Integer arithmetic
    only, so the browser's preview (same formula) and the charge agree.
    """
    fixed_fee = fixed.get(currency, 0)
    denominator = 10_000 - percent_bps
    total = -(-(amount + fixed_fee) * 10_000 // denominator)
    return total - amount


@dataclass(frozen=True)
class Quote:
    """The server's reading of the amount, currency, frequency and "cover the fees" a reader chose:
    what the page, its button, the wallet sheet and the charge all show."""

    amount: int
    currency: str
    frequency: str
    cover_fees: bool = False
    fee_cover: int = 0

    @property
    def total(self) -> int:
        return self.amount + self.fee_cover

    @property
    def recurring(self) -> bool:
        return self.frequency != "once"


def quote(form: Mapping[str, str], fee_percent_bps: int, fee_fixed: dict[str, int]) -> Quote:
    """Read the gift's amount fields (``amount`` or ``custom_amount``, ``currency``,
    ``frequency``, ``cover_fees``); raise ``InvalidChoice`` with every error at once."""
    errors: dict[str, str] = {}
    currency = (form.get("currency") or DEFAULT_CURRENCY).strip().lower()
    if currency not in CURRENCIES:
        errors["currency"] = "unknown_currency"
    frequency = (form.get("frequency") or DEFAULT_FREQUENCY).strip().lower()
    if frequency not in FREQUENCIES:
        errors["frequency"] = "unknown_frequency"
    amount = 0
    if "currency" not in errors:
        chosen = (form.get("amount") or "").strip()
        text = (form.get("custom_amount") or "") if chosen in ("", "other") else chosen
        try:
            amount = parse_amount(text, currency)
            check_limits(amount, currency)
        except InvalidDonation as exc:
            errors["amount"] = exc.code
    if errors:
        raise InvalidChoice(errors)
    covered = form.get("cover_fees") in ("1", "on", "true", "yes")
    cover = fee_cover(amount, currency, fee_percent_bps, fee_fixed) if covered else 0
    return Quote(amount, currency, frequency, cover_fees=covered, fee_cover=cover)


def exponent(currency: str) -> int:
    """Digits after the decimal point: our table's for the currencies we take, ISO 4217's
    (Babel's) for any other (a payout or balance transaction in the account's currency)."""
    rule = CURRENCIES.get(currency.lower())
    return rule.exponent if rule is not None else int(get_currency_precision(currency.upper()))


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as the exact decimal amount (never a float)."""
    return Decimal(int(amount)).scaleb(-exponent(currency))


def major_units(amount: int, currency: str, *, trim: bool = False) -> str:
    """Minor units as a plain number for machines and form fields: ``1.00``; ``1`` with ``trim``.

    What people read goes through ``app.i18n.format_money`` instead (the locale's digits,
    separators and currency sign).
    """
    value = to_decimal(amount, currency)
    return format(value.normalize() if trim else value, "f")
