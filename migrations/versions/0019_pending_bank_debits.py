"""pending payments (SEPA Direct Debit the bank pays days later), their two emails, the mandate reference

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

STATUSES_BEFORE = ("succeeded", "failed", "refunded", "disputed")
STATUSES = ("pending", *STATUSES_BEFORE)
KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
    "sign_in_link", "account_erased", "payout_failed", "attempts_spike",
    "action_required", "gift_with_your_address",
)
KINDS = (*KINDS_BEFORE, "payment_pending", "debit_failed")


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{value}'" for value in values) + ")"


def _constraints(statuses, kinds):
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payment_payment_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_payment_payment_status"), _check("status", statuses))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _check("kind", kinds))


def upgrade():
    _constraints(STATUSES, KINDS)
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mandate_reference", sa.String(length=64), nullable=True))


def downgrade():
    op.execute(sa.text("DELETE FROM email_log WHERE kind IN ('payment_pending', 'debit_failed')"))
    op.execute(sa.text("UPDATE payment SET status = 'failed', failure_code = 'pending' WHERE status = 'pending'"))
    _constraints(STATUSES_BEFORE, KINDS_BEFORE)
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_column("mandate_reference")
