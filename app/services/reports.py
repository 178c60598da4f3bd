"""The finance dashboard's figures, from our tables only (never the Stripe API).

Times are UTC.  A period is ``[start, end)``; the dashboard asks for whole
days, so ``end`` is midnight after the last day.

What the words mean here (the page repeats the short version):

- A **membership** is one subscription.  It *starts* when the subscription
  started at Stripe (``started_at``: Stripe's ``start_date``, set from the
  subscription by the support page's confirm step, its events and ``stripe
  sync``; for rows from before Stripe's date was kept, when our database first
  recorded it) and *ends* when it reaches ``canceled``, ``unpaid`` or
  ``paused``, at Stripe's ``canceled_at`` (else when we recorded the change).
  ``incomplete`` ones never started: their first charge never went through.
  A membership imported by a sync starts on its Stripe date, not the import's.
- A **member** at a moment is a membership started before it and not ended
  before it.  ``past_due`` is still a member (grace while Stripe retries).
- **New** members of a period started in it; **reactivated** ones also
  started in it, by a supporter with an earlier membership that had ended by
  then (new and reactivated never overlap); **churned** ones ended in it.
  Members at the end = members at the start + new + reactivated - churned.
- **Churn rate** = churned / members at the start of the period (per month:
  of the month).
- **MRR** (monthly recurring revenue) of the members at the end, per
  currency: monthly amounts plus yearly amounts / 12, each membership at its
  current amount.  Yearly amounts are summed per currency first and the sum
  divided by 12, rounded half up to a whole minor unit (cent) once, so MRR is
  an integer of minor units.
- **Revenue** is what was charged (``paid_at`` in the period), refunded and
  disputed payments included at their full amount; **refunds** and
  **disputes** are those of the payments charged in the period, whenever the
  refund or dispute came.  A payment's **frequency** is its membership's
  interval (``once`` without one); its **campaign** is the one stored with it.
- **Failed payments** are charges that failed in the period (``created_at``).
- **Members in grace** are the memberships ``past_due`` now, whatever the period.

How they are computed: every figure but members in grace is a sum over days
(members at a moment: the starts minus the ends of every day before it).
Whole past days are read from the daily summaries
(``app/models/report_summary.py``, built by ``build_days``); the days without
a current summary (today, days not built yet, days changed since they were
built) are computed live from the raw tables by the same definitions, in the
same queries.  So a figure is the same with summaries or without; the
summaries only make it fast.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import and_, case, func, literal_column, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
from app.models import (
    DailyCancellationReasons,
    DailyFailures,
    DailyMemberships,
    DailyPayments,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    ReportDay,
    ReportDirtyDay,
    Supporter,
)
from app.models.types import utcnow

ENDED = (MembershipStatus.CANCELED, MembershipStatus.UNPAID, MembershipStatus.PAUSED)
NEVER_STARTED = (MembershipStatus.INCOMPLETE, MembershipStatus.INCOMPLETE_EXPIRED)
CHARGED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)
ONCE = "once"
#: Inlined, not a bound parameter: PostgreSQL must see GROUP BY and SELECT as one expression.
_ONCE_SQL = sa.literal_column("'once'", sa.String)
_EMPTY_SQL = sa.literal_column("''", sa.String)
FREQUENCIES = (Interval.MONTH.value, Interval.YEAR.value, ONCE)
NO_CAMPAIGN = ""
NO_REASON = ""

Month = tuple[int, int]
#: ``[first, end)`` in whole days; ``None`` as the first is "from the beginning".
DayRange = tuple[date | None, date]


# -- periods -------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return _midnight(self.first)

    @property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1))

    @property
    def months(self) -> list[Month]:
        months: list[Month] = []
        year, month = self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            months.append((year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months

    def month_bounds(self, month: Month) -> tuple[datetime, datetime]:
        """The part of ``month`` inside the period."""
        year, number = month
        start = datetime(year, number, 1, tzinfo=UTC)
        end = (
            datetime(year + 1, 1, 1, tzinfo=UTC)
            if number == 12
            else datetime(year, number + 1, 1, tzinfo=UTC)
        )
        return max(start, self.start), min(end, self.end)


def this_month(today: date) -> Period:
    return Period(today.replace(day=1), today)


# -- SQL helpers ---------------------------------------------------------------------------


class month_of(FunctionElement[Any]):
    """The UTC month of a timestamp: PostgreSQL gives a timestamp, SQLite ``YYYY-MM``."""

    name = "month_of"
    inherit_cache = True


@compiles(month_of, "postgresql")
def _month_of_pg(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC')"


@compiles(month_of, "sqlite")
def _month_of_sqlite(element: month_of, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


class month_of_day(FunctionElement[Any]):
    """The month of a ``DATE`` column (a summary's day)."""

    name = "month_of_day"
    inherit_cache = True


@compiles(month_of_day, "postgresql")
def _month_of_day_pg(element: month_of_day, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('month', {compiler.process(element.clauses, **kw)})"


@compiles(month_of_day, "sqlite")
def _month_of_day_sqlite(element: month_of_day, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


class day_of(FunctionElement[Any]):
    """The UTC day of a timestamp, as a ``DATE`` (SQLite: ``YYYY-MM-DD``, as it stores dates)."""

    name = "day_of"
    type = sa.Date()
    inherit_cache = True


@compiles(day_of, "postgresql")
def _day_of_pg(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


def _month(value: Any) -> Month:
    if isinstance(value, datetime | date):
        return value.year, value.month
    year, month = str(value)[:7].split("-")
    return int(year), int(month)


def _by_position(*numbers: int) -> list[Any]:
    """``GROUP BY 1, 2``: one expression for PostgreSQL even when it holds bound parameters."""
    return [literal_column(str(n)) for n in numbers]


M = Membership
_end_time = func.coalesce(M.canceled_at, M.updated_at)
_ended = M.status.in_(ENDED)
#: Ever a member (an end recorded before the start can only be a record of history we never saw).
_ever_member = and_(M.status.not_in(NEVER_STARTED), or_(not_(_ended), _end_time >= M.started_at))


def _in_ranges(column: Any, ranges: Sequence[DayRange]) -> Any:
    """``column`` inside any of the day ranges, written so an index on it serves each one."""
    parts = [
        column < _midnight(end)
        if first is None
        else and_(column >= _midnight(first), column < _midnight(end))
        for first, end in ranges
    ]
    return or_(*parts) if parts else sa.false()


def _ended_in(ranges: Sequence[DayRange]) -> Any:
    """coalesce(canceled_at, updated_at) in the ranges, written so the two indexes serve each range.

    (The status test is repeated inside: ``(status, updated_at)`` is the index of the second part.)
    """
    return and_(
        _ended,
        or_(
            _in_ranges(M.canceled_at, ranges),
            *(and_(_ended, M.canceled_at.is_(None), _in_ranges(M.updated_at, [one])) for one in ranges),
        ),
    )


def _came_back() -> Any:
    """The membership started after an earlier one of its supporter had ended: a reactivation."""
    earlier = sa.orm.aliased(Membership)
    earlier_end = func.coalesce(earlier.canceled_at, earlier.updated_at)
    return (
        select(earlier.id)
        .where(
            earlier.supporter_id == M.supporter_id,
            earlier.id != M.id,
            earlier.status.in_(ENDED),
            earlier_end <= M.started_at,
            earlier_end >= earlier.started_at,
        )
        .exists()
    )


def _frequency_of_membership() -> Any:
    return case((Payment.membership_id.is_(None), _ONCE_SQL), else_=Membership.interval)


def _frequency_looked_up() -> Any:
    """The same, looked up per payment: for a few days of payments an index lookup each beats
    joining every membership (which PostgreSQL's planner prefers, hashing them all)."""
    interval = select(Membership.interval).where(Membership.id == Payment.membership_id).scalar_subquery()
    return case((Payment.membership_id.is_(None), _ONCE_SQL), else_=interval)


def mrr(monthly: int, yearly: int) -> int:
    """Monthly amounts plus the yearly sum / 12, rounded half up once (integer minor units)."""
    return monthly + (yearly * 2 + 12) // 24


def _clip(ranges: Sequence[DayRange], first: date, end: date) -> list[DayRange]:
    """The parts of ``ranges`` inside ``[first, end)``."""
    clipped: list[DayRange] = []
    for a, b in ranges:
        lo = first if a is None else max(a, first)
        hi = min(b, end)
        if lo < hi:
            clipped.append((lo, hi))
    return clipped


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as ``[first, end)`` runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + timedelta(days=1))
        else:
            runs.append((day, day + timedelta(days=1)))
    return runs


# -- which days come from the summaries ------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """The days before ``end``: read from the summaries, or computed live."""

    end: date
    summarised: list[tuple[date, date]]
    live: list[DayRange]

    @property
    def summarised_days(self) -> int:
        return sum((b - a).days for a, b in self.summarised)


def coverage(end: date, today: date | None = None) -> Coverage:
    """Days before ``end`` with a summary built and not changed since; the rest is live.

    Today is always live (it is not over), and so is every day after it.
    """
    today = today or utcnow().date()
    until = min(end, today)
    dirty = set(db.session.scalars(select(ReportDirtyDay.day).where(ReportDirtyDay.day < until).distinct()))
    built = [
        d for d in db.session.scalars(select(ReportDay.day).where(ReportDay.day < until)) if d not in dirty
    ]
    summarised = _runs(built)
    live: list[DayRange] = []
    cursor: date | None = None
    for a, b in summarised:
        if cursor is None or cursor < a:
            live.append((cursor, a))
        cursor = b
    if cursor is None or cursor < end:
        live.append((cursor, end))
    return Coverage(end, summarised, live)


# -- the dashboard ------------------------------------------------------------------------


@dataclass
class MonthFlow:
    month: Month
    members_at_start: int = 0
    new: int = 0
    reactivated: int = 0
    churned: int = 0

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.members_at_start if self.members_at_start else None


@dataclass
class Money:
    """Count and amount per currency."""

    count: int = 0
    amounts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, currency: str, count: int, amount: int) -> None:
        self.count += count
        self.amounts[currency] += amount


@dataclass
class Dashboard:
    period: Period
    members_at_start: int = 0
    members_at_end: int = 0
    #: currency -> (monthly sum, yearly sum) of the members at the end
    recurring_at_end: dict[str, tuple[int, int]] = field(default_factory=dict)
    in_grace: Money = field(default_factory=Money)
    months: list[MonthFlow] = field(default_factory=list)
    cancellation_reasons: dict[str, int] = field(default_factory=dict)
    #: (month, currency) -> amount charged
    revenue_by_month: dict[tuple[Month, str], int] = field(default_factory=dict)
    revenue_by_frequency: dict[tuple[str, str], Money] = field(default_factory=dict)
    revenue_by_campaign: dict[tuple[str, str], Money] = field(default_factory=dict)
    revenue: Money = field(default_factory=Money)
    one_time: Money = field(default_factory=Money)
    refunds: Money = field(default_factory=Money)
    disputes: Money = field(default_factory=Money)
    failed: Money = field(default_factory=Money)
    failure_codes: dict[str, int] = field(default_factory=dict)
    #: Days read from the summaries (the rest of the period, and before it, computed live).
    summarised_days: int = 0

    @property
    def new(self) -> int:
        return sum(m.new for m in self.months)

    @property
    def reactivated(self) -> int:
        return sum(m.reactivated for m in self.months)

    @property
    def churned(self) -> int:
        return sum(m.churned for m in self.months)

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.members_at_start if self.members_at_start else None

    @property
    def mrr(self) -> dict[str, int]:
        return {c: mrr(monthly, yearly) for c, (monthly, yearly) in sorted(self.recurring_at_end.items())}

    @property
    def currencies(self) -> list[str]:
        return sorted({c for _, c in self.revenue_by_month})


def dashboard(period: Period, today: date | None = None) -> Dashboard:
    """Every figure of the dashboard: summaries for whole past days, the rest live."""
    report = Dashboard(period)
    if db.session.get_bind().dialect.name == "postgresql":
        # Small queries over few rows: compiling them (JIT) costs far more than it saves.
        db.session.execute(sa.text("SET LOCAL jit = off"))
    cover = coverage(period.last + timedelta(days=1), today)
    report.summarised_days = cover.summarised_days
    _memberships(report, cover)
    _grace(report)
    _payments(report, cover)
    _failures(report, cover)
    return report


@dataclass
class _Flow:
    """Starts and ends of one bucket (before the period, or one of its months), per currency and interval."""

    started: int = 0
    reactivated: int = 0
    ended: int = 0
    #: (currency, interval) -> started amount - ended amount
    amounts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


def _interval(value: Any) -> str:
    return str(value.value if isinstance(value, Interval) else value)


def _memberships(report: Dashboard, cover: Coverage) -> None:
    """Members at the start and end, MRR at the end, new/reactivated/churned per month, reasons."""
    period = report.period
    before: Any = None  # the bucket of the days before the period
    buckets: dict[Any, _Flow] = defaultdict(_Flow)
    reasons: dict[str, int] = defaultdict(int)

    # Summarised days: every day before the end (members at a moment add up all earlier days).
    if cover.summarised:
        S = DailyMemberships
        bucket = case((S.day < period.first, None), else_=month_of_day(S.day))
        rows = db.session.execute(
            select(
                bucket,
                S.currency,
                S.interval,
                func.sum(S.started),
                func.sum(S.reactivated),
                func.sum(S.ended),
                func.sum(S.started_amount - S.ended_amount),
            )
            .where(_in_ranges_day(S.day, cover.summarised))
            .group_by(*_by_position(1, 2, 3))
        )
        for key, currency, interval, started, reactivated, ended, amount in rows:
            flow = buckets[before if key is None else _month(key)]
            flow.started += int(started)
            flow.reactivated += int(reactivated)
            flow.ended += int(ended)
            flow.amounts[(currency, _interval(interval))] += int(amount)
        inside = _clip(cover.summarised, period.first, cover.end)
        if inside:
            R = DailyCancellationReasons
            for reason, count in db.session.execute(
                select(R.reason, func.sum(R.ended)).where(_in_ranges_day(R.day, inside)).group_by(R.reason)
            ):
                reasons[reason or NO_REASON] += int(count)

    # Live days.
    if cover.live:
        start = period.start
        started_bucket = case((M.started_at < start, None), else_=month_of(M.started_at))
        for key, currency, interval, count, reactivated, amount in db.session.execute(
            select(
                started_bucket,
                M.currency,
                M.interval,
                func.count(),
                func.coalesce(func.sum(case((_came_back(), 1), else_=0)), 0),
                func.sum(M.amount),
            )
            .where(_ever_member, _in_ranges(M.started_at, cover.live))
            .group_by(*_by_position(1, 2, 3))
        ):
            flow = buckets[before if key is None else _month(key)]
            flow.started += int(count)
            flow.reactivated += int(reactivated)
            flow.amounts[(currency, _interval(interval))] += int(amount)
        ended_bucket = case((_end_time < start, None), else_=month_of(_end_time))
        for key, currency, interval, reason, count, amount in db.session.execute(
            select(
                ended_bucket,
                M.currency,
                M.interval,
                M.cancellation_reason,
                func.count(),
                func.sum(M.amount),
            )
            .where(_ever_member, _ended_in(cover.live))
            .group_by(*_by_position(1, 2, 3, 4))
        ):
            flow = buckets[before if key is None else _month(key)]
            flow.ended += int(count)
            flow.amounts[(currency, _interval(interval))] -= int(amount)
            if key is not None:
                reasons[reason or NO_REASON] += int(count)

    members = 0
    recurring: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key, flow in buckets.items():
        members += flow.started - flow.ended
        if key is before:
            report.members_at_start += flow.started - flow.ended
        for (currency, interval), amount in flow.amounts.items():
            recurring[currency][0 if interval == Interval.MONTH.value else 1] += amount
    report.members_at_end = members
    report.recurring_at_end = {c: (v[0], v[1]) for c, v in sorted(recurring.items()) if v[0] or v[1]}

    running = report.members_at_start
    report.months = []
    for month in period.months:
        flow = buckets.get(month) or _Flow()
        report.months.append(
            MonthFlow(
                month,
                members_at_start=running,
                new=flow.started - flow.reactivated,
                reactivated=flow.reactivated,
                churned=flow.ended,
            )
        )
        running += flow.started - flow.ended
    report.cancellation_reasons = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def _in_ranges_day(column: Any, ranges: Sequence[DayRange]) -> Any:
    """A summary's ``day`` inside any of the ranges."""
    parts = [column < end if first is None else and_(column >= first, column < end) for first, end in ranges]
    return or_(*parts) if parts else sa.false()


def _grace(report: Dashboard) -> None:
    """Members in grace: ``past_due`` now, whatever the period (never summarised)."""
    for currency, count, amount in db.session.execute(
        select(M.currency, func.count(), func.sum(M.amount))
        .where(M.status == MembershipStatus.PAST_DUE)
        .group_by(M.currency)
    ):
        report.in_grace.add(currency, int(count), int(amount))


def _payments(report: Dashboard, cover: Coverage) -> None:
    """Revenue by month, currency, frequency and campaign; one-time gifts, refunds, disputes."""
    period = report.period
    rows: list[tuple[Any, ...]] = []
    summarised = _clip(cover.summarised, period.first, cover.end)
    if summarised:
        S = DailyPayments
        rows += db.session.execute(
            select(
                month_of_day(S.day),
                S.currency,
                S.frequency,
                S.campaign,
                func.sum(S.charged),
                func.sum(S.charged_amount),
                func.sum(S.refunded),
                func.sum(S.refunded_amount),
                func.sum(S.disputed),
                func.sum(S.disputed_amount),
            )
            .where(_in_ranges_day(S.day, summarised), S.charged > 0)
            .group_by(*_by_position(1, 2, 3, 4))
        ).all()
    live = _clip(cover.live, period.first, cover.end)
    if live:
        frequency = _frequency_looked_up()
        disputed = Payment.status == PaymentStatus.DISPUTED
        rows += db.session.execute(
            select(
                month_of(Payment.paid_at),
                Payment.currency,
                frequency,
                Payment.campaign,
                func.count(),
                func.sum(Payment.amount),
                func.count().filter(Payment.refunded_amount > 0),
                func.coalesce(func.sum(Payment.refunded_amount), 0),
                func.count().filter(disputed),
                func.coalesce(func.sum(Payment.amount).filter(disputed), 0),
            )
            .where(_in_ranges(Payment.paid_at, live), Payment.status.in_(CHARGED))
            .group_by(*_by_position(1, 2, 3, 4))
        ).all()
    by_month: dict[tuple[Month, str], int] = defaultdict(int)
    by_frequency: dict[tuple[str, str], Money] = defaultdict(Money)
    by_campaign: dict[tuple[str, str], Money] = defaultdict(Money)
    for (
        key,
        currency,
        freq,
        campaign,
        count,
        amount,
        n_refunded,
        refunded,
        n_disputed,
        disputed_amount,
    ) in rows:
        count, amount = int(count), int(amount)
        freq = _interval(freq)
        by_month[(_month(key), currency)] += amount
        by_frequency[(freq, currency)].add(currency, count, amount)
        by_campaign[(campaign or NO_CAMPAIGN, currency)].add(currency, count, amount)
        report.revenue.add(currency, count, amount)
        if freq == ONCE:
            report.one_time.add(currency, count, amount)
        if n_refunded:
            report.refunds.add(currency, int(n_refunded), int(refunded))
        if n_disputed:
            report.disputes.add(currency, int(n_disputed), int(disputed_amount))
    report.revenue_by_month = dict(sorted(by_month.items()))
    report.revenue_by_frequency = dict(
        sorted(by_frequency.items(), key=lambda kv: (FREQUENCIES.index(kv[0][0]), kv[0][1]))
    )
    report.revenue_by_campaign = dict(
        sorted(by_campaign.items(), key=lambda kv: (kv[0][0] == NO_CAMPAIGN, -kv[1].count, kv[0]))
    )


def _failures(report: Dashboard, cover: Coverage) -> None:
    period = report.period
    rows: list[tuple[Any, ...]] = []
    summarised = _clip(cover.summarised, period.first, cover.end)
    if summarised:
        F = DailyFailures
        rows += db.session.execute(
            select(F.currency, F.failure_code, func.sum(F.failed), func.sum(F.failed_amount))
            .where(_in_ranges_day(F.day, summarised))
            .group_by(F.currency, F.failure_code)
        ).all()
    live = _clip(cover.live, period.first, cover.end)
    if live:
        rows += db.session.execute(
            select(Payment.currency, Payment.failure_code, func.count(), func.sum(Payment.amount))
            .where(Payment.status == PaymentStatus.FAILED, _in_ranges(Payment.created_at, live))
            .group_by(Payment.currency, Payment.failure_code)
        ).all()
    codes: dict[str, int] = defaultdict(int)
    for currency, code, count, amount in rows:
        report.failed.add(currency, int(count), int(amount))
        codes[code or ""] += int(count)
    report.failure_codes = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))


