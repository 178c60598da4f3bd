"""``flask --app app staff ...``: staff accounts from the terminal (the first admin starts here)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from app.models import StaffRole, StaffUser
from app.services.supporters import normalize_email

staff = AppGroup("staff", help="Staff accounts for the finance pages at /staff.")

ACTOR = "system:cli"


def _password(from_stdin: bool) -> str:
    """Asked twice on a terminal (not echoed); one line read from standard input otherwise."""
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(password)


def _find(email: str) -> StaffUser:
    from app.services.staff import accounts

    user = accounts.find(email)
    if user is None:
        raise click.ClickException(f"no staff account with email {email.strip()}")
    return user


@staff.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
@click.option("--name", default="", help="Shown in the staff pages.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a staff account.  Admins set up two-factor sign-in at their first sign-in."""
    from app.services import unit_of_work
    from app.services.staff import accounts

    password = _password(password_stdin)
    try:
        user = accounts.create_staff(email, StaffRole(role), password, name, actor=ACTOR)
    except accounts.StaffAuthError as exc:
        raise click.ClickException(
            {
                "email_invalid": "not a valid email address",
                "email_taken": "a staff account with this email exists",
                "password_too_short": f"the password needs at least {accounts.MIN_PASSWORD} characters",
                "password_too_long": "the password is too long",
            }.get(exc.code, exc.code)
        ) from exc
    unit_of_work.commit()
    click.echo(f"created {user.role} {user.email} (id {user.id})")


@staff.command("list")
def list_staff() -> None:
    """Every staff account: role, two-factor, state."""
    from app.services.staff import directory, sign_in

    for user in directory.staff_users():
        state = "disabled" if user.disabled_at else "locked" if sign_in.locked_until(user.email) else "active"
        two_factor = "2fa" if user.has_two_factor else "no-2fa"
        click.echo(f"{user.email}\t{user.role}\t{two_factor}\t{state}")


@staff.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(email: str, password_stdin: bool) -> None:
    """Set a new password (every session of the account ends)."""
    from app.services import unit_of_work
    from app.services.staff import accounts

    user = _find(email)
    try:
        accounts.set_password(user, _password(password_stdin), ACTOR)
    except accounts.StaffAuthError as exc:
        raise click.ClickException(f"password refused: {exc.code}") from exc
    unit_of_work.commit()
    click.echo(f"password set for {user.email}")


@staff.command("disable")
@click.argument("email")
def disable(email: str) -> None:
    """Disable an account (its sessions end at once)."""
    from app.services import unit_of_work
    from app.services.staff import accounts

    user = _find(email)
    accounts.set_disabled(user, True, ACTOR)
    unit_of_work.commit()
    click.echo(f"disabled {user.email}")


@staff.command("unlock")
@click.argument("email")
def unlock(email: str) -> None:
    """Lift a lockout after too many failed sign-ins."""
    from app.services import unit_of_work
    from app.services.staff import sign_in

    sign_in.unlock(email, ACTOR)
    unit_of_work.commit()
    click.echo(f"unlocked {normalize_email(email)}")


@staff.command("reset-2fa")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Forget the account's authenticator (a lost phone); an admin enrols again at sign-in."""
    from app.services import unit_of_work
    from app.services.staff import accounts

    user = _find(email)
    accounts.reset_two_factor(user, ACTOR)
    unit_of_work.commit()
    click.echo(f"two-factor reset for {user.email}")


@staff.command("reseal-2fa")
def reseal_two_factor() -> None:
    """Encrypt every TOTP secret again with the first key of STAFF_TOTP_KEY.

    To change the key: put the new one first (STAFF_TOTP_KEY=new,old), run this,
    then drop the old one.  Recovery codes made under the old key keep working
    only while it is listed: staff make new ones on their account page.
    """
    from app.services import unit_of_work
    from app.services.staff import two_factor

    resealed, unreadable = two_factor.reseal_secrets()
    unit_of_work.commit()
    click.echo(f"sealed again: {resealed}")
    for email in unreadable:
        click.echo(f"no key opens the secret of {email}: `staff reset-2fa {email}`", err=True)
    if unreadable:
        raise SystemExit(1)
