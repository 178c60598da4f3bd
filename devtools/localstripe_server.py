"""Run localstripe bound to 127.0.0.1 with its state in memory only.

localstripe's own CLI listens on every interface and pickles its state to
``/tmp/localstripe.pickle``, which leaks state between runs.  Starting the
aiohttp app ourselves fixes both.

Usage: ``python -m devtools.localstripe_server --port 8420``
"""

from __future__ import annotations

import argparse
import logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    from aiohttp import web
    from localstripe import resources

    # Keep state in memory: never read or write /tmp/localstripe.pickle.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.store.clear()

    from localstripe.server import app

    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
