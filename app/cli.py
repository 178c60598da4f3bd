"""``flask --app app ...`` commands beyond Flask-Migrate's ``db``."""

from __future__ import annotations

import subprocess
import sys

import click
from flask import Flask

from app.config import ROOT


def register(app: Flask) -> None:
    @app.cli.group()
    def translate() -> None:
        """Extract, update and compile the Arabic and English catalogs."""

    @translate.command()
    def update() -> None:
        """Extract strings and merge them into both catalogs."""
        pot = ROOT / "var" / "messages.pot"
        pot.parent.mkdir(exist_ok=True)
        _babel("extract", "-F", "babel.cfg", "-k", "_l", "--no-location", "-o", str(pot), ".")
        _babel("update", "-i", str(pot), "-d", "app/translations", "--no-fuzzy-matching")

    @translate.command()
    def compile() -> None:
        """Compile the catalogs (run after editing a .po file)."""
        _babel("compile", "-d", "app/translations", "--statistics")

    @app.cli.group()
    def stripe() -> None:
        """Stripe webhooks and reconciliation."""

    @stripe.command("apply-pending")
    @click.option("--limit", default=500, show_default=True, help="events to try in this run")
    def apply_pending(limit: int) -> None:
        """Apply stored Stripe events that are not applied yet (oldest first)."""
        from app.services import webhooks

        counts = webhooks.apply_pending(limit)
        for outcome, count in sorted(counts.items()):
            click.echo(f"{outcome}: {count}")
        state = webhooks.event_counts()
        click.echo(f"stored: {state['stored']}, waiting: {state['waiting']}, failing: {state['failing']}")
        if state["failing"]:
            raise SystemExit(1)


def _babel(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=ROOT)
    if result.returncode:
        raise click.ClickException(f"pybabel {args[0]} failed")
