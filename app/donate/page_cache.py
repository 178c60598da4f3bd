"""The support page's HTML, rendered once per language and query string.

Every article links to the support page, so it is the page served most, and
nearly all of it is the same for every reader who opens the same link: the
amounts and texts in the reader's language, Stripe's settings.  Rendering it
(Babel's money formatting, the catalogs, Jinja) costs milliseconds; a copy in
memory costs microseconds.  What differs per reader is the CSRF token, which is
written into the copy afresh on every request, so each reader still gets a
session and a token of their own.  ``bench/support_page.py`` measures it.

The copies are kept per app, at most ``SIZE`` of them (least recently used go
first), and not at all while templates reload (debug), so that an edited
template shows at once.  A page may be cached only if everything it shows
follows from the key, and nothing in it may come from the request's host
(links are relative: ``app.i18n.page_in``).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app
from flask_wtf.csrf import generate_csrf

#: Begins the stand-in for the CSRF token in a cached copy; each cache adds random hex digits,
#: so that no query value can name the slot and have the reader's token written into it
#: (letters and digits only: HTML and URL escaping keep it as it is).
CSRF_SLOT = "csrfSlotForTheReadersOwnToken"
SIZE = 256


class PageCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()
        self.slot = CSRF_SLOT + secrets.token_hex(16)

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: Hashable, page: str) -> None:
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def cached_page(key: Hashable, render: Callable[[Callable[[], str]], str]) -> str:
    """The page for ``key``, with this reader's CSRF token.

    ``render(csrf_token)`` renders it, calling ``csrf_token()`` wherever the page
    needs the token; it runs once per key (every time while templates reload).
    """
    app = current_app
    if app.jinja_env.auto_reload:
        return render(generate_csrf)
    cache: PageCache = app.extensions.setdefault("page_cache", PageCache())
    page = cache.get(key)
    if page is None:
        page = render(lambda: cache.slot)
        cache.put(key, page)
    return page.replace(cache.slot, generate_csrf()) if cache.slot in page else page
