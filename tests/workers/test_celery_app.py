import os
import subprocess
import sys
import time
from pathlib import Path

from workers.celery_app import celery, flask_app

ROOT = Path(__file__).resolve().parents[2]


def test_celery_is_built_from_the_flask_app() -> None:
    assert celery.conf.task_acks_late is True
    assert flask_app.extensions["celery"] is celery


def test_worker_starts_without_a_broker_server(tmp_path: Path) -> None:
    env = {**os.environ, "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "workers",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if " ready." in line:
                break
            if proc.poll() is not None:
                break
        assert any(" ready." in line for line in seen), "".join(seen[-20:])
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
