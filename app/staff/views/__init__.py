"""The /staff pages, one module per area, each attaching its views to ``app.staff.blueprint.bp``.

Importing this package attaches them all; the app factory does so before it
registers the blueprint.
"""

from app.staff.views import account, admin, dashboard, exports, reconciliation, sign_in, supporters

__all__ = ["account", "admin", "dashboard", "exports", "reconciliation", "sign_in", "supporters"]