# -- building the summaries ------------------------------------------------------------------

#: Days built in one transaction (a month of payments at a time on a big database).
CHUNK_DAYS = 31
#: Serialises builders on PostgreSQL (the beat task, the command): an arbitrary constant.
_LOCK_KEY = 7_130_826


def _payment_summary(first: date, end: date) -> Any:
    """``report_daily_payments`` rows for ``[first, end)``, from the raw payments."""
    frequency = _frequency_of_membership()
    campaign = func.coalesce(Payment.campaign, _EMPTY_SQL)
    disputed = Payment.status == PaymentStatus.DISPUTED
    zero = sa.literal_column("0", sa.Integer)
    charged = (
        select(
            day_of(Payment.paid_at).label("day"),
            Payment.currency.label("currency"),
            frequency.label("frequency"),
            campaign.label("campaign"),
            func.count().label("charged"),
            func.sum(Payment.amount).label("charged_amount"),
            func.count().filter(Payment.refunded_amount > 0).label("refunded"),
            func.coalesce(func.sum(Payment.refunded_amount), 0).label("refunded_amount"),
            func.count().filter(disputed).label("disputed"),
            func.coalesce(func.sum(Payment.amount).filter(disputed), 0).label("disputed_amount"),
            zero.label("failed"),
            zero.label("failed_amount"),
        )
        .select_from(Payment)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(_in_ranges(Payment.paid_at, [(first, end)]), Payment.status.in_(CHARGED))
        .group_by(*_by_position(1, 2, 3, 4))
    )
    failed = (
        select(
            day_of(Payment.created_at),
            Payment.currency,
            frequency,
            campaign,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            func.count(),
            func.sum(Payment.amount),
        )
        .select_from(Payment)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(_in_ranges(Payment.created_at, [(first, end)]), Payment.status == PaymentStatus.FAILED)
        .group_by(*_by_position(1, 2, 3, 4))
    )
    both = sa.union_all(charged, failed).subquery()
    columns = [c.name for c in DailyPayments.__table__.columns]
    keys = columns[:4]
    return (
        columns,
        select(*(both.c[k] for k in keys), *(func.sum(both.c[c]) for c in columns[4:])).group_by(
            *(both.c[k] for k in keys)
        ),
    )


