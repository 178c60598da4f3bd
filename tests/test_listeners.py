"""Session listeners: attached by the factory, once, and never by importing a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask

from app import create_app
from app.extensions import db

ROOT = Path(__file__).resolve().parents[1]

LISTENERS = {
    "before_flush": ["_mark_changed_days"],
    "after_commit": ["_forget_marks", "_publish_after_commit"],
    "after_rollback": ["_forget_after_rollback"],
    "after_soft_rollback": ["_forget_marks"],
}


def test_every_app_has_each_listener_once(app: Flask) -> None:
    create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with app.app_context():
        dispatch = db.session().dispatch
        attached = {name: [f.__name__ for f in getattr(dispatch, name)] for name in LISTENERS}
    assert attached == LISTENERS


def test_importing_the_modules_attaches_nothing() -> None:
    code = (
        "from sqlalchemy import event\n"
        "from sqlalchemy.orm import Session\n"
        "from flask_sqlalchemy.session import Session as FlaskSession\n"
        "import app.models\n"
        "from app.services import outbox\n"
        "from app.services.reports import summaries\n"
        "import app.cli, app.staff.views, app.webhooks.views\n"
        "assert not event.contains(Session, 'before_flush', summaries._mark_changed_days)\n"
        "assert not event.contains(Session, 'after_commit', summaries._forget_marks)\n"
        "assert not event.contains(FlaskSession, 'after_commit', outbox._publish_after_commit)\n"
        "assert not event.contains(FlaskSession, 'after_rollback', outbox._forget_after_rollback)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
