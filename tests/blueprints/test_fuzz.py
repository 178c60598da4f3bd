"""Fuzzing the doors strangers can knock on: the support form and the webhook endpoint.

Whatever arrives (Arabic-Indic digits, huge or empty values, control
characters, broken encodings, random bytes, signed nonsense), the answer is
never a 5xx, and a rejected request writes nothing.  Stripe is never reached:
every generated choice breaks at least one rule of the form, so what is
checked is how it is refused, not how it is paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import stripe_events as se
from tests.conftest import count_rows, csrf_token, empty_tables, make_app

JSON = {"Accept": "application/json"}
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
ODD = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u202e",  # right-to-left override
        "\ufeff",
        "١٠",
        "١٠٫٥",
        "٫٥",
        "1e9",
        "NaN",
        "-1",
        "0",
        "0.001",
        "9" * 400,
        "١" * 5000,
        "<script>alert(1)</script>",
        "' OR 1=1 --",
        "%00",
        "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
)
TEXT = st.one_of(ODD, st.text(max_size=300), st.text(alphabet=ARABIC_DIGITS + ".,٫٬ ", max_size=12))


@pytest.fixture()
def app(database_url: str, localstripe_url: str) -> Iterator[Flask]:
    app = make_app(database_url, localstripe_url)
    yield app
    empty_tables(app)


@st.composite
def broken_choice(draw: st.DrawFn) -> dict[str, str]:
    """A support form with at least one field a reader would be told to fix."""
    form = {
        "frequency": draw(st.one_of(st.sampled_from(["month", "year", "once"]), TEXT)),
        "currency": draw(st.one_of(st.sampled_from(["usd", "eur", "try"]), TEXT)),
        "amount": draw(st.one_of(st.sampled_from(["1", "5", "other"]), TEXT)),
        "custom_amount": draw(TEXT),
        "email": draw(st.one_of(st.just("reader@example.org"), TEXT)),
        "name": draw(st.one_of(st.just("ليلى"), TEXT, st.just("ن" * 5000))),
        "campaign": draw(TEXT),
    }
    # Always one sure mistake, so that no example reaches Stripe.
    mistake = draw(st.sampled_from(["email", "amount", "frequency", "currency"]))
    form[mistake] = draw(
        st.sampled_from(
            {
                "email": ["", "not-an-email", "@@"],
                "amount": ["", "-5", "abc", "١٠٠٠٠٠٠٠٠"],
                "frequency": ["weekly", "١", "daily"],
                "currency": ["xxx", "دولار", "us$"],
            }[mistake]
        )
    )
    if mistake == "amount":
        form["custom_amount"] = form["amount"]
        form["amount"] = "other"
    return form


def assert_refused_cleanly(app: Flask, before: dict[str, int], status: int) -> None:
    assert status < 500
    assert status in (400, 413), status
    assert count_rows(app) == before  # nothing written on rejection


@FUZZ
@given(form=broken_choice(), lang=st.sampled_from(["ar", "en"]))
def test_the_support_form_refuses_bad_choices_without_a_trace(
    app: Flask, form: dict[str, str], lang: str
) -> None:
    client = app.test_client()
    token = csrf_token(client, lang)
    before = count_rows(app)
    started = client.post(f"/{lang}/support/start", data={**form, "csrf_token": token}, headers=JSON)
    assert_refused_cleanly(app, before, started.status_code)
    if started.status_code == 400:
        body = started.get_json()
        assert body and ("errors" in body or "error" in body)
    without_js = client.post(f"/{lang}/support", data={**form, "csrf_token": token})
    assert_refused_cleanly(app, before, without_js.status_code)


@FUZZ
@given(
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=x",
            "application/json",
            "text/plain; charset=utf-16",
        ]
    ),
)
def test_raw_bytes_on_the_support_form_are_refused(app: Flask, body: bytes, content_type: str) -> None:
    client = app.test_client()
    csrf_token(client, "ar")
    before = count_rows(app)
    response = client.post("/ar/support/start", data=body, content_type=content_type, headers=JSON)
    assert_refused_cleanly(app, before, response.status_code)


@FUZZ
@given(
    body=st.binary(max_size=4000),
    # What an HTTP header can carry (no line breaks): anything else never reaches us.
    signature=st.one_of(
        st.none(),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=200),
        st.sampled_from(["t=1,v1=00", "t=,v1=", "v1=" + "a" * 64, "t=9999999999,v1=zz"]),
    ),
)
def test_unsigned_or_random_webhook_bodies_are_refused(
    app: Flask, body: bytes, signature: str | None
) -> None:
    client = app.test_client()
    before = count_rows(app)
    response = se.post(client, body, signature=signature or "")
    assert_refused_cleanly(app, before, response.status_code)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=50)),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    payload=st.dictionaries(
        st.sampled_from(["id", "type", "object", "data", "created", "livemode", "api_version"]), JSON_VALUES
    )
)
def test_signed_nonsense_is_never_a_server_error(app: Flask, payload: dict[str, object]) -> None:
    """Correctly signed, but not an event Stripe would send: 400, or stored and harmlessly ignored."""
    client = app.test_client()
    before = count_rows(app)
    response = se.post(client, json.dumps(payload).encode())
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert count_rows(app) == before
