"""The support page's HTML, rendered once per language and query string.

Every article links to the support page, so it is the page served most, and
all of it is the same for every reader who opens the same link: the amounts and
texts in the reader's language, Stripe's settings.  It carries no CSRF token
and sets no cookie (its forms are checked by where they come from,
``app/donate/same_origin.py``), so the copy is the answer as it is, here and in
any shared cache in front (``shared_cache_control``).  Rendering it (Babel's
money formatting, the catalogs, Jinja) costs milliseconds; a copy in memory
costs microseconds.  ``bench/support_page.py`` measures it.

The copies are kept per app, at most ``SIZE`` of them (least recently used go
first), and not at all while templates reload (debug), so that an edited
template shows at once.  A page may be cached only if everything it shows
follows from the key, and nothing in it may come from the request's host
(links are relative: ``app.i18n.page_in``) or from the session: the
answer sends no ``Vary``, since the path (with the language) and the query
string, which every cache keys on, make the page.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app

SIZE = 256


class PageCache:
    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

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


def cached_page(key: Hashable, render: Callable[[], str]) -> str:
    """The page for ``key``; ``render()`` runs once per key (every time while templates reload)."""
    app = current_app
    if app.jinja_env.auto_reload:
        return render()
    cache: PageCache = app.extensions.setdefault("page_cache", PageCache())
    page = cache.get(key)
    if page is None:
        page = render()
        cache.put(key, page)
    return page


def shared_cache_control() -> str:
    """Any cache may keep the page ``SUPPORT_PAGE_MAX_AGE`` seconds, and serve it as long again
    while it fetches a fresh one; while templates reload (debug), none keeps it unasked."""
    if current_app.jinja_env.auto_reload:
        return "no-cache"
    age = current_app.config["SUPPORT_PAGE_MAX_AGE"]
    return f"public, max-age={age}, stale-while-revalidate={age}"
