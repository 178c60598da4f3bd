"""The demo's mailbox: emails caught by the local SMTP sink.  Exists only in demo mode."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue

bp = Blueprint("demo", __name__, url_prefix="/demo")


def _folder() -> Path:
    return Path(current_app.config["DEMO_MAIL_DIR"])


def _read(path: Path) -> Any:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


@bp.get("/mail")
def mailbox() -> ResponseReturnValue:
    files = sorted(_folder().glob("*.eml"), reverse=True)[:200]
    messages = [(path.stem, _read(path)) for path in files]
    return render_template("demo/mailbox.html", messages=messages)


@bp.get("/mail/<name>")
def message(name: str) -> ResponseReturnValue:
    path = _folder() / f"{name}.eml"
    if "/" in name or not path.is_file():
        abort(404)
    parsed = _read(path)
    html = parsed.get_body(preferencelist=("html",))
    text = parsed.get_body(preferencelist=("plain",))
    return render_template(
        "demo/message.html",
        message=parsed,
        html=html.get_content() if html else "",
        text=text.get_content() if text else "",
    )
