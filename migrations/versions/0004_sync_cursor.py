"""sync cursor: how far `flask stripe sync` got through each Stripe list, to resume

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sync_cursor",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_id", sa.String(length=255), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_cursor")),
    )


def downgrade():
    op.drop_table("sync_cursor")
