"""Gunicorn on loopback, the way production runs the shop (see the Procfile).

Settings shared by the shop and the bare baseline so the comparison is fair:
- 2 workers: one per core of the reference machine (`nproc` = 2; the Procfile's
  WEB_CONCURRENCY default). More workers than cores only adds context switches.
- 4 threads per worker (gthread), as in the Procfile: a thread waiting on PostgreSQL lets
  another render.
- No access log: the Procfile logs to stdout, but here that would measure our pipe, not the app.
- For wrk runs (`spread=N` persistent connections), `--worker-connections` is capped so that
  every worker holds at least THREADS of them. Without it the first worker to wake often
  accepts ALL of wrk's connections and the run measures one core: the same bare page gave
  ~2,000 or ~4,000 req/s from run to run (seen with `ss -tnp`: 8/0 vs 4/4 connections per
  worker). In production a router's many short-lived connections spread by themselves; the cap
  changes where connections land, not what a request costs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """`with Gunicorn("wsgi:app", env) as server:` → server.url is ready to be loaded."""

    def __init__(
        self,
        app_spec: str,
        env: dict[str, str],
        log_path: Path,
        ready_path: str = "/",
        spread: int | None = None,
    ):
        self.app_spec = app_spec
        self.spread = spread
        self.env = env
        self.log_path = log_path
        self.ready_path = ready_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        gunicorn = Path(sys.executable).with_name("gunicorn")
        cmd = [
            str(gunicorn),
            self.app_spec,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--timeout",
            "30",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
        ]
        if self.spread and WORKERS > 1:
            # Each worker may hold all but the others' minimum share (THREADS each).
            cap = max(THREADS + 1, self.spread - (WORKERS - 1) * THREADS)
            cmd += ["--worker-connections", str(cap)]
        # The shop's public address is this server (production refuses to start without one).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHOP_URL": self.url, **self.env}
        self.process = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}:\n{self.log_tail()}")
            try:
                # self.url is always http://127.0.0.1:<port>
                with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout}s; see {self.log_path}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: gunicorn's graceful shutdown
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
