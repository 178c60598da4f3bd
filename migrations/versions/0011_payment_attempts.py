"""card-testing defence: payment attempts (hashed ip, email and card) and the staff alert email kind

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
    "sign_in_link", "account_erased", "payout_failed",
)
KINDS = (*KINDS_BEFORE, "attempts_spike")
OUTCOMES = ("started", "succeeded", "declined", "refused", "trapped")


def _kind_check(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    op.create_table(
        "payment_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("card_hash", sa.String(length=64), nullable=True),
        sa.Column("session_key", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.Enum(*OUTCOMES, name="attempt_outcome", native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("stripe_intent_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempt")),
    )
    with op.batch_alter_table("payment_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_payment_attempt_ip_created", ["ip_hash", "created_at"], unique=False)
        batch_op.create_index("ix_payment_attempt_email_created", ["email_hash", "created_at"], unique=False)
        batch_op.create_index("ix_payment_attempt_card_created", ["card_hash", "created_at"], unique=False)
        batch_op.create_index("ix_payment_attempt_session_created", ["session_key", "created_at"], unique=False)
        batch_op.create_index("ix_payment_attempt_outcome_created", ["outcome", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_attempt_stripe_intent_id"), ["stripe_intent_id"], unique=False)
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS))


def downgrade():
    op.execute(sa.text("DELETE FROM email_log WHERE kind = 'attempts_spike'"))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS_BEFORE))
    op.drop_table("payment_attempt")
