"""Gunicorn on loopback, the way production runs the shop: the Procfile and gunicorn.conf.py.

Two ways to start one:
- `Gunicorn(app_spec, env, log)`, for the throughput sections: gunicorn with the production
  config file (gunicorn.conf.py, the one the Procfile names: gevent workers, 2 of them, one per
  core of the reference machine, `nproc` = 2). What differs from production, and why:
  - bound to 127.0.0.1 on a free port;
  - no access log (GUNICORN_ACCESS_LOG=""): production logs to stdout, but here that would
    measure our pipe, not the app;
  - for wrk runs (`spread=N` persistent connections), `--worker-connections` is capped so
    that every worker holds its share of them. Without it the first worker to wake often
    accepts ALL of wrk's connections and the run measures one core: the same bare page gave
    ~2,000 or ~4,000 req/s from run to run (seen with `ss -tnp`: 8/0 vs 4/4 connections per
    worker). In production a router's many short-lived connections spread by themselves; the
    cap changes where connections land, not what a request costs.
  BENCH_WORKERS and BENCH_WORKER_CLASS (gevent, or gthread with BENCH_THREADS threads) change
  the model for an experiment.
- `Gunicorn(..., procfile=command)`, for the slow-client section: a Procfile `web:` command
  line run as is by a shell, as a Procfile host runs it, with $PORT set. Only the address
  differs: 127.0.0.1 instead of every interface (GUNICORN_CMD_ARGS="--bind …", which gunicorn
  reads after its config file; a `0.0.0.0:` on the command line itself becomes `127.0.0.1:`).
"""

from __future__ import annotations

import os
import runpy
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT_ROOT / "gunicorn.conf.py"
PROCFILE = PROJECT_ROOT / "Procfile"
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))  # gthread only


def production_config() -> dict:
    """gunicorn.conf.py's settings as the bench's servers read them: their environment has
    none of its variables (WEB_CONCURRENCY, GUNICORN_*), so whatever this shell exports, the
    file's defaults."""
    saved = {
        name: os.environ.pop(name)
        for name in list(os.environ)
        if name == "WEB_CONCURRENCY" or name.startswith("GUNICORN_")
    }
    try:
        return runpy.run_path(str(CONFIG))
    finally:
        os.environ.update(saved)


WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS") or production_config()["worker_class"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_command(process: str = "web") -> str:
    """The command line of `process` in the Procfile."""
    for line in PROCFILE.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process:
            return command.strip()
    raise SystemExit(f"no `{process}:` line in {PROCFILE}")


def connections_cap(
    spread: int | None, worker_class: str, threads: int = THREADS, workers: int = WORKERS
) -> int | None:
    """Most connections one worker may take so that `spread` persistent connections land on
    every worker (None: no cap needed)."""
    if not spread or workers < 2:
        return None
    if worker_class == "gthread":
        # Each worker may hold all but the others' minimum share (THREADS each).
        return max(threads + 1, spread - (workers - 1) * threads)
    return max(1, -(-spread // workers))  # gevent: an even share, rounded up


class Gunicorn:
    """`with Gunicorn("wsgi:app", env, log) as server:` → server.url is ready to be loaded."""

    def __init__(
        self,
        app_spec: str,
        env: dict[str, str],
        log_path: Path,
        ready_path: str = "/",
        spread: int | None = None,
        procfile: str | None = None,
        cmd_args: list[str] | None = None,
    ):
        self.app_spec = app_spec
        self.spread = spread
        self.env = env
        self.log_path = log_path
        self.ready_path = ready_path
        self.procfile = procfile
        self.cmd_args = list(cmd_args or [])  # more gunicorn flags, via GUNICORN_CMD_ARGS
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def _command(self) -> tuple[list[str], dict[str, str]]:
        bin_dir = Path(sys.executable).parent
        # The shop's public address is this server (production refuses to start without one).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SHOP_URL": self.url, **self.env}
        if self.procfile is not None:
            env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
            env["PORT"] = str(self.port)
            flags = ["--bind", f"127.0.0.1:{self.port}", *self.cmd_args]
            env["GUNICORN_CMD_ARGS"] = shlex.join(flags)
            command = self.procfile.replace("0.0.0.0:", "127.0.0.1:")
            return ["sh", "-c", f"exec {command}"], env
        cmd = [
            str(bin_dir / "gunicorn"),
            "--config",
            str(CONFIG),
            self.app_spec,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            WORKER_CLASS,
            "--threads",
            str(THREADS),
            "--log-level",
            "warning",
            *self.cmd_args,
        ]
        cap = connections_cap(self.spread, WORKER_CLASS)
        if cap:
            cmd += ["--worker-connections", str(cap)]
        env["GUNICORN_ACCESS_LOG"] = ""
        return cmd, env

    def __enter__(self) -> Gunicorn:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")  # noqa: SIM115 (closed in __exit__)
        cmd, env = self._command()
        self.process = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        wait_until_ready(
            self.process, self.url + self.ready_path, "gunicorn", self.log_tail, timeout
        )

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


def wait_until_ready(
    process: subprocess.Popen, url: str, what: str, log_tail, timeout: float = 30
) -> None:
    """Poll `url` (always http://127.0.0.1:<port>) until it answers 200; raise with the log's
    tail if the process exits first or `timeout` seconds go by."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} not ready after {timeout}s:\n{log_tail()}")
