"""What the commands' output shares."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second: ``2026-11-25T21:17:40Z``."""
    if when is None:
        return None
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
