"""Apps with settings of a test's own, emptied and disconnected when the test ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from app.extensions import db
from tests.conftest import empty_tables, make_app

MakeApp = Callable[..., Flask]


@pytest.fixture()
def new_app(database_url: str, localstripe_url: str) -> Iterator[MakeApp]:
    """``new_app(**settings)``, or ``new_app(url=..., **settings)`` for another database."""
    made: list[tuple[Flask, bool]] = []

    def make(url: str | None = None, apply_webhooks_at_once: bool = True, **overrides: Any) -> Flask:
        app = make_app(url or database_url, localstripe_url, apply_webhooks_at_once, **overrides)
        made.append((app, url is None))
        return app

    yield make
    for app, ours in made:
        if ours:
            empty_tables(app)
        with app.app_context():
            db.engine.dispose()
