"""``flask --app app supporters ...``: look a supporter up from the terminal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click
from flask.cli import AppGroup

from app.cli.output import iso
from app.services.amounts import to_decimal
from app.services.supporters import current_membership, normalize_email

if TYPE_CHECKING:
    from app.models import Payment, Supporter


@click.group(cls=AppGroup)
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
    supporter = db.session.scalar(sa.select(Supporter).where(Supporter.email == normalize_email(email)))
    if supporter is None:
        raise click.ClickException(f"no supporter with email {email.strip()}")
    data = supporter_json(supporter)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(_summary(data))


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "status": str(payment.status),
        "paid_at": iso(payment.paid_at),
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
            "current_period_end": iso(membership.current_period_end),
            "cancel_at_period_end": membership.cancel_at_period_end,
            "stripe_subscription_id": membership.stripe_subscription_id,
        },
        "payments": [payment_json(p) for p in payments],
    }


def _money(amount: int, currency: str) -> str:
    """For the terminal: ``1,234.56 USD`` whatever the locale, from the exact decimal."""
    return f"{to_decimal(amount, currency):,f} {currency.upper()}"


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
