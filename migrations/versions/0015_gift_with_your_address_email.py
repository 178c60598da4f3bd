"""the gift_with_your_address email kind: a supporter is told of a gift made with their address

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
    "sign_in_link", "account_erased", "payout_failed", "attempts_spike",
    "action_required",
)
KINDS = (*KINDS_BEFORE, "gift_with_your_address")


def _kind_check(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS))


def downgrade():
    op.execute(sa.text("DELETE FROM email_log WHERE kind = 'gift_with_your_address'"))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS_BEFORE))
