"""The flash-sale bench's own logic (bench/proxy.py, bench/crowd.py, bench/drop.py), untimed:
the rules its shared cache follows, and that it recognises the shop's real sold-out answers (a
changed wording must fail here, not turn a bench run's refusals into "errors")."""

from __future__ import annotations

import html
import re
import shutil
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import update

from bench import crowd, proxy
from bench.databases import DROP_SLUG
from bench.drop import shop_cookies, shop_texts
from comptoir.extensions import db
from comptoir.services import stock
from models import Product
from tests.builders import add_product, add_to_cart, start_checkout

FR = {"Accept-Language": "fr-FR,fr;q=0.9"}
DROP_NAME = "Vase « Comète », édition limitée"


def _vcl(cache: bool = True, **kwargs) -> str:
    return proxy.vcl(upstreams=[8001, 8002], cache=cache, **kwargs)


def _vcl_regex(config: str, subject: str) -> re.Pattern:
    """The first regular expression the VCL matches `subject` against, for Python's re (these
    read the same in Varnish's PCRE2; VCL strings have no escapes)."""
    pattern = re.search(re.escape(subject) + r' !?~ "([^"]+)"', config).group(1)
    flags = re.I if pattern.startswith("(?i)") else 0
    return re.compile(pattern.removeprefix("(?i)"), flags)


def test_the_cache_stores_only_answers_the_shop_marks_shareable():
    shareable = _vcl_regex(_vcl(), "beresp.http.Cache-Control")
    for header in (
        "public, max-age=0, s-maxage=300, stale-while-revalidate=60",
        "max-age=0, s-maxage=5, stale-while-revalidate=5",
        "Public, max-age=3600",
    ):
        assert shareable.search(header), header
    for header in ("private, no-cache", "no-store", "max-age=60", ""):
        assert not shareable.search(header), header
    assert "|| beresp.http.Set-Cookie) {" in _vcl()  # a cookie: never stored either


def test_a_visitor_with_a_session_cart_or_sign_in_never_gets_a_shared_page():
    visitor = _vcl_regex(_vcl(), "req.http.Cookie")
    for cookie in ("cart=abc", "consent=yes; session=eyJ", "lang=en;remember_token=1|x"):
        assert visitor.search(cookie), cookie
    for cookie in ("consent=yes; lang=en", "xsession=1", "mycart=2", ""):
        assert not visitor.search(cookie), cookie


def test_the_cache_key_keeps_pages_fragments_languages_and_consent_apart():
    hashing = re.search(r"sub vcl_hash \{(.*?)\n\}", _vcl(), re.S).group(1)
    for part in ("req.url", "req.http.host", "req.http.HX-Request",
                 "req.http.HX-History-Restore-Request", '"lang="', '"consent="'):  # fmt: skip
        assert part in hashing
    without = _vcl(cache=False)
    assert "return (pass);  # the run without the cache" in without
    assert "X-Cache-Status = req.http" not in without


def test_the_proxy_follows_the_shops_cookie_names(app):
    cookies = shop_cookies(app)
    assert set(cookies["cookies"]) == {"session", "remember_token", "cart"}
    assert set(cookies["key_cookies"]) == {"lang", "consent"}
    with app.test_request_context("/"):
        from flask import make_response

        from storefront import visitor

        response = visitor.set_cart_cookie(make_response(""), "token")
    assert response.headers["Set-Cookie"].split("=")[0] in cookies["cookies"]


