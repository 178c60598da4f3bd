"""One database and one localstripe per test session; a fresh app per test.

Tests run on PostgreSQL when ``TEST_DATABASE_URL`` is set and on SQLite
otherwise.  The schema comes from the Alembic migrations, as in production.
Each test ends by emptying every table.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask, current_app
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.services import webhooks
from app.services.account import links
from app.services.stripe_gateway import StripeGateway
from tests import stripe_requests
from tests.harness import StripeJs, start_localstripe

WEBHOOK_SECRET = "whsec_test_secret"


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    proc, url = start_localstripe()
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url


def apply_at_once(stored: webhooks.Stored) -> str:
    """The test app's hand-over of a stored event: applied in the request, as a worker applies it
    (``webhooks.apply_event``), so a test sees it applied after its POST, with the outcome in the answer."""
    try:
        return str(webhooks.apply_event(stored.stripe_event_id))
    except Exception:
        db.session.rollback()
        current_app.logger.exception("stripe event %s stored, not applied", stored.stripe_event_id)
        return str(webhooks.Applied.FAILED)


def send_link_at_once(attempt_id: int) -> None:
    """The test app's hand-over of an ask for a sign-in link: looked up after the request's commit,
    as the worker does (``links.send_link``), so a test finds the link's email after its POST."""
    links.send_link(attempt_id)
    db.session.commit()


def make_app(
    database_url: str, localstripe_url: str, apply_webhooks_at_once: bool = True, **overrides: Any
) -> Flask:
    """A test app; ``apply_webhooks_at_once=False`` leaves stored events to the workers."""
    app = create_app(
        {
            "TESTING": True,
            "APP_ENV": "test",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret-key",
            "STRIPE_API_BASE": localstripe_url,
            "STRIPE_JS_URL": f"{localstripe_url}/js.stripe.com/v3/",
            "STRIPE_SECRET_KEY": "sk_test_suite",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_MAX_REQUESTS_PER_SECOND": 0,
            # Published tasks stay in memory unless a test runs a real worker,
            # so webhook tests apply events in the request (``apply_at_once``).
            "CELERY_BROKER_URL": "memory://",
            **overrides,
        }
    )
    if apply_webhooks_at_once:
        app.extensions["webhook_hand_over"] = apply_at_once
    app.extensions["sign_in_hand_over"] = send_link_at_once
    # Every request the app's gateway sends is checked at the end of the session.
    app.extensions["stripe_gateway"] = StripeGateway.from_config(
        app.config, http_client=stripe_requests.RecordingHTTPClient(SUITE_REQUESTS)
    )
    return app


#: What the apps' gateways sent to localstripe during this session.
SUITE_REQUESTS: list[stripe_requests.Recorded] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A request Stripe would refuse at the pinned version fails the run, whichever tests ran."""
    found = stripe_requests.suite_problems(SUITE_REQUESTS)
    session.config.stash[stripe_requests.PROBLEMS] = found
    if found and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = terminalreporter.config.stash.get(stripe_requests.PROBLEMS, [])
    if found:
        terminalreporter.section("Stripe requests the pinned API version would refuse", red=True)
        for line in found:
            terminalreporter.write_line(line)


def empty_tables(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture()
def app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    app = make_app(database_url, localstripe_url)
    yield app
    empty_tables(app)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def stripe_js(localstripe_url: str) -> StripeJs:
    return StripeJs(localstripe_url)


@pytest.fixture()
def stripe_client(localstripe_url: str) -> stripe.StripeClient:
    """Our own look at localstripe's state, to check what reached Stripe."""
    return stripe.StripeClient("sk_test_suite", base_addresses={"api": localstripe_url})


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, lang: str = "ar") -> str:
    """This client's token, as support.js asks for it (the support page itself carries none)."""
    token: str = client.get(f"/{lang}/support/token").get_json()["csrf_token"]
    return token


QUOTED_FIELDS = ("frequency", "currency", "amount", "custom_amount", "cover_fees")


def quoted(client: FlaskClient, lang: str, form: dict[str, str]) -> dict[str, str]:
    """``form`` with the quote the page would show for it (``/support/quote``), as support.js sends it."""
    query = {k: form[k] for k in QUOTED_FIELDS if k in form}
    shown = client.get(f"/{lang}/support/quote", query_string=query).get_json().get("shown", {})
    return {**form, **shown}


def count_rows(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in db.metadata.sorted_tables
        }


def screenshot_dir() -> Path:
    """``var/screenshots/`` (ignored by git), or ``SCREENSHOT_DIR`` (``make screenshots``
    sets it to the committed ``docs/screenshots/``), so that a test run changes no tracked file."""
    root = Path(__file__).resolve().parent.parent
    path = Path(os.environ.get("SCREENSHOT_DIR") or root / "var" / "screenshots")
    if not path.is_absolute():
        path = root / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def smtp() -> Iterator[Any]:
    from tests.mail import SmtpServer

    server = SmtpServer().start()
    yield server
    server.stop()
