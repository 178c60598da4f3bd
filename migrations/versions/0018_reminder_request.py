"""reminder_request: "remind me later" requests, counted per IP and per address (keyed hashes only)

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reminder_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_digest", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_request")),
    )
    with op.batch_alter_table("reminder_request") as batch:
        batch.create_index(batch.f("ix_reminder_request_created_at"), ["created_at"], unique=False)
        batch.create_index(batch.f("ix_reminder_request_email_digest"), ["email_digest"], unique=False)
        batch.create_index(batch.f("ix_reminder_request_ip"), ["ip"], unique=False)


def downgrade():
    op.drop_table("reminder_request")
