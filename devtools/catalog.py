"""Fill the Arabic and English catalogs without hand-editing .po files.

    python -m devtools.catalog missing            # JSON of every untranslated message
    python -m devtools.catalog fill new.json      # write translations, then compile

``new.json`` maps a locale to ``{msgid: translation}``; a plural message takes a
list of forms (six for Arabic: zero, one, two, few, many, other).  English
messages not listed are filled with their msgid (the source strings are
English).  Both commands re-extract first and hold ``app/translations/.lock`` so
that two people filling at once do not overwrite each other.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ROOT / "app" / "translations"
LOCALES = ("ar", "en")


@contextmanager
def _locked() -> Iterator[None]:
    with open(CATALOGS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _flask(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} failed (does the app import?):\n{done.stderr[-3000:]}")


def _path(locale: str) -> Path:
    return CATALOGS / locale / "LC_MESSAGES" / "messages.po"


def _missing() -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for locale in LOCALES:
        with _path(locale).open("rb") as f:
            catalog = read_po(f, locale=locale)
        rows = []
        for message in catalog:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if message.fuzzy or not all(strings):
                msgid = message.id[0] if isinstance(message.id, tuple) else message.id
                plural = message.id[1] if isinstance(message.id, tuple) else None
                rows.append({"id": msgid, "plural": plural})
        found[locale] = rows
    return found


def missing() -> None:
    with _locked():
        _flask("translate", "update")
        print(json.dumps(_missing(), ensure_ascii=False, indent=1))


def fill(source: str) -> None:
    given = json.loads(Path(source).read_text(encoding="utf-8"))
    with _locked():
        _flask("translate", "update")
        for locale in LOCALES:
            with _path(locale).open("rb") as f:
                catalog = read_po(f, locale=locale)
            wanted = given.get(locale, {})
            for message in catalog:
                if not message.id:
                    continue
                msgid = message.id[0] if isinstance(message.id, tuple) else message.id
                if msgid in wanted:
                    value = wanted[msgid]
                    message.string = tuple(value) if isinstance(message.id, tuple) else value
                    message.flags.discard("fuzzy")
                elif locale == "en":
                    strings = message.string if isinstance(message.string, tuple) else (message.string,)
                    if not all(strings):
                        message.string = message.id if isinstance(message.id, tuple) else message.id
                        message.flags.discard("fuzzy")
            with _path(locale).open("wb") as f:
                write_po(f, catalog, width=76)
        _flask("translate", "compile")
        left = _missing()
    print(json.dumps({k: len(v) for k, v in left.items()}), "messages still untranslated")


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["missing"]:
        missing()
    elif command == ["fill"] and len(sys.argv) == 3:
        fill(sys.argv[2])
    else:
        sys.exit(__doc__)
