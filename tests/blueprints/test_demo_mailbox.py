from email.message import EmailMessage
from pathlib import Path

from tests.conftest import make_app


def test_demo_mailbox_shows_caught_emails_only_in_demo_mode(
    database_url: str, localstripe_url: str, tmp_path: Path
) -> None:
    message = EmailMessage()
    message["Subject"] = "إيصالك 2026-0000001"
    message["To"] = "reader@example.org"
    message.set_content("نص")
    message.add_alternative("<p>مرحبًا</p>", subtype="html")
    (tmp_path / "20261125-0001.eml").write_bytes(bytes(message))

    demo = make_app(database_url, localstripe_url, DEMO_MAIL_DIR=str(tmp_path)).test_client()
    listing = demo.get("/demo/mail").get_data(as_text=True)
    assert "إيصالك 2026-0000001" in listing and "reader@example.org" in listing
    shown = demo.get("/demo/mail/20261125-0001")
    assert shown.status_code == 200 and "مرحبًا" in shown.get_data(as_text=True)
    assert demo.get("/demo/mail/..%2Fsecret").status_code == 404

    plain = make_app(database_url, localstripe_url).test_client()
    assert plain.get("/demo/mail").status_code == 404
