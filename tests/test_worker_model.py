"""The web process's worker model: the Procfile, gunicorn.conf.py and what gevent changes.

Production serves each connection in a gevent greenlet (slow clients cannot take the shop
down: `python -m bench --only slow`). Greenlets take turns only where they wait, so the shop's
waits must be gevent's: psycopg's (queries, row locks, the catalogue's LISTEN connection) and
the request context that Flask-SQLAlchemy keys its session on. gevent patches the standard
library of the process it runs in, so those checks run in a child Python, as a worker would.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT_ROOT / "gunicorn.conf.py"


def _in_gevent_worker(code: str, *args: str, timeout: float = 60) -> dict:
    """Run `code` in a child Python patched by gevent first, as gunicorn's gevent worker is
    before it imports the shop; the JSON object it prints last."""
    script = "from gevent import monkey\nmonkey.patch_all()\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COMPTOIR_ENV": "test"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_procfile_web_process_reads_gunicorn_conf():
    lines = dict(
        line.split(":", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines()
    )
    assert lines["release"].strip() == "flask --app wsgi db upgrade"
    assert lines["web"].split() == ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]


def test_gunicorn_conf_defaults_to_gevent_and_reads_the_environment(monkeypatch):
    for name in (
        "PORT",
        "WEB_CONCURRENCY",
        "GUNICORN_WORKER_CLASS",
        "GUNICORN_WORKER_CONNECTIONS",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_ACCESS_LOG",
    ):
        monkeypatch.delenv(name, raising=False)
    defaults = runpy.run_path(str(CONFIG))
    assert defaults["worker_class"] == "gevent"
    assert (defaults["workers"], defaults["worker_connections"], defaults["timeout"]) == (
        2,
        1000,
        30,
    )
    assert defaults["accesslog"] is None  # the shop logs each request itself
    assert defaults["preload_app"] is False

    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "04")  # Heroku's buildpack pads its default
    monkeypatch.setenv("GUNICORN_WORKER_CLASS", "gthread")
    monkeypatch.setenv("GUNICORN_THREADS", "8")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "20")
    monkeypatch.setenv("GUNICORN_ACCESS_LOG", "-")
    custom = runpy.run_path(str(CONFIG))
    assert custom["bind"] == ["0.0.0.0:5123"]
    assert (custom["workers"], custom["worker_class"], custom["threads"]) == (4, "gthread", 8)
    assert custom["timeout"] == 20
    assert custom["accesslog"] == "-"


def test_gunicorn_conf_imports_nothing_gevent_must_patch_first():
    # The master reads the config before forking; whatever it imports, the workers inherit
    # unpatched. psycopg imported there would block a whole gevent worker on every query.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; runpy.run_path(sys.argv[1]); "
            "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))",
            str(CONFIG),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert not loaded & {"psycopg", "sqlalchemy", "flask", "comptoir", "gevent", "requests"}


def test_gevent_worker_refuses_to_start_with_a_blocking_psycopg(monkeypatch):
    hooks = runpy.run_path(str(CONFIG))
    logged = []
    worker = types.SimpleNamespace(log=types.SimpleNamespace(critical=logged.append))
    patched = types.SimpleNamespace(is_module_patched=lambda name: True)
    monkeypatch.setitem(sys.modules, "gevent.monkey", patched)

    def wait_c():
        """Stands for psycopg's C wait function, which gevent cannot make cooperative."""

    monkeypatch.setitem(sys.modules, "psycopg.waiting", types.SimpleNamespace(wait=wait_c))
    with pytest.raises(SystemExit) as stopped:
        hooks["post_worker_init"](worker)
    assert stopped.value.code == 4
    assert "imported before gevent patched" in logged[0]

    def wait_poll():
        """Stands for the Python wait psycopg picks once gevent has patched `select`."""

    monkeypatch.setitem(sys.modules, "psycopg.waiting", types.SimpleNamespace(wait=wait_poll))
    hooks["post_worker_init"](worker)  # starts


