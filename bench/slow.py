"""Slow clients: many connections trickle a request body while visitors' pages are probed.

Each slow connection sends the headers of an add-to-cart POST announcing a 1 MB form body
(under MAX_CONTENT_LENGTH, so the shop starts reading it instead of refusing it), then one byte
of that body every few seconds, and never finishes. That is what a visitor on a bad mobile link
does by accident and what an attacker does on purpose: whatever reads the body is held until
the last byte. Meanwhile two probers ask for /healthz (the host's health check, one query) and
/products (the catalogue) every PROBE_INTERVAL seconds, each on a new connection as a new
visitor would; a probe that takes more than PROBE_TIMEOUT seconds counts as an error.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.load import LoadGenerator, combine, percentile
from bench.pages import FR, ROUNDS, fetch
from bench.server import Gunicorn, connections_cap, procfile_command, production_config

SLOW_CONNECTIONS = 50
HOLD_SECONDS = 30.0
BODY_BYTES = 1_000_000
TRICKLE_SECONDS = 3.0  # one byte per connection this often
PROBE_INTERVAL = 0.2
PROBE_TIMEOUT = 10.0
PROBE_PATHS = ("/healthz", "/products")
TARGET_MS = 1000.0

# The Procfile's `web:` line before gunicorn.conf.py (gthread, 2 workers x 4 threads: each slow
# body held one of the 8 threads), run as the baseline. It read no config file then; gunicorn
# would now find ./gunicorn.conf.py by itself, so the baseline is pointed at an empty one.
PROCFILE_BEFORE = (
    "gunicorn wsgi:app --bind 0.0.0.0:$PORT --workers ${WEB_CONCURRENCY:-2} "
    "--threads ${GUNICORN_THREADS:-4} --timeout 30 --access-logfile -"
)


@dataclass
class ProcfileModel:
    """One `web:` command line and what it runs, for the side-by-side runs."""

    key: str  # "before" | "now"
    label: str
    command: str
    worker_class: str
    workers: int
    threads: int
    cmd_args: list[str] = field(default_factory=list)

    def server(self, env: dict[str, str], log: Path, extra: list[str] | None = None) -> Gunicorn:
        return Gunicorn(
            "wsgi:app", env, log, procfile=self.command, cmd_args=[*self.cmd_args, *(extra or [])]
        )

    def cap(self, spread: int) -> int:
        """--worker-connections for the wrk runs (see bench/server.py)."""
        return connections_cap(spread, self.worker_class, self.threads, self.workers) or 1000

    def describe(self) -> dict:
        return {
            "procfile_web": self.command,
            "worker_class": self.worker_class,
            "workers": self.workers,
            "threads": self.threads if self.worker_class == "gthread" else None,
        }


def procfile_models(logs: Path) -> list[ProcfileModel]:
    """[before, now]: the old `web:` line, and the Procfile's own with gunicorn.conf.py."""
    empty = logs / "gunicorn-before.conf.py"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("# The Procfile before this change read no gunicorn config file.\n")
    config = production_config()
    now_class = config["worker_class"]
    now_label = f"{now_class}, {config['workers']} workers" + (
        f" x {config['threads']} threads" if now_class == "gthread" else ""
    )
    return [
        ProcfileModel(
            "before", "gthread, 2 workers x 4 threads", PROCFILE_BEFORE, "gthread", 2, 4,
            ["--config", str(empty)],
        ),
        ProcfileModel(
            "now", now_label, procfile_command(), now_class, config["workers"], config["threads"]
        ),
    ]  # fmt: skip