def _failure_summary(first: date, end: date) -> Any:
    select_ = (
        select(
            day_of(Payment.created_at),
            Payment.currency,
            func.coalesce(Payment.failure_code, _EMPTY_SQL),
            func.count(),
            func.sum(Payment.amount),
        )
        .where(_in_ranges(Payment.created_at, [(first, end)]), Payment.status == PaymentStatus.FAILED)
        .group_by(*_by_position(1, 2, 3))
    )
    return ["day", "currency", "failure_code", "failed", "failed_amount"], select_


def _membership_summary(first: date, end: date) -> Any:
    zero = sa.literal_column("0", sa.Integer)
    started = (
        select(
            day_of(M.started_at).label("day"),
            M.currency.label("currency"),
            M.interval.label("interval"),
            func.count().label("started"),
            func.sum(M.amount).label("started_amount"),
            func.coalesce(func.sum(case((_came_back(), 1), else_=0)), 0).label("reactivated"),
            zero.label("ended"),
            zero.label("ended_amount"),
        )
        .where(_ever_member, _in_ranges(M.started_at, [(first, end)]))
        .group_by(*_by_position(1, 2, 3))
    )
    ended = (
        select(day_of(_end_time), M.currency, M.interval, zero, zero, zero, func.count(), func.sum(M.amount))
        .where(_ever_member, _ended_in([(first, end)]))
        .group_by(*_by_position(1, 2, 3))
    )
    both = sa.union_all(started, ended).subquery()
    columns = [c.name for c in DailyMemberships.__table__.columns]
    keys = columns[:3]
    return (
        columns,
        select(*(both.c[k] for k in keys), *(func.sum(both.c[c]) for c in columns[3:])).group_by(
            *(both.c[k] for k in keys)
        ),
    )


