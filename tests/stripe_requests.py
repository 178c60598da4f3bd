"""Every request the gateway makes in the suite, checked against what Stripe's SDKs declare.

``RecordingHTTPClient`` is the SDK's own HTTP client with a notebook: each
request still goes to localstripe, and its method, path, form-encoded
parameters and ``Stripe-Version`` are written down.  ``check`` reads
``tests/data/stripe_params.json`` (written by ``python -m devtools.stripe_params``
from stripe-python v10.12.0, generated for the pinned 2024-06-20, and the
installed current release) and names every parameter, nested key or
``expand`` path the version's declarations do not have, or that Stripe
refuses there (``refused``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

DATA_FILE = Path(__file__).parent / "data" / "stripe_params.json"
#: localstripe's own routes (``/_config``, Stripe.js): not Stripe's API.
NOT_API = ("/_config", "/js.stripe.com")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    api_version: str | None


class RecordingHTTPClient(stripe.RequestsClient):
    """The SDK's requests-based client, writing down every request it sends."""

    def __init__(self, notebook: list[Recorded] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notebook: list[Recorded] = notebook if notebook is not None else []
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> Any:
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        pairs = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        version = (headers or {}).get("Stripe-Version")
        with self._lock:
            self.notebook.append(Recorded(method.upper(), parts.path, tuple(pairs), version))
        return super().request(method, url, headers, post_data)


@cache
def declarations() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA_FILE.read_text())
    return data


@cache
def _templates(version: str) -> list[tuple[re.Pattern[str], str, int]]:
    found = []
    for key in declarations()["versions"][version]["requests"]:
        method, path = key.split(" ", 1)
        pattern = re.escape(path)
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", pattern)
        literal = len(re.sub(r"\{\w+\}", "", path))
        found.append((re.compile(f"{method} {pattern}$"), key, literal))
    # A literal segment wins over a placeholder: /v1/subscriptions/search before /{subscription}.
    found.sort(key=lambda item: -item[2])
    return found


def request_key(version: str, method: str, path: str) -> str | None:
    for pattern, key, _ in _templates(version):
        if pattern.match(f"{method} {path}"):
            return key
    return None


def _segments(name: str) -> list[str]:
    head, _, rest = name.partition("[")
    return [head, *re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [head]


def _check_param(node: Any, segments: list[str], name: str) -> str | None:
    for segment in segments:
        if segment == "" or segment.isdigit():  # a list index (``items[0]``) or ``expand[]``
            continue
        if node == "any":
            return None
        if node is None:
            return f"{name}: {segment!r} is not a declared key"
        if segment not in node["keys"]:
            return f"{name}: {segment!r} is not a declared parameter"
        node = node["keys"][segment]
    return None


def _check_expand(version: str, returns: str | None, is_list: bool, path: str) -> str | None:
    objects = declarations()["versions"][version]["objects"]
    parts = path.split(".")
    if is_list:
        if parts[0] != "data":
            return f"expand {path}: a list's expand paths start with data."
        parts = parts[1:]
    current = returns
    for index, part in enumerate(parts):
        fields = objects.get(current or "", {})
        field = fields.get(part)
        last = index == len(parts) - 1
        if field is None:
            return f"expand {path}: {current} has no expandable {part!r}"
        kind, target = next(iter(field.items()))
        if last and kind == "object":
            return f"expand {path}: {current}.{part} is not expandable"
        current = target
    return None


def problems(recorded: Iterable[Recorded], version: str) -> list[str]:
    """What ``version``'s declarations do not allow in ``recorded`` (sorted, each once)."""
    declared = declarations()["versions"][version]
    found: set[str] = set()
    for request in recorded:
        if request.path.startswith(NOT_API):
            continue
        key = request_key(version, request.method, request.path)
        if key is None:
            found.add(f"{request.method} {request.path}: no such request")
            continue
        spec = declared["requests"][key]
        refused = set(declared["refused"].get(key, []))
        for name, value in request.params:
            segments = _segments(name)
            if segments[0] == "expand":
                problem = _check_expand(version, spec["returns"], spec["list"], value)
            else:
                problem = _check_param(spec["params"], segments, name)
            if problem is None and segments[0] in refused:
                problem = f"{segments[0]} is declared but refused at {version}"
            if problem:
                found.add(f"{key}: {problem}")
    return sorted(found)


def api_versions(recorded: Iterable[Recorded]) -> set[str | None]:
    return {r.api_version for r in recorded if not r.path.startswith(NOT_API)}


#: Where the session's findings wait for the terminal summary.
PROBLEMS = pytest.StashKey[list[str]]()


def suite_problems(recorded: list[Recorded]) -> list[str]:
    """What the pinned version refuses, and any request sent with another ``Stripe-Version``."""
    pinned = declarations()["pinned"]
    found = problems(recorded, pinned)
    others = sorted(str(v) for v in api_versions(recorded) if v != pinned)
    if others:
        found.append(f"requests sent with Stripe-Version {', '.join(others)}, not the pinned {pinned}")
    return found