class _Origin(BaseHTTPRequestHandler):
    """A stand-in shop: each path answers with the caching headers its name says."""

    calls: list[tuple[str, str]] = []
    ANSWERS = {
        "/healthz": {},
        "/public": {"Cache-Control": "public, max-age=0, s-maxage=60", "Vary": "HX-Request"},
        "/private": {"Cache-Control": "private, no-cache"},
        "/with-cookie": {"Cache-Control": "public, s-maxage=60", "Set-Cookie": "session=x"},
        "/unsaid": {},
    }

    def do_GET(self):  # noqa: N802 (http.server's hook)
        type(self).calls.append((self.path, self.headers.get("X-Forwarded-For", "")))
        body = f"{self.path} #{len(self.calls)}".encode()
        self.send_response(200)
        for name, value in self.ANSWERS.get(self.path, {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


needs_varnish = pytest.mark.skipif(
    not (shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin")),
    reason="varnishd is not installed (the drop bench installs Debian's varnish package)",
)


@needs_varnish
def test_varnish_shares_public_answers_only_purges_and_passes_the_client_address(tmp_path):
    _Origin.calls = []
    origin = ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=origin.serve_forever, daemon=True).start()

    def get(base: str, path: str, **headers) -> tuple[str, str]:
        request = urllib.request.Request(base + path, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.read().decode(), response.headers.get("X-Cache-Status", "")

    try:
        with proxy.Varnish([origin.server_port], cache=True, log_dir=tmp_path) as cdn:
            assert get(cdn.url, "/public")[1] == "MISS"
            assert get(cdn.url, "/public") == ("/public #2", "HIT")  # #1 was the health check
            assert get(cdn.url, "/public", Cookie="consent=yes; cart=abc")[1] == "PASS"
            assert get(cdn.url, "/public", **{"HX-Request": "true"})[1] == "MISS"
            for path in ("/private", "/with-cookie", "/unsaid"):
                assert [get(cdn.url, path)[1] for _ in range(2)] == ["MISS", "MISS"], path
            # What the shop's cdn-purge job does after a catalogue change: POST CDN_PURGE_URL.
            call = urllib.request.Request(cdn.purge_url, data=b"{}", method="POST")  # noqa: S310
            urllib.request.urlopen(call, timeout=10).close()  # noqa: S310
            assert get(cdn.url, "/public")[1] == "MISS"
            get(cdn.url, "/unsaid", **{"X-Forwarded-For": "10.20.0.7"})
            assert cdn.stats()["bans_added"] >= 1
        assert _Origin.calls[-1] == ("/unsaid", "10.20.0.7")

        with proxy.Varnish([origin.server_port], cache=False, log_dir=tmp_path) as plain:
            before = len(_Origin.calls)
            assert [get(plain.url, "/public")[1] for _ in range(2)] == ["", ""]
            assert len(_Origin.calls) == before + 2
    finally:
        origin.shutdown()


def test_the_bench_recognises_each_of_the_shops_sold_out_answers(app, fake_stripe, monkeypatch):
    pid = add_product(app, DROP_NAME, stock=1, slug=DROP_SLUG)
    texts = shop_texts(app, pid, DROP_SLUG, DROP_NAME)
    first, second, late = (app.test_client() for _ in range(3))
    for shopper in (first, second, late):
        shopper.environ_base["HTTP_ACCEPT_LANGUAGE"] = FR["Accept-Language"]
    page = f"/products/{DROP_SLUG}"

    assert not texts.sold_out_page(first.get(page).get_data(as_text=True))
    add_to_cart(first, pid)
    assert texts.added in html.unescape(first.get(page).get_data(as_text=True))
    add_to_cart(second, pid)
    assert start_checkout(first).status_code == 303  # the last unit is reserved

    assert texts.sold_out_page(late.get(page).get_data(as_text=True))
    cart_page = second.get("/cart").get_data(as_text=True)
    assert 'class="cart-checkout__blocked"' in cart_page
    assert texts.refusal_in(cart_page) == "cart: out of stock"
    # Posted as the bench's shoppers post from a stateless (tokenless) page: same origin.
    refused_add = late.post(
        "/cart/items",
        data={"product_id": pid, "quantity": 1, "next": page},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert refused_add.status_code == 303
    assert texts.refusal_in(late.get(page).get_data(as_text=True)) == "add refused"

    # The last unit goes to someone else in the instant between the checkout's own check of the
    # cart and its reservation (the rarest refusal: a few shoppers per bench run).
    with app.app_context():
        db.session.get(Product, pid).stock_quantity = 1
        db.session.commit()
    racer = app.test_client()
    racer.environ_base["HTTP_ACCEPT_LANGUAGE"] = FR["Accept-Language"]
    add_to_cart(racer, pid)
    real_reserve = stock.reserve

    def sold_just_before(session, *args, **kwargs):
        session.execute(update(Product).where(Product.id == pid).values(stock_quantity=0))
        return real_reserve(session, *args, **kwargs)

    monkeypatch.setattr(stock, "reserve", sold_just_before)
    refused = start_checkout(racer)
    monkeypatch.setattr(stock, "reserve", real_reserve)
    assert refused.headers["Location"].endswith("/cart")
    assert texts.refusal_in(racer.get("/cart").get_data(as_text=True)) == (
        "checkout: just sold out"
    )
    assert "épuisé" in texts.checkout_sold_out


def test_arrivals_are_the_same_crowd_for_both_runs_and_stay_within_the_window():
    times = crowd.arrivals(2000, 60.0)
    assert times == crowd.arrivals(2000, 60.0)
    assert len(times) == 2000 and times[0] >= 0 and times[-1] < 60.0
    assert times == sorted(times)
    assert len({crowd.address_of(i) for i in range(2000)}) == 2000
