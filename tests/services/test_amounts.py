import pytest

from app.services import amounts
from app.services.errors import InvalidDonation


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("1", "usd", 100),
        ("١٠", "usd", 1000),  # Arabic-Indic digits
        ("۲۵", "eur", 2500),  # Persian digits
        ("7,50", "eur", 750),  # decimal comma
        ("٧٫٥", "usd", 750),  # Arabic decimal separator
        (" 12.5 ", "usd", 1250),
        ("$3", "usd", 300),
        ("250", "try", 25000),
    ],
)
def test_typed_amounts_are_understood(typed: str, currency: str, minor: int) -> None:
    assert amounts.parse_amount(typed, currency) == minor


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("", "amount_missing"),
        ("abc", "amount_not_a_number"),
        ("-5", "amount_not_a_number"),
        ("1e3", "amount_not_a_number"),
        ("1.005", "amount_too_precise"),
        ("1,000", "amount_too_precise"),  # a thousands separator is not guessed at
    ],
)
def test_unreadable_amounts_are_refused_with_a_reason(typed: str, code: str) -> None:
    with pytest.raises(InvalidDonation) as caught:
        amounts.parse_amount(typed, "usd")
    assert caught.value.code == code


def test_limits_follow_the_currency_table() -> None:
    amounts.check_limits(100, "usd")
    with pytest.raises(InvalidDonation, match="amount_below_minimum"):
        amounts.check_limits(99, "usd")
    with pytest.raises(InvalidDonation, match="amount_below_minimum"):
        amounts.check_limits(1000, "try")  # 10 lira is under Stripe's minimum
    with pytest.raises(InvalidDonation, match="amount_above_maximum"):
        amounts.check_limits(500_001, "eur")
    with pytest.raises(InvalidDonation, match="unknown_currency"):
        amounts.check_limits(100, "gbp")


def test_every_minimum_is_at_least_stripes_minimum_charge() -> None:
    stripe_minimum = {"usd": 50, "eur": 50, "try": 2000}  # TRY: about USD 0.50, generously
    for code, rule in amounts.CURRENCIES.items():
        assert rule.minimum >= stripe_minimum[code]
        assert all(rule.minimum <= p <= rule.maximum for p in rule.presets)


def test_fee_cover_makes_the_newsroom_receive_the_whole_gift() -> None:
    # 2.9% + 30c on $1: total ceil(130 / 0.971) = 134, so 34c on top.
    assert amounts.fee_cover(100, "usd", 290, {"usd": 30}) == 34
    for gift in (100, 300, 777, 10_000, 123_456):
        total = gift + amounts.fee_cover(gift, "usd", 290, {"usd": 30})
        stripe_fee = -(-total * 290 // 10_000) + 30  # Stripe rounds its fee up
        assert total - stripe_fee >= gift - 1
        assert total - (total * 290 / 10_000 + 30) >= gift
