"""``flask --app app ...`` commands beyond Flask-Migrate's ``db``, one module per group."""

from __future__ import annotations

from flask import Flask

from app.cli import reports, staff, stripe, supporters, translate


def register(app: Flask) -> None:
    app.cli.add_command(translate.translate)
    app.cli.add_command(stripe.stripe)
    app.cli.add_command(supporters.supporters)
    app.cli.add_command(staff.staff)  # staff accounts (create, list, set-password, ...)
    app.cli.add_command(reports.reports)  # the dashboard's daily summaries (rebuild, refresh, status)
