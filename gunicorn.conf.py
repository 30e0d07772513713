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
  GUNICORN_ACCESS_LOG          "-" (stdout, default); empty turns the access log off
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

import os
import sys


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

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None


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
