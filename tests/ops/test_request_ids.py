"""Every answer carries a request id (the proxy's, when sane), and JSON log lines carry it too.

That the id follows a donation into the worker's log lines is checked with a
real worker in ``tests/workers/test_worker_end_to_end.py``.
"""

from __future__ import annotations

import io
import json
import logging

from flask import Flask

from app.ops.logs import JsonFormatter, RequestIdFilter
from tests import stripe_events as se


def test_the_proxys_request_id_is_kept_and_a_missing_or_odd_one_replaced(app: Flask) -> None:
    client = app.test_client()
    assert (
        client.get("/healthz", headers={"X-Request-ID": "nginx-0123456789abcdef"}).headers["X-Request-ID"]
        == "nginx-0123456789abcdef"
    )
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/healthz").headers["X-Request-ID"]
    odd = client.get(
        "/healthz", headers={"X-Request-ID": "<script>alert(1)</script> and far too long " * 3}
    ).headers["X-Request-ID"]
    assert "<" not in odd and len(odd) == 32


def test_a_json_log_line_names_the_request_it_was_written_in(app: Flask) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    app.logger.addHandler(handler)
    try:
        # A live-mode event to a test key is logged and ignored.
        customer = se.customer("cus_live", "live@example.org", "Live", ["ar"])
        event = {**se.event("customer.updated", customer, event_id="evt_live_log"), "livemode": True}
        response = se.post(app.test_client(), event)
    finally:
        app.logger.removeHandler(handler)
    assert response.get_json()["ignored"] == "livemode_mismatch"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["WARNING"]
    assert lines[0]["request_id"] == response.headers["X-Request-ID"]
    assert "evt_live_log" in lines[0]["message"]
