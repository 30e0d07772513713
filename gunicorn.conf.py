"""Gunicorn settings for the Procfile's `web:` process, and for the bench (bench/server.py).

Slow clients must not take the shop down: a visitor (or an attacker) whose request body arrives
a byte at a time holds whatever serves it until the last byte. With gthread workers that is a
thread, and 2 workers x 4 threads meant 8 such connections stopped every page, /healthz
included. gevent workers serve each connection in a greenlet that costs a few kilobytes and
waits on the socket without holding anything else, so a slow body only slows itself
(`python -m bench --only slow` holds 50 of them while pages keep answering).

Everything can be changed from the environment:
  WEB_CONCURRENCY              worker processes (2); Procfile hosts set it from the dyno size
  GUNICORN_WORKER_CLASS        gevent (default) or gthread (the model before slow-client proofing)
  GUNICORN_WORKER_CONNECTIONS  connections one gevent worker serves at once (1000)
  GUNICORN_THREADS             threads per gthread worker (4; ignored by gevent)
  GUNICORN_TIMEOUT             seconds a silent worker lives before it is restarted (30)
  GUNICORN_ACCESS_LOG          off by default (the shop logs each request itself); "-" for stdout
  PROMETHEUS_MULTIPROC_DIR     where the workers share their request metrics (/metrics); a fresh
                               temporary folder when unset, emptied at start either way
  GUNICORN_CMD_ARGS            any other gunicorn flag; wins over this file

The gunicorn master reads this file before it forks the workers: import nothing here but the
standard library. The gevent worker patches the standard library (sockets, select, threads)
first thing in each worker and only then imports the shop; a module imported earlier, here or
with preload_app, keeps its blocking version. psycopg above all: it picks its wait function
when imported, and only a psycopg imported after the patch waits for PostgreSQL cooperatively
(psycopg >= 3.1.14, https://github.com/psycopg/psycopg/pull/688). A psycopg that blocks the
whole worker while one greenlet waits for a row lock held by another greenlet of the same
worker would freeze that worker, so `post_worker_init` below refuses to start one.
"""

import glob
import os
import shutil
import sys
import tempfile


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# The Procfile host gives the port in $PORT and routes to every interface of the dyno.
bind = [f"0.0.0.0:{os.environ.get('PORT', '8000')}"]

# One worker per core is the usual start; each worker serves many connections at once.
workers = _int("WEB_CONCURRENCY", 2)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = _int("GUNICORN_WORKER_CONNECTIONS", 1000)
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)

# The shop is imported in each worker, after gevent's patch (see above), never in the master.
preload_app = False

# The shop writes one line per request itself (comptoir.request: request id, route, status,
# duration, SQL count; JSON in production): gunicorn's access line would say it again, less well.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None


_made_here: list[str] = []


def on_starting(server) -> None:
    """Give the workers one empty folder for their request metrics, before any is forked.

    /metrics adds up every worker's counts (prometheus_client's multiprocess mode): each
    worker writes its own to files in PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads
    from the environment when a worker imports it. Counts of an earlier run must not be added
    to this one's, so the folder starts empty. Here, not at the top of this file: the bench and
    the tests read this file without starting a server."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        folder = tempfile.mkdtemp(prefix="comptoir-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # inherited by every worker
        _made_here.append(folder)
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)


def child_exit(server, worker) -> None:
    """A worker ended: prometheus_client's bookkeeping drops its live gauges (its counters
    stay, so totals never go back). Imported here, in the master, only once a worker has
    exited: prometheus_client is pure Python with no network or database client, and its locks
    are never held across a wait, so workers forked later inherit it harmlessly."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, folder)


def on_exit(server) -> None:
    """Remove the metrics folder `on_starting` made (one given in the environment stays)."""
    for folder in _made_here:
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker) -> None:
    """Stop a worker that gevent patched but whose psycopg would still block all its greenlets
    (imported before the patch): better no shop than one that freezes on the first row lock."""
    monkey = sys.modules.get("gevent.monkey")
    waiting = sys.modules.get("psycopg.waiting")
    if monkey is None or waiting is None or not monkey.is_module_patched("select"):
        return
    if getattr(waiting.wait, "__name__", "") == "wait_c":
        worker.log.critical(
            "psycopg was imported before gevent patched this worker (preload_app, or an import "
            "in gunicorn.conf.py): its waits would freeze every request of the worker."
        )
        sys.exit(4)  # gunicorn's WORKER_BOOT_ERROR: the master stops instead of looping
