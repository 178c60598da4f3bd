"""Daily summaries the finance dashboard reads for whole past days, and the days to build again.

``app/services/reports/`` defines every figure; these tables hold the same
figures added up per UTC day, so a dashboard for a year reads a few thousand
small rows instead of millions of payments.  A day is *summarised* when it has
a ``report_day`` row and no ``report_dirty_day`` row; every other day (today,
days never built, days changed since they were built) is computed live from
the raw tables, so the figures are always those of the raw tables.

Keeping them right: a change to a payment or a membership marks, in the same
transaction, every day whose figures it changes (the session listeners of
``app/services/reports/summaries.py``, attached by its ``init_app``; which days:
``app/services/reports/dirty_days.py``).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

#: Whole-number sums of minor units can pass 2**31 in a day of a big currency.
Amount = sa.BigInteger


class ReportDay(db.Model):  # type: ignore[name-defined]
    """A day whose summary rows were built (a day with no activity has this row and no others)."""

    __tablename__ = "report_day"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportDirtyDay(db.Model):  # type: ignore[name-defined]
    """A day changed since its summary was built: computed live until it is built again.

    Only ever inserted (never updated), so writers never wait on each other's
    marks; the builder deletes the marks it saw in the snapshot it built from.
    """

    __tablename__ = "report_dirty_day"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, index=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyPayments(db.Model):  # type: ignore[name-defined]
    """Payments per day, currency, frequency and campaign.

    Charged, refunded and disputed figures are of the payments charged that day
    (``paid_at``); failed ones of the charges that failed that day
    (``created_at``).  ``frequency`` is ``month``, ``year`` or ``once``;
    ``campaign`` is empty for none.
    """

    __tablename__ = "report_daily_payments"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    frequency: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    campaign: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    charged: Mapped[int] = mapped_column(sa.Integer, default=0)
    charged_amount: Mapped[int] = mapped_column(Amount, default=0)
    refunded: Mapped[int] = mapped_column(sa.Integer, default=0, comment="payments with a refund")
    refunded_amount: Mapped[int] = mapped_column(Amount, default=0)
    disputed: Mapped[int] = mapped_column(sa.Integer, default=0)
    disputed_amount: Mapped[int] = mapped_column(Amount, default=0)
    failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyFailures(db.Model):  # type: ignore[name-defined]
    """Failed charges per day, currency and failure code (empty for none)."""

    __tablename__ = "report_daily_failures"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    failure_code: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyMemberships(db.Model):  # type: ignore[name-defined]
    """Memberships that started and ended per day, currency and interval.

    ``started_amount - ended_amount`` is the day's change in recurring amounts
    (per interval; MRR is the monthly ones plus the yearly ones / 12), and
    ``started - ended`` the change in members.  ``reactivated`` counts the
    starts that were reactivations (``started - reactivated`` are new members).
    """

    __tablename__ = "report_daily_memberships"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    currency: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    interval: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    started: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_amount: Mapped[int] = mapped_column(Amount, default=0)
    reactivated: Mapped[int] = mapped_column(sa.Integer, default=0)
    ended: Mapped[int] = mapped_column(sa.Integer, default=0)
    ended_amount: Mapped[int] = mapped_column(Amount, default=0)


class DailyCancellationReasons(db.Model):  # type: ignore[name-defined]
    """Memberships that ended per day, by cancellation reason (empty for none given)."""

    __tablename__ = "report_daily_cancellation_reasons"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(500), primary_key=True)
    ended: Mapped[int] = mapped_column(sa.Integer, default=0)
