"""A browser without JavaScript, for the drop's shoppers: asyncio on raw sockets (HTTP/1.1,
keep-alive), its own cookie jar, French, loopback only.

On 2 cores shared with the shop, PostgreSQL and the cache, it costs a fraction of what a thread
per shopper would. Each request is measured from sending it to the last byte of the answer and
recorded as a `Sample`; a socket error, a timeout or a 5xx raises `Unexpected` (recorded as an
error) so the shopper's visit stops there.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

REQUEST_TIMEOUT = 30.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    ms: float


@dataclass
class Sample:
    kind: str
    ms: float
    status: int
    cache: str  # X-Cache-Status: HIT, STALE, MISS, PASS ("" without the cache)
    error: str | None = None
    at: float = 0.0  # when it was sent, in seconds from the crowd's start


class Unexpected(Exception):
    """An answer the journey does not expect (counted as an error)."""


class Browser:
    """One shopper's browser: a keep-alive HTTP/1.1 connection, a cookie jar, French."""

    def __init__(self, base_url: str, address: str, samples: list[Sample], t0: float = 0.0):
        parts = urlsplit(base_url)
        if parts.hostname != "127.0.0.1":
            raise ValueError("the bench only talks to 127.0.0.1")
        self.host, self.port = parts.hostname, parts.port
        self.origin = f"http://{parts.netloc}"
        self.address = address
        self.cookies: dict[str, str] = {}
        self.samples = samples
        self.t0 = t0  # time.perf_counter() at the crowd's start
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def get(self, kind: str, path: str, headers: dict | None = None) -> Answer:
        return await self.request(kind, "GET", path, headers=headers)

    async def post(self, kind: str, path: str, form: dict) -> Answer:
        headers = {"Origin": self.origin, "Sec-Fetch-Site": "same-origin"}
        return await self.request(kind, "POST", path, form=form, headers=headers)

    async def request(
        self, kind: str, method: str, path: str, *, form: dict | None = None, headers=None
    ) -> Answer:
        """One request, measured and recorded as a `kind` sample; raises on a socket error,
        a timeout or a 5xx (all recorded as errors)."""
        body = urlencode(form).encode() if form is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Accept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
            "Accept-Language: fr-FR,fr;q=0.9",
            "User-Agent: comptoir-bench-drop",
            f"X-Forwarded-For: {self.address}",
        ]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if form is not None:
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        started = time.perf_counter()
        at = started - self.t0
        try:
            answer = await asyncio.wait_for(self._exchange(raw, method), REQUEST_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            ms = (time.perf_counter() - started) * 1000
            error = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            self.samples.append(Sample(kind, ms, 0, "", error, at))
            await self.close()
            raise Unexpected(f"{kind}: {error}") from exc
        answer.ms = (time.perf_counter() - started) * 1000
        cache = answer.headers.get("x-cache-status", "")
        error = f"HTTP {answer.status}" if answer.status >= 500 else None
        self.samples.append(Sample(kind, answer.ms, answer.status, cache, error, at))
        if error:
            raise Unexpected(f"{kind}: {error}")
        return answer

    async def _exchange(self, raw: bytes, method: str) -> Answer:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._writer.write(raw)
        await self._writer.drain()
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in header_lines:
            if not line:
                continue
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._store_cookie(value)
            else:
                headers[name] = value
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            data = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._read_chunked()
        elif "content-length" in headers:
            data = await self._reader.readexactly(int(headers["content-length"]))
        else:
            data = await self._reader.read()
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, data.decode("utf-8", "replace"), 0.0)

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    def _store_cookie(self, header: str) -> None:
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        gone = any(a.strip().lower() in ("max-age=0", "max-age=-1") for a in attributes)
        if gone or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value