def _reason_summary(first: date, end: date) -> Any:
    select_ = (
        select(day_of(_end_time), func.coalesce(M.cancellation_reason, _EMPTY_SQL), func.count())
        .where(_ever_member, _ended_in([(first, end)]))
        .group_by(*_by_position(1, 2))
    )
    return ["day", "reason", "ended"], select_


_SUMMARIES = (
    (DailyPayments, _payment_summary),
    (DailyFailures, _failure_summary),
    (DailyMemberships, _membership_summary),
    (DailyCancellationReasons, _reason_summary),
)


def _build_range(conn: Connection, first: date, end: date) -> None:
    """Replace the summaries of ``[first, end)`` and clear the marks seen, in the caller's snapshot."""
    for model, build in _SUMMARIES:
        table = model.__table__
        conn.execute(table.delete().where(table.c.day >= first, table.c.day < end))
        columns, query = build(first, end)
        conn.execute(table.insert().from_select(columns, query))
    days = table_days(first, end)
    day_table = ReportDay.__table__
    conn.execute(day_table.delete().where(day_table.c.day >= first, day_table.c.day < end))
    now = utcnow()
    conn.execute(day_table.insert(), [{"day": d, "built_at": now} for d in days])
    # Only the marks this snapshot sees: a change committed after it keeps its mark.
    dirty = ReportDirtyDay.__table__
    conn.execute(dirty.delete().where(dirty.c.day >= first, dirty.c.day < end))


