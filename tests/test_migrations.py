"""The migrations build exactly the models' schema, and go down and up again."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import create_app
from app.config import ROOT
from app.extensions import db


@pytest.fixture()
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own: SQLite, or a scratch PostgreSQL database beside the test one."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = sa.make_url(base)
    name = f"{url.database}_migrations"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_one_head_and_no_difference_from_the_models(scratch_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url})
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(str(ROOT / "migrations"))
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1
        upgrade()
        from alembic import command

        command.check(config)  # raises if the models and the migrations differ
        downgrade(revision="base")
        assert sa.inspect(db.engine).get_table_names() == ["alembic_version"]
        upgrade()
        assert "payment" in sa.inspect(db.engine).get_table_names()
        db.session.remove()
        db.engine.dispose()


def test_the_migrated_email_kind_check_takes_every_kind(app) -> None:  # type: ignore[no-untyped-def]
    """Each migration that adds a kind rewrites the CHECK with the whole list: none may drop one."""
    from app.models import EmailKind, EmailLog

    with app.app_context():
        for kind in EmailKind:
            db.session.add(
                EmailLog(kind=kind, about=f"check:{kind.value}", to_address="x@example.org", locale="en")
            )
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailLog)) == len(EmailKind)
