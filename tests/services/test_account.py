"""The account service's own rules, without Stripe: reading a change, fees, "give again"."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from app.extensions import db
from app.models import Interval, Membership
from app.services import amounts, supporters
from app.services.account import changes, records
from app.services.errors import InvalidChoice
from tests.factories import MembershipFactory, PaymentFactory

BPS, FIXED = 290, {"usd": 30, "eur": 25, "try": 300}


@given(gift=st.integers(min_value=100, max_value=500_000), currency=st.sampled_from(["usd", "eur"]))
def test_the_gift_inside_a_fee_covering_amount_is_found_again(gift: int, currency: str) -> None:
    total = gift + amounts.fee_cover(gift, currency, BPS, FIXED)
    membership = Membership(amount=total, currency=currency, covers_fees=True)
    found = changes.gift_of(membership, BPS, FIXED)
    assert found + amounts.fee_cover(found, currency, BPS, FIXED) == total


def test_a_change_is_read_like_the_support_page(app: Flask) -> None:
    with app.app_context():
        membership = MembershipFactory(amount=100, interval=Interval.MONTH)
        terms = changes.terms_from_form(
            {"frequency": "year", "amount": "other", "custom_amount": "٢٥٫٥", "cover_fees": "1"},
            membership,
            BPS,
            FIXED,
        )
        assert (terms.gift, terms.interval, terms.currency) == (2550, Interval.YEAR, "usd")
        assert terms.total == 2550 + amounts.fee_cover(2550, "usd", BPS, FIXED)
        with pytest.raises(InvalidChoice) as refused:
            changes.terms_from_form({"frequency": "once", "amount": "abc"}, membership, BPS, FIXED)
        assert refused.value.errors == {"frequency": "unknown_frequency", "amount": "amount_not_a_number"}
        with pytest.raises(InvalidChoice) as same:
            changes.terms_from_form({"frequency": "month", "amount": "1"}, membership, BPS, FIXED)
        assert same.value.errors == {"amount": "nothing_to_change"}
        db.session.rollback()


def test_give_again_only_for_one_time_donors_with_their_last_gift(app: Flask) -> None:
    with app.app_context():
        member = MembershipFactory()
        PaymentFactory(membership=member)
        assert records.give_again_args(member.supporter) is None
        donor = MembershipFactory(status="canceled").supporter
        PaymentFactory(membership=None, supporter=donor, amount=1061, fee_cover=61, currency="usd")
        assert records.give_again_args(donor) == {
            "currency": "usd",
            "frequency": "once",
            "amount": "10",
            "cover_fees": "1",
        }
        db.session.rollback()


def test_addresses_are_read_as_the_support_page_reads_them(app: Flask) -> None:
    with app.app_context():
        assert supporters.read_email("  Reader@Example.ORG ") == "reader@example.org"
        for bad, code in (("", "email_missing"), ("nobody", "email_invalid")):
            with pytest.raises(InvalidChoice) as refused:
                supporters.read_email(bad)
            assert refused.value.errors == {"email": code}
