"""``flask --app app reports ...``: the daily summaries the finance dashboard reads."""

from __future__ import annotations

import time
from datetime import date, datetime

import click
from flask.cli import AppGroup

reports = AppGroup("reports", help="The finance dashboard's daily summaries.")


def _day(ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@reports.command("rebuild")
@click.option(
    "--from",
    "first",
    type=click.DateTime(["%Y-%m-%d"]),
    callback=_day,
    help="First day to build (UTC, YYYY-MM-DD); default: the first day with any payment or membership.",
)
@click.option(
    "--to",
    "last",
    type=click.DateTime(["%Y-%m-%d"]),
    callback=_day,
    help="Last day to build; default and latest: yesterday (today is always computed live).",
)
def rebuild(first: date | None, last: date | None) -> None:
    """Build the daily summaries of existing data (again), a month per transaction.

    Safe while the service runs: a change made meanwhile marks its day, which
    stays live until the next build.
    """
    from app.services.reports import summaries

    started = time.perf_counter()
    built = summaries.rebuild(first, last)
    click.echo(f"built {built} days in {time.perf_counter() - started:.1f} s")


@reports.command("refresh")
def refresh() -> None:
    """What the beat task does: build the days marked dirty and the past days never built."""
    from app.services.reports import summaries

    done = summaries.refresh(wait=True)
    click.echo(f"dirty: {done.dirty}, never built: {done.missing}, built: {done.built}")


@reports.command("status")
def status() -> None:
    """Days built, days marked dirty, and the first and last day built."""
    from app.services.reports import summaries

    done = summaries.status()
    click.echo(
        f"built: {done.built} days ({done.first or '-'} to {done.last or '-'}), dirty: {done.dirty} days"
    )
