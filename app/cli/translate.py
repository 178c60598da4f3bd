"""``flask --app app translate ...``: the Arabic and English catalogs."""

from __future__ import annotations

import subprocess
import sys

import click
from flask.cli import AppGroup

from app.config import ROOT


@click.group(cls=AppGroup)
def translate() -> None:
    """Extract, update and compile the Arabic and English catalogs."""


@translate.command()
def update() -> None:
    """Extract strings and merge them into both catalogs."""
    pot = ROOT / "var" / "messages.pot"
    pot.parent.mkdir(exist_ok=True)
    _babel(
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "_l",
        "-k",
        "lazy_pgettext:1c,2",
        "--no-location",
        "-o",
        str(pot),
        ".",
    )
    _babel("update", "-i", str(pot), "-d", "app/translations", "--no-fuzzy-matching")


@translate.command("compile")
def compile_catalogs() -> None:
    """Compile the catalogs (run after editing a .po file)."""
    _babel("compile", "-d", "app/translations", "--statistics")


def _babel(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=ROOT)
    if result.returncode:
        raise click.ClickException(f"pybabel {args[0]} failed")
