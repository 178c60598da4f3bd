"""staff: accounts with roles and two-factor, sign-in attempts, payouts and their
balance transactions, and the indexes the finance reports read through

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OUTCOMES = ("success", "bad_password", "bad_code", "locked", "rate_limited", "unlocked")


def upgrade():
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Enum("finance", "admin", name="staff_role", native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("auth_version", sa.Integer(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_staff_user_email_lower_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_user_email")),
    )
    op.create_table(
        "staff_sign_in_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.Enum(*OUTCOMES, name="sign_in_outcome", native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_in_attempt")),
    )
    with op.batch_alter_table("staff_sign_in_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_staff_sign_in_attempt_email_created_at", ["email", "created_at"], unique=False)
        batch_op.create_index("ix_staff_sign_in_attempt_ip_created_at", ["ip", "created_at"], unique=False)
    op.create_table(
        "payout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_payout_id", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False, comment="minor units of currency"),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("arrival_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stripe_created", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transactions_loaded", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency = lower(currency)", name=op.f("ck_payout_currency_lower_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout")),
        sa.UniqueConstraint("stripe_payout_id", name=op.f("uq_payout_stripe_payout_id")),
    )
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.create_index("ix_payout_arrival_date", ["arrival_date"], unique=False)
    op.create_table(
        "payout_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("stripe_balance_transaction_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("reporting_category", sa.String(length=40), nullable=True),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False, comment="gross, in the payout's currency"),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("exchange_rate", sa.Float(), nullable=True),
        sa.Column("stripe_created", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["payout_id"], ["payout.id"], name=op.f("fk_payout_transaction_payout_id_payout")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_transaction")),
        sa.UniqueConstraint("stripe_balance_transaction_id", name=op.f("uq_payout_transaction_stripe_balance_transaction_id")),
    )
    with op.batch_alter_table("payout_transaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_transaction_charge_id"), ["charge_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payout_transaction_payout_id"), ["payout_id"], unique=False)
    # The finance reports (app/models/report_indexes.py says which figure needs which).
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index("ix_membership_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_membership_canceled_at", ["canceled_at"], unique=False)
        batch_op.create_index("ix_membership_status_updated_at", ["status", "updated_at"], unique=False)
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index("ix_payment_status_created_at", ["status", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_status_created_at")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_status_updated_at")
        batch_op.drop_index("ix_membership_canceled_at")
        batch_op.drop_index("ix_membership_created_at")
    op.drop_table("payout_transaction")
    op.drop_table("payout")
    op.drop_table("staff_sign_in_attempt")
    op.drop_table("staff_user")
