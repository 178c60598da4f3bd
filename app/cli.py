"""``flask --app app ...`` commands beyond Flask-Migrate's ``db``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from flask import Flask

from app.config import ROOT

if TYPE_CHECKING:
    from app.models import Membership, Payment, Supporter


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

        _echo_outcomes(webhooks.apply_pending(limit))
        state = webhooks.event_counts()
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
        since = _iso(report.since)
        extra = f", {report.not_stored} not for this key or malformed" if report.not_stored else ""
        click.echo(
            f"events since {since}: {report.listed} listed, {report.other_types} of other types, "
            f"{report.new} new, {report.known} already known{extra}"
        )
        if _echo_outcomes(report.outcomes):
            raise SystemExit(1)

    @app.cli.group()
    def supporters() -> None:
        """Look up supporters."""

    @supporters.command("show")
    @click.argument("email")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
    def show(email: str, as_json: bool) -> None:
        """Show the supporter with EMAIL (any case): membership and payments."""
        import sqlalchemy as sa

        from app.extensions import db
        from app.models import Supporter

        # Emails are stored lower-cased (a CHECK says so): the unique index finds it.
        supporter = db.session.scalar(sa.select(Supporter).where(Supporter.email == email.strip().lower()))
        if supporter is None:
            raise click.ClickException(f"no supporter with email {email.strip()}")
        data = supporter_json(supporter)
        if as_json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            click.echo(_summary(data))

    from app.report_commands import reports  # the dashboard's daily summaries (rebuild, refresh, status)
    from app.staff.commands import staff  # staff accounts (create, list, set-password, ...)

    app.cli.add_command(staff)
    app.cli.add_command(reports)


def _iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second: ``2026-11-25T21:17:40Z``."""
    if when is None:
        return None
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


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


def current_membership(supporter: Supporter) -> Membership | None:
    """The membership that counts now, else the most recent one (by its Stripe period)."""
    never = datetime.min.replace(tzinfo=UTC)
    return max(
        supporter.memberships,
        key=lambda m: (m.is_member, m.current_period_end or never, m.created_at or never, m.id),
        default=None,
    )


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "status": str(payment.status),
        "paid_at": _iso(payment.paid_at),
        "receipt_number": payment.receipt_number,
        "refunded_amount": payment.refunded_amount,
        "one_time": payment.is_one_time,
        "failure_code": payment.failure_code,
        "stripe_invoice_id": payment.stripe_invoice_id,
        "stripe_payment_intent_id": payment.stripe_payment_intent_id,
        "stripe_charge_id": payment.stripe_charge_id,
    }


def supporter_json(supporter: Supporter) -> dict[str, Any]:
    """A supporter as ``supporters show --json`` prints it: amounts in minor units, times in UTC."""
    membership = current_membership(supporter)
    payments = sorted(supporter.payments, key=lambda p: (p.paid_at or p.created_at, p.id), reverse=True)
    return {
        "email": supporter.email,
        "locale": supporter.locale,
        "name": supporter.name,
        "stripe_customer_id": supporter.stripe_customer_id,
        "membership": None
        if membership is None
        else {
            "status": str(membership.status),
            "amount": membership.amount,
            "currency": membership.currency,
            "interval": str(membership.interval),
            "current_period_end": _iso(membership.current_period_end),
            "cancel_at_period_end": membership.cancel_at_period_end,
            "stripe_subscription_id": membership.stripe_subscription_id,
        },
        "payments": [payment_json(p) for p in payments],
    }


def _money(amount: int, currency: str) -> str:
    from app.services.amounts import CURRENCIES

    rule = CURRENCIES.get(currency)
    exponent = rule.exponent if rule else 2
    return f"{amount / 10**exponent:,.{exponent}f} {currency.upper()}"


def _summary(data: dict[str, Any]) -> str:
    name = f"{data['name']} " if data["name"] else ""
    lines = [
        f"{name}<{data['email']}>, language {data['locale']}, customer {data['stripe_customer_id'] or '-'}"
    ]
    membership = data["membership"]
    if membership is None:
        lines.append("membership: none")
    else:
        ends = membership["current_period_end"] or "-"
        cancels = ", cancels at period end" if membership["cancel_at_period_end"] else ""
        lines.append(
            f"membership: {membership['status']}, {_money(membership['amount'], membership['currency'])} "
            f"a {membership['interval']}, period ends {ends}{cancels} ({membership['stripe_subscription_id']})"
        )
    lines.append(f"payments: {len(data['payments'])}")
    for payment in data["payments"]:
        refunded = (
            f", {_money(payment['refunded_amount'], payment['currency'])} refunded"
            if payment["refunded_amount"]
            else ""
        )
        receipt = f", receipt {payment['receipt_number']}" if payment["receipt_number"] else ""
        kind = "one-time" if payment["one_time"] else "membership"
        lines.append(
            f"  {payment['paid_at'] or 'not paid':20}  {_money(payment['amount'], payment['currency']):>12}  "
            f"{payment['status']} ({kind}){refunded}{receipt}"
        )
    return "\n".join(lines)


def _babel(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=ROOT)
    if result.returncode:
        raise click.ClickException(f"pybabel {args[0]} failed")
