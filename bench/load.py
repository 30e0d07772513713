"""Load generation on loopback: `wrk` when available, else a Python keep-alive thread pool.

wrk (Debian package `wrk`, C + epoll) is the default: on a 2-core machine the load generator
shares the CPU with the server, and wrk needs a fraction of what a Python client burns per
request, so the server gets the cores. If `wrk` is missing the bench tries
`apt-get install wrk` (root only, unless BENCH_NO_INSTALL=1), then falls back to the Python
client (http.client keep-alive connections in threads), which still gives comparable *ratios*
(both targets pay the same client cost) but lower absolute numbers.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

# wrk hands its summary to this Lua hook; we print one JSON line we can parse reliably.
_WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"status_errors\":%d," ..
    "\"socket_errors\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadResult:
    """One measured target: throughput and latency as the load generator saw them."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # non-2xx/3xx answers plus socket errors
    tool: str

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def ensure_wrk() -> str | None:
    """Path of `wrk`, installing Debian's package if we may; None → use the Python client."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_INSTALL") == "1":
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing Debian's package (set BENCH_NO_INSTALL=1 to skip)…")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "install", "-y", "-qq", "wrk"],
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "wrk"],
        ):
            ok = subprocess.run(cmd, env=env, capture_output=True).returncode == 0
            if ok and cmd[1] == "install":
                break
    return shutil.which("wrk")


class LoadGenerator:
    """Runs one bounded load against one URL (127.0.0.1 only) and returns a LoadResult."""

    def __init__(self, connections: int, threads: int = 1, prefer_wrk: bool = True):
        self.connections = connections
        self.threads = threads
        self.wrk = ensure_wrk() if prefer_wrk else None
        self._script = None
        if self.wrk:
            fd, self._script = tempfile.mkstemp(suffix=".lua", prefix="bench-wrk-")
            with os.fdopen(fd, "w") as f:
                f.write(_WRK_SCRIPT)

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "python-http.client"

    def close(self) -> None:
        if self._script:
            os.unlink(self._script)
            self._script = None

    def run(
        self,
        url: str,
        seconds: float,
        headers: dict[str, str] | None = None,
        connections: int | None = None,
        form: str | None = None,
    ) -> LoadResult:
        """GET `url` (or POST the url-encoded `form`) for `seconds` on `connections` connections."""
        host = urlsplit(url).hostname
        if host != "127.0.0.1":
            raise ValueError(f"the bench only loads 127.0.0.1, not {host}")
        connections = connections or self.connections
        headers = dict(headers or {})
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.wrk:
            return self._run_wrk(url, seconds, headers, connections, form)
        return run_python(url, seconds, headers, connections, form)

    def _run_wrk(self, url, seconds, headers, connections, form=None) -> LoadResult:
        threads = max(1, min(self.threads, connections))
        script = self._script
        if form is not None:  # wrk posts a fixed body set from Lua
            fd, script = tempfile.mkstemp(suffix=".lua", prefix="bench-wrk-post-")
            with os.fdopen(fd, "w") as f:
                f.write(f'wrk.method = "POST"\nwrk.body = {_lua_string(form)}\n' + _WRK_SCRIPT)
        cmd = [
            self.wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            script,
        ]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(url)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        finally:
            if script != self._script:
                os.unlink(script)
        line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no summary:\n{out}")
        data = json.loads(line[len("WRKJSON ") :])
        secs = data["duration_us"] / 1e6
        return LoadResult(
            requests=data["requests"],
            seconds=secs,
            rps=data["requests"] / secs if secs else 0.0,
            p50_ms=data["p50_us"] / 1000,
            p90_ms=data["p90_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            max_ms=data["max_us"] / 1000,
            errors=data["status_errors"] + data["socket_errors"],
            tool="wrk",
        )


def combine(results: list[LoadResult]) -> LoadResult:
    """Several runs of one target as one: throughput over the summed time; latency as the
    median of the runs' p50/p90 and the worst p99/max (percentiles cannot be merged exactly)."""
    seconds = sum(r.seconds for r in results)
    requests = sum(r.requests for r in results)
    return LoadResult(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.median(r.p50_ms for r in results),
        p90_ms=statistics.median(r.p90_ms for r in results),
        p99_ms=max(r.p99_ms for r in results),
        max_ms=max(r.max_ms for r in results),
        errors=sum(r.errors for r in results),
        tool=results[0].tool,
    )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (0 for an empty list)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def run_python(
    url: str, seconds: float, headers: dict[str, str], connections: int, form: str | None = None
) -> LoadResult:
    """The fallback client: `connections` threads, each one keep-alive connection, in a loop."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    deadline = time.perf_counter() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                if form is None:
                    conn.request("GET", path, headers=headers)
                else:
                    conn.request("POST", path, body=form.encode(), headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[i] += 1
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            latencies[i].append((time.perf_counter() - start) * 1000)
        conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    flat = [v for per in latencies for v in per]
    return LoadResult(
        requests=len(flat),
        seconds=elapsed,
        rps=len(flat) / elapsed if elapsed else 0.0,
        p50_ms=statistics.median(flat) if flat else 0.0,
        p90_ms=percentile(flat, 90),
        p99_ms=percentile(flat, 99),
        max_ms=max(flat, default=0.0),
        errors=sum(errors),
        tool="python-http.client",
    )
