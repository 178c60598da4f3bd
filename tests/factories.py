"""Rows for tests (factory_boy), committed through the app's session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.extensions import db
from app.models import Interval, Membership, MembershipStatus, Payment, PaymentStatus, Supporter


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class SupporterFactory(Base):
    class Meta:
        model = Supporter

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    name = "ليلى حداد"
    locale = "ar"
    stripe_customer_id = factory.Sequence(lambda n: f"cus_test{n:06d}")


class MembershipFactory(Base):
    class Meta:
        model = Membership

    supporter = factory.SubFactory(SupporterFactory)
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_test{n:06d}")
    status = MembershipStatus.ACTIVE
    amount = 100
    currency = "usd"
    interval = Interval.MONTH
    current_period_end = factory.LazyFunction(lambda: datetime(2026, 12, 25, 10, tzinfo=UTC))


class PaymentFactory(Base):
    class Meta:
        model = Payment

    supporter = factory.SelfAttribute("membership.supporter")
    membership = factory.SubFactory(MembershipFactory)
    stripe_invoice_id = factory.Sequence(lambda n: f"in_test{n:06d}")
    stripe_charge_id = factory.Sequence(lambda n: f"ch_test{n:06d}")
    amount = 100
    currency = "usd"
    status = PaymentStatus.SUCCEEDED
    paid_at = factory.LazyFunction(lambda: datetime(2026, 11, 25, 10, tzinfo=UTC) - timedelta(days=0))
    # From 2026-9000000 up: a test that writes its own number (2026-0000042) never meets one of these
    # however many factory payments the run made before it.
    receipt_number = factory.Sequence(lambda n: f"2026-{9_000_000 + n:07d}")
