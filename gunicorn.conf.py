"""Gunicorn's settings for this service: gunicorn reads this file when started from the project
directory (``gunicorn "app:create_app()"``), and the demo and ``deploy/newsroom-support-web.service``
name it.

The access log leaves out the secret of sign-in, unsubscribe and thank-you links, and the load
balancer's checks (``app/access_log.py``), and ends with the request id.  Under ``PROMETHEUS_MULTIPROC_DIR`` a worker that exits
has its gauges' files marked dead, so that ``/metrics`` stops adding them up (``app/ops/metrics.py``).
"""

import os
from typing import Any

logger_class = "app.access_log.RedactingLogger"
# Gunicorn's default line, then the request id the app answered with (the proxy's X-Request-ID,
# or one made by the app): the line of the access log and the app's log lines share it.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
