"""First-load weight of the support page: our HTML, CSS and JS, each gzipped; Stripe.js aside.

Fetches ``/ar/support`` and ``/en/support`` through the app (Flask's test
client, as a first visit: no cookie), then the stylesheets and scripts it
loads from ``/static/``, found as the suite's test finds them
(``tests/blueprints/test_support_light.py``: its ``OWN_ASSET`` pattern and its
``BUDGET``; that test also checks the page downloads no font or image).
Stripe.js is Stripe's and loads from its CDN, so it is left out.  Each
resource is compressed with gzip at level 9 (as a server compressing ahead of
time would, and as the test does; level 6, nginx's and Apache's usual level,
is shown beside it).  The baseline is the same resources uncompressed.  Goal:
at most 14 KB (14,336 bytes) gzipped, about what the first round trip of a new
connection carries (TCP's initial window of ten segments).

    .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import gzip
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.blueprints.test_support_light import BUDGET, OWN_ASSET

PATHS = ("/ar/support", "/en/support")


@dataclass(frozen=True)
class Resource:
    url: str
    kind: str
    raw: int
    gzip9: int
    gzip6: int


def _sizes(url: str, kind: str, body: bytes) -> Resource:
    return Resource(
        url=url,
        kind=kind,
        raw=len(body),
        gzip9=len(gzip.compress(body, compresslevel=9, mtime=0)),
        gzip6=len(gzip.compress(body, compresslevel=6, mtime=0)),
    )


def first_load(client: Any, path: str) -> list[Resource]:
    """The page at ``path`` and the CSS and JS it loads from ``/static/``, fetched with ``client``."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    html = response.get_data()
    resources = [_sizes(path, "html", html)]
    for url in OWN_ASSET.findall(html.decode()):
        with client.get(url) as answer:  # a static file is streamed: close it
            assert answer.status_code == 200, (url, answer.status_code)
            resources.append(_sizes(url, url.rsplit(".", 1)[-1], answer.get_data()))
    return resources


def main() -> int:
    import os
    import tempfile

    from app import create_app
    from bench import common

    print("First-load weight of the support page (our HTML, CSS, JS; Stripe.js aside)")
    common.print_machine(common.machine())
    database = Path(tempfile.mkdtemp(prefix="bench-weight-")) / "weight.db"
    env = {
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{database}",
        "CELERY_BROKER_URL": "memory://",
    }
    common.migrate(env["DATABASE_URL"], env)
    os.environ.update(env)
    app = create_app()
    stripe_js = app.config["STRIPE_JS_URL"]
    totals: dict[str, Resource] = {}
    for path in PATHS:
        resources = first_load(app.test_client(use_cookies=False), path)
        print(f"\n  {path}")
        rows: list[tuple[object, ...]] = [
            (r.url, r.kind, r.raw, r.gzip9, r.gzip6, f"{common.ratio(r.gzip9, r.raw):.2f}") for r in resources
        ]
        total = Resource(
            path,
            "total",
            sum(r.raw for r in resources),
            sum(r.gzip9 for r in resources),
            sum(r.gzip6 for r in resources),
        )
        totals[path] = total
        rows.append(
            ("total", "", total.raw, total.gzip9, total.gzip6, f"{common.ratio(total.gzip9, total.raw):.2f}")
        )
        common.print_table(("resource", "kind", "bytes", "gzip -9", "gzip -6", "gz/raw"), rows)
    main_total = totals[PATHS[0]]
    met = main_total.gzip9 <= BUDGET
    print(
        f"\n  {PATHS[0]} first load: {main_total.gzip9:,} bytes gzipped (baseline: {main_total.raw:,} bytes"
        f" uncompressed, ratio {common.ratio(main_total.gzip9, main_total.raw):.2f});"
        f" goal <= {BUDGET:,} bytes: {common.verdict(met)}"
        f" ({common.ratio(main_total.gzip9, BUDGET):.0%} of the budget)"
    )
    print(f"  Stripe.js left out: {stripe_js}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