def table_days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


@contextlib.contextmanager
def _builder(wait: bool = True) -> Iterator[Connection | None]:
    """A connection of its own, holding the builders' lock (``None`` if another builder holds it)."""
    with db.engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            if wait:
                conn.execute(select(func.pg_advisory_lock(_LOCK_KEY)))
                locked = True
            else:
                locked = bool(conn.execute(select(func.pg_try_advisory_lock(_LOCK_KEY))).scalar())
            conn.commit()
            if not locked:
                yield None
                return
            # Each range is built from one snapshot: what it reads and the marks it clears agree.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            if postgres:
                conn.rollback()
                conn.execute(select(func.pg_advisory_unlock(_LOCK_KEY)))
                conn.commit()


def build_days(days: Iterable[date], *, wait: bool = True) -> int:
    """Build the summaries of ``days`` (each run of days in chunks, one transaction each).

    Returns how many days were built; 0 without waiting when ``wait`` is false
    and another builder is at work.
    """
    runs = _runs(days)
    built = 0
    with _builder(wait) as conn:
        if conn is None:
            return 0
        for first, end in runs:
            chunk_first = first
            while chunk_first < end:
                chunk_end = min(end, chunk_first + timedelta(days=CHUNK_DAYS))
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(sa.text("SET LOCAL jit = off"))  # compiling costs more than it saves
                    _build_range(conn, chunk_first, chunk_end)
                built += (chunk_end - chunk_first).days
                chunk_first = chunk_end
    return built


