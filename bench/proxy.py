"""A shared cache in front of the shop, on loopback: Debian's Varnish, standing in for a CDN.

`vcl()` writes the whole configuration (a pure function, tested in tests/test_bench_drop.py);
`Varnish(...)` runs `varnishd` in the foreground with its own working folder and VCL in a
temporary folder: the system's varnish service and /etc/varnish are never used. Its rules
follow the shop's own headers:

- Stored: only GET/HEAD answers the shop marks shareable (`public` or `s-maxage=` in
  Cache-Control) and that set no cookie; Varnish's built-in rules add: never `private`,
  `no-cache`, `no-store` or `Vary: *`. Lifetime from `s-maxage` (else `max-age`), and a stale
  copy may be served while one request refreshes it for as long as the answer's
  `stale-while-revalidate` says.
- Key: host and URL, plus the htmx headers the shop's Vary names (the same URL answers a page or
  a fragment); Varnish keeps a copy per value of the other headers the shop's Vary lists
  (Accept-Language). The two cookies that change an anonymous page, the language choice and
  the analytics-consent answer, are in the key too, as the shop's own page cache keys on them:
  the shop cannot say so in Vary without `Vary: Cookie`, which would split the copies by every
  cookie a browser holds. A visitor who chose English never gets the French copy; the shop
  answers them privately, and nothing is stored.
- A request carrying one of the shop's per-visitor cookies (session: a flash message, a CSRF
  token, a sign-in; remember-me; the guest cart) is passed to the shop and its answer never
  stored: those visitors see their own cart count, messages and account. Cookies always reach
  the shop.
- Concurrent misses of one page are collapsed: one request goes to the shop, the others wait
  for its answer (what CDNs do; an answer that turns out not to be storable is remembered as
  such for a while, so they are not queued behind each other again).
- Purge everything: the shop's `cdn-purge` job (CDN_PURGE_URL, after a catalogue change: a
  sale too) POSTs to a second loopback port, and every stored page is banned at once.
- The web processes behind it are load-balanced round-robin.
- `X-Cache-Status` on each answer: HIT, STALE (served in grace while refreshed), MISS, PASS
  (never looked up: a per-visitor cookie, a POST), absent without the cache.

Client addresses: the bench's shoppers each send an X-Forwarded-For as if a router stood in
front; Varnish hands the shop that address alone (one hop: PROXY_FIX_HOPS=1), so the per-network
checkout limits see separate buyers, as behind a real router.

Why Varnish rather than nginx's proxy_cache (the issue allows either; both were tried): nginx
collapses misses only with proxy_cache_lock, whose waiters poll every 500 ms, and an answer
that is not storable makes them queue one by one — page requests answered in 0.5 s steps up to
the lock's timeout were measured; without the lock, every request arriving after a purge until
the page is back reaches the shop (a herd, at every sale of the drop). nginx has no purge
either. Varnish wakes waiters as soon as the answer arrives, remembers uncacheable answers
(hit-for-miss) and bans in one call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from bench.server import free_port, wait_until_ready

# The shop's cookies that make a page the visitor's own (Flask's session, Flask-Login's
# remember-me, storefront.visitor.CART_COOKIE), and those that change an anonymous page
# (comptoir.i18n.LOCALE_COOKIE, the consent banner's answer): bench/drop.py reads them from the
# shop.
VISITOR_COOKIES = ("session", "remember_token", "cart")
KEY_COOKIES = ("lang", "consent")
PURGE_PATH = "/purge"


def ensure_varnish() -> str | None:
    """Path of `varnishd`, installing Debian's package if we may (root, BENCH_NO_INSTALL unset)."""
    return ensure_debian_package("varnishd", "varnish")


def _which(binary: str) -> str | None:
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")


