"""staff: two-factor recovery codes and encrypted TOTP secrets; payout failures

- ``staff_recovery_code``: keyed hashes of each account's one-time recovery codes;
- ``staff_user.totp_secret`` grows to hold a Fernet token, and the plaintext
  secrets stored before are sealed here with the key of ``STAFF_TOTP_KEY`` (or
  ``SECRET_KEY``), as ``app/services/staff_secrets.py`` does (the code still
  reads a plaintext one, should one be left);
- ``payout``: the time of the event its status came from, and why a payout failed;
- a new email kind to finance staff, ``payout_failed``.

Revision ID: 0009
Revises: 0008
"""

import base64

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

KINDS_BEFORE = (
    "receipt", "welcome", "payment_failed", "cancellation", "refund",
    "card_expiring", "renewal_upcoming", "reminder", "membership_lapsed",
    "sign_in_link", "account_erased",
)
KINDS = (*KINDS_BEFORE, "payout_failed")

# As in app/services/staff_secrets.py when this was written (a migration keeps its own copy).
PREFIX = "f1:"
TOTP_LABEL = b"newsroom-support staff TOTP secret v1"


def _kind_check(kinds):
    return "kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


def _box():
    from cryptography.fernet import Fernet, MultiFernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    try:
        from flask import current_app

        config = dict(current_app.config)
    except RuntimeError:  # plain alembic, no app: the environment's settings
        from app.config import load

        config = load()
    keys = [k.strip() for k in str(config.get("STAFF_TOTP_KEY") or "").split(",") if k.strip()]
    keys = keys or [str(config.get("SECRET_KEY") or "")]
    fernets = []
    for key in keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=TOTP_LABEL).derive(key.encode())
        fernets.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(fernets)


def _secrets(bind):
    return bind.execute(
        sa.text("SELECT id, totp_secret FROM staff_user WHERE totp_secret IS NOT NULL")
    ).all()


def upgrade():
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_user.id"], name=op.f("fk_staff_recovery_code_staff_user_id_staff_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_staff_recovery_code_code_hash")),
    )
    with op.batch_alter_table("staff_recovery_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_recovery_code_staff_user_id"), ["staff_user_id"], unique=False)
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=255), existing_nullable=True)
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failure_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("failure_message", sa.String(length=500), nullable=True))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS))

    bind = op.get_bind()
    plain = [(row.id, row.totp_secret) for row in _secrets(bind) if not row.totp_secret.startswith(PREFIX)]
    if plain:
        box = _box()
        for staff_id, secret in plain:
            bind.execute(
                sa.text("UPDATE staff_user SET totp_secret = :sealed WHERE id = :id"),
                {"sealed": PREFIX + box.encrypt(secret.encode()).decode(), "id": staff_id},
            )


def downgrade():
    bind = op.get_bind()
    sealed = [(row.id, row.totp_secret) for row in _secrets(bind) if row.totp_secret.startswith(PREFIX)]
    if sealed:
        from cryptography.fernet import InvalidToken

        box = _box()
        for staff_id, stored in sealed:
            try:
                secret = box.decrypt(stored[len(PREFIX):].encode()).decode()
            except InvalidToken:  # no key opens it: that person enrols again
                bind.execute(
                    sa.text("UPDATE staff_user SET totp_secret = NULL, totp_enabled_at = NULL WHERE id = :id"),
                    {"id": staff_id},
                )
                continue
            bind.execute(
                sa.text("UPDATE staff_user SET totp_secret = :secret WHERE id = :id"),
                {"secret": secret, "id": staff_id},
            )
    op.execute(sa.text("DELETE FROM email_log WHERE kind = 'payout_failed'"))
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_email_log_email_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_email_log_email_kind"), _kind_check(KINDS_BEFORE))
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.drop_column("failure_message")
        batch_op.drop_column("failure_code")
        batch_op.drop_column("status_at")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=255), type_=sa.String(length=64), existing_nullable=True)
    with op.batch_alter_table("staff_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_recovery_code_staff_user_id"))
    op.drop_table("staff_recovery_code")
