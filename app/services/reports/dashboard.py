"""The finance dashboard: every figure of a period (the words are defined in the package's docstring).

Whole past days are read from the daily summaries, the other days computed
live from the raw tables by the same definitions (``sql.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, select

from app.extensions import db
from app.models import (
    CHARGED_STATUSES,
    DailyCancellationReasons,
    DailyFailures,
    DailyMemberships,
    DailyPayments,
    Interval,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
)
from app.services.reports.periods import Coverage, Month, Period, clip, coverage
from app.services.reports.sql import (
    ONCE,
    as_month,
    by_position,
    came_back,
    end_time,
    ended_in,
    ever_member,
    frequency_looked_up,
    in_day_ranges,
    in_ranges,
    month_of,
    month_of_day,
)

FREQUENCIES = (Interval.MONTH.value, Interval.YEAR.value, ONCE)
NO_CAMPAIGN = ""
NO_REASON = ""

M = Membership


def mrr(monthly: int, yearly: int) -> int:
    """Monthly amounts plus the yearly sum / 12, rounded half up once (integer minor units)."""
    return monthly + (yearly * 2 + 12) // 24


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
    #: Bank debits on their way now (``pending``): not revenue until the bank pays.
    pending: Money = field(default_factory=Money)
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
    _pending(report)
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
            .where(in_day_ranges(S.day, cover.summarised))
            .group_by(*by_position(1, 2, 3))
        )
        for key, currency, interval, started, reactivated, ended, amount in rows:
            flow = buckets[before if key is None else as_month(key)]
            flow.started += int(started)
            flow.reactivated += int(reactivated)
            flow.ended += int(ended)
            flow.amounts[(currency, _interval(interval))] += int(amount)
        inside = clip(cover.summarised, period.first, cover.end)
        if inside:
            R = DailyCancellationReasons
            for reason, count in db.session.execute(
                select(R.reason, func.sum(R.ended)).where(in_day_ranges(R.day, inside)).group_by(R.reason)
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
                func.coalesce(func.sum(case((came_back(), 1), else_=0)), 0),
                func.sum(M.amount),
            )
            .where(ever_member, in_ranges(M.started_at, cover.live))
            .group_by(*by_position(1, 2, 3))
        ):
            flow = buckets[before if key is None else as_month(key)]
            flow.started += int(count)
            flow.reactivated += int(reactivated)
            flow.amounts[(currency, _interval(interval))] += int(amount)
        ended_bucket = case((end_time < start, None), else_=month_of(end_time))
        for key, currency, interval, reason, count, amount in db.session.execute(
            select(
                ended_bucket,
                M.currency,
                M.interval,
                M.cancellation_reason,
                func.count(),
                func.sum(M.amount),
            )
            .where(ever_member, ended_in(cover.live))
            .group_by(*by_position(1, 2, 3, 4))
        ):
            flow = buckets[before if key is None else as_month(key)]
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


def _now(money: Money, currency: Any, amount: Any, condition: Any) -> None:
    """Count and sum per currency of the rows in a state now, whatever the period (never summarised)."""
    for code, count, total in db.session.execute(
        select(currency, func.count(), func.sum(amount)).where(condition).group_by(currency)
    ):
        money.add(code, int(count), int(total))


def _grace(report: Dashboard) -> None:
    """Members in grace: ``past_due`` now."""
    _now(report.in_grace, M.currency, M.amount, M.status == MembershipStatus.PAST_DUE)


def _pending(report: Dashboard) -> None:
    """Money on its way: payments the bank has not paid yet (no revenue until it does), now."""
    _now(report.pending, Payment.currency, Payment.amount, Payment.status == PaymentStatus.PENDING)


def _payments(report: Dashboard, cover: Coverage) -> None:
    """Revenue by month, currency, frequency and campaign; one-time gifts, refunds, disputes."""
    period = report.period
    rows: list[tuple[Any, ...]] = []
    summarised = clip(cover.summarised, period.first, cover.end)
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
            .where(in_day_ranges(S.day, summarised), S.charged > 0)
            .group_by(*by_position(1, 2, 3, 4))
        ).all()
    live = clip(cover.live, period.first, cover.end)
    if live:
        frequency = frequency_looked_up()
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
            .where(in_ranges(Payment.paid_at, live), Payment.status.in_(CHARGED_STATUSES))
            .group_by(*by_position(1, 2, 3, 4))
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
        by_month[(as_month(key), currency)] += amount
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
    summarised = clip(cover.summarised, period.first, cover.end)
    if summarised:
        F = DailyFailures
        rows += db.session.execute(
            select(F.currency, F.failure_code, func.sum(F.failed), func.sum(F.failed_amount))
            .where(in_day_ranges(F.day, summarised))
            .group_by(F.currency, F.failure_code)
        ).all()
    live = clip(cover.live, period.first, cover.end)
    if live:
        rows += db.session.execute(
            select(Payment.currency, Payment.failure_code, func.count(), func.sum(Payment.amount))
            .where(Payment.status == PaymentStatus.FAILED, in_ranges(Payment.created_at, live))
            .group_by(Payment.currency, Payment.failure_code)
        ).all()
    codes: dict[str, int] = defaultdict(int)
    for currency, code, count, amount in rows:
        report.failed.add(currency, int(count), int(amount))
        codes[code or ""] += int(count)
    report.failure_codes = dict(sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])))
