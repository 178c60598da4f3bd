"""Every command the README shows works as written after ``make install``.

A newcomer's ``PATH`` may hold another ``flask``, ``celery`` or ``python``:
so the README names the installed ones (``.venv/bin/...``) or a make target,
and each ``flask`` command it shows is one the app really has.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from flask import Flask

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: Programs a command may start with without ``.venv/bin/`` (not installed by ``make install``).
SYSTEM = {"make", "npm", "printf", "apt-get", "createdb", "docker"}
#: A production server's own tools, in "Operating it" (the commands that run ours name them in full).
SERVER = {"useradd", "git", "python3", "runuser", "install", "cp", "systemctl", "pg_dump", "pg_restore"}
OURS = ("/opt/newsroom-support/.venv/bin/",)
#: Programs whose bare name in inline code is a command (not a word about it).
RUNNABLE = {"flask", "celery", "python", "pytest", "gunicorn", "pybabel", "alembic", "ruff", "mypy"}


def _shell_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    return lines


def _inline_commands() -> list[str]:
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    spans = (" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose))
    return [s for s in spans if " " in s and Path(s.split()[0]).name in RUNNABLE | {"make"}]


COMMANDS = sorted(set(_shell_lines() + _inline_commands()))


def _programs(command: str) -> list[list[str]]:
    """Each piped stage of a command, as words (``[--opt]`` and ``a|b`` placeholders kept)."""
    return [shlex.split(stage) for stage in command.split(" | ")]


def _make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))


def test_the_readme_shows_commands() -> None:
    assert any(c.startswith(".venv/bin/flask --app app staff create") for c in COMMANDS)
    assert any(c.startswith("make ") for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_readme_command_names_an_installed_program_or_a_make_target(command: str) -> None:
    for words in _programs(command):
        program = words[0]
        if program == "make":
            targets = [w for w in words[1:] if "=" not in w]
            assert set(targets) <= _make_targets(), command
        elif program.startswith((".venv/bin/", *OURS)):
            name = Path(program).name
            assert (Path(sys.prefix) / "bin" / name).exists(), f"{name} is not installed: {command}"
        else:
            assert program in SYSTEM | SERVER, (
                f"write .venv/bin/{program} (another may come first on PATH): {command}"
            )


FLASK = [c for c in COMMANDS if c.startswith(".venv/bin/flask --app app ")]


@pytest.mark.parametrize("command", FLASK)
def test_each_readme_flask_command_exists(app: Flask, command: str) -> None:
    words = [w for w in _programs(command)[-1][3:] if re.fullmatch(r"[a-z][a-z0-9-]*", w)]
    path: list[str] = []
    commands = app.cli.commands
    for word in words:  # the command's groups and name, up to its first option or argument
        if word not in commands:
            break
        path.append(word)
        commands = getattr(commands[word], "commands", {})
    result = app.test_cli_runner().invoke(args=[*path, "--help"])
    assert len(path) >= 2 and result.exit_code == 0, (command, path, result.output)
