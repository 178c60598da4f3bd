"""renewals waiting for 3-D Secure (the action_required email kind) and the supporter's card id

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
    "sign_in_link", "account_erased", "payout_failed", "attempts_spike",
)
KINDS = (*KINDS_BEFORE, "action_required")


def _kind_check(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS))
    with op.batch_alter_table("supporter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_payment_method_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("card_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_supporter_card_payment_method_id"), ["card_payment_method_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("supporter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supporter_card_payment_method_id"))
        batch_op.drop_column("card_checked_at")
        batch_op.drop_column("card_payment_method_id")
    op.execute(sa.text("DELETE FROM email_log WHERE kind = 'action_required'"))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS_BEFORE))