def ensure_debian_package(binary: str, package: str) -> str | None:
    """`binary`'s path, `apt-get install package` first when it is missing and we may.

    Debian starts a packaged service on install unless /usr/sbin/policy-rc.d says no (Docker
    images ship one that does); when there is none, one is put there for the install only, so
    installing the bench's cache never starts the system's service on port 80 or 6081."""
    found = _which(binary)
    if found or os.environ.get("BENCH_NO_INSTALL") == "1":
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print(f"{binary} is missing: installing Debian's {package} (set BENCH_NO_INSTALL=1 to skip)…")
    policy = Path("/usr/sbin/policy-rc.d")
    ours = not policy.exists()
    if ours:
        policy.write_text(
            "#!/bin/sh\n# bench/proxy.py: no service starts during its install\nexit 101\n"
        )
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for cmd in (
            ["apt-get", "install", "-y", "-qq", package],
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", package],
        ):
            ok = subprocess.run(cmd, env=env, capture_output=True).returncode == 0
            if ok and cmd[1] == "install":
                break
    finally:
        if ours:
            policy.unlink(missing_ok=True)
    return _which(binary)


def _cookie_test(names: tuple[str, ...]) -> str:
    return '"(^|;\\s*)(' + "|".join(names) + ')="'


def vcl(
    *,
    upstreams: list[int],
    cache: bool,
    cookies: tuple[str, ...] = VISITOR_COOKIES,
    key_cookies: tuple[str, ...] = KEY_COOKIES,
) -> str:
    """The whole VCL: requests spread over the shop's web processes on 127.0.0.1:`upstreams`,
    with (`cache`) or without the shared cache (then every request is passed)."""
    if not upstreams:
        raise ValueError("at least one web process")
    backends = "\n".join(
        f'backend web{n} {{ .host = "127.0.0.1"; .port = "{port}"; }}'
        for n, port in enumerate(upstreams, 1)
    )
    adds = "\n".join(f"    web.add_backend(web{n});" for n in range(1, len(upstreams) + 1))
    keyed = "\n".join(
        f'    if (req.http.Cookie ~ "(^|;\\s*){name}=") {{\n'
        f'        hash_data("{name}=" + regsub(req.http.Cookie, "^(.*;\\s*)?{name}=([^;]*).*$", "\\2"));\n'
        f"    }}"
        for name in key_cookies
    )
    lookup = (
        f"""    if (req.http.Cookie ~ {_cookie_test(cookies)}) {{
        return (pass);  # the visitor's own page: never a shared copy
    }}
    return (hash);"""
        if cache
        else "    return (pass);  # the run without the cache"
    )
    deliver = (
        "    set resp.http.X-Cache-Status = req.http.X-Cache-Status;"
        if cache
        else "    unset resp.http.Via;"
    )
    return f"""vcl 4.1;
# Written by bench/proxy.py for one bench run; loopback only.
import directors;
import std;

{backends}

sub vcl_init {{
    new web = directors.round_robin();
{adds}
}}

sub vcl_recv {{
    if (local.socket == "purge") {{
        if (req.method == "POST" && req.url == "{PURGE_PATH}") {{
            ban("obj.status != 0");  # purge everything
            return (synth(200, "Purged"));
        }}
        return (synth(405));
    }}
    set req.backend_hint = web.backend();
    # The shopper's own X-Forwarded-For plays the router's; the bench (127.0.0.1) is no client.
    if (req.http.X-Forwarded-For ~ ",") {{
        set req.http.X-Forwarded-For = regsub(req.http.X-Forwarded-For, "^([^,]+),.*$", "\\1");
    }}
    set req.http.X-Forwarded-Proto = "http";
    if (req.method != "GET" && req.method != "HEAD") {{
        return (pass);
    }}
    if (req.http.Authorization) {{
        return (pass);
    }}
{lookup}
}}

sub vcl_hash {{
    hash_data(req.url);
    hash_data(req.http.host);
    hash_data("hx=" + req.http.HX-Request);
    hash_data("hxh=" + req.http.HX-History-Restore-Request);
{keyed}
    return (lookup);
}}

sub vcl_hit {{
    if (obj.ttl > 0s) {{
        set req.http.X-Cache-Status = "HIT";
    }} else {{
        set req.http.X-Cache-Status = "STALE";
    }}
}}

sub vcl_miss {{
    set req.http.X-Cache-Status = "MISS";
}}

sub vcl_pass {{
    set req.http.X-Cache-Status = "PASS";
}}

sub vcl_backend_response {{
    # Stored only when the shop says the answer may be shared, and never with a cookie. Not
    # storable: remembered for a while (hit-for-miss), so requests for it are not queued
    # behind one another, and the next storable answer is stored again.
    if (beresp.http.Cache-Control !~ "(?i)(^|[,\\s])(public|s-maxage=)" || beresp.http.Set-Cookie) {{
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
        return (deliver);
    }}
    if (beresp.http.Cache-Control ~ "(?i)stale-while-revalidate=[0-9]+") {{
        set beresp.grace = std.duration(
            regsub(beresp.http.Cache-Control, "(?i)^.*stale-while-revalidate=([0-9]+).*$", "\\1s"),
            0s);
    }} else {{
        set beresp.grace = 0s;
    }}
    # Varnish's built-in rules follow: s-maxage / max-age, never private, no-cache, no-store.
}}

sub vcl_deliver {{
{deliver}
}}
"""