class SlowBodies:
    """`with SlowBodies(url, n):` n connections stuck in the middle of a request body.

    The headers go out at once; a background thread then sends one byte of the body on every
    connection each TRICKLE_SECONDS. `report()` says how many the server still holds open
    without having answered (the others were answered or closed by the server).
    """

    def __init__(self, url: str, connections: int, path: str = "/cart/items") -> None:
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1":
            raise ValueError(f"the bench only connects to 127.0.0.1, not {parts.hostname}")
        self.address = (parts.hostname, parts.port)
        self.host = parts.netloc  # the shop's own host: any other is refused with 400 unread
        self.connections = connections
        self.path = path
        self.socks: list[socket.socket] = []
        self.answered = 0  # the server replied (or closed) before the body was complete
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SlowBodies:
        head = (
            f"POST {self.path} HTTP/1.1\r\n"
            f"Host: {self.host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {BODY_BYTES}\r\n"
            "\r\n"
        ).encode()
        for _ in range(self.connections):
            sock = socket.create_connection(self.address, timeout=5)
            sock.sendall(head + b"c")  # the first byte of `csrf_token=…`
            self.socks.append(sock)
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()
        return self

    def _trickle(self) -> None:
        body = b"srf_token=" + b"x" * BODY_BYTES
        sent = 0
        while not self._stop.wait(TRICKLE_SECONDS):
            sent += 1
            for sock in self._open():
                try:
                    sock.send(body[sent - 1 : sent])
                    self.bytes_sent += 1
                except OSError:
                    self._drop(sock)

    def _open(self) -> list[socket.socket]:
        """The connections the server has neither answered nor closed (it is checked now)."""
        if not self.socks:
            return []
        readable, _, _ = select.select(self.socks, [], [], 0)
        for sock in readable:
            self._drop(sock)
        return list(self.socks)

    def _drop(self, sock: socket.socket) -> None:
        if sock in self.socks:
            self.socks.remove(sock)
            self.answered += 1
            sock.close()

    def report(self) -> dict:
        return {
            "opened": self.connections,
            "still_held": len(self._open()),
            "answered_or_closed": self.answered,
            "body_bytes_sent": self.bytes_sent,
        }

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=TRICKLE_SECONDS + 1)
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.close()
        self.socks.clear()


def probe(url: str, path: str, seconds: float) -> list[tuple[float, str | None]]:
    """GET `path` every PROBE_INTERVAL for `seconds`, one new connection each time:
    [(milliseconds, error or None)]."""
    parts = urlsplit(url)
    results: list[tuple[float, str | None]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        error = None
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=PROBE_TIMEOUT)
        try:
            conn.request("GET", path, headers={**FR, "Connection": "close"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                error = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            error = exc.__class__.__name__
        finally:
            conn.close()
        elapsed = time.perf_counter() - started
        results.append((elapsed * 1000, error))
        time.sleep(max(0.0, PROBE_INTERVAL - elapsed))
    return results


def summarize(samples: list[tuple[float, str | None]]) -> dict:
    latencies = [ms for ms, _ in samples]
    errors = [e for _, e in samples if e]
    return {
        "probes": len(samples),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": max(latencies, default=None),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "over_target": sum(1 for ms in latencies if ms >= TARGET_MS),
    }


def measure_slow_clients(
    url: str, connections: int = SLOW_CONNECTIONS, seconds: float = HOLD_SECONDS
) -> dict:
    """Hold `connections` slow bodies for `seconds` while probing PROBE_PATHS; the summary
    per path and whether every probe answered 200 in under TARGET_MS."""
    with SlowBodies(url, connections) as slow:
        time.sleep(1.0)  # the server has accepted them and is reading their bodies
        samples: dict[str, list] = {}
        probers = [
            threading.Thread(target=lambda p=p: samples.__setitem__(p, probe(url, p, seconds)))
            for p in PROBE_PATHS
        ]
        for t in probers:
            t.start()
        for t in probers:
            t.join()
        held = slow.report()
    paths = {path: summarize(samples[path]) for path in PROBE_PATHS}
    met = all(s["errors"] == 0 and s["over_target"] == 0 and s["probes"] for s in paths.values())
    return {"slow_connections": held, "seconds": seconds, "paths": paths, "met": met}


THROUGHPUT_TARGETS = (
    # (name, server, path): /healthz is one query; the catalogue with the fragment cache off
    # is several, the page a first visitor gets.
    ("/healthz", "shop", "/healthz"),
    ("catalogue /products", "shop", "/products"),
    ("/products, fragment cache off", "nocache", "/products"),
)


def measure_throughput(
    load: LoadGenerator, urls: dict[str, dict[str, str]], keys: list[str], seconds: float
) -> list[dict]:
    """Each target on every model's server, in ROUNDS alternating slices (like the pages
    section), so whatever else the machine does weighs on both sides alike."""
    rows = []
    for name, server, path in THROUGHPUT_TARGETS:
        for key in keys:
            status, _ = fetch(urls[key][server] + path)
            if status != 200:
                raise RuntimeError(f"{path} answered {status} ({key})")
            load.run(urls[key][server] + path, 1, FR)  # warm: templates, pool, caches
        runs: dict[str, list] = {key: [] for key in keys}
        for _ in range(ROUNDS):
            for key in keys:
                runs[key].append(load.run(urls[key][server] + path, max(1.0, seconds / ROUNDS), FR))
        row = {"target": name, "path": path, "server": server}
        for key in keys:
            row[key] = combine(runs[key]).as_dict()
        before, now = (row[k]["rps"] for k in keys)
        row["ratio"] = round(now / before, 3) if before else None
        rows.append(row)
    return rows
