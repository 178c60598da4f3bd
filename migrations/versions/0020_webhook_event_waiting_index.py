"""webhook_event: the events waiting to be applied, indexed in the order workers claim them

A worker claims the oldest waiting events a batch at a time
(``ORDER BY created, id ... FOR UPDATE SKIP LOCKED``).  With the index on
``(processed_at, created)`` PostgreSQL sorted every waiting event for each
batch (90 ms a batch with 64,000 waiting, ``bench/webhooks.py``); a partial
index on ``(created, id)`` of the waiting events hands them over in order.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

WAITING = sa.text("processed_at IS NULL")


def upgrade():
    with op.batch_alter_table("webhook_event") as batch:
        batch.drop_index("ix_webhook_event_unprocessed")
        batch.create_index(
            "ix_webhook_event_waiting",
            ["created", "id"],
            unique=False,
            postgresql_where=WAITING,
            sqlite_where=WAITING,
        )


def downgrade():
    with op.batch_alter_table("webhook_event") as batch:
        batch.drop_index("ix_webhook_event_waiting")
        batch.create_index("ix_webhook_event_unprocessed", ["processed_at", "created"], unique=False)
