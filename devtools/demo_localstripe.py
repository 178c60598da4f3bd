"""What the demo's helper commands (``demo_payout``, ``demo_settle``) share: the demo's localstripe."""

from __future__ import annotations

import argparse
import os


def parse(doc: str | None, tool: str, flag: str, flag_help: str) -> tuple[bool, str]:
    """The command line of a demo helper with one switch: (the switch, localstripe's address)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(flag, action="store_true", help=flag_help)
    add_api_base(parser)
    args = parser.parse_args()
    return bool(getattr(args, flag.lstrip("-"))), checked_api_base(args, tool)


def add_api_base(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-base",
        default=os.environ.get("STRIPE_API_BASE")
        or f"http://127.0.0.1:{os.environ.get('DEMO_STRIPE_PORT', '8420')}",
        help="localstripe's address (the demo's by default)",
    )


def checked_api_base(args: argparse.Namespace, tool: str) -> str:
    """The address, refused unless it is this machine's: these commands never talk to Stripe."""
    api_base: str = args.api_base.rstrip("/")
    if not api_base.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit(f"{tool} talks to the demo's localstripe only, never to Stripe")
    return api_base
