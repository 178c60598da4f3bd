"""The server's reading of the gift (``/<lang>/support/quote``): what the page, its button and
the wallet sheet show, read by the parser that also reads what is charged."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import i18n
from tests.conftest import count_rows


def quote(client: FlaskClient, lang: str = "en", **fields: str) -> tuple[int, dict]:
    response = client.get(f"/{lang}/support/quote", query_string=fields)
    assert response.headers["Cache-Control"] == "no-store"  # a reading of this reader's choice only
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("typed", "minor"),
    [("$5", 500), ("5,50", 550), ("٥", 500), ("٧٫٥", 750), ("USD 12", 1200), (" 3.25 ", 325)],
)
def test_what_a_reader_types_is_read_as_the_charge_will_be(
    client: FlaskClient, typed: str, minor: int
) -> None:
    status, body = quote(client, amount="other", custom_amount=typed, frequency="once", currency="usd")
    assert status == 200, body
    assert (body["amount"], body["total"], body["currency"], body["mode"]) == (minor, minor, "usd", "payment")


def test_english_reading_with_the_fees_covered(client: FlaskClient) -> None:
    status, body = quote(client, amount="other", custom_amount="$10", cover_fees="1", currency="usd")
    assert status == 200
    # $10 a month grossed up for 2.9% + 30¢: ceil(1030 / 0.971) = 1061.
    assert (body["amount"], body["fee_cover"], body["total"]) == (1000, 61, 1061)
    assert (body["interval"], body["mode"]) == ("month", "subscription")
    assert body["total_line"] == "Total: $10.61 a month"
    assert body["button_label"] == "Give $10.61 a month"


def test_arabic_reading_is_in_arabic(app: Flask, client: FlaskClient) -> None:
    status, body = quote(client, "ar", amount="5", currency="eur", frequency="year")
    assert status == 200
    assert (body["total"], body["currency"], body["interval"]) == (500, "eur", "year")
    assert body["button_money"] in body["button_label"]
    assert body["button_label"] == i18n.translate(app, "Give %(amount)s a year", amount=body["button_money"])


@pytest.mark.parametrize("typed", ["five", "1,000", "$", "0.5", "99999999"])
def test_nonsense_is_refused_in_the_readers_language(app: Flask, client: FlaskClient, typed: str) -> None:
    before = count_rows(app)
    status, body = quote(client, "ar", amount="other", custom_amount=typed, currency="usd")
    assert status == 400
    assert set(body) == {"errors"} and "amount" in body["errors"], body  # no total beside an error
    assert i18n.ARABIC.search(body["errors"]["amount"]), body
    assert count_rows(app) == before


def test_unknown_currency_and_frequency_are_refused(client: FlaskClient) -> None:
    status, body = quote(client, amount="5", currency="gbp", frequency="weekly")
    assert status == 400
    assert set(body["errors"]) == {"currency", "frequency"}


def test_arabic_total_button_and_chip_write_a_whole_amount_the_same_way(
    app: Flask, client: FlaskClient
) -> None:
    status, body = quote(client, "ar", amount="1", currency="usd", frequency="month")
    assert status == 200
    one_dollar = i18n.translate(app, "%(num)s US dollar", num="1")
    assert one_dollar == "دولار واحد"  # the appeal's own words, as on the chip
    assert body["total_money"] == body["button_money"] == one_dollar
    assert "US$" not in body["total_line"] + body["button_label"]
    page = client.get("/ar/support?amount=1&frequency=month&currency=usd").get_data(as_text=True)
    assert f"<bdi>{one_dollar}</bdi>" in page  # the chip
    assert body["total_line"].replace(one_dollar, f"<bdi>{one_dollar}</bdi>") in page  # before the script ran
    # A total with cents is written as money in both.
    status, body = quote(client, "ar", amount="1", cover_fees="1", currency="usd", frequency="month")
    assert body["total_money"] == body["button_money"] and "US$" in body["total_money"]
