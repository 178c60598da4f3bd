"""The one-command demo: localstripe, the database, a Celery worker and the web app.

Everything runs on this machine only (127.0.0.1) and needs no server of its
own: SQLite for data, SQLite as Celery's broker, localstripe for Stripe with
its state in memory.  Ctrl-C stops it all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def wait_for(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing came up on 127.0.0.1:{port}")


def main() -> None:
    web_port = int(os.environ.get("PORT", "5000"))
    stripe_port = int(os.environ.get("DEMO_STRIPE_PORT", "8420"))
    (ROOT / "var").mkdir(exist_ok=True)
    env = {
        **os.environ,
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE", f"http://127.0.0.1:{stripe_port}"),
        "BASE_URL": os.environ.get("BASE_URL", f"http://127.0.0.1:{web_port}"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": os.environ.get("SMTP_PORT", "8025"),
        "DEMO_MAIL_DIR": str(ROOT / "var" / "mail"),
    }
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str) -> None:
        procs.append(subprocess.Popen(list(args), cwd=ROOT, env=env))

    def stop(*_: object) -> None:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        spawn(
            sys.executable,
            "-m",
            "devtools.mail_sink",
            "--port",
            env["SMTP_PORT"],
            "--dir",
            env["DEMO_MAIL_DIR"],
        )
        spawn(sys.executable, "-m", "devtools.localstripe_server", "--port", str(stripe_port))
        wait_for(stripe_port)
        # localstripe signs and delivers its events to our webhook endpoint.
        secret = env.get("STRIPE_WEBHOOK_SECRET", "whsec_demo")
        request = urllib.request.Request(
            f"http://127.0.0.1:{stripe_port}/_config/webhooks/demo",
            data=json.dumps(
                {"url": f"http://127.0.0.1:{web_port}/webhooks/stripe", "secret": secret}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()

        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"], cwd=ROOT, env=env, check=True
        )
        # One process runs the tasks and the beat schedule (enough for the demo).
        spawn(
            str(VENV_BIN / "celery"),
            "-A",
            "workers",
            "worker",
            "--beat",
            "--loglevel=INFO",
            "--pool=solo",
            "--schedule",
            str(ROOT / "var" / "celerybeat-schedule"),
        )
        spawn(
            str(VENV_BIN / "gunicorn"),
            "--config",
            str(ROOT / "gunicorn.conf.py"),  # the access log without the links' secrets
            "--bind",
            f"127.0.0.1:{web_port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
            "app:create_app()",
        )
        wait_for(web_port)
        print(
            "\n"
            f"  Support page (Arabic):  http://127.0.0.1:{web_port}/ar/support\n"
            f"  Support page (English): http://127.0.0.1:{web_port}/en/support\n"
            "  Test card: 4242 4242 4242 4242, any future date, any CVC\n"
            "  (4000 0025 0000 3155 asks for 3-D Secure; 4000 0000 0000 0002 is declined)\n"
            f"  Emails it sends:        http://127.0.0.1:{web_port}/demo/mail  (files in var/mail/)\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        print("a demo process stopped; shutting down", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    stop()


if __name__ == "__main__":
    main()
