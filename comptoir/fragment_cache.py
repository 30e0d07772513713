"""A small per-process cache of rendered HTML fragments (the catalogue's results grid).

Rendering two dozen product cards (responsive images, prices formatted by Babel, badges) costs
more than the queries behind them, and most visitors ask for the same few pages. Entries are
keyed by everything the fragment depends on, including a *catalogue stamp* read from the
database (browse.catalog_stamp: product/category/image counts and last changes; see
comptoir.catalog_changes for how every worker learns of a change at once), so an edit, a sale
or a new product shows at once; the age limit (CATALOG_CACHE_SECONDS, 0 turns the cache off)
only bounds what the stamp cannot see. Nothing user-specific may go into a cached fragment (no
CSRF token, no cart).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app

MAX_ENTRIES = 256


class FragmentCache:
    """A thread-safe LRU of values with an age limit."""

    def __init__(self, max_age: float, max_entries: int = MAX_ENTRIES) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_set(self, key: Hashable, compute: Callable[[], object]) -> object:
        """The cached value for `key`, computing (and storing) it when missing or too old."""
        if self.max_age <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.max_age:
                self._entries.move_to_end(key)
                return entry[1]
        value = compute()  # outside the lock: two threads may render the same page once each
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def fragment_cache() -> FragmentCache:
    """The current app's cache (one per app and process)."""
    cache = current_app.extensions.get("comptoir_fragment_cache")
    if cache is None:
        max_age = float(current_app.config.get("CATALOG_CACHE_SECONDS", 60))
        cache = current_app.extensions.setdefault("comptoir_fragment_cache", FragmentCache(max_age))
    return cache
