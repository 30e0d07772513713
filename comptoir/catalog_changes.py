"""How a worker process learns that the catalogue changed, without asking the database each time.

Catalogue pages are cached per process, keyed by the catalogue stamp (browse.catalog_stamp, one
query). Reading the stamp on every request was most of what a cached page cost, so each process
reuses its last reading (`RecentRead`) until one of these says it may be outdated:

- this process committed anything, through any engine (SQLAlchemy's `commit` event): the
  process that makes a change shows it on its very next request;
- on PostgreSQL, another process changed products, categories or images: migration 0008's
  triggers NOTIFY `comptoir_catalog` at commit, and every process LISTENs on one connection of
  its own (`ChangeListener`), polled without waiting on each read (a few microseconds). A sale
  settled by one gunicorn worker shows at once on a page served by another;
- CATALOG_STAMP_SECONDS went by (1 s by default): the bound when neither can tell (SQLite shared
  by several processes, a listener connection that dropped and is not back yet).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from comptoir.extensions import db

log = logging.getLogger(__name__)

CHANNEL = "comptoir_catalog"
RETRY_SECONDS = 30.0

_changes = 0  # changes this process knows of: its own commits and other processes' notifications


def note_change() -> None:
    """Outdate every `RecentRead` value of this process."""
    global _changes
    _changes += 1  # a racy += can only lose an increment to another one: still a change


@event.listens_for(Engine, "commit")
def _count_commit(conn) -> None:
    note_change()


class RecentRead:
    """One database read (the catalogue stamp) shared by every request of a process for a moment.

    The value is reused for `max_age` seconds unless a change was noted since it was read (see
    the module docstring). The change count is taken *before* the query, so a change racing with
    the read can only make the value look older, never newer.
    """

    def __init__(self, max_age: float, heard: Callable[[], bool] | None = None) -> None:
        self.max_age = max_age
        self._heard = heard
        self._value: tuple[float, int, object] | None = None

    def get(self, read: Callable[[], object]) -> object:
        """The shared value, or `read()`'s (shared from now on) when missing or outdated."""
        if self._heard is not None and self._heard():
            note_change()
        entry = self._value  # one reference read: a thread never sees half an entry
        now = time.monotonic()
        if entry is not None and entry[1] == _changes and now - entry[0] < self.max_age:
            return entry[2]
        changes = _changes
        value = read()
        if self.max_age > 0:
            self._value = (now, changes, value)
        return value


def recent_read(name: str) -> RecentRead:
    """The current app's shared `RecentRead` called `name` (CATALOG_STAMP_SECONDS; 0 = off)."""
    reads = current_app.extensions.setdefault("comptoir_recent_reads", {})
    memo = reads.get(name)
    if memo is None:
        max_age = float(current_app.config.get("CATALOG_STAMP_SECONDS", 1))
        direct = current_app.config.get("DATABASE_DIRECT_URL")
        listener = listener_for(db.engine, direct) if max_age > 0 else None
        heard = listener.heard if listener is not None else None
        memo = reads.setdefault(name, RecentRead(max_age, heard))
    return memo


class ChangeListener:
    """A LISTEN connection of this process's own; `heard()` polls it without waiting.

    Connected lazily, by the first request of each process (so never shared across a fork).
    When it cannot connect, or its connection drops, it says so in the log and retries every
    RETRY_SECONDS; meanwhile CATALOG_STAMP_SECONDS bounds how stale a page can be.
    """

    def __init__(self, conninfo: str, name: str = "comptoir catalogue listener") -> None:
        self.conninfo = conninfo
        self.name = name  # its application_name in pg_stat_activity
        self._conn = None
        self._pid: int | None = None
        self._inherited: list = []  # a forked parent's connection: never closed from here
        self._lock = threading.Lock()
        self._retry_at = 0.0

    def heard(self) -> bool:
        """True when another process may have changed the catalogue since the last call: a
        notification arrived, or the listener has just (re)connected and cannot know what it
        missed while away."""
        # Lazy: only PostgreSQL shops listen; SQLite ones never load the driver (~50-90 ms).
        import psycopg

        with self._lock:
            if self._pid != os.getpid():
                if self._conn is not None:
                    self._inherited.append(self._conn)  # closing it would cut the parent's
                self._conn, self._pid = None, os.getpid()
            if self._conn is None:
                return self._connect()
            try:
                return bool(list(self._conn.notifies(timeout=0)))
            except psycopg.Error as exc:
                log.warning("catalogue change listener lost its connection (%s)", exc)
                self._close()
                self._retry_at = time.monotonic() + RETRY_SECONDS
                return True

    def _connect(self) -> bool:
        import psycopg  # lazy, as in heard()

        if time.monotonic() < self._retry_at:
            return False
        try:
            conn = psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=5, application_name=self.name
            )
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning(
                "catalogue change listener cannot connect (%s); other workers' changes show "
                "within CATALOG_STAMP_SECONDS, retrying in %d s",
                exc,
                RETRY_SECONDS,
            )
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return False
        self._conn = conn
        return True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        with contextlib.suppress(Exception):  # already broken: nothing more to learn from it
            conn.close()

    def close(self) -> None:
        """Stop listening (tests, shutdown)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._close()


_listeners: dict[str, ChangeListener] = {}
_listeners_lock = threading.Lock()


def listener_for(engine: Engine, direct_url: str | None = None) -> ChangeListener | None:
    """This process's listener for the engine's database (one per database, shared by apps);
    None where there is no NOTIFY (SQLite: this process's commits and the age limit tell).

    `direct_url` (DATABASE_DIRECT_URL): when the engine goes through PgBouncer in transaction
    mode, LISTEN must reach PostgreSQL itself — a pooled server connection is not this
    process's from one transaction to the next."""
    if engine.dialect.name != "postgresql":
        return None
    url = make_url(direct_url) if direct_url else engine.url
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with _listeners_lock:
        listener = _listeners.get(conninfo)
        if listener is None:
            listener = _listeners[conninfo] = ChangeListener(conninfo)
        return listener
