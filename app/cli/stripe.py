"""``flask --app app stripe ...``: set up the webhook endpoint, apply stored events, sync from
Stripe's lists, replay missed events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask.cli import AppGroup

from app.cli.output import iso


@click.group(cls=AppGroup)
def stripe() -> None:
    """Stripe webhooks and reconciliation."""


@stripe.command("apply-pending")
@click.option("--limit", default=500, show_default=True, help="events to try in this run")
def apply_pending(limit: int) -> None:
    """Apply stored Stripe events that are not applied yet (oldest first)."""
    from app.services import webhook_queue

    _echo_outcomes(webhook_queue.apply_pending(limit))
    state = webhook_queue.event_counts()
    click.echo(f"stored: {state['stored']}, waiting: {state['waiting']}, failing: {state['failing']}")
    if state["failing"]:
        raise SystemExit(1)


@stripe.command("sync")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run after the last object it completed, skipping the "
    "lists it finished. Without an unfinished run, start a new one.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many objects; --resume goes on from there.",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="Objects per Stripe call.",
)
def sync_command(resume: bool, limit: int | None, page_size: int) -> None:
    """Reconcile supporters, memberships and payments from Stripe's lists.

    Walks subscriptions (every status), invoices, charges and customers, page by
    page (paced like every Stripe call), and applies each object as the webhooks
    would: nothing is doubled, and running it again changes nothing but the time
    Stripe last confirmed each membership (stripe_state_at).  Each object
    and the list's cursor (table sync_cursor) commit together, so a run that
    stops (Stripe or the database failing, or --limit) continues with --resume.
    Prints what each list changed; objects that cannot be ours (no email, an
    unsupported currency) are listed as skipped on stderr.
    """
    from app.services import sync

    def on_skip(kind: str, object_id: str, why: str) -> None:
        click.echo(f"skipped {kind.removesuffix('s')} {object_id}: {why}", err=True)

    try:
        report = sync.sync(resume=resume, limit=limit, page_size=page_size, on_skip=on_skip)
    except sync.SyncInterrupted as exc:
        raise click.ClickException(
            f"sync stopped in {exc.kind} ({type(exc.cause).__name__}: {exc.cause}); "
            "what was done is kept: run `flask --app app stripe sync --resume` to go on"
        ) from exc
    if report.resumed:
        click.echo("resumed the unfinished run")
    for kind, counts in report.kinds.items():
        if counts.finished_before:
            click.echo(f"{kind}: finished before the interruption")
            continue
        if not counts.reached:
            click.echo(f"{kind}: not reached")
            continue
        after = f" (after {counts.resumed_after})" if counts.resumed_after else ""
        stopped = "" if counts.done else ", stopped here"
        click.echo(
            f"{kind}: {counts.listed} listed{after}, {counts.changed} changed, "
            f"{counts.unchanged} unchanged, {counts.skipped} skipped{stopped}"
        )
    for change, tally in (("created", report.created), ("updated", report.updated)):
        click.echo(f"rows {change}: {_tally(tally)}")
    if report.stopped:
        click.echo(
            f"stopped after {report.processed} objects (--limit); "
            "run `flask --app app stripe sync --resume` to go on"
        )


@stripe.command("replay")
@click.option(
    "--days",
    type=click.IntRange(1, 30),
    default=30,
    show_default=True,
    help="How far back to look (Stripe keeps events for 30 days).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="Events per Stripe call.",
)
def replay_command(days: int, page_size: int) -> None:
    """Fetch Stripe's events of the last DAYS and apply the ones we missed.

    For events Stripe failed to deliver (the endpoint down or misconfigured,
    a type not enabled).  Lists /v1/events with created[gte] (localstripe
    honours it too; the date is also checked here), stores each event of a
    type we act on as the webhook endpoint does (events already stored are
    left alone; other types are counted, not stored), then applies every
    listed event not applied yet, oldest first.  Safe to run any number of
    times.  Exits 1 if an event failed (its error is kept on the stored
    event; `stripe apply-pending` retries it).
    """
    from app.services import replay
    from app.services.errors import PaymentServiceUnavailable

    try:
        report = replay.replay(days=days, page_size=page_size)
    except PaymentServiceUnavailable as exc:
        raise click.ClickException(
            f"Stripe unavailable ({exc.detail or exc.code}); the events stored so far are kept "
            "and applied by the next run or `stripe apply-pending`"
        ) from exc
    since = iso(report.since)
    extra = f", {report.not_stored} not for this key or malformed" if report.not_stored else ""
    click.echo(
        f"events since {since}: {report.listed} listed, {report.other_types} of other types, "
        f"{report.new} new, {report.known} already known{extra}"
    )
    if _echo_outcomes(report.outcomes):
        raise SystemExit(1)


@stripe.command("setup")
@click.option(
    "--url",
    default=None,
    help="The endpoint's public address; default: BASE_URL + /webhooks/stripe.",
)
@click.option(
    "--recreate",
    is_flag=True,
    help="Replace endpoints at the URL sent events in another API version (Stripe cannot "
    "change it): create ours, then delete them. Prints the new signing secret.",
)
def setup_command(url: str | None, recreate: bool) -> None:
    """Create or update the webhook endpoint: our API version, exactly the events we apply.

    Safe to run again: the endpoint is found by its URL; only its events (and
    a disabled status) are changed.  The signing secret is printed once, when
    the endpoint is created (Stripe shows it then only), for
    STRIPE_WEBHOOK_SECRET; it is never logged.
    """
    from flask import current_app

    from app.services import stripe_setup
    from app.services.errors import PaymentServiceUnavailable
    from app.services.stripe_gateway import get_gateway

    url = url or current_app.config["BASE_URL"].rstrip("/") + "/webhooks/stripe"
    if not url.startswith(("https://", "http://")):
        raise click.BadParameter(
            "an http(s) address, e.g. https://support.example/webhooks/stripe", param_hint="--url"
        )
    try:
        result = stripe_setup.setup_endpoint(get_gateway(), url, recreate=recreate)
    except PaymentServiceUnavailable as exc:
        raise click.ClickException(
            f"Stripe refused or could not be reached ({exc.detail or exc.code}; the log names the "
            "request id); running the command again is safe"
        ) from exc
    _echo_setup(result, url)


def _echo_setup(result: Any, url: str) -> None:
    from app.services import stripe_setup
    from app.services.stripe_setup import Outcome

    version, count = result.api_version, len(result.events)
    if result.outcome is Outcome.OTHER_VERSION:
        found = ", ".join(f"{i} ({v or 'the account default'})" for i, v in result.other_versions)
        raise click.ClickException(
            f"the webhook endpoint at {url} is sent events in another API version: {found}. "
            f"This service speaks {version}, and Stripe cannot change an endpoint's API version. "
            f"Run `flask --app app stripe setup --url {url} --recreate`: it creates an endpoint "
            f"in {version} and prints its signing secret for STRIPE_WEBHOOK_SECRET, then deletes "
            "the old one (events refused until the new secret is in place are sent again by "
            "Stripe; `flask --app app stripe replay` fetches any it gave up on)"
        )
    if result.outcome is Outcome.CREATED:
        click.echo(
            f"created webhook endpoint {result.endpoint_id} for {url} (API version {version}, {count} events)"
        )
        click.echo("its signing secret, shown this once (Stripe will not show it again):")
        click.echo(result.secret)
        click.echo("put it in STRIPE_WEBHOOK_SECRET and restart the web processes")
    else:
        state = "updated" if result.outcome is Outcome.UPDATED else "is up to date"
        click.echo(
            f"webhook endpoint {result.endpoint_id} for {url} {state} (API version {version}, {count} events)"
        )
        for word, types in (("enabled", result.enabled), ("no longer sent", result.disabled)):
            if types:
                click.echo(f"{word}: {' '.join(types)}")
        if result.enabled_again:
            click.echo("it was disabled: enabled again")
        click.echo("its signing secret is unchanged: STRIPE_WEBHOOK_SECRET stays as it is")
    newer = stripe_setup.not_in_version(version)
    if newer:
        click.echo(f"not asked for (newer than {version}, not needed there): {' '.join(newer)}")
    for endpoint_id in result.deleted:
        click.echo(
            f"deleted {endpoint_id}, which was sent events in another API version; its secret no longer works"
        )
    if result.other_versions and not result.deleted:
        found = ", ".join(f"{i} ({v or 'the account default'})" for i, v in result.other_versions)
        click.echo(f"also at this URL, in another API version: {found}; --recreate deletes it", err=True)
    for endpoint_id in result.duplicates:
        click.echo(
            f"also at this URL, in {version}: {endpoint_id} (every event comes twice); delete it", err=True
        )


#: How ``apply-pending`` and ``replay`` name what became of the events they applied.
OUTCOMES = {"applied": "applied", "ignored": "ignored", "already": "applied meanwhile", "failed": "failed"}


def _echo_outcomes(outcomes: Mapping[Any, int]) -> int:
    """One line of what became of the events applied; returns how many failed."""
    counts = {str(outcome): count for outcome, count in outcomes.items()}
    line = [f"{word}: {counts.get(key, 0)}" for key, word in OUTCOMES.items()]
    if counts.get("missing"):  # the stored event vanished between listing and applying
        line.append(f"missing: {counts['missing']}")
    click.echo(", ".join(line))
    return counts.get("failed", 0)


def _tally(counts: Any) -> str:
    return ", ".join(f"{table} {n}" for table, n in sorted(counts.items()) if n) or "none"
