"""``deploy/``: the env file names every setting and starts in production once its secrets are
filled in; the systemd units run what this release ships.  ``tests/ops/test_topology.py`` runs
the units' own command lines."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

from app import config, create_app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("prepare", "web", "worker", "beat")


def env_file() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (DEPLOY / "newsroom-support.env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name not in values, f"{name} twice"
            values[name] = value
    return values


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / f"newsroom-support-{name}.service")
    return parser


def exec_start(name: str) -> list[list[str]]:
    """Every ExecStart= of the unit (systemd keeps them all, in order), split as systemd does."""
    text = (DEPLOY / "systemd" / f"newsroom-support-{name}.service").read_text()
    return [shlex.split(line) for line in re.findall(r"^ExecStart=(.+)$", text, re.M)]


def test_the_env_file_names_every_setting_and_holds_no_secret() -> None:
    values = env_file()
    assert set(config.SETTINGS) <= set(values), set(config.SETTINGS) - set(values)
    for secret in (
        "SECRET_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "SMTP_PASSWORD",
        "METRICS_TOKEN",
    ):
        assert values[secret] == "", secret
    assert values["APP_ENV"] == "production" and values["DATABASE_URL"].startswith("postgresql")


def test_the_env_file_starts_in_production_once_its_secrets_are_filled_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    filled = {
        **env_file(),
        "SECRET_KEY": "Jx8q2LmZ4vR7tW1yB5nC9dF3gH6kP0sA",
        "STRIPE_SECRET_KEY": "sk_live_filled_in_by_the_operator",
        "STRIPE_PUBLISHABLE_KEY": "pk_live_filled_in_by_the_operator",
        "STRIPE_WEBHOOK_SECRET": "whsec_filled_in_by_the_operator",
        "METRICS_TOKEN": "q9W3eR5tY7uI1oP2aS4dF6gH8jK0lZxC",
    }
    for name, value in filled.items():
        monkeypatch.setenv(name, value)
    app = create_app()  # no connection is made
    assert app.config["APP_ENV"] == "production" and app.config["LOG_FORMAT"] == "json"
    with pytest.raises(config.ConfigError, match="SECRET_KEY"):
        monkeypatch.setenv("SECRET_KEY", "")
        create_app()


def test_the_units_run_after_the_migrations_and_share_the_env_file() -> None:
    env_path = unit("prepare")["Service"]["EnvironmentFile"]
    for name in ("web", "worker", "beat"):
        parsed = unit(name)
        assert (
            parsed["Unit"]["Requires"]
            == parsed["Unit"]["After"].split()[0]
            == "newsroom-support-prepare.service"
        )
        assert parsed["Service"]["EnvironmentFile"] == env_path
    prepare = exec_start("prepare")
    assert prepare[-1][-3:] == ["--app", "app", "db", "upgrade"][-3:]
    metrics_dir = env_file()["PROMETHEUS_MULTIPROC_DIR"]
    assert ["/usr/bin/mkdir", "-p", metrics_dir] in prepare


def test_the_units_run_programs_and_files_this_release_ships() -> None:
    venv_bin = Path(config.ROOT / ".venv" / "bin")
    for name in UNITS:
        for command in exec_start(name):
            program = Path(command[0])
            if program.parts[:3] == ("/", "opt", "newsroom-support"):
                assert program.name in {"flask", "gunicorn", "celery"}, program
                assert (
                    venv_bin.parent.parent / program.relative_to("/opt/newsroom-support")
                ).name == program.name
    web = exec_start("web")[0]
    assert web[web.index("--config") + 1] == "gunicorn.conf.py" and (ROOT / "gunicorn.conf.py").exists()
    assert web[-1] == "app:create_app()"
    assert exec_start("worker")[0][1:4] == ["-A", "workers", "worker"]
    assert exec_start("beat")[0][1:4] == ["-A", "workers", "beat"]
