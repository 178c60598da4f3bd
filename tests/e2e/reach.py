"""What the reach tests check on a page: axe-core, English left on Arabic pages, keyboard steps.

axe-core comes from the npm registry (``package.json``; ``make browser`` runs ``npm ci``)
and is injected from ``node_modules``: nothing is fetched while the tests run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

#: WCAG 2.0-2.2 A and AA, and axe's best practices (landmarks, one h1, heading order, ...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
#: Inside these the markup is Stripe's, not ours: the card element is Stripe's iframe in
#: production (localstripe's stand-in mounts plain inputs there) and so is its 3-D Secure box.
THIRD_PARTY = ["#card-element > *", "#auth-area > *", "#payment-element > *", "#express-checkout > *"]

#: Latin words an Arabic page or email may show: brands, currency and file-format codes.
ALLOWED_LATIN = {
    "Stripe", "Visa", "Mastercard", "Amex", "American", "Express", "Discover", "JCB", "UnionPay",
    "Diners", "Club", "US", "USD", "EUR", "TRY", "CVC", "PDF", "CSV", "JSON",
    "FreeOTP", "Aegis", "Google", "Authenticator", "IP",
}  # fmt: skip
#: Not words: addresses, links, and identifiers (Stripe's ``sub_...`` ids, codes like ``account_closed``).
NOT_WORDS = re.compile(r"\S+@\S+\.\w+|https?://\S+|\b[\w-]+\.(?:example|org|com|net)\S*|\b\w+_\w+")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

# Text a person reads or hears: text nodes, the title, and names given in attributes.
# Left out: scripts (and <noscript>, which is raw text while scripts run), what is marked as
# left-to-right data (emails, ids, codes) or not to be translated (campaign codes), what is
# marked as another language (the language switch), and Stripe's card element.
_READABLE_TEXT = """() => {
  const skip = "script,style,template,noscript,code,[dir=ltr],[translate=no],[lang]:not([lang|=ar]),#card-element,#auth-area,#payment-element";
  const out = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest(skip) && node.textContent.trim()) out.push(node.textContent);
  }
  for (const el of document.querySelectorAll("[aria-label],[title],[placeholder],[alt],input[type=submit]")) {
    if (el.closest(skip)) continue;
    for (const name of ["aria-label", "title", "placeholder", "alt", "value"]) {
      if (el.hasAttribute(name) && (name !== "value" || el.type === "submit")) out.push(el.getAttribute(name));
    }
  }
  return out;
}"""


def run_axe(page: Page) -> list[str]:
    """axe-core's violations on the page as it is now, one line each ('' when none)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        """([tags, exclude]) => axe.run(
             {include: [document], exclude: exclude.map(s => [s])},
             {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})""",
        [AXE_TAGS, THIRD_PARTY],
    )
    lines = []
    for violation in result["violations"]:
        for node in violation["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"{violation['id']}: {node['target']} {summary[:300]}")
    return lines


def latin_words(texts: list[str]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        found |= set(LATIN_WORD.findall(NOT_WORDS.sub(" ", text or "")))
    return found - ALLOWED_LATIN


def english_on_page(page: Page) -> set[str]:
    """Latin-script words a reader of the Arabic page would see or hear."""
    return latin_words(page.evaluate(_READABLE_TEXT))


def focused(page: Page) -> str:
    """The focused element, as ``tag#id[name=value]`` (enough to know where the keyboard is)."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement; if (!e) return "";
                 return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
                   (e.name ? "[name=" + e.name + "]" : "") + (e.type === "radio" ? "=" + e.value : ""); }"""
        )
    )


def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus with Tab (last: {focused(page)})")


def focus_ring(page: Page) -> str:
    """The focused element's outline (what shows where the keyboard is)."""
    return str(
        page.evaluate(
            """() => { const s = getComputedStyle(document.activeElement);
                 return s.outlineStyle === "none" || parseFloat(s.outlineWidth) === 0 ? "" :
                   s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor; }"""
        )
    )


# Each "US$" amount on the page, as the eye reads it left to right: the characters of the
# amount sorted by where they are drawn.  In Arabic, "‏1.00 US$" must show as "US$ 1.00",
# never "$US 1.00" or "1.00 US$" (what the bidi algorithm does to an amount not isolated).
_MONEY_AS_DRAWN = r"""() => {
  const money = /[0-9٠-٩][0-9٠-٩.,٫٬]*[\s\u00a0\u200e\u200f]*US\$/g, out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.parentElement.closest("script,noscript,option")) continue;
    for (const match of node.data.matchAll(money)) {
      const drawn = [];
      for (let i = match.index; i < match.index + match[0].length; i++) {
        if (/\s|\u200e|\u200f/.test(node.data[i])) continue;
        const range = document.createRange();
        range.setStart(node, i); range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width) drawn.push([box.x, node.data[i]]);
      }
      if (drawn.length) out.push(drawn.sort((a, b) => a[0] - b[0]).map(d => d[1]).join(""));  // (shown)
    }
  }
  return out;
}"""
DRAWN_RIGHT = re.compile(r"^US\$[0-9٠-٩][0-9٠-٩.,٫٬]*$")


def money_drawn_wrong(page: Page) -> list[str]:
    """US$ amounts that an Arabic reader would see in the wrong order."""
    return [drawn for drawn in page.evaluate(_MONEY_AS_DRAWN) if not DRAWN_RIGHT.match(drawn)]


# Codes, ids, addresses and amounts inside Arabic paragraphs that nothing isolates.  The bidi
# algorithm reads digits after Arabic letters as Arabic numbers (rule W2), so "2026-0000001"
# shows "0000001-2026" and "gaza-2026" splits at its hyphen unless an element isolates the
# run: ``<bdi>`` (the ``|bdi`` filter), ``dir=ltr``/``dir=auto``, or a form field.  What reads
# the same either way is left alone, as app.bidi leaves it in plain text: a bare number
# ("25 كانون الأول 2026", "12.34", "01:33") and a plain Latin word ("Stripe").  A paragraph is
# the text of the nearest block around the run.
_UNISOLATED = r"""() => {
  const run = /[A-Za-z0-9٠-٩][A-Za-z0-9٠-٩\-./:,@_+#%$€₺'\u00a0\u066b\u066c]*/g;
  const arabic = /[\u0600-\u06ff]/, found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (parent.closest("script,style,noscript,option,svg,bdi,input,textarea,[dir=ltr],[dir=auto]")) continue;
    let block = parent;
    while (block.parentElement && getComputedStyle(block).display.startsWith("inline")) block = block.parentElement;
    if (!arabic.test(block.textContent)) continue;
    for (const match of node.data.matchAll(run)) {
      const text = match[0].replace(/[.:,'\-\u00a0]+$/, "");
      const latin = /[A-Za-z]/.test(text), digits = /[0-9٠-٩]/.test(text);
      const mixed = latin ? digits || /[^A-Za-z]/.test(text) : /[0-9٠-٩][^0-9٠-٩.,:/٫٬]+[0-9٠-٩]/.test(text) || /[%$€₺+#]/.test(text);
      if (mixed) found.push(`<${parent.tagName.toLowerCase()}> ${text} in «${block.textContent.trim().slice(0, 70)}»`);
    }
  }
  return found;
}"""


def unisolated_runs(page: Page) -> list[str]:
    """Codes, ids and amounts inside Arabic paragraphs that no element isolates."""
    return list(page.evaluate(_UNISOLATED))
