"""Ending a unit of work: what the services changed is committed, or thrown away.

Services change rows and flush; the caller (a view, a task, a command) decides
when the work is done, as the house rule has it.  Callers that keep no handle on
the database session of their own, like the staff blueprint (no ``db.session``
under ``app/staff/``, see ``devtools/check_layout.py``), say so with these.
"""

from __future__ import annotations

from app.extensions import db


def commit() -> None:
    db.session.commit()


def rollback() -> None:
    db.session.rollback()