def first_day_with_data() -> date | None:
    """The earliest day any figure counts on (every index makes this a few lookups)."""
    found = [
        db.session.scalar(select(func.min(M.started_at))),
        db.session.scalar(select(func.min(Payment.paid_at))),
        db.session.scalar(select(func.min(Payment.created_at)).where(Payment.status == PaymentStatus.FAILED)),
    ]
    days = [value.astimezone(UTC).date() for value in found if value is not None]
    return min(days) if days else None


@dataclass
class Refresh:
    dirty: int = 0
    missing: int = 0
    built: int = 0
    busy: bool = False


def days_to_build(today: date | None = None) -> tuple[list[date], list[date]]:
    """(dirty days, days never built) before today."""
    today = today or utcnow().date()
    dirty = sorted(
        set(db.session.scalars(select(ReportDirtyDay.day).where(ReportDirtyDay.day < today).distinct()))
    )
    first = first_day_with_data()
    missing: list[date] = []
    if first is not None and first < today:
        built = set(db.session.scalars(select(ReportDay.day).where(ReportDay.day >= first)))
        missing = [d for d in table_days(first, today) if d not in built]
    db.session.rollback()  # no transaction held while building
    return dirty, missing


def refresh(today: date | None = None, *, wait: bool = False) -> Refresh:
    """The beat task's work: build the days marked dirty and the past days never built."""
    dirty, missing = days_to_build(today)
    report = Refresh(dirty=len(dirty), missing=len(missing))
    if dirty or missing:
        report.built = build_days([*dirty, *missing], wait=wait)
        report.busy = report.built == 0
    if report.built:
        current_app.logger.info(
            "report summaries: %s days built (%s dirty, %s never built)",
            report.built,
            len(dirty),
            len(missing),
        )
    return report