class Varnish:
    """`with Varnish(upstreams, cache=True, log_dir=…) as proxy:` → proxy.url serves the shop;
    proxy.purge_url empties its cache (POST); `proxy.purges()` counts those calls."""

    def __init__(
        self,
        upstreams: list[int],
        *,
        cache: bool,
        log_dir: Path,
        port: int | None = None,
        purge_port: int | None = None,
        cookies: tuple[str, ...] = VISITOR_COOKIES,
        key_cookies: tuple[str, ...] = KEY_COOKIES,
    ):
        self.binary = ensure_varnish()
        if self.binary is None:
            raise SystemExit(
                "varnishd is missing and could not be installed (apt-get install varnish, as "
                "root; the drop section runs it as its shared cache)"
            )
        self.upstreams = upstreams
        self.cache = cache
        self.cookies = cookies
        self.key_cookies = key_cookies
        self.log_dir = log_dir
        self.port = port or free_port()
        self.purge_port = purge_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.purge_url = f"http://127.0.0.1:{self.purge_port}{PURGE_PATH}"
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None

    @property
    def label(self) -> str:
        return "cache" if self.cache else "nocache"

    def __enter__(self) -> Varnish:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-varnish-"))
        self.folder.chmod(0o755)  # started as root, varnishd's children run as `varnish`
        conf = self.folder / "shop.vcl"
        conf.write_text(
            vcl(
                upstreams=self.upstreams,
                cache=self.cache,
                cookies=self.cookies,
                key_cookies=self.key_cookies,
            )
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_dir / f"varnish-{self.label}.log", "w")  # noqa: SIM115
        command = [
            self.binary,
            "-F",  # foreground: a child of the bench, stopped with it
            "-n", str(self.folder / "work"),
            "-a", f"127.0.0.1:{self.port}",
            "-a", f"purge=127.0.0.1:{self.purge_port}",
            "-f", str(conf),
            "-s", "malloc,256m",
            "-T", "none",  # no management port
            # Closed by Varnish before gunicorn's own idle limit (`keepalive`, 2 s) closes them:
            # else a request sent as gunicorn hangs up fails (a POST cannot be retried).
            "-p", "backend_idle_timeout=1",
        ]  # fmt: skip
        if os.geteuid() != 0:
            command += ["-j", "none"]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        wait_until_ready(self.process, self.url + "/healthz", "varnishd", self.log_tail, timeout)

    def stats(self) -> dict[str, int]:
        """Varnish's own counters (varnishstat): hits, misses, passes, bans (purges)…"""
        varnishstat = _which("varnishstat")
        if varnishstat is None or self.folder is None:
            return {}
        out = subprocess.run(
            [varnishstat, "-n", str(self.folder / "work"), "-1"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        counters = {}
        for line in out.splitlines():
            name, _, rest = line.partition(" ")
            if name.startswith("MAIN.") and rest.split():
                counters[name[5:]] = int(rest.split()[0])
        return counters

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.log_dir / f"varnish-{self.label}.log").read_text()[-3000:]
        return ""

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
