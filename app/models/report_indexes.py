"""Indexes the finance reports need on tables defined elsewhere.

Declared here (an ``Index`` on another model's columns joins that table) so
the reports' needs stay in one place; migration 0007 creates them.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.models.membership import Membership
from app.models.payment import Payment

REPORT_INDEXES = (
    # New members per month.
    sa.Index("ix_membership_created_at", Membership.created_at),
    # Churned members per month (and their cancellation reasons).
    sa.Index("ix_membership_canceled_at", Membership.canceled_at),
    # Members in grace (past_due) and the ends without a cancel date (unpaid, paused).
    sa.Index("ix_membership_status_updated_at", Membership.status, Membership.updated_at),
    # Failed payments of a period (they have no paid_at).
    sa.Index("ix_payment_status_created_at", Payment.status, Payment.created_at),
)
