from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class StripePacing(db.Model):  # type: ignore[name-defined]
    """The token bucket every process of this deployment takes from before calling Stripe.

    Used when no Redis is configured (``app/services/stripe_pacing.py``): one
    row per Stripe account, named by a hash of the secret key (never the key).
    Times are seconds since the epoch, on the database's clock on PostgreSQL.
    """

    __tablename__ = "stripe_pacing"

    bucket: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Float)
    refilled_at: Mapped[float] = mapped_column(sa.Float)
    #: After a 429 no process calls Stripe before this time.
    held_until: Mapped[float] = mapped_column(sa.Float, default=0.0)
    #: Tokens taken in all (the bucket's own accounting, for tests and operators).
    taken: Mapped[int] = mapped_column(sa.BigInteger, default=0)
