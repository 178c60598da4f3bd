"""account: sign-in links and their rate-limit log; two more email kinds (sign-in link, erasure)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
)
KINDS = (*KINDS_BEFORE, "sign_in_link", "account_erased")


def _kind_check(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def upgrade():
    op.create_table(
        "sign_in_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supporter_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["supporter_id"], ["supporter.id"], name=op.f("fk_sign_in_token_supporter_id_supporter")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_token")),
        sa.UniqueConstraint("nonce", name=op.f("uq_sign_in_token_nonce")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_in_token_token_hash")),
    )
    with op.batch_alter_table("sign_in_token", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_token_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_token_supporter_id"), ["supporter_id"], unique=False)
    op.create_table(
        "sign_in_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_digest", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempt")),
    )
    with op.batch_alter_table("sign_in_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_attempt_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_attempt_email_digest"), ["email_digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_in_attempt_ip"), ["ip"], unique=False)
    # The email_kind CHECK lists every kind: replace it (SQLite rebuilds the table).
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS))


def downgrade():
    op.execute(
        sa.text("DELETE FROM email_log WHERE kind IN ('sign_in_link', 'account_erased')")
    )
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS_BEFORE))
    op.drop_table("sign_in_attempt")
    op.drop_table("sign_in_token")
