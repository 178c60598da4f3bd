"""The fault storm at full size: 1,000 supporters, about 10,000 Stripe events.

30% of the events are delivered twice, all shuffled, 16 at a time, to a live
server on a PostgreSQL server of the benchmark's own; with ``--outage`` that
server is stopped a quarter of the way through and started again at half way.
Prints the deliveries, the answers, the time, and whether our tables end equal
to Stripe's final state for every supporter with one receipt per paid invoice.
The suite runs the same code small (tests/fault/test_storm.py).

    .venv/bin/python bench/fault_storm.py [--supporters 1000] [--outage]
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade

from app.extensions import db
from app.services import webhook_queue
from tests.conftest import make_app
from tests.fault import storm
from tests.fault.postgres import DisposablePostgres
from tests.harness import start_localstripe


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--supporters", type=int, default=1000)
    parser.add_argument("--outage", action="store_true", help="stop and start PostgreSQL during the storm")
    args = parser.parse_args()

    # One access-log line per delivery, and one traceback per delivery refused during the outage:
    # the figures below say the same in a few lines.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    localstripe, localstripe_url = start_localstripe()
    try:
        with DisposablePostgres() as postgres:
            app = make_app(postgres.url, localstripe_url)
            app.logger.setLevel(logging.CRITICAL)
            with app.app_context():
                upgrade()
            stripe = storm.history(args.supporters)
            app.extensions["stripe_gateway"] = stripe.gateway
            bodies = storm.deliveries(stripe, duplicated=0.3)
            print(f"{args.supporters} supporters, {len(stripe.events)} events, {len(bodies)} deliveries")
            lock = threading.Lock()
            state = {"down": False}

            def during(index: int) -> None:
                with lock:
                    if index == len(bodies) // 4 and not state["down"]:
                        postgres.stop()
                        state["down"] = True
                        print(f"PostgreSQL stopped at delivery {index}")
                    elif index == len(bodies) // 2 and state["down"]:
                        postgres.start()
                        state["down"] = False
                        print(f"PostgreSQL started at delivery {index}")

            with storm.live_server(app) as url:
                delivery = storm.deliver(url, bodies, at_once=16, during=during if args.outage else None)
            began = time.perf_counter()
            with app.app_context():
                swept = webhook_queue.apply_pending(limit=len(bodies))
                db.session.commit()
            sweep = time.perf_counter() - began
            print(f"answers: {dict(sorted(delivery.answers.items()))} in {delivery.rounds} round(s)")
            print(f"delivered in {delivery.seconds:.1f} s: {len(bodies) / delivery.seconds:.0f} deliveries/s")
            print(f"beat sweep applied {sum(swept.values())} left-over events in {sweep:.1f} s")
            print(f"Stripe calls (re-fetches for ties and unknown customers): {len(stripe.gateway.calls)}")
            wrong = storm.differences(app, stripe)
            print(
                "final state equals Stripe's, one receipt per paid invoice" if not wrong else "DIFFERENCES:"
            )
            for line in wrong[:20]:
                print("  " + line)
            with app.app_context():
                db.engine.dispose()
            return 1 if wrong else 0
    finally:
        localstripe.terminate()


if __name__ == "__main__":
    sys.exit(main())
