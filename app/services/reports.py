"""The finance dashboard's figures, from our tables only (never the Stripe API).

Times are UTC.  A period is ``[start, end)``; the dashboard asks for whole
days, so ``end`` is midnight after the last day.

What the words mean here (the page repeats the short version):

- A **membership** is one subscription.  It *starts* when our database first
  recorded it (``created_at``: the support page's confirm step, or the first
  Stripe event about it) and *ends* when it reaches ``canceled``, ``unpaid``
  or ``paused``, at Stripe's ``canceled_at`` (else when we recorded the
  change).  ``incomplete`` ones never started: their first charge never went
  through.
- A **member** at a moment is a membership started before it and not ended
  before it.  ``past_due`` is still a member (grace while Stripe retries).
- **New** members of a period started in it; **reactivated** ones also
  started in it, by a supporter with an earlier membership that had ended by
  then (new and reactivated never overlap); **churned** ones ended in it.
  Members at the end = members at the start + new + reactivated - churned.
- **Churn rate** = churned / members at the start of the period (per month:
  of the month).
- **MRR** (monthly recurring revenue) of the members at the end, per
  currency: monthly amounts plus yearly amounts / 12.  Yearly amounts are
  summed per currency first and the sum divided by 12, rounded half up to a
  whole minor unit (cent) once, so MRR is an integer of minor units.
- **Revenue** is what was charged (``paid_at`` in the period), refunded and
  disputed payments included at their full amount; **refunds** and
  **disputes** are those of the payments charged in the period.
- **Failed payments** are charges that failed in the period (``created_at``).
- **Members in grace** are the memberships ``past_due`` now, whatever the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from app.extensions import db
from app.models import Interval, Membership, MembershipStatus, Payment, PaymentStatus, Supporter

ENDED = (MembershipStatus.CANCELED, MembershipStatus.UNPAID, MembershipStatus.PAUSED)
NEVER_STARTED = (MembershipStatus.INCOMPLETE, MembershipStatus.INCOMPLETE_EXPIRED)
CHARGED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED)
ONCE = "once"
#: Inlined, not a bound parameter: PostgreSQL must see GROUP BY and SELECT as one expression.
_ONCE_SQL = sa.literal_column("'once'", sa.String)
FREQUENCIES = (Interval.MONTH.value, Interval.YEAR.value, ONCE)
NO_CAMPAIGN = ""
NO_REASON = ""

Month = tuple[int, int]


# -- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

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


def _month(value: Any) -> Month:
    if isinstance(value, datetime | date):
        return value.year, value.month
    year, month = str(value)[:7].split("-")
    return int(year), int(month)


M = Membership
_end_time = func.coalesce(M.canceled_at, M.updated_at)
_ended = M.status.in_(ENDED)
#: Ever a member (an end recorded before the start can only be a record of history we never saw).
_ever_member = and_(M.status.not_in(NEVER_STARTED), or_(not_(_ended), _end_time >= M.created_at))


def _member_at(moment: datetime) -> Any:
    return and_(M.created_at < moment, or_(not_(_ended), _end_time >= moment))


def _ended_between(start: datetime, end: datetime) -> Any:
    # coalesce(canceled_at, updated_at) in range, written so the two indexes serve it.
    return and_(
        _ended,
        or_(
            and_(M.canceled_at >= start, M.canceled_at < end),
            and_(M.canceled_at.is_(None), M.updated_at >= start, M.updated_at < end),
        ),
    )


def mrr(monthly: int, yearly: int) -> int:
    """Monthly amounts plus the yearly sum / 12, rounded half up once (integer minor units)."""
    return monthly + (yearly * 2 + 12) // 24


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


def dashboard(period: Period) -> Dashboard:
    """Every figure of the dashboard, in five queries."""
    report = Dashboard(period)
    _members(report)
    _flows(report)
    _payments(report)
    _failures(report)
    return report


def _members(report: Dashboard) -> None:
    """Members at the start and end, MRR at the end, members in grace now: one pass."""
    start, end = report.period.start, report.period.end
    at_start = and_(_ever_member, _member_at(start))
    at_end = and_(_ever_member, _member_at(end))
    grace = M.status == MembershipStatus.PAST_DUE
    rows = db.session.execute(
        select(
            M.currency,
            M.interval,
            func.count().filter(at_start),
            func.count().filter(at_end),
            func.coalesce(func.sum(M.amount).filter(at_end), 0),
            func.count().filter(grace),
            func.coalesce(func.sum(M.amount).filter(grace), 0),
        )
        .where(M.status.not_in(NEVER_STARTED))
        .group_by(M.currency, M.interval)
    )
    recurring: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for currency, interval, n_start, n_end, amount_end, n_grace, amount_grace in rows:
        report.members_at_start += n_start
        report.members_at_end += n_end
        if n_end:
            recurring[currency][0 if interval == Interval.MONTH else 1] += int(amount_end)
        if n_grace:
            report.in_grace.add(currency, n_grace, int(amount_grace))
    report.recurring_at_end = {c: (v[0], v[1]) for c, v in recurring.items()}


def _flows(report: Dashboard) -> None:
    """New, reactivated and churned per month; cancellation reasons of the period."""
    period = report.period
    start, end = period.start, period.end
    flows = {month: MonthFlow(month) for month in period.months}
    earlier = sa.orm.aliased(Membership)
    came_back = (
        select(earlier.id)
        .where(
            earlier.supporter_id == M.supporter_id,
            earlier.id != M.id,
            earlier.status.in_(ENDED),
            func.coalesce(earlier.canceled_at, earlier.updated_at) <= M.created_at,
            func.coalesce(earlier.canceled_at, earlier.updated_at) >= earlier.created_at,
        )
        .exists()
    )
    started = db.session.execute(
        select(
            month_of(M.created_at),
            func.count(),
            func.coalesce(func.sum(case((came_back, 1), else_=0)), 0),
        )
        .where(_ever_member, M.created_at >= start, M.created_at < end)
        .group_by(month_of(M.created_at))
    )
    for month, count, reactivated in started:
        flow = flows[_month(month)]
        flow.reactivated += int(reactivated)
        flow.new += int(count) - int(reactivated)
    ended = db.session.execute(
        select(month_of(_end_time), M.cancellation_reason, func.count())
        .where(_ever_member, _ended_between(start, end))
        .group_by(month_of(_end_time), M.cancellation_reason)
    )
    reasons: dict[str, int] = defaultdict(int)
    for month, reason, count in ended:
        flows[_month(month)].churned += int(count)
        reasons[reason or NO_REASON] += int(count)
    report.cancellation_reasons = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    members = report.members_at_start
    for month in period.months:
        flow = flows[month]
        flow.members_at_start = members
        members += flow.new + flow.reactivated - flow.churned
    report.months = [flows[m] for m in period.months]


def _payments(report: Dashboard) -> None:
    """Revenue by month, currency, frequency and campaign; one-time gifts, refunds, disputes."""
    start, end = report.period.start, report.period.end
    frequency = _frequency_of_membership()
    disputed = Payment.status == PaymentStatus.DISPUTED
    month = month_of(Payment.paid_at)
    rows = db.session.execute(
        select(
            month,
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
        .select_from(Payment)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .where(Payment.paid_at >= start, Payment.paid_at < end, Payment.status.in_(CHARGED))
        .group_by(month, Payment.currency, frequency, Payment.campaign)
    )
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
        freq = str(freq.value if isinstance(freq, Interval) else freq)
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


def _failures(report: Dashboard) -> None:
    start, end = report.period.start, report.period.end
    rows = db.session.execute(
        select(Payment.currency, Payment.failure_code, func.count(), func.sum(Payment.amount))
        .where(
            Payment.status == PaymentStatus.FAILED,
            Payment.created_at >= start,
            Payment.created_at < end,
        )
        .group_by(Payment.currency, Payment.failure_code)
    )
    codes: dict[str, int] = defaultdict(int)
    for currency, code, count, amount in rows:
        report.failed.add(currency, int(count), int(amount))
        codes[code or ""] += int(count)
    report.failure_codes = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))


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


def _frequency_of_membership() -> Any:
    return case((Payment.membership_id.is_(None), _ONCE_SQL), else_=Membership.interval)


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
            M.created_at,
            case((_ended, _end_time), else_=None).label("ended_at"),
            M.current_period_end,
            M.cancel_at_period_end,
            M.cancellation_reason,
            M.campaign,
            M.stripe_subscription_id,
            Supporter.stripe_customer_id,
        )
        .join(Supporter, Supporter.id == M.supporter_id)
        .where(_ever_member, M.created_at < end, or_(not_(_ended), _end_time >= start))
        .order_by(M.created_at, M.id)
        .execution_options(yield_per=batch)
    )
    yield from db.session.execute(statement)
