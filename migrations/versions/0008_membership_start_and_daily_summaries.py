"""reports: when a membership started at Stripe, and daily summaries the dashboard reads

- ``membership.started_at``: the subscription's ``start_date`` at Stripe (until
  now the reports counted starts by ``created_at``, so memberships imported by
  ``stripe sync`` counted as new on the day of the import).  Filled from
  ``created_at`` here; the next event or sync about each subscription sets
  Stripe's date.  Its index replaces the one on ``created_at``.
- ``webhook_event.supporter_id``: the supporter an applied event was about
  (the staff supporter page read it by scanning payload text).  Filled here for
  the events already stored, from the ids their objects name.
- ``report_day``, ``report_dirty_day`` and the ``report_daily_*`` tables: see
  ``app/models/report_summary.py``.  Empty here; ``flask --app app reports
  rebuild`` (or the beat task) builds them, and until then the dashboard
  computes every day live.

Revision ID: 0008
Revises: 0007
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade():
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE membership SET started_at = created_at")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.alter_column("started_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_index("ix_membership_created_at")
        batch_op.create_index("ix_membership_started_at", ["started_at"], unique=False)
        batch_op.create_index(
            "ix_membership_status_currency_amount", ["status", "currency", "amount"], unique=False
        )
        batch_op.drop_index("ix_membership_status_updated_at")
        batch_op.create_index(
            "ix_membership_status_canceled_at_updated_at", ["status", "canceled_at", "updated_at"], unique=False
        )

    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("supporter_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_webhook_event_supporter_id_supporter"), "supporter", ["supporter_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_webhook_event_supporter_id"), ["supporter_id"], unique=False)
    _link_stored_events()

    op.create_table(
        "report_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_report_day")),
    )
    op.create_table(
        "report_dirty_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_dirty_day")),
    )
    with op.batch_alter_table("report_dirty_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_dirty_day_day"), ["day"], unique=False)
    op.create_table(
        "report_daily_payments",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("frequency", sa.String(length=8), nullable=False),
        sa.Column("campaign", sa.String(length=100), nullable=False),
        sa.Column("charged", sa.Integer(), nullable=False),
        sa.Column("charged_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False, comment="payments with a refund"),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("disputed", sa.Integer(), nullable=False),
        sa.Column("disputed_amount", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("failed_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "currency", "frequency", "campaign", name=op.f("pk_report_daily_payments")
        ),
    )
    op.create_table(
        "report_daily_failures",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("failure_code", sa.String(length=100), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("failed_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", "failure_code", name=op.f("pk_report_daily_failures")),
    )
    op.create_table(
        "report_daily_memberships",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("started_amount", sa.BigInteger(), nullable=False),
        sa.Column("reactivated", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.Column("ended_amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", "interval", name=op.f("pk_report_daily_memberships")),
    )
    op.create_table(
        "report_daily_cancellation_reasons",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "reason", name=op.f("pk_report_daily_cancellation_reasons")),
    )


def downgrade():
    op.drop_table("report_daily_cancellation_reasons")
    op.drop_table("report_daily_memberships")
    op.drop_table("report_daily_failures")
    op.drop_table("report_daily_payments")
    with op.batch_alter_table("report_dirty_day", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_dirty_day_day"))
    op.drop_table("report_dirty_day")
    op.drop_table("report_day")
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_event_supporter_id"))
        batch_op.drop_constraint(batch_op.f("fk_webhook_event_supporter_id_supporter"), type_="foreignkey")
        batch_op.drop_column("supporter_id")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index("ix_membership_status_canceled_at_updated_at")
        batch_op.create_index("ix_membership_status_updated_at", ["status", "updated_at"], unique=False)
        batch_op.drop_index("ix_membership_status_currency_amount")
        batch_op.drop_index("ix_membership_started_at")
        batch_op.create_index("ix_membership_created_at", ["created_at"], unique=False)
        batch_op.drop_column("started_at")


# -- the supporter of each stored event ------------------------------------------------------

_KINDS = (
    ("customer.subscription.", "subscription"),
    ("customer.", "customer"),
    ("invoice.", "invoice"),
    ("payment_intent.", "payment_intent"),
    ("charge.dispute.", "dispute"),
    ("charge.", "charge"),
)


def _id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _named_ids(event_type: str, payload: Any) -> dict[str, set[str]]:
    """The customer, subscription and payment ids an event's object names (as the app reads them)."""
    obj = ((payload or {}).get("data") or {}).get("object") or {}
    kind = obj.get("object") or next((k for p, k in _KINDS if event_type.startswith(p)), None)
    own = obj.get("id")
    found: dict[str, set[str]] = {"customer": set(), "subscription": set(), "payment": set()}
    found["customer"].add(own if kind == "customer" else _id(obj.get("customer")))
    if kind == "subscription":
        found["subscription"].add(own)
    if kind == "invoice":
        parent = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        found["subscription"] |= {_id(obj.get("subscription")), _id(parent)}
        found["payment"].add(own)
    for key in ("invoice", "payment_intent", "charge"):
        found["payment"].add(own if kind == key else _id(obj.get(key)))
    return {k: {i for i in v if isinstance(i, str) and i} for k, v in found.items()}


def _link_stored_events() -> None:
    bind = op.get_bind()
    events = sa.table(
        "webhook_event",
        sa.column("id", sa.Integer),
        sa.column("type", sa.String),
        sa.column("payload", sa.JSON),
        sa.column("supporter_id", sa.Integer),
    )
    supporter = sa.table("supporter", sa.column("id", sa.Integer), sa.column("stripe_customer_id", sa.String))
    membership = sa.table(
        "membership", sa.column("supporter_id", sa.Integer), sa.column("stripe_subscription_id", sa.String)
    )
    payment = sa.table(
        "payment",
        sa.column("supporter_id", sa.Integer),
        sa.column("stripe_invoice_id", sa.String),
        sa.column("stripe_payment_intent_id", sa.String),
        sa.column("stripe_charge_id", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.id, events.c.type, events.c.payload)
            .where(events.c.id > last)
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        named = {row.id: _named_ids(row.type, row.payload) for row in rows}
        customers = set().union(*(n["customer"] for n in named.values()))
        subscriptions = set().union(*(n["subscription"] for n in named.values()))
        payments = set().union(*(n["payment"] for n in named.values()))
        by_customer = dict(
            bind.execute(
                sa.select(supporter.c.stripe_customer_id, supporter.c.id).where(
                    supporter.c.stripe_customer_id.in_(sorted(customers))
                )
            ).all()
        )
        by_subscription = dict(
            bind.execute(
                sa.select(membership.c.stripe_subscription_id, membership.c.supporter_id).where(
                    membership.c.stripe_subscription_id.in_(sorted(subscriptions))
                )
            ).all()
        )
        by_payment: dict[str, int] = {}
        for column in (
            payment.c.stripe_invoice_id,
            payment.c.stripe_payment_intent_id,
            payment.c.stripe_charge_id,
        ):
            by_payment.update(
                bind.execute(
                    sa.select(column, payment.c.supporter_id).where(column.in_(sorted(payments)))
                ).all()
            )
        for event_id, ids in named.items():
            found = next(
                (
                    table[i]
                    for table, key in (
                        (by_customer, "customer"),
                        (by_subscription, "subscription"),
                        (by_payment, "payment"),
                    )
                    for i in sorted(ids[key])
                    if i in table
                ),
                None,
            )
            if found is not None:
                bind.execute(events.update().where(events.c.id == event_id).values(supporter_id=found))
