"""Write the audit trail.  The caller's transaction commits it with the change it records."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request

from app.extensions import db
from app.models.audit import AuditEntry


def record(actor: str, action: str, supporter_id: int | None = None, **details: Any) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        supporter_id=supporter_id,
        details=details or None,
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
