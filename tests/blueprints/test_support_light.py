"""The support page stays light for a cheap phone on a metered link: its own HTML, CSS and
JavaScript fit in 14 KB gzipped (about what a first round trip can carry), it downloads no
font, and Stripe.js (the only other script) never holds up the page."""

from __future__ import annotations

import gzip
import re

import pytest
from flask.testing import FlaskClient

BUDGET = 14 * 1024
OWN_ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="(/static/[^"]+)"')


def static(client: FlaskClient, path: str) -> bytes:
    with client.get(path) as response:  # a static file is streamed: close it
        assert response.status_code == 200, path
        return response.get_data()


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_html_css_and_js_of_the_support_page_fit_in_14_kb_gzipped(client: FlaskClient, lang: str) -> None:
    page = client.get(f"/{lang}/support")
    assert page.status_code == 200
    html = page.get_data()
    assets = OWN_ASSET.findall(html.decode())
    assert sorted(assets) == ["/static/support.css", "/static/support.js"], assets
    sizes = {"html": len(gzip.compress(html, 9))}
    for path in assets:
        sizes[path] = len(gzip.compress(static(client, path), 9))
    total = sum(sizes.values())
    assert total <= BUDGET, f"{total} bytes gzipped > {BUDGET}: {sizes}"


def test_no_web_font_and_system_arabic_fonts_first(client: FlaskClient) -> None:
    page = client.get("/ar/support").get_data(as_text=True)
    assert "font" not in " ".join(re.findall(r"<link[^>]*>", page)).replace('rel="stylesheet"', "")
    for sheet in ("support.css", "account.css", "staff.css"):
        css = static(client, f"/static/{sheet}").decode()
        assert "@font-face" not in css and "@import" not in css, sheet
        assert not re.search(r"url\(", css), f"{sheet} downloads something"
    for sheet in ("support.css", "staff.css"):
        css = static(client, f"/static/{sheet}").decode()
        arabic = re.search(r":lang\(ar\) body\{font-family:([^;}]+)", css)
        assert arabic, f"{sheet} has no font stack for Arabic pages"
        first = arabic.group(1).split(",")[0].strip('"')
        assert first in {
            "Noto Sans Arabic",
            "Noto Naskh Arabic",
            "SF Arabic",
            "Geeza Pro",
            "Segoe UI",
            "Tahoma",
        }


def test_stripe_js_loads_async_after_the_content(client: FlaskClient) -> None:
    page = client.get("/ar/support").get_data(as_text=True)
    scripts = re.findall(r"<script [^>]*src=[^>]*>", page)
    assert len(scripts) == 2, scripts
    ours, stripe = scripts
    assert "/static/support.js" in ours and " defer" in ours
    assert 'id="stripe-js"' in stripe and " async" in stripe
    assert page.index(stripe) > page.index("</main>")  # nothing waits for it
