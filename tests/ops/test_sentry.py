"""With ``SENTRY_DSN`` an error reaches Sentry, without the reader's data.

Sentry's client is one per process and patches the libraries it integrates
with, so the app runs in a process of its own; a small HTTP server here stands
in for Sentry's ingest endpoint and keeps what it receives.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Sentry's client compresses with brotli when it can import it, else gzip.
DECODE = {"gzip": gzip.decompress, "br": lambda body: __import__("brotli").decompress(body)}

SCRIPT = """
import logging, sys
import sentry_sdk
from app import create_app
app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SENTRY_DSN": sys.argv[1],
                  "CELERY_BROKER_URL": "memory://"})

@app.get("/boom")
def boom():
    raise RuntimeError("the renewal run broke")

client = app.test_client()
client.set_cookie("session", "reader-session-cookie")
answer = client.get("/boom?email=reader%40example.org", headers={"X-Forwarded-For": "198.51.100.7"})
assert answer.status_code == 500, answer.status_code
sentry_sdk.flush(10)
"""


@pytest.fixture()
def sentry() -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []

    class Ingest(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(DECODE.get(self.headers.get("Content-Encoding", ""), bytes)(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://publickey@127.0.0.1:{server.server_port}/1", received
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_an_error_reaches_sentry_without_the_readers_data(sentry: tuple[str, list[bytes]]) -> None:
    dsn, received = sentry
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, dsn], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sent = b"".join(received)
    assert b"the renewal run broke" in sent
    for private in (b"reader-session-cookie", b"198.51.100.7"):
        assert private not in sent
