"""Every storefront page a shopper can reach is accessible and valid HTML.

- axe-core (npm, pinned in tests/browser/package.json) is injected into each page in Chromium at
  a phone's width (390×844) and a laptop's (1366×900) and must find 0 violations with its
  default rules (WCAG 2 A/AA and best practices). The page's own CSP forbids injected scripts,
  so the checking context bypasses it (axe reads the DOM; nothing the shop serves changes).
- The Nu HTML checker (npm `vnu-jar`, run with Debian's Java) must find 0 errors in the HTML
  each page serves (fetched over HTTP, as a browser first receives it; warnings are not errors).

The pages: the catalogue's (home, catalogue, a category, a product, search results, a
misspelt search), the cart with an item and empty, the account forms a visitor sees (login,
register, password reset), and the legal and trust pages with the contact form. Those last ones
are skipped with the reason when they answer 404 (a shop without them); every other page must
answer 200.

Both checks survey every page at once, once per database backend and test process: the first
test of a backend builds the shop (its own app, database and live server), checks all pages —
one Java process for the Nu checker, whose start-up costs seconds — and keeps the findings; each
page's test then reports its own. The whole survey is also written to
test-results/browser/quality/ (gitignored) for CI's artefacts.

Without the tools (tests/browser/node_modules: `npm ci --prefix tests/browser`; Java: Debian's
default-jre-headless) the tests skip with the reason, unless REQUIRE_BROWSER=1 (CI), where they
fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests
from sqlalchemy import select

from comptoir.demo.pages import seed_pages
from comptoir.extensions import db
from models import Category, Product
from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS
from tests.builders import add_catalogue, make_image_row

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"
VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"
QUALITY_ARTIFACTS = ARTIFACTS / "quality"
VIEWPORTS = {"390x844": {"width": 390, "height": 844}, "1366x900": {"width": 1366, "height": 900}}
FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
CART_ITEM = "Bol en grès"  # the product put in the cart of the `with_cart` pages
VNU_TIMEOUT_S = 300  # one Java process for all pages; start-up alone is seconds on 2 busy cores


@dataclass(frozen=True)
class StorePage:
    name: str
    path: str  # `{category}` is the shop's first category's slug
    with_cart: bool = False  # the visitor has one item in the cart
    optional: bool = False  # may answer 404 (skipped then): pages staff may not have written

    def url_path(self, shop: Shop) -> str:
        return self.path.format(category=shop.category_slug)


PAGES = [
    StorePage("home", "/"),
    StorePage("catalogue", "/products"),
    StorePage("category", "/products?category={category}"),
    StorePage("product", "/products/bol-en-gres"),
    StorePage("search", "/products?q=bol"),
    StorePage("search-misspelt", "/products?q=ceramqiue"),
    StorePage("cart", "/cart", with_cart=True),
    StorePage("cart-empty", "/cart"),
    StorePage("login", "/account/login"),
    StorePage("register", "/account/register"),
    StorePage("password-reset", "/account/password-reset"),
    StorePage("legal-notice", "/pages/mentions-legales", optional=True),
    StorePage("terms-of-sale", "/pages/conditions-generales-de-vente", optional=True),
    StorePage("privacy", "/pages/confidentialite", optional=True),
    StorePage("delivery-returns", "/pages/livraison-retours", optional=True),
    StorePage("contact", "/contact", optional=True),
]


# --- Tools ------------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _need_axe() -> None:
    if not AXE_JS.is_file():
        _unavailable(
            f"axe-core is not installed ({AXE_JS}): "
            "run `npm ci --prefix tests/browser --ignore-scripts`"
        )


def _need_vnu() -> str:
    """The `java` to run vnu.jar with."""
    if not VNU_JAR.is_file():
        _unavailable(
            f"the Nu HTML checker is not installed ({VNU_JAR}): "
            "run `npm ci --prefix tests/browser --ignore-scripts`"
        )
    java = shutil.which("java")
    if java is None:
        _unavailable("the Nu HTML checker needs Java: apt-get install default-jre-headless")
    return java


# --- The shop ---------------------------------------------------------------------------------


@dataclass
class Shop:
    url: str
    category_slug: str
    product_id: int


@pytest.fixture
def quality_shop(app, live_server) -> Shop:
    """A small shop as a visitor finds it: two categories; a bowl with a photo (its gallery row:
    markup needs no image file), a last-units cup and a sold-out towel; the demo's legal and
    trust pages (comptoir/demo/pages.py)."""
    ids = add_catalogue(
        app,
        [
            {"name": "Bol en grès", "slug": "bol-en-gres", "stock": 5, "category": "Céramique",
             "description": "Un bol tourné à la main, émail sable."},
            {"name": "Tasse « Mistral »", "slug": "tasse-mistral", "stock": 2,
             "category": "Céramique", "description": "Une tasse de 20 cl."},
            {"name": "Torchon en lin", "slug": "torchon-en-lin", "stock": 0,
             "category": "Textile", "description": "Lin lavé, 50 × 70 cm."},
        ],
    )  # fmt: skip
    with app.app_context():
        make_image_row(ids["Bol en grès"], alt_text="Bol en grès sable, vu de trois quarts")
        seed_pages(db.session, app.config)
        db.session.commit()
        slug = db.session.scalar(
            select(Category.slug).join(Product).where(Product.id == ids["Bol en grès"])
        )
    return Shop(url=live_server.url, category_slug=slug, product_id=ids["Bol en grès"])


def _add_to_cart_headers(shop: Shop) -> dict[str, str]:
    # As a browser posts the product page's form (comptoir.same_origin checks where it came from).
    return {**FRENCH, "Origin": shop.url, "Sec-Fetch-Site": "same-origin"}


def _cart_form(shop: Shop) -> dict[str, str]:
    return {"product_id": str(shop.product_id), "quantity": "1", "next": "/products/bol-en-gres"}


class Survey:
    """Findings for every page, computed once per database backend (see the module docstring)."""

    def __init__(self, name: str):
        self.name = name
        self._by_backend: dict[str, dict] = {}

    def findings(self, backend: str, check: Callable[[], dict]) -> dict:
        if backend not in self._by_backend:
            self._by_backend[backend] = check()
            QUALITY_ARTIFACTS.mkdir(parents=True, exist_ok=True)
            worker = os.environ.get("PYTEST_XDIST_WORKER")  # each writes its own survey
            path = QUALITY_ARTIFACTS / f"{self.name}-{backend}{f'-{worker}' if worker else ''}.json"
            path.write_text(json.dumps(self._by_backend[backend], indent=2, ensure_ascii=False))
        return self._by_backend[backend]


@pytest.fixture(scope="session")
def axe_survey() -> Survey:
    return Survey("axe")


@pytest.fixture(scope="session")
def vnu_survey() -> Survey:
    return Survey("vnu")


def _page_outcome(page: StorePage, status: int) -> None:
    if status == 404 and page.optional:
        pytest.skip(f"{page.path} answers 404: the shop has no such page yet")
    assert status == 200, f"{page.path} answered {status}"


# --- axe-core ---------------------------------------------------------------------------------


def _axe_check(browser, shop: Shop) -> dict:
    """{page name: {"status", "violations": {viewport: [violation…]}}} for every page."""
    findings = {}
    for page_spec in PAGES:
        entry: dict = {"path": page_spec.url_path(shop), "violations": {}}
        for label, viewport in VIEWPORTS.items():
            context = browser.new_context(
                locale="fr-FR", viewport=viewport, bypass_csp=True, extra_http_headers=FRENCH
            )
            context.set_default_timeout(TIMEOUT_MS)
            try:
                if page_spec.with_cart:
                    added = context.request.post(
                        shop.url + "/cart/items",
                        form=_cart_form(shop),
                        headers=_add_to_cart_headers(shop),
                        max_redirects=0,
                    )
                    assert added.status == 303, (added.status, added.text()[:300])
                page = context.new_page()
                response = page.goto(shop.url + entry["path"], wait_until="load")
                entry["status"] = response.status
                if response.status != 200:
                    break
                page.wait_for_load_state("networkidle")
                if page_spec.with_cart:
                    assert CART_ITEM in page.content(), "the cart shows no item"
                page.add_script_tag(path=str(AXE_JS))
                result = page.evaluate(
                    "async () => await axe.run(document, {resultTypes: ['violations']})"
                )
                entry["violations"][label] = [
                    {
                        "id": v["id"],
                        "impact": v["impact"],
                        "help": v["help"],
                        "nodes": [
                            {
                                "target": n["target"],
                                "html": n["html"][:300],
                                "summary": n.get("failureSummary", ""),
                            }
                            for n in v["nodes"]
                        ],
                    }  # fmt: skip
                    for v in result["violations"]
                ]
            finally:
                context.close()
        findings[page_spec.name] = entry
    return findings


@pytest.mark.parametrize("store_page", PAGES, ids=[p.name for p in PAGES])
def test_storefront_page_has_no_axe_violation_on_a_phone_or_a_laptop(
    store_page, db_backend, axe_survey, request
):
    _need_axe()
    browser = request.getfixturevalue("browser")

    def check() -> dict:
        return _axe_check(browser, request.getfixturevalue("quality_shop"))

    entry = axe_survey.findings(db_backend, check)[store_page.name]
    _page_outcome(store_page, entry["status"])
    problems = [
        f"{viewport}: {v['id']} ({v['impact']}) — {v['help']}: "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        + (f" (+{len(v['nodes']) - 5} more)" if len(v["nodes"]) > 5 else "")
        for viewport, violations in entry["violations"].items()
        for v in violations
    ]
    if problems:
        pytest.fail(f"axe on {entry['path']}:\n" + "\n".join(problems), pytrace=False)


# --- The Nu HTML checker ----------------------------------------------------------------------


def _served_html(shop: Shop) -> dict[str, tuple[int, str, bytes]]:
    """{page name: (status, path, body)} as each page is served to a French visitor."""
    served = {}
    for page_spec in PAGES:
        with requests.Session() as visitor:
            visitor.trust_env = False  # loopback only, never a proxy from the environment
            visitor.headers.update(FRENCH)
            if page_spec.with_cart:
                added = visitor.post(
                    shop.url + "/cart/items",
                    data=_cart_form(shop),
                    headers=_add_to_cart_headers(shop),
                    allow_redirects=False,
                    timeout=30,
                )
                assert added.status_code == 303, (added.status_code, added.text[:300])
            path = page_spec.url_path(shop)
            response = visitor.get(shop.url + path, timeout=30)
            if page_spec.with_cart:
                assert CART_ITEM in response.text, "the cart shows no item"
            served[page_spec.name] = (response.status_code, path, response.content)
    return served


def _vnu_check(java: str, shop: Shop) -> dict:
    """{page name: {"status", "path", "errors": [message…]}}: one vnu.jar run for all pages."""
    served = _served_html(shop)
    findings = {
        name: {"status": status, "path": path, "errors": []}
        for name, (status, path, _body) in served.items()
    }
    with tempfile.TemporaryDirectory(prefix="vnu-") as folder:
        files = {}
        for name, (status, _path, body) in served.items():
            if status == 200:
                files[name] = Path(folder) / f"{name}.html"
                files[name].write_bytes(body)
        if not files:
            return findings
        done = subprocess.run(
            [java, "-jar", str(VNU_JAR), "--format", "json", "--stdout", "--errors-only",
             "--exit-zero-always", *map(str, files.values())],
            capture_output=True,
            text=True,
            timeout=VNU_TIMEOUT_S,
        )  # fmt: skip
        assert done.returncode == 0, f"vnu.jar failed:\n{done.stderr[-3000:]}"
        by_file = {path.name: name for name, path in files.items()}
        for message in json.loads(done.stdout)["messages"]:
            if message.get("type") not in ("error", "non-document-error"):
                continue
            # vnu names the file `file:/tmp/vnu-…/<page>.html`
            name = by_file.get(Path(unquote(urlsplit(message.get("url", "")).path)).name)
            # A message about no page of ours (the checker's own trouble) fails every page.
            for entry in [findings[name]] if name else findings.values():
                entry["errors"].append(message)
    return findings


@pytest.mark.parametrize("store_page", PAGES, ids=[p.name for p in PAGES])
def test_storefront_page_is_valid_html(store_page, db_backend, vnu_survey, request):
    java = _need_vnu()

    def check() -> dict:
        return _vnu_check(java, request.getfixturevalue("quality_shop"))

    entry = vnu_survey.findings(db_backend, check)[store_page.name]
    _page_outcome(store_page, entry["status"])
    rules = Counter(_rule(m["message"]) for m in entry["errors"])
    if not entry["errors"]:
        return
    lines, shown = [], set()
    for m in entry["errors"]:
        lines.append(f"line {m.get('lastLine', '?')}: {m['message']}")
        extract = " ".join(m.get("extract", "").split())
        if extract and extract not in shown:  # several errors often share one tag
            shown.add(extract)
            lines.append(f"    in: {extract[:200]}")
    pytest.fail(
        f"Nu HTML checker: {len(entry['errors'])} error(s) in {entry['path']}, by kind: "
        + "; ".join(f"{rule} ×{count}" for rule, count in rules.most_common())
        + "\n"
        + "\n".join(lines),
        pytrace=False,
    )


def _rule(message: str) -> str:
    """A message without its particulars: `Attribute “hx-get” not allowed…` → `Attribute “hx-*”
    not allowed…` for htmx's attributes, otherwise the message as is (for counting by kind)."""
    return re.sub(r"“hx-[\w:-]+”", "“hx-*”", message)
