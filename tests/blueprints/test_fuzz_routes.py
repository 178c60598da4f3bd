"""Every route of the URL map, fuzzed: no 5xx, nothing written on refusal, an answer in the page's language.

The routes come from ``app.url_map`` (the demo mailbox's too), so a route added
later is fuzzed without anyone listing it; a route whose URL converter has no
strategy here fails ``test_every_route_is_fuzzed``.  Each example sends one
request as one of three people (a stranger, a signed-in supporter with a
membership, a signed-in staff admin) with odd path values (ids past any column,
negative, Arabic-Indic digits, odd characters), an odd query string (the
framework's own keywords, a repeated ``lang``), an odd form (with or without a
good CSRF token) and odd headers (a forged ``Host`` and ``X-Forwarded-*``
behind one trusted proxy, any ``Accept-Language``), in either language.

Checked: the status is below 500; a refused request (4xx) changes no row
count, except the tables that count refused tries (the lockouts and limits
rest on them); a refused page is in the language of its address (or of the
staff's choice under /staff), ``dir="rtl"`` in Arabic, and a JSON refusal says
what was wrong.  A few examples per route, derandomized, so that the suite's
budget holds and a failure is the same on every run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from app import create_app
from app.i18n import LOCALES
from app.models import StaffRole
from app.staff import auth as staff_auth
from tests import account_helpers
from tests.conftest import CSRF, count_rows, csrf_token, empty_tables, make_app
from tests.harness import StripeJs
from tests.staff.conftest import Staff, make_staff
from tests.staff.conftest import sign_in as staff_sign_in

EXAMPLES = 25
ROUTE_FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: Tables a refused request may still write: the refused tries that the lockouts and
#: rate limits count, and the audit entry of a refused staff sign-in.
COUNTS_REFUSALS = {
    "staff_sign_in_attempt",
    "sign_in_attempt",
    "payment_attempt",
    "audit_entry",
    "stripe_pacing",
}
#: Routes whose good CSRF token would end the fuzzing person's session (the rest of the
#: examples would all be strangers): they are fuzzed with a missing or wrong token.
ENDS_THE_SESSION = {"account.sign_out", "account.erase_post", "staff.sign_out"}


def _url_map_app(mail_dir: str = "/nonexistent") -> Flask:
    """An app to read the URL map from (no connection is made); the demo mailbox included."""
    return create_app(
        {
            "TESTING": True,
            "APP_ENV": "test",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "x",
            "DEMO_MAIL_DIR": mail_dir,
        }
    )


def routes(app: Flask) -> list[tuple[str, str]]:
    return sorted(
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    )


ROUTES = routes(_url_map_app())

# -- what is sent ------------------------------------------------------------------------

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\n",
        "a\nb",
        "\u202e",
        "\ufeff",
        "١٠",
        "9" * 30,
        "-1",
        "1e999",
        "NaN",
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "%00",
        "%0d%0aX: y",
        "../../etc/passwd",
        "//evil.example/",
        "https://evil.example/",
        "ن" * 3000,
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
)
TEXT = st.one_of(ODD_TEXT, st.text(max_size=40))
INT_VALUES = st.one_of(
    st.sampled_from(["0", "1", "2147483647", "2147483648", "9223372036854775808", "9" * 40, "٣", "007"]),
    st.integers(min_value=0, max_value=10**30).map(str),
)
QUERY_KEYS = st.one_of(
    st.sampled_from(
        [
            "_external",
            "_scheme",
            "_anchor",
            "_method",
            "lang",
            "next",
            "page",
            "year",
            "q",
            "preset",
            "from",
            "to",
            "email",
            "amount",
            "currency",
            "frequency",
            "campaign",
            "utm_source",
        ]
    ),
    st.text(max_size=10),
)
QUERY_VALUES = st.one_of(TEXT, INT_VALUES, st.sampled_from(["ar", "en", "1", "http", "POST", "9999-12-31"]))
FORM_KEYS = st.one_of(
    st.sampled_from(
        [
            "email",
            "name",
            "amount",
            "custom_amount",
            "currency",
            "frequency",
            "campaign",
            "cover_fees",
            "password",
            "new_password",
            "current_password",
            "code",
            "role",
            "next",
            "intent_id",
            "reason",
            "confirm",
            "when",
            "amount_major",
            "website",
        ]
    ),
    st.text(max_size=10),
)
HOSTS = st.sampled_from(["localhost", "evil.example", "evil.example:8443", "127.0.0.1", "[::1]", "a" * 200])
HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
ACCEPT_LANGUAGE = st.one_of(
    st.sampled_from(["ar", "en", "fr", "en-GB,en;q=0.9", "*", "ar;q=x", ""]), HEADER_TEXT
)
ACCEPT = st.sampled_from(["text/html", "application/json", "*/*", "", "application/xml;q=x"])


@dataclass
class Sent:
    who: str
    lang: str
    path_values: dict[str, str]
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    good_token: bool
    headers: dict[str, str]


def path_value(converter: str) -> st.SearchStrategy[str]:
    if converter == "IntegerConverter" or converter.endswith("RowIdConverter"):
        return INT_VALUES
    if converter in ("UnicodeConverter", "PathConverter"):
        return TEXT.filter(bool)
    raise LookupError(converter)


def converters(rule: Rule) -> dict[str, str]:
    return {name: type(conv).__name__ for name, conv in (rule._converters or {}).items() if name != "lang"}


@st.composite
def requests(draw: st.DrawFn, rule: Rule) -> Sent:
    return Sent(
        who=draw(st.sampled_from(["stranger", "supporter", "staff"])),
        lang=draw(st.sampled_from(LOCALES)),
        path_values={name: draw(path_value(conv)) for name, conv in converters(rule).items()},
        query=draw(st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=5)),
        form=draw(st.lists(st.tuples(FORM_KEYS, TEXT), max_size=6)),
        good_token=draw(st.booleans()),
        headers={
            "Host": draw(HOSTS),
            "X-Forwarded-Host": draw(st.one_of(HOSTS, HEADER_TEXT)),
            "X-Forwarded-For": draw(
                st.one_of(st.sampled_from(["203.0.113.9", "::1", "1.1.1.1, 2.2.2.2"]), HEADER_TEXT)
            ),
            "X-Forwarded-Proto": draw(st.sampled_from(["https", "http", "gopher", ""])),
            "Accept-Language": draw(ACCEPT_LANGUAGE),
            "Accept": draw(ACCEPT),
        },
    )


def build_path(rule: Rule, sent: Sent) -> str:
    path = rule.rule.replace("<lang>", sent.lang)
    for name, value in sent.path_values.items():
        safe = "/" if converters(rule)[name] == "PathConverter" else ""
        path = re.sub(
            rf"<(?:[a-z]+(?:\([^)]*\))?:)?{name}>", quote(value, safe=safe).replace("\\", "\\\\"), path
        )
    return path


# -- who sends it ------------------------------------------------------------------------


def _token_of(client: FlaskClient, path: str) -> str:
    match = CSRF.search(client.get(path, follow_redirects=True).get_data(as_text=True))
    assert match, path
    return match.group(1)


@dataclass
class People:
    app: Flask
    clients: dict[str, FlaskClient]
    tokens: dict[str, str]
    staff: Staff

    def still_signed_in(self) -> None:
        """An example may have ended a session (a role changed, say): sign in again."""
        if self.clients["supporter"].get("/ar/account").status_code != 200:
            account_helpers.sign_in(self.app, self.clients["supporter"])
        if self.clients["staff"].get("/staff/account").status_code != 200:
            staff_sign_in(self.clients["staff"], self.staff, lang="en")
        self.tokens = {
            "supporter": csrf_token(self.clients["supporter"], "ar"),
            "staff": _token_of(self.clients["staff"], "/staff/account"),
        }


def _token_of(client: FlaskClient, path: str) -> str:
    match = CSRF.search(client.get(path, follow_redirects=True).get_data(as_text=True))
    assert match, path
    return match.group(1)


@pytest.fixture(scope="module")
def people(
    database_url: str, localstripe_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[People]:
    """One app and its people for every route (signing them in for each route cost a minute a pass)."""
    mail = tmp_path_factory.mktemp("mail")
    # Behind one trusted proxy, as the second probed instance was: X-Forwarded-* are believed.
    app = make_app(database_url, localstripe_url, PROXY_COUNT=1, DEMO_MAIL_DIR=str(mail))
    (mail / "a.eml").write_bytes(b"Subject: hello\r\n\r\nhello\r\n")
    supporter = app.test_client()
    account_helpers.give(supporter, StripeJs(localstripe_url))
    account_helpers.sign_in(app, supporter)
    staff = make_staff(app, "admin@newsroom.example", StaffRole.ADMIN)
    staff_client = app.test_client()
    staff_sign_in(staff_client, staff, lang="en")
    yield People(app, {"supporter": supporter, "staff": staff_client}, {}, staff)
    empty_tables(app)


def staff_language(client: FlaskClient) -> str | None:
    with client.session_transaction() as session:
        lang = session.get(staff_auth.LANG_KEY)
    return lang if lang in LOCALES else None


def expected_language(rule: Rule, sent: Sent, client: FlaskClient) -> str | None:
    if "<lang>" in rule.rule:
        return sent.lang
    if rule.rule.startswith("/staff") and sent.headers["Host"] == "localhost":
        # (the browser sends its cookie, and with it the staff's language, to its own host only)
        return staff_language(client)  # the query's ``lang`` is kept in the session first
    return None  # the browser's languages choose


# -- the checks --------------------------------------------------------------------------


def check_answer(people: People, rule: Rule, method: str, sent: Sent) -> None:
    app = people.app
    client = people.clients.get(sent.who) or app.test_client()
    form = list(sent.form)
    if (
        method != "GET"
        and sent.who in people.tokens
        and sent.good_token
        and rule.endpoint not in ENDS_THE_SESSION
    ):
        form.append(("csrf_token", people.tokens[sent.who]))
    path = build_path(rule, sent)
    query = urlencode(sent.query)
    before = count_rows(app)
    response = client.open(
        path,
        method=method,
        query_string=query,
        data=urlencode(form) if method != "GET" else None,
        content_type="application/x-www-form-urlencoded" if method != "GET" else None,
        headers=sent.headers,
    )
    status = response.status_code
    where = f"{method} {path}?{query} as {sent.who}: {status}"
    assert status < 500, f"{where}\n{response.get_data(as_text=True)[-800:]}"
    if status < 400:
        return
    after = count_rows(app)
    changed = {t for t in before if before[t] != after[t]} - COUNTS_REFUSALS
    assert not changed, f"{where} refused, yet wrote to {changed}"
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("application/json"):
        body = response.get_json()
        assert body and ("error" in body or "errors" in body), where
        return
    assert kind.startswith("text/html"), (where, kind)
    page = response.get_data(as_text=True)
    lang = expected_language(rule, sent, client)
    if lang:
        assert f'<html lang="{lang}"' in page, where
    if '<html lang="ar"' in page:
        assert 'dir="rtl"' in page, where


def rule_of(app: Flask, endpoint: str, method: str) -> Rule:
    return next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and method in (r.methods or ()))


@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{m} {e}" for e, m in ROUTES])
def test_no_route_fails_on_odd_input(people: People, endpoint: str, method: str) -> None:
    rule = rule_of(people.app, endpoint, method)
    people.still_signed_in()

    @ROUTE_FUZZ
    @given(sent=requests(rule))
    def fuzz(sent: Sent) -> None:
        check_answer(people, rule, method, sent)

    fuzz()


def test_every_route_is_fuzzed(tmp_path: Path) -> None:
    """Every route of the URL map is above, and each of its path values has a strategy."""
    app = _url_map_app(str(tmp_path))
    assert routes(app) == ROUTES
    assert len(ROUTES) >= 50
    for rule in app.url_map.iter_rules():
        for name, converter in converters(rule).items():
            try:
                path_value(converter)
            except LookupError:
                pytest.fail(f"{rule.rule}: no fuzzing strategy for <{name}> ({converter})")
