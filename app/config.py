"""Every setting the service reads, in one place.

Each comes from an environment variable of the same name.  The defaults are
for the local demo only: ``APP_ENV=production`` refuses to start while any
secret still has its demo value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError, localedata

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"

DEMO_SECRET_KEY = "demo-only-secret-key"  # noqa: S105 (demo default, refused in production)
DEMO_STRIPE_SECRET_KEY = "sk_test_demo"  # noqa: S105
DEMO_STRIPE_PUBLISHABLE_KEY = "pk_test_demo"
DEMO_STRIPE_WEBHOOK_SECRET = "whsec_demo"  # noqa: S105

#: Every value ``APP_ENV`` may take; any other (``Production``, ``prod``) refuses to start, since
#: running it without the production checks is how a demo ``SECRET_KEY`` reaches the internet.
APP_ENVS = ("development", "test", "production")
#: A production key (``SECRET_KEY``, each ``STAFF_TOTP_KEY``) needs this many characters, this many
#: of them distinct (32 identical characters, or a short pattern repeated, is not a secret).
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 16

#: The Stripe API versions this release speaks: the gateway's requests are valid there (checked
#: against stripe-python v10.12.0, the release generated for 2024-06-20), and ``flask stripe
#: setup`` creates the webhook endpoint with the first.  Another version changes what Stripe
#: accepts (at 2026-10-28.endive ``payment_method_types`` and
#: ``expand=latest_invoice.payment_intent`` are refused), so moving takes a new release of the
#: service, never the setting alone.  The handlers read older and newer event shapes either way.
SUPPORTED_STRIPE_API_VERSIONS = ("2024-06-20",)
STRIPE_API_VERSION = SUPPORTED_STRIPE_API_VERSIONS[0]

#: name -> (default, what it is).  The README's settings table mirrors this.
SETTINGS: dict[str, tuple[str, str]] = {
    "APP_ENV": ("development", "development, test or production (any other value refuses to start)"),
    "DATABASE_URL": (f"sqlite:///{VAR / 'support.db'}", "SQLAlchemy URL of the database"),
    "SECRET_KEY": (DEMO_SECRET_KEY, "signs sessions, CSRF tokens and thank-you links"),
    "BASE_URL": ("http://127.0.0.1:5000", "public address of the service, for links in emails"),
    "STRIPE_SECRET_KEY": (DEMO_STRIPE_SECRET_KEY, "Stripe secret API key"),
    "STRIPE_PUBLISHABLE_KEY": (DEMO_STRIPE_PUBLISHABLE_KEY, "Stripe publishable key for Stripe.js"),
    "STRIPE_WEBHOOK_SECRET": (DEMO_STRIPE_WEBHOOK_SECRET, "signing secret of the webhook endpoint"),
    "STRIPE_API_BASE": ("", "Stripe API address; empty means Stripe itself (set it to localstripe)"),
    "STRIPE_API_VERSION": (
        STRIPE_API_VERSION,
        "Stripe API version of every request and of the webhook endpoint; only the versions this "
        "release supports start (see the README's Stripe API version)",
    ),
    "STRIPE_JS_URL": (
        "",
        "Stripe.js address; empty means Stripe's, or localstripe's when STRIPE_API_BASE is set",
    ),
    "STRIPE_MAX_REQUESTS_PER_SECOND": (
        "20",
        "calls to Stripe per second from all processes together (Stripe allows 100/s live, 25/s in a "
        "sandbox, per account); 0 turns pacing off",
    ),
    "STRIPE_PACING_BURST": ("5", "calls to Stripe that may start at once after a quiet spell"),
    "STRIPE_PACING": (
        "",
        "where the processes share their pacing: redis, database or process; empty: redis when a "
        "Redis URL is set, else database on PostgreSQL, else process",
    ),
    "STRIPE_PACING_URL": ("", "Redis for the shared pacing; empty: CELERY_BROKER_URL when it is redis://"),
    "CELERY_BROKER_URL": (f"sqla+sqlite:///{VAR / 'broker.db'}", "Celery broker (redis://... in production)"),
    "SMTP_HOST": ("127.0.0.1", "SMTP server for receipts"),
    "SMTP_PORT": ("8025", "SMTP port"),
    "SMTP_USERNAME": ("", "SMTP user name, if the server asks for one"),
    "SMTP_PASSWORD": ("", "SMTP password, if the server asks for one"),
    "SMTP_STARTTLS": ("0", "1 to upgrade the SMTP connection with STARTTLS"),
    "EMAIL_MAX_ATTEMPTS": ("6", "tries before an email is logged as failed"),
    "EMAIL_RETRY_SECONDS": ("30", "first retry delay; it doubles on every try"),
    "NEWSROOM_LEGAL_NAME": ("Independent Newsroom Media Ltd.", "legal name printed on receipts"),
    "NEWSROOM_ADDRESS": ("1 Press Street, Beirut, Lebanon", "postal address printed on receipts"),
    "NEWSROOM_LEGAL_NAME_AR": (
        "شركة غرفة الأخبار المستقلة للإعلام المحدودة",
        "legal name on Arabic receipts",
    ),
    "NEWSROOM_ADDRESS_AR": ("1 شارع الصحافة، بيروت، لبنان", "postal address on Arabic receipts"),
    "FINANCE_NOTIFY_EMAIL": (
        "finance@newsroom.example",
        "finance staff, told when Stripe ends a membership after failed payments",
    ),
    "FINANCE_NOTIFY_LOCALE": ("ar", "language of the emails to finance staff (ar or en)"),
    "MAIL_FROM": ("Independent Newsroom <support@newsroom.example>", "From: of every email"),
    "NEWSROOM_NAME": ("Independent Newsroom", "the newsroom's name in English pages and emails"),
    "NEWSROOM_NAME_AR": ("غرفة الأخبار المستقلة", "the newsroom's name in Arabic pages and emails"),
    "APPEAL_HEADLINE_AR": ("نحن بحاجتك لنبقى مستقلين", "the support page's headline in Arabic"),
    "APPEAL_HEADLINE_EN": ("We need you to stay independent", "the support page's headline in English"),
    "APPEAL_LEAD_AR": (
        "الإعلام الموجّه يشوّه الحقيقة ويطيل أمد الحرب، وسوريا بحاجة إلى الصحافة الحرة.",
        "the line under the Arabic headline (empty: none)",
    ),
    "APPEAL_LEAD_EN": (
        "Directed media distorts the truth and prolongs the war. Syria needs a free press.",
        "the line under the English headline (empty: none)",
    ),
    "APPEAL_SLOGAN_AR": ("دولار واحد شهريًا يصنع الفرق.", "the appeal's slogan in Arabic (page and reminder)"),
    "APPEAL_SLOGAN_EN": ("One dollar a month makes the difference.", "the appeal's slogan in English"),
    "NEWSROOM_URL": ("https://newsroom.example", "the newsroom's site, linked from the thank-you page"),
    "FEE_PERCENT_BPS": ("290", "card fee rate in basis points (290 = 2.9%), for 'I'll cover the fees'"),
    "FEE_FIXED": ("usd:30,eur:25,try:300", "fixed card fee per charge, in minor units per currency"),
    "WEBHOOK_MAX_ATTEMPTS": ("10", "tries to apply a Stripe event before it waits for an operator"),
    "MAX_CONTENT_LENGTH": ("65536", "largest request body accepted, in bytes"),
    "ATTEMPTS_PER_IP": ("10", "unfinished payment attempts allowed per IP address per hour"),
    "ATTEMPTS_PER_EMAIL": ("5", "unfinished payment attempts allowed per email address per hour"),
    "DECLINES_PER_CARD": ("3", "declines of one card (by Stripe fingerprint) allowed per day"),
    "DECLINES_PER_SESSION": ("3", "declined cards allowed per browser session per day"),
    "ATTEMPTS_SPIKE": ("100", "refused attempts within an hour that email finance staff (once an hour)"),
    "PROXY_COUNT": ("0", "reverse proxies in front of the app whose X-Forwarded-For is trusted"),
    "SUPPORT_PAGE_MAX_AGE": (
        "300",
        "seconds a proxy, CDN or browser may keep the support page (as long again served stale)",
    ),
    "STAFF_IDLE_MINUTES": ("30", "a staff session ends after this many minutes without a request"),
    "STAFF_SESSION_HOURS": ("12", "a staff session ends this many hours after sign-in, however busy"),
    "STAFF_LOCK_AFTER": ("5", "failed staff sign-in tries for one email that lock it"),
    "STAFF_LOCK_MINUTES": (
        "15",
        "how long failed staff sign-in tries count, and so how long a lockout lasts",
    ),
    "STAFF_IP_LIMIT": (
        "30",
        "refused staff sign-in tries from one address within STAFF_LOCK_MINUTES that block it",
    ),
    "STAFF_EXPORT_BATCH": ("1000", "rows read and written per chunk of a streamed CSV export"),
    "STAFF_TOTP_KEY": (
        "",
        "keys that encrypt staff TOTP secrets and hash recovery codes, comma-separated, the first "
        "for new ones (32+ characters each); empty: derived from SECRET_KEY",
    ),
    "ARABIC_LOCALE": (
        "ar_SY",
        "the Arabic that writes dates, months, numbers and money on Arabic pages, emails and PDFs: "
        "any Arabic locale Babel knows (ar_SY, ar_LB, ar_JO: كانون الثاني; ar_EG, ar: يناير)",
    ),
    "ARABIC_DIGITS": (
        "0",
        "1 to write money, dates and counts with Arabic-Indic digits (٠١٢٣) on Arabic pages and emails",
    ),
    "ACCOUNT_LINK_MINUTES": ("30", "how long an emailed sign-in link to the account works (once)"),
    "ACCOUNT_MAX_LINKS_PER_EMAIL": (
        "3",
        "sign-in links emailed to one address per rate window (past it: same answer, no email)",
    ),
    "ACCOUNT_MAX_REQUESTS_PER_IP": (
        "10",
        "sign-in link requests from one IP address per rate window (past it: 429)",
    ),
    "ACCOUNT_RATE_WINDOW_MINUTES": ("15", "the window both sign-in limits count over"),
    "REMINDER_MAX_PER_IP": (
        "5",
        '"remind me later" requests from one IP address per rate window (past it: 429)',
    ),
    "REMINDER_MAX_PER_EMAIL": (
        "3",
        '"remind me later" requests for one address per rate window (past it: same answer, no change)',
    ),
    "REMINDER_RATE_WINDOW_MINUTES": ("60", 'the window both "remind me later" limits count over'),
    "ACCOUNT_IDLE_MINUTES": ("30", "an account session ends after this long without a request"),
    "ACCOUNT_SESSION_HOURS": ("12", "an account session ends this long after signing in, however active"),
    "DEMO_MAIL_DIR": ("", "demo only: folder of caught emails, shown at /demo/mail"),
    "METRICS_TOKEN": ("", "bearer token that opens GET /metrics (32+ characters in production); empty: none"),
    "METRICS_ALLOW": (
        "",
        "networks (CIDRs, comma-separated) whose direct connections may GET /metrics; with "
        "METRICS_TOKEN also empty, /metrics is 404",
    ),
    "LOG_FORMAT": ("text", "text, or json for one JSON object a log line (with the request id)"),
    "SENTRY_DSN": ("", "Sentry DSN to report errors to (needs sentry-sdk installed); empty: none"),
}


ATTEMPT_LIMITS = (
    "ATTEMPTS_PER_IP",
    "ATTEMPTS_PER_EMAIL",
    "DECLINES_PER_CARD",
    "DECLINES_PER_SESSION",
    "ATTEMPTS_SPIKE",
)


class ConfigError(RuntimeError):
    """The environment asks for something the service refuses to run with."""


def _fees(text: str) -> dict[str, int]:
    fees: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, value = part.partition(":")
        fees[code.strip().lower()] = int(value)
    return fees


#: Whole numbers of at least 1 (a limit of 0 would lock every supporter out).
POSITIVE_INTEGERS = (
    "ACCOUNT_LINK_MINUTES",
    "ACCOUNT_MAX_LINKS_PER_EMAIL",
    "ACCOUNT_MAX_REQUESTS_PER_IP",
    "ACCOUNT_RATE_WINDOW_MINUTES",
    "ACCOUNT_IDLE_MINUTES",
    "ACCOUNT_SESSION_HOURS",
    "REMINDER_MAX_PER_IP",
    "REMINDER_MAX_PER_EMAIL",
    "REMINDER_RATE_WINDOW_MINUTES",
    "SUPPORT_PAGE_MAX_AGE",
)


def _arabic_locale(text: str) -> str:
    """``ARABIC_LOCALE`` as Babel names it; anything but an Arabic locale it knows refuses to start."""
    name = text.strip().replace("-", "_")
    try:
        # (Babel parses an unknown "ar_ZZ" as the likeliest ar_EG: ask for the name itself.)
        locale = Locale.parse(name) if localedata.exists(name) else None
    except (ValueError, TypeError, UnknownLocaleError):
        locale = None
    if locale is None or locale.language != "ar":
        raise ConfigError(
            f"ARABIC_LOCALE {text!r} is not an Arabic locale Babel knows: set it to one such as "
            "ar_SY (the default), ar_LB, ar_JO, ar_IQ, ar_EG or ar"
        )
    return str(locale)


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1")
    return value


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    raw = {name: env.get(name, default) for name, (default, _) in SETTINGS.items()}
    api_base = raw["STRIPE_API_BASE"].rstrip("/")
    js_url = raw["STRIPE_JS_URL"] or (
        f"{api_base}/js.stripe.com/v3/" if api_base else "https://js.stripe.com/v3/"
    )
    config: dict[str, Any] = {
        **raw,
        "SQLALCHEMY_DATABASE_URI": raw["DATABASE_URL"],
        "STRIPE_API_BASE": api_base,
        "STRIPE_JS_URL": js_url,
        "STRIPE_MAX_REQUESTS_PER_SECOND": float(raw["STRIPE_MAX_REQUESTS_PER_SECOND"]),
        "STRIPE_PACING_BURST": float(raw["STRIPE_PACING_BURST"]),
        "SMTP_PORT": int(raw["SMTP_PORT"]),
        "SMTP_STARTTLS": raw["SMTP_STARTTLS"] == "1",
        "EMAIL_MAX_ATTEMPTS": int(raw["EMAIL_MAX_ATTEMPTS"]),
        "WEBHOOK_MAX_ATTEMPTS": int(raw["WEBHOOK_MAX_ATTEMPTS"]),
        "EMAIL_RETRY_SECONDS": float(raw["EMAIL_RETRY_SECONDS"]),
        "FEE_PERCENT_BPS": int(raw["FEE_PERCENT_BPS"]),
        "FEE_FIXED": _fees(raw["FEE_FIXED"]),
        "MAX_CONTENT_LENGTH": int(raw["MAX_CONTENT_LENGTH"]),
        **{name: int(raw[name]) for name in ATTEMPT_LIMITS},
        "PROXY_COUNT": int(raw["PROXY_COUNT"]),
        "STAFF_IDLE_MINUTES": float(raw["STAFF_IDLE_MINUTES"]),
        "STAFF_SESSION_HOURS": float(raw["STAFF_SESSION_HOURS"]),
        "STAFF_LOCK_AFTER": int(raw["STAFF_LOCK_AFTER"]),
        "STAFF_LOCK_MINUTES": float(raw["STAFF_LOCK_MINUTES"]),
        "STAFF_IP_LIMIT": int(raw["STAFF_IP_LIMIT"]),
        "STAFF_EXPORT_BATCH": int(raw["STAFF_EXPORT_BATCH"]),
        "ARABIC_DIGITS": raw["ARABIC_DIGITS"] == "1",
        "ARABIC_LOCALE": _arabic_locale(raw["ARABIC_LOCALE"]),
        **{name: _positive(name, raw[name]) for name in POSITIVE_INTEGERS},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": raw["APP_ENV"] == "production",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "ar",
        "BABEL_TRANSLATION_DIRECTORIES": str(ROOT / "app" / "translations"),
        # No SELECT 1 before every request: app/database.py replaces connections the server closed.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False},
    }
    return config


def staff_totp_keys(config: Mapping[str, Any]) -> list[str]:
    """The key strings of ``STAFF_TOTP_KEY`` (the first for new secrets), or ``SECRET_KEY`` alone."""
    keys = [k.strip() for k in str(config.get("STAFF_TOTP_KEY") or "").split(",") if k.strip()]
    return keys or [str(config.get("SECRET_KEY") or "")]


def check_stripe_api_version(config: Mapping[str, Any]) -> None:
    """Refuse a Stripe API version this release does not speak, in every environment.

    localstripe ignores the version, so a wrong one would pass the demo unseen
    and fail every payment once the keys are real.
    """
    version = config.get("STRIPE_API_VERSION")
    if version in SUPPORTED_STRIPE_API_VERSIONS:
        return
    supported = ", ".join(SUPPORTED_STRIPE_API_VERSIONS)
    raise ConfigError(
        f"STRIPE_API_VERSION {version!r} is not supported by this release of the service, "
        f"which speaks {supported} (its requests are written for it): unset STRIPE_API_VERSION "
        f"or set it to one of: {supported}.  Moving to another version takes a new release."
    )


def check_app_env(config: Mapping[str, Any]) -> None:
    """Refuse an ``APP_ENV`` that is not exactly one of ``APP_ENVS``."""
    if config.get("APP_ENV") not in APP_ENVS:
        raise ConfigError(f"APP_ENV must be one of: {', '.join(APP_ENVS)} (exactly, in lower case)")


def weak_secret(value: str) -> bool:
    """Too short, too few distinct characters, or built on a demo value."""
    return (
        len(value) < SECRET_MIN_LENGTH
        or len(set(value)) < SECRET_MIN_DISTINCT
        or any(demo in value for demo in (DEMO_SECRET_KEY, "demo-only"))
    )


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse an unknown ``APP_ENV``, and demo or weak secrets (or a fake Stripe) when running for real."""
    check_app_env(config)
    if config.get("APP_ENV") != "production":
        return
    demo = {
        "SECRET_KEY": DEMO_SECRET_KEY,
        "STRIPE_SECRET_KEY": DEMO_STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": DEMO_STRIPE_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": DEMO_STRIPE_WEBHOOK_SECRET,
    }
    bad = [name for name, value in demo.items() if not config.get(name) or config[name] == value]
    if weak_secret(str(config.get("SECRET_KEY", ""))) and "SECRET_KEY" not in bad:
        bad.append("SECRET_KEY (needs 32+ characters, 16+ of them distinct, and no demo value)")
    # Unset, the TOTP keys derive from SECRET_KEY, which is checked above.
    totp_keys = staff_totp_keys(config) if str(config.get("STAFF_TOTP_KEY") or "").strip() else []
    if any(weak_secret(key) for key in totp_keys):
        bad.append("STAFF_TOTP_KEY (each key needs 32+ characters, 16+ of them distinct, and no demo value)")
    if config.get("METRICS_TOKEN") and weak_secret(str(config["METRICS_TOKEN"])):
        bad.append("METRICS_TOKEN (needs 32+ characters, 16+ of them distinct, and no demo value)")
    if config.get("DEMO_MAIL_DIR"):
        bad.append("DEMO_MAIL_DIR (the demo mailbox must not exist in production)")
    if config.get("STRIPE_API_BASE"):
        bad.append("STRIPE_API_BASE (must be unset in production)")
    if str(config.get("DATABASE_URL", "")).startswith("sqlite"):
        bad.append("DATABASE_URL (SQLite is for the demo)")
    if bad:
        raise ConfigError("refusing to start in production with demo settings: " + ", ".join(bad))