def rebuild(first: date | None = None, last: date | None = None) -> int:
    """Build every day from ``first`` (default: the first day with data) to ``last`` (default: yesterday)."""
    yesterday = utcnow().date() - timedelta(days=1)
    last = min(last or yesterday, yesterday)
    first = first or first_day_with_data()
    db.session.rollback()
    if first is None or first > last:
        return 0
    return build_days(table_days(first, last + timedelta(days=1)), wait=True)


# -- supporters ----------------------------------------------------------------------------


def search_supporters(query: str, limit: int = 50) -> list[Supporter]:
    """By email (whole or its beginning) or by any part of the name, case-insensitive."""
    text = query.strip()
    if not text:
        return []
    lowered = text.lower()
    conditions = [Supporter.email == lowered, Supporter.email.startswith(lowered, autoescape=True)]
    if "@" not in text:
        conditions.append(func.lower(Supporter.name).contains(lowered, autoescape=True))
    exact_first = case((Supporter.email == lowered, 0), else_=1)
    return list(
        db.session.scalars(
            select(Supporter).where(or_(*conditions)).order_by(exact_first, Supporter.email).limit(limit)
        )
    )


# -- exports -------------------------------------------------------------------------------


def payment_rows(period: Period, batch: int = 1000) -> Iterator[Any]:
    """Payments charged in the period, and those that failed in it, oldest first; streamed.

    ``yield_per`` makes PostgreSQL use a server-side cursor: ``batch`` rows in
    memory at a time, however many the period holds.
    """
    start, end = period.start, period.end
    when = func.coalesce(Payment.paid_at, Payment.created_at)
    statement = (
        select(
            Payment.id,
            when.label("at"),
            Supporter.email,
            Supporter.name,
            Payment.amount,
            Payment.currency,
            Payment.status,
            Payment.refunded_amount,
            Payment.fee,
            Payment.fee_cover,
            _frequency_of_membership().label("frequency"),
            Payment.campaign,
            Payment.receipt_number,
            Payment.failure_code,
            Payment.stripe_invoice_id,
            Payment.stripe_payment_intent_id,
            Payment.stripe_charge_id,
        )
        .select_from(Payment)
        .join(Supporter, Supporter.id == Payment.supporter_id)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(
            or_(
                and_(Payment.paid_at >= start, Payment.paid_at < end, Payment.status.in_(CHARGED)),
                and_(
                    Payment.status == PaymentStatus.FAILED,
                    Payment.created_at >= start,
                    Payment.created_at < end,
                ),
            )
        )
        .order_by(when, Payment.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(statement)


def member_rows(period: Period, batch: int = 1000) -> Iterator[Any]:
    """Memberships that were members at any moment of the period; streamed."""
    start, end = period.start, period.end
    statement = (
        select(
            M.id,
            Supporter.email,
            Supporter.name,
            Supporter.locale,
            M.status,
            M.amount,
            M.currency,
            M.interval,
            M.started_at,
            case((_ended, _end_time), else_=None).label("ended_at"),
            M.current_period_end,
            M.cancel_at_period_end,
            M.cancellation_reason,
            M.campaign,
            M.stripe_subscription_id,
            Supporter.stripe_customer_id,
        )
        .join(Supporter, Supporter.id == M.supporter_id)
        .where(_ever_member, M.started_at < end, or_(not_(_ended), _end_time >= start))
        .order_by(M.started_at, M.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(statement)
