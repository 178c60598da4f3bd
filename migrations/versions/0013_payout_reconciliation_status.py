"""payout.reconciliation_status: the transactions are read again until Stripe completed them

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reconciliation_status", sa.String(length=32), nullable=True))
    # Lists read before this column existed stay NULL: a payout.reconciliation_completed still to
    # come reads them once more, as final.


def downgrade():
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.drop_column("reconciliation_status")
