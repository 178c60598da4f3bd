"""Indexes the finance reports need on tables defined elsewhere.

Declared here (an ``Index`` on another model's columns joins that table) so
the reports' needs stay in one place; migrations 0007 and 0008 create them.
Whole past days are read from the daily summaries (``report_summary.py``);
these serve the days computed live (today, days changed since their summary
was built) and the builder, which reads one range of days at a time.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.models.membership import Membership
from app.models.payment import Payment

REPORT_INDEXES = (
    # Members who started (at Stripe) in a range of days.
    sa.Index("ix_membership_started_at", Membership.started_at),
    # Members who ended in a range of days (and their cancellation reasons).
    sa.Index("ix_membership_canceled_at", Membership.canceled_at),
    # The ends without a cancel date (unpaid, paused): status, canceled_at IS NULL, a range of updated_at.
    sa.Index(
        "ix_membership_status_canceled_at_updated_at",
        Membership.status,
        Membership.canceled_at,
        Membership.updated_at,
    ),
    # Members in grace (past_due) now, per currency: read from the index alone.
    sa.Index(
        "ix_membership_status_currency_amount", Membership.status, Membership.currency, Membership.amount
    ),
    # Failed payments of a period (they have no paid_at).
    sa.Index("ix_payment_status_created_at", Payment.status, Payment.created_at),
)
