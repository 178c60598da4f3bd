"""The support page as a reader meets it: language, choices, errors."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import i18n
from tests.conftest import count_rows, csrf_token, make_app, quoted

ALLOWED_LATIN = {"Stripe", "CVC", "US", "TRY", "USD", "EUR"}


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<a[^>]*hreflang="en"[^>]*>.*?</a>', " ", html, flags=re.S)  # the switch to English
    return re.sub(r"<[^>]+>", " ", html)


def latin_words(html: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]{2,}", visible_text(html))) - ALLOWED_LATIN


def test_root_redirects_by_accept_language_arabic_by_default(client: FlaskClient) -> None:
    assert client.get("/").location == "/ar/support"
    assert client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).location == "/en/support"
    assert client.get("/", headers={"Accept-Language": "ar-EG,ar;q=0.9,en;q=0.5"}).location == "/ar/support"
    assert client.get("/", headers={"Accept-Language": "fr-FR"}).location == "/ar/support"
    kept = client.get("/?campaign=spring&utm_source=article", headers={"Accept-Language": "en"})
    assert kept.location == "/en/support?campaign=spring&utm_source=article"


def test_arabic_page_is_right_to_left_and_has_no_english(app: Flask, client: FlaskClient) -> None:
    html = client.get("/ar/support").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert "<h1>نحن بحاجتك لنبقى مستقلين</h1>" in html  # the newsroom's own words (APPEAL_*)
    assert "دولار واحد شهريًا يصنع الفرق." in html
    # Presets read as the appeal says them, in words and numbers, not "US$ 3".
    chips = re.findall(r'data-minor="\d+" [^>]*> <span><bdi>([^<]+)</bdi>', html)
    assert chips == ["دولار واحد", "3 دولارات", "5 دولارات", "10 دولارات"], chips
    assert latin_words(html) == set(), latin_words(html)
    # The typed amount's label names the currency as a reader says it, not by its code.
    assert '<label for="custom_amount">مبلغ آخر (بالدولار الأمريكي)</label>' in html
    euros = client.get("/ar/support?currency=eur").get_data(as_text=True)
    assert '<label for="custom_amount">مبلغ آخر (باليورو)</label>' in euros


def test_english_page_is_left_to_right(client: FlaskClient) -> None:
    html = client.get("/en/support").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    assert "<h1>We need you to stay independent</h1>" in html
    assert re.findall(r'data-minor="\d+" [^>]*> <span><bdi>([^<]+)</bdi>', html) == ["$1", "$3", "$5", "$10"]


def test_the_appeal_is_worded_by_settings(database_url: str, localstripe_url: str) -> None:
    app = make_app(database_url, localstripe_url, APPEAL_HEADLINE_AR="سوريا بحاجة للصحافة الحرة",
                   APPEAL_LEAD_AR="", APPEAL_SLOGAN_EN="Every dollar counts.")  # fmt: skip
    client = app.test_client()
    arabic = client.get("/ar/support").get_data(as_text=True)
    assert "<h1>سوريا بحاجة للصحافة الحرة</h1>" in arabic and 'class="lead"' not in arabic
    assert "Every dollar counts." in client.get("/en/support").get_data(as_text=True)


def test_one_dollar_monthly_is_preselected(client: FlaskClient) -> None:
    html = client.get("/en/support").get_data(as_text=True)
    assert re.search(r'name="frequency" value="month" checked', html)
    assert re.search(r'name="amount" value="1" data-minor="100" checked', html)
    assert re.search(r'<option value="usd" selected>', html)
    assert "Give <bdi>$1</bdi> a month" in html  # the amount isolated (bidi)


def test_unknown_language_is_not_found(client: FlaskClient) -> None:
    assert client.get("/fr/support").status_code == 404


def test_language_switch_keeps_the_readers_choices(client: FlaskClient) -> None:
    html = client.get("/ar/support?amount=5&currency=eur&frequency=year&campaign=gaza").get_data(as_text=True)
    switch = re.search(r'href="([^"]+)" hreflang="en"', html)
    assert switch
    link = switch.group(1).replace("&amp;", "&")
    assert link.startswith("/en/support?")
    for part in ("amount=5", "currency=eur", "frequency=year", "campaign=gaza"):
        assert part in link
    english = client.get(link).get_data(as_text=True)
    assert re.search(r'name="frequency" value="year" checked', english)
    assert re.search(r'<option value="eur" selected>', english)
    assert 'name="campaign" value="gaza"' in english


def test_campaign_and_utm_ride_along_in_the_form(client: FlaskClient) -> None:
    html = client.get("/en/support?campaign=spring&utm_source=newsletter&utm_medium=email").get_data(
        as_text=True
    )
    assert 'name="campaign" value="spring"' in html
    assert 'name="utm_source" value="newsletter"' in html
    assert 'name="utm_medium" value="email"' in html


def test_fee_cover_total_is_shown_exactly(client: FlaskClient) -> None:
    html = client.get("/en/support?cover_fees=1").get_data(as_text=True)
    assert "Total: <bdi>$1.34</bdi> a month" in html  # 2.9% + 30c grossed up on $1


def _start(client: FlaskClient, lang: str = "ar", **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client, lang)
    form = {
        "csrf_token": token,
        "frequency": "month",
        "currency": "usd",
        "amount": "1",
        "email": "reader@example.org",
        **fields,
    }
    return client.post(
        f"/{lang}/support/start", data=quoted(client, lang, form), headers={"Accept": "application/json"}
    )


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"amount": "other", "custom_amount": "0.50"}, "amount", "amount_below_minimum"),
        ({"amount": "other", "custom_amount": "١٠٠٠٠"}, "amount", "amount_above_maximum"),
        ({"amount": "other", "custom_amount": "خمسة"}, "amount", "amount_not_a_number"),
        ({"currency": "gbp"}, "currency", "unknown_currency"),
        ({"frequency": "weekly"}, "frequency", "unknown_frequency"),
        ({"email": "not-an-email"}, "email", "email_invalid"),
        ({"email": ""}, "email", "email_missing"),
    ],
)
def test_bad_input_is_refused_in_arabic_and_nothing_happens(
    app: Flask,
    client: FlaskClient,
    stripe_client,  # type: ignore[no-untyped-def]
    fields: dict[str, str],
    field: str,
    code: str,
) -> None:
    before = len(stripe_client.v1.customers.list(params={"limit": 100}).data)
    response = _start(client, **fields)
    assert response.status_code == 400
    shown = response.get_json()["errors"][field]
    expected = i18n.message(
        app, code, minimum=format_money_ar(app, 100), maximum=format_money_ar(app, 500_000)
    )
    assert shown == expected
    assert i18n.is_arabic(shown), shown
    assert sum(count_rows(app).values()) == 0
    assert len(stripe_client.v1.customers.list(params={"limit": 100}).data) == before


@pytest.mark.parametrize(
    "seen",
    [
        {"quoted_total": "134"},  # shown with the fees covered, sent without
        {"quoted_frequency": "once"},  # the reading of a one-off gift, the choice monthly
        {"quoted_currency": "eur"},
        {"quoted_total": ""},  # no quote at all: the reader saw none
    ],
)
def test_a_total_other_than_the_one_shown_is_refused_before_stripe(
    app: Flask,
    client: FlaskClient,
    stripe_client,  # type: ignore[no-untyped-def]
    seen: dict[str, str],
) -> None:
    before = len(stripe_client.v1.customers.list(params={"limit": 100}).data)
    form = {"csrf_token": csrf_token(client, "ar"), "frequency": "month", "currency": "usd"}
    form = quoted(client, "ar", {**form, "amount": "1", "email": "reader@example.org"})
    assert form["quoted_total"] == "100"  # what the page shows for this choice
    response = client.post("/ar/support/start", data={**form, **seen}, headers={"Accept": "application/json"})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "quote_changed" and error["message"] == i18n.message(app, "quote_changed")
    assert i18n.is_arabic(error["message"])
    assert sum(count_rows(app).values()) == 0  # not even an attempt counted
    assert len(stripe_client.v1.customers.list(params={"limit": 100}).data) == before


def format_money_ar(app: Flask, minor: int) -> str:
    from app.i18n import format_money

    with app.test_request_context("/ar/support"):
        return format_money(minor, "usd", "ar", short=True)


def test_minimum_message_names_the_minimum_in_the_currency(client: FlaskClient) -> None:
    response = _start(client, "en", currency="try", amount="other", custom_amount="10")
    assert response.status_code == 400
    assert (
        "TRY" in response.get_json()["errors"]["amount"] and "50" in response.get_json()["errors"]["amount"]
    )


def test_missing_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        "/ar/support/start",
        data={"frequency": "month", "currency": "usd", "amount": "1", "email": "a@example.org"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf"
    assert response.get_json()["error"]["message"] == i18n.message(app, "csrf")
    assert i18n.is_arabic(response.get_json()["error"]["message"])
    assert sum(count_rows(app).values()) == 0


def test_oversized_body_is_refused_in_the_pages_language(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "ar")
    response = client.post(
        "/ar/support/start",
        data={"csrf_token": token, "email": "a@example.org", "name": "x" * 100_000},
    )
    assert response.status_code == 413
    assert 'lang="ar"' in response.get_data(as_text=True)
    assert sum(count_rows(app).values()) == 0


def test_form_without_javascript_checks_the_choice_and_says_paying_needs_it(client: FlaskClient) -> None:
    token = csrf_token(client, "en")
    bad = client.post(
        "/en/support",
        data={"csrf_token": token, "amount": "other", "custom_amount": "abc", "email": "a@example.org"},
    )
    assert bad.status_code == 400
    assert "Please type the amount as a number" in bad.get_data(as_text=True)
    assert 'value="abc"' in bad.get_data(as_text=True)  # nothing the reader typed is lost
    good = client.post("/en/support", data={"csrf_token": token, "amount": "5", "email": "a@example.org"})
    assert good.status_code == 200
    assert "Paying by card needs JavaScript" in good.get_data(as_text=True)


def test_confirm_without_a_started_donation_is_refused(client: FlaskClient) -> None:
    token = csrf_token(client, "en")
    response = client.post("/en/support/confirm", data={"csrf_token": token, "intent_id": "seti_x"})
    assert response.status_code == 409
    assert "expired" in response.get_json()["error"]["message"]
