"""emails: the outbox log (one row per kind and subject), reminders, card expiry

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KINDS = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
)


def upgrade():
    op.create_table(
        "email_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum(*KINDS, name="email_kind", native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("about", sa.String(length=120), nullable=False),
        sa.Column("supporter_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("locale", sa.String(length=2), nullable=False),
        sa.Column("status", sa.Enum("pending", "sent", "failed", name="email_status", native_enum=False, create_constraint=True, length=32), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["supporter_id"], ["supporter.id"], name=op.f("fk_email_log_supporter_id_supporter")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_log")),
        sa.UniqueConstraint("kind", "about", name="uq_email_log_kind_about"),
    )
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.create_index("ix_email_log_status_created_at", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_log_supporter_id"), ["supporter_id"], unique=False)
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("locale", sa.String(length=2), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("locale IN ('ar', 'en')", name=op.f("ck_reminder_locale_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder")),
        sa.UniqueConstraint("token", name=op.f("uq_reminder_token")),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_reminder_remind_at"), ["remind_at"], unique=False)
    with op.batch_alter_table("supporter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_brand", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("card_last4", sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column("card_exp_month", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("card_exp_year", sa.SmallInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table("supporter", schema=None) as batch_op:
        for column in ("card_exp_year", "card_exp_month", "card_last4", "card_brand"):
            batch_op.drop_column(column)
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminder_remind_at"))
        batch_op.drop_index(batch_op.f("ix_reminder_email"))
    op.drop_table("reminder")
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_log_supporter_id"))
        batch_op.drop_index("ix_email_log_status_created_at")
    op.drop_table("email_log")
