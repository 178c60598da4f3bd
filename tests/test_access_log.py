"""The web server's access log (gunicorn, as the demo and production run it) prints no link's secret.

A sign-in link is a key to a supporter's account for half an hour; the
unsubscribe and thank-you links are keys too.  Gunicorn logs each request's
path and referrer; run from the project directory it reads ``gunicorn.conf.py``.
"""

from __future__ import annotations

import datetime
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Qm9vdHN0cmFwLXNlY3JldC10b2tlbi1mb3ItdGVzdHM"


def _gunicorn_config(log: Path) -> Config:
    """Gunicorn's settings as it reads them when started from the project directory (the demo)."""
    cfg = Config()
    conf = ROOT / "gunicorn.conf.py"
    if conf.exists():
        for name, value in runpy.run_path(str(conf)).items():
            if name in cfg.settings:
                cfg.set(name, value)
    cfg.set("accesslog", str(log))
    return cfg


def _log_requests(log: Path, paths: list[str], headers: list[tuple[str, str]] | None = None) -> str:
    cfg = _gunicorn_config(log)
    logger = cfg.logger_class(cfg)
    for path in paths:
        environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "PATH_INFO": path, "QUERY_STRING": ""}
        environ |= {"SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.2"}
        response = SimpleNamespace(status="200 OK", sent=0, headers=headers or [])
        logger.access(response, SimpleNamespace(headers=[]), environ, datetime.timedelta(milliseconds=1))
    for handler in list(logger.access_log.handlers):
        handler.close()
        logger.access_log.removeHandler(handler)
    return log.read_text()


def test_each_line_ends_with_the_request_id_the_app_answered_with(tmp_path: Path) -> None:
    written = _log_requests(
        tmp_path / "access.log", ["/ar/support"], [("X-Request-ID", "nginx-5f0c2a9e41b7")]
    )
    assert written.rstrip().endswith(" nginx-5f0c2a9e41b7")


def test_the_load_balancers_checks_and_the_scrapes_are_left_out(tmp_path: Path) -> None:
    written = _log_requests(tmp_path / "access.log", ["/healthz", "/readyz", "/metrics", "/ar/support"] * 3)
    assert written.count("/ar/support") == 3
    assert "/healthz" not in written and "/readyz" not in written and "/metrics" not in written


@pytest.mark.parametrize(
    "path",
    [
        f"/ar/account/sign-in/{SECRET}",
        f"/en/reminders/unsubscribe/{SECRET}",
        f"/en/support/thank-you/{SECRET}",
    ],
)
def test_the_access_log_keeps_no_secret_of_a_link(tmp_path: Path, path: str) -> None:
    log = tmp_path / "access.log"
    cfg = _gunicorn_config(log)
    logger = cfg.logger_class(cfg)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://news.example{path}",  # the link's page posts its button to itself
    }
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[("Location", "/ar/account")])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    logger.access(response, request, environ, datetime.timedelta(milliseconds=3))
    for handler in list(logger.access_log.handlers):
        handler.close()
        logger.access_log.removeHandler(handler)
    written = log.read_text()
    assert path.rsplit("/", 1)[0] in written  # the request is logged (which kind of link, and when)
    assert SECRET not in written
