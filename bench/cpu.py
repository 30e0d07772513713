"""Where the CPU went during a measured run: the bench's own processes (each with its
children), PostgreSQL's backends serving one database, and the whole machine.

Read from /proc (Linux): utime + stime of each process, and the machine's busy time from
/proc/stat, at the start, every second and at the end. On a 2-core machine shared by PostgreSQL, the web
processes, the worker, the proxy and the load generator, this says which of them was the
limit, and how much of the machine something else used meanwhile.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _tree(roots: list[int]) -> dict[int, float]:
    """CPU seconds of every live process in the trees under `roots`."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (s := _stat(int(entry))):
            stats[int(entry)] = s
    chosen, frontier = {}, [r for r in roots if r in stats]
    while frontier:
        pid = frontier.pop()
        chosen[pid] = stats[pid][1]
        frontier += [p for p, (ppid, _cpu) in stats.items() if ppid == pid and p not in chosen]
    return chosen


def _busy() -> float:
    """The machine's busy CPU seconds since boot (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


_BACKENDS = text(
    "SELECT pid FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


class CpuMeter:
    """`meter.start()`, the run, `meter.stop()` → CPU seconds per group, PostgreSQL (backends
    on `db_url`), the machine, and the wall time; `meter.timeline` has the same, second by
    second (CPU seconds used in each second).

    PostgreSQL's backends are listed again every second, so connections opened during the run
    count; one that closed counts up to its last reading (at most a second of it is missed)."""

    def __init__(self, groups: dict[str, list[int]], db_url: str, interval: float = 1.0):
        self.groups = groups
        self.db_url = db_url
        self.interval = interval
        self.timeline: list[dict] = []
        self._stop = threading.Event()
        self._engine = create_engine(db_url, pool_size=1)
        self._pg: dict[int, float] = {}  # backend pid → its CPU seconds, last reading

    def _postgresql(self) -> float:
        with self._engine.connect() as conn:
            pids = list(conn.scalars(_BACKENDS))
        for pid in pids:
            if s := _stat(pid):
                self._pg[pid] = s[1]
        return sum(self._pg.values())

    def _reading(self) -> dict[str, float]:
        reading = {name: sum(_tree(pids).values()) for name, pids in self.groups.items()}
        reading["postgresql"] = self._postgresql()
        own = os.times()
        reading["bench client"] = own.user + own.system
        reading["machine"] = _busy()
        return reading

    def _sample(self) -> None:
        previous, started = self._reading(), time.monotonic()
        while not self._stop.wait(self.interval):
            now = self._reading()
            row = {"at_s": round(time.monotonic() - started, 1)}
            row.update({k: round(now[k] - previous[k], 2) for k in now})
            self.timeline.append(row)
            previous = now

    def start(self) -> None:
        self._before = {name: _tree(pids) for name, pids in self.groups.items()}
        self._pg_before = self._postgresql()
        self._busy = _busy()
        self._client = os.times()
        self._wall = os.times().elapsed
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        out = {}
        for name, pids in self.groups.items():
            now = _tree(pids)
            out[name] = sum(cpu - self._before[name].get(pid, 0.0) for pid, cpu in now.items())
        out["postgresql"] = self._postgresql() - self._pg_before
        self._engine.dispose()
        client = os.times()
        out["bench client"] = (client.user + client.system) - (
            self._client.user + self._client.system
        )
        out["machine"] = _busy() - self._busy
        out["wall"] = client.elapsed - self._wall
        return {k: round(v, 1) for k, v in out.items()}
