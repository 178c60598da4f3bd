"""The audit log in the staff member's language: every action and detail key has words, none is
shown as its code (``payment.refund``, ``payment_id=``)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from app.extensions import db
from app.services import audit
from app.staff import text

APP = Path(__file__).resolve().parents[2] / "app"
RECORDED = re.compile(r'audit\.record\(\s*[^,]+,\s*f?"([\w.{}]+)"', re.S)


def test_every_recorded_action_has_words() -> None:
    actions = {m for path in APP.rglob("*.py") for m in RECORDED.findall(path.read_text("utf-8"))}
    actions = {a for a in actions if "{" not in a} | {"export.members", "export.payments"}
    assert len(actions) > 25
    assert actions - set(text.AUDIT_ACTIONS) == set()


def test_one_english_label_two_arabic_nouns(app: Flask) -> None:
    """ "Data erased" is an action in the audit log and a kind of email: each has its own Arabic."""
    with app.test_request_context("/staff/audit?lang=ar"), force_locale("ar"):
        action, email = str(text.AUDIT_ACTIONS["supporter.erase"]), str(text.EMAIL_KINDS["account_erased"])
    assert (action, email) == ("محو البيانات", "تأكيد محو البيانات")


def test_the_arabic_audit_log_names_actions_and_details_in_arabic(
    app: Flask, admin_client: FlaskClient
) -> None:
    with app.app_context():
        audit.record(
            "staff:1", "payment.refund", payment_id=7, amount=50, currency="usd", stripe_refund_id="re_1"
        )
        audit.record("supporter:3", "receipt.download", payment_id=7)
        db.session.commit()
    page = admin_client.get("/staff/audit?lang=ar").get_data(as_text=True)
    assert "ردّ مبلغ دفعة" in page and "تنزيل إيصال" in page and "تسجيل الدخول" in page
    assert 'المبلغ: <bdi dir="ltr">50</bdi>' in page and 'الدفعة: <bdi dir="ltr">7</bdi>' in page
    assert 'التحقق بخطوتين: <bdi dir="ltr">' in page  # the sign-in's own detail, yes or no in Arabic
    for code in ("payment.refund", "receipt.download", "payment_id", "stripe_refund_id", "two_factor="):
        assert f">{code}" not in page and f"{code}=" not in page, code
