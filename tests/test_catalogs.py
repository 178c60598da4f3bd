"""Every string a reader sees exists, translated, in both catalogs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with open(ROOT / "app" / "translations" / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


@pytest.fixture(scope="module")
def source_ids(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(pot, "rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


@pytest.mark.parametrize("locale", ["ar", "en"])
def test_every_source_string_is_translated(locale: str, source_ids: set[str]) -> None:
    messages = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog(locale) if m.id}
    missing = source_ids - set(messages)
    assert not missing, f"run `make translations`; missing in {locale}: {sorted(missing)[:5]}"
    empty = [i for i in source_ids if not messages[i].string or messages[i].fuzzy]
    assert not empty, f"untranslated in {locale}: {empty[:5]}"


#: Names Arabic readers know in Latin letters (the review: formats, app stores' names, "IP").
KEPT_LATIN = {"Stripe", "CVC", "PDF", "JSON", "IP", "FreeOTP", "Aegis", "Google", "Authenticator"}


def test_arabic_keeps_every_placeholder_and_uses_no_latin_words() -> None:
    for message in catalog("ar"):
        if not message.id or isinstance(message.id, tuple):
            continue
        assert sorted(PLACEHOLDER.findall(message.string)) == sorted(PLACEHOLDER.findall(message.id)), (
            message.id
        )
        words = set(re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub("", message.string))) - KEPT_LATIN
        assert not words, (message.id, words)


def test_arabic_plural_rule_has_six_forms() -> None:
    ar = catalog("ar")
    assert ar.num_plurals == 6
    header = ar.plural_expr.replace(" ", "")
    assert "n%100>=11?4:5" in header  # 11-99 take form 4, 100-102 form 5
