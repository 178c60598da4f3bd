"""sign-in links: the request notes the ask (the address waits for the worker); links are random, only their hash is kept

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sign_in_attempt") as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("locale", sa.String(length=2), nullable=True))
    # Links derived from a stored nonce end: a nonce with SECRET_KEY rebuilt them.
    op.execute("DELETE FROM sign_in_token WHERE used_at IS NULL")
    with op.batch_alter_table("sign_in_token") as batch:
        batch.drop_constraint("uq_sign_in_token_nonce", type_="unique")
        batch.drop_column("nonce")


def downgrade():
    with op.batch_alter_table("sign_in_token") as batch:
        batch.add_column(sa.Column("nonce", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_sign_in_token_nonce", ["nonce"])
    with op.batch_alter_table("sign_in_attempt") as batch:
        batch.drop_column("locale")
        batch.drop_column("email")
