"""Numbers, codes and Latin words inside Arabic text, kept in their own order.

The Unicode bidi algorithm reads European digits right after Arabic letters as
Arabic numbers (rule W2), so "إيصالك رقم 2026-0000001" shows "0000001-2026": the
hyphen between two Arabic numbers turns right to left.  Isolating the code (its
own paragraph inside the sentence) keeps it whole.  HTML isolates with ``<bdi>``
(``app.i18n.bdi``); plain text (email subjects and text parts, the demo mailbox
that shows them) with the isolate characters, added here once for the whole
text, so no template has to remember it.
"""

from __future__ import annotations

import re

LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"
LRM, RLM = "\u200e", "\u200f"

_JOINERS = r"\-./:,@_+#%$€₺'\u00a0\u066b\u066c\u2009"
#: A run to isolate: Latin letters and digits (either script's), joined by the punctuation
#: codes, amounts, addresses and times use; it ends on a letter, digit or sign, never on a
#: sentence's full stop or comma.  Money as Babel writes it in Arabic (a right-to-left mark,
#: the figure, the sign, a left-to-right mark) keeps its marks and becomes a right-to-left
#: island: the figure on the right, "US$" on its left, as on the pages.  Nothing already
#: inside an island is touched, and links are left bare (mail clients find them by their
#: characters; they start with a Latin letter anyway).
_WORD = rf"[A-Za-z0-9\u0660-\u0669][A-Za-z0-9\u0660-\u0669{_JOINERS}]*(?<![.:,'\-\u00a0])"
_RUN = re.compile(
    rf"(?<![\u2066\u2067\u2068\u200f\w{_JOINERS}])(?!https?://)(?:(?P<money>\u200f{_WORD}\u200e)|{_WORD})"
)
_LINK = re.compile(r"https?://\S+")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


def isolate(text: object) -> str:
    """``text`` as one island inside a line (first strong letter decides its direction)."""
    return f"{FSI}{text}{PDI}"


def _island(match: re.Match[str]) -> str:
    # A bare number reads the same either way ("25 ديسمبر 2026"); a code, an amount, an
    # address or a Latin word is what the algorithm breaks apart.
    run = match.group(0)
    if match.group("money"):
        return f"{RLI}{run}{PDI}"
    return run if run.isdigit() else f"{LRI}{run}{PDI}"


def _isolate_line(line: str) -> str:
    pieces, last = [], 0
    for link in _LINK.finditer(line):
        pieces.append(_RUN.sub(_island, line[last : link.start()]))
        pieces.append(link.group(0))
        last = link.end()
    pieces.append(_RUN.sub(_island, line[last:]))
    text = "".join(pieces)
    return text if not text.strip() or text.startswith(RLM) else RLM + text


def right_to_left(text: str) -> str:
    """A plain Arabic text as a reader should see it: every line starts right to left
    (a mark, for the clients that take a line's direction from its first letter) and
    every Latin or numeric run in it is isolated.  Applying it twice changes nothing."""
    return "\n".join(_isolate_line(line) for line in text.split("\n"))


def plain_text(text: str, locale: str) -> str:
    """What a plain-text line or subject needs in ``locale``: right to left in Arabic."""
    return right_to_left(text) if locale == "ar" and _ARABIC.search(text) else text
