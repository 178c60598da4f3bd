"""The reader donation and membership service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import config as settings
from app.sessions import CookieSessions


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.  No query, no Stripe call, no network here."""
    app = Flask(__name__, template_folder="../templates", static_folder="static")
    app.config.from_mapping(settings.load())
    if config:
        app.config.from_mapping(config)
    settings.check_stripe_api_version(app.config)
    settings.check_production(app.config)
    if app.config["APP_ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.session_interface = CookieSessions()
    register_converters(app)
    register_extensions(app)
    register_listeners(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_operations(app)
    register_commands(app)
    return app


def register_converters(app: Flask) -> None:
    from app.routing import register

    register(app)


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (tables known to Alembic)
    from app.celery import celery_init_app
    from app.database import replace_closed_connections
    from app.extensions import babel, csrf, db, migrate
    from app.i18n import best_locale, register_template_helpers

    db.init_app(app)
    with app.app_context():  # the engines exist; nothing connects yet
        for engine in db.engines.values():
            replace_closed_connections(engine)
    migrate.init_app(
        app, db, directory=str(settings.ROOT / "migrations"), render_as_batch=True, compare_type=True
    )
    babel.init_app(app, locale_selector=best_locale)
    csrf.init_app(app)
    register_template_helpers(app)
    celery_init_app(app)


def register_listeners(app: Flask) -> None:
    from app.services import event_rows, outbox
    from app.services.reports import summaries

    summaries.init_app(app)  # marks the days each flush changes
    outbox.init_app(app)  # publishes queued emails after commit
    event_rows.init_app(app)  # a batch of events knows the Stripe ids its rows take


def register_blueprints(app: Flask) -> None:
    from app.donate import payment as payment_steps  # noqa: F401  (importing it attaches them to donate_bp)
    from app.donate.views import bp as donate_bp
    from app.donate.views import root_bp
    from app.extensions import csrf
    from app.favicon import register_favicon
    from app.staff import views as staff_pages  # noqa: F401  (importing it attaches the pages to staff_bp)
    from app.staff.blueprint import bp as staff_bp
    from app.webhooks.views import bp as webhooks_bp

    app.register_blueprint(root_bp)
    register_favicon(app)
    app.register_blueprint(donate_bp)
    from app.account.views.blueprint import bp as account_bp

    app.register_blueprint(account_bp)
    if app.config.get("DEMO_MAIL_DIR"):
        from app.demo.views import bp as demo_bp

        app.register_blueprint(demo_bp)
    app.register_blueprint(staff_bp)
    app.register_blueprint(webhooks_bp)
    csrf.exempt(webhooks_bp)  # Stripe signs its events instead


def register_errorhandlers(app: Flask) -> None:
    from app.errors import register

    register(app)


def register_security_headers(app: Flask) -> None:
    from app.security import register

    register(app)


def register_operations(app: Flask) -> None:
    from app.ops import register

    register(app)  # health checks, metrics, request ids (outside the proxy fix), Sentry


def register_commands(app: Flask) -> None:
    from app.cli import register

    register(app)
