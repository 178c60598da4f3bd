"""Two-factor enrolment shows a QR code of the ``otpauth://`` address, drawn here as inline SVG.

The SVG is turned into pixels (its path is a list of black runs, one module high) and read back
with OpenCV's (ArUco-based) QR decoder, as a phone's camera would; it must give the address printed beside it.
Nothing about the secret leaves the server: the SVG names no other address.
"""

from __future__ import annotations

import html
import re

import cv2
import numpy as np
from flask import Flask
from flask.testing import FlaskClient

from app.models import StaffRole
from tests.staff.conftest import Staff, make_staff, post

SVG = re.compile(r"<svg\b.*?</svg>", re.S)
URI = re.compile(r'<code dir="ltr" id="totp-uri"[^>]*>([^<]+)</code>')
LABEL = re.compile(r'role="img" aria-label="([^"]+)"')


def _pixels(svg: str, scale: int = 8) -> np.ndarray:
    """A greyscale image of the QR code: segno's path of horizontal strokes, one module wide."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))  # type: ignore[union-attr]
    image = np.full((size, size), 255, dtype=np.uint8)
    path = re.search(r'<path[^>]*stroke="[^"]+"[^>]*d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([-\d.\s]+)", path):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            end = values[0] if command == "H" else x + values[0]
            image[int(y), int(min(x, end)) : int(max(x, end))] = 0
            x = end
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)


def _enrolment(page: str) -> tuple[str, str, str]:
    """The SVG, the address printed as text, and the QR code's accessible name."""
    svg, uri, label = SVG.search(page), URI.search(page), LABEL.search(page)
    assert svg and uri and label, "the enrolment shows no QR code"
    return svg.group(0), html.unescape(uri.group(1)), label.group(1)


def _assert_reads_back(svg: str, uri: str) -> None:
    # The ArUco-based detector: the classic one misses about one random code in fifty (measured
    # on 300); this one read 2,000 of 2,000.
    decoded, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(_pixels(svg))
    assert decoded == uri
    assert uri.startswith("otpauth://totp/")
    for outside in ("http", "href", "src=", "url(", "<image", "<script"):
        assert outside not in svg.lower()


def test_the_account_page_shows_a_qr_code_of_the_address_in_both_languages(
    finance: Staff, finance_client: FlaskClient
) -> None:
    labels = {}
    for lang in ("en", "ar"):
        page = finance_client.get(f"/staff/account?lang={lang}").get_data(as_text=True)
        svg, uri, labels[lang] = _enrolment(page)
        _assert_reads_back(svg, uri)
        assert 'id="totp-secret"' in page  # the key by hand stays, for a phone without a camera
    assert "QR code" in labels["en"]
    assert re.search("[\u0600-\u06ff]", labels["ar"]) and labels["ar"] != labels["en"]


def test_an_admin_enrolling_at_sign_in_sees_the_qr_code(app: Flask) -> None:
    admin = make_staff(app, "new-admin@newsroom.example", StaffRole.ADMIN, two_factor=False)
    client = app.test_client()
    response = post(client, "/staff/sign-in", {"email": admin.email, "password": admin.password})
    assert response.headers["Location"].endswith("/staff/sign-in/enrol")
    svg, uri, _ = _enrolment(client.get("/staff/sign-in/enrol").get_data(as_text=True))
    _assert_reads_back(svg, uri)
