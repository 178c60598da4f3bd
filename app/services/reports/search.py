"""Finding supporters for the staff pages (not a report: it moves to the staff directory service)."""

from __future__ import annotations

from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import Supporter


def search_supporters(query: str, limit: int = 50) -> list[Supporter]:
    """By email (whole or its beginning) or by any part of the name, case-insensitive."""
    text = query.strip()
    if not text:
        return []
    lowered = text.lower()
    conditions = [Supporter.email == lowered, Supporter.email.startswith(lowered, autoescape=True)]
    if "@" not in text:
        conditions.append(func.lower(Supporter.name).contains(lowered, autoescape=True))
    exact_first = case((Supporter.email == lowered, 0), else_=1)
    return list(
        db.session.scalars(
            select(Supporter).where(or_(*conditions)).order_by(exact_first, Supporter.email).limit(limit)
        )
    )