def test_psycopg_imported_in_a_gevent_worker_waits_cooperatively():
    result = _in_gevent_worker(
        """
        import json
        import psycopg.waiting
        print(json.dumps({"wait": psycopg.waiting.wait.__name__}))
        """
    )
    assert result["wait"] != "wait_c"


def test_concurrent_requests_in_one_gevent_worker_keep_their_own_context_and_session():
    result = _in_gevent_worker(
        """
        import json
        import gevent
        from flask import request
        from comptoir import create_app
        from comptoir.config import TestConfig
        from comptoir.extensions import db

        app = create_app(TestConfig)
        seen = {}

        def visit(path):
            with app.test_request_context(path):
                session = db.session()
                gevent.sleep(0.05)  # the other request runs meanwhile
                seen[path] = [request.path, db.session() is session, id(session)]

        gevent.joinall([gevent.spawn(visit, "/a"), gevent.spawn(visit, "/b")], raise_error=True)
        print(json.dumps(seen))
        """
    )
    assert result["/a"][:2] == ["/a", True]
    assert result["/b"][:2] == ["/b", True]
    assert result["/a"][2] != result["/b"][2]


def test_a_row_lock_wait_lets_the_worker_serve_other_requests(postgresql_schema):
    # Two greenlets of one worker want the same row: the second waits for the first's commit,
    # and the worker keeps serving meanwhile. With a blocking wait the holder could never get
    # back to commit: the whole worker would freeze (here: until lock_timeout).
    result = _in_gevent_worker(
        """
        import json, sys, time
        import gevent
        from gevent.event import Event
        import psycopg

        url = sys.argv[1]
        locked, ticks, waited = Event(), [], {}

        def ticker():
            while True:
                ticks.append(time.monotonic())
                gevent.sleep(0.01)

        def holder():
            with psycopg.connect(url) as conn:
                conn.execute("SELECT version_num FROM alembic_version FOR UPDATE")
                locked.set()
                gevent.sleep(0.5)
            # committed: the lock is released

        def waiter():
            locked.wait()
            with psycopg.connect(url) as conn:
                conn.execute("SET lock_timeout = '5s'")
                started = time.monotonic()
                conn.execute("SELECT version_num FROM alembic_version FOR UPDATE")
                waited.update(start=started, end=time.monotonic())

        tick = gevent.spawn(ticker)
        gevent.joinall([gevent.spawn(holder), gevent.spawn(waiter)], raise_error=True)
        tick.kill()
        during = [t for t in ticks if waited["start"] < t < waited["end"]]
        print(json.dumps({"waited": waited["end"] - waited["start"], "ticks": len(during)}))
        """,
        _libpq_url(postgresql_schema),
    )
    assert 0.3 < result["waited"] < 3
    assert result["ticks"] >= 10


def test_catalogue_listener_hears_other_processes_in_a_gevent_worker(postgresql_schema):
    result = _in_gevent_worker(
        """
        import json, sys, time
        import psycopg
        from comptoir.catalog_changes import CHANNEL, ChangeListener

        url = sys.argv[1]
        listener = ChangeListener(url)
        first = listener.heard()  # connects: cannot know what it missed
        quiet = listener.heard()
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(f"NOTIFY {CHANNEL}")
        time.sleep(0.2)
        started = time.perf_counter()
        heard = listener.heard()
        poll_ms = (time.perf_counter() - started) * 1000
        after = listener.heard()
        listener.close()
        print(json.dumps({"first": first, "quiet": quiet, "heard": heard, "after": after,
                          "poll_ms": poll_ms}))
        """,
        _libpq_url(postgresql_schema),
    )
    assert result["first"] is True
    assert result["quiet"] is False
    assert result["heard"] is True
    assert result["after"] is False
    assert result["poll_ms"] < 100  # a poll, never a wait
