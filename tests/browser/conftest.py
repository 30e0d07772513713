"""Real-browser fixtures: Debian's Chromium driven by Playwright against a live Comptoir server.

- `browser`: ONE headless Chromium per test session (launching costs ~0.5 s), started from
  /usr/bin/chromium through `executable_path` — never a Playwright browser download. With
  `headless=True` Playwright itself passes `--headless` and a fresh temporary `--user-data-dir`
  (deleted at close; it refuses one in `args`); LAUNCH_ARGS adds the rest.
- `live_server`: the test's `app` (fresh migrated database, from tests/conftest.py) served by
  werkzeug's threaded server on 127.0.0.1 and a free port, in a background thread, stopped
  after the test. It runs on both databases like every other test.
- `page` / `nojs_page`: a new browser context per test (own cookies, cache, storage), French
  locale, with or without JavaScript. When a test fails, a screenshot and the page's HTML are
  saved to test-results/browser/ (gitignored) for CI artifacts.

Without /usr/bin/chromium the tests skip with the reason — unless REQUIRE_BROWSER=1 (CI's
.ci/run sets it), where they fail instead, so CI can never go green without the browser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import add_catalogue, serve

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home: only 127.0.0.1 is contacted
    "--disable-component-update",
    "--disable-sync",
]
# Generous for a loaded 2-core CI machine, far below pytest's patience.
TIMEOUT_MS = 10_000


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Remember each phase's outcome on the test item, so page fixtures can tell a failure.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _save_artifacts(request, page) -> None:
    """On failure: a screenshot and the page's HTML in test-results/browser/ (gitignored)."""
    report = getattr(request.node, "rep_call", None)
    if report is None or not report.failed:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
    try:
        page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
        (ARTIFACTS / f"{stem}.html").write_text(page.content())
    except Exception as exc:  # noqa: BLE001 (never hide the test's own failure)
        print(f"could not save browser artifacts: {exc!r}")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
    # Browser tests last: Playwright's sync API leaves an event loop running in the thread that
    # used it, and a job worker started afterwards in that thread (asyncio.run) would refuse.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)  # stable


def _browser_missing_reason() -> str | None:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"browser tests need Debian's Chromium at {CHROMIUM} "
            "(apt-get install chromium; never `playwright install`)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests need Playwright for Python (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    reason = _browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield browser
        browser.close()


@dataclass
class LiveServer:
    app: object
    url: str

    def __call__(self, path: str = "/") -> str:
        """The absolute URL of `path` on this server."""
        return self.url + path


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    """`app` served over real HTTP on 127.0.0.1 (free port), as the shop's public address, until
    the test ends (builders.serve)."""
    with serve(app) as url:
        yield LiveServer(app=app, url=url)


def _context(browser, **options):
    context = browser.new_context(locale="fr-FR", **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser, request):
    """A page in a fresh context (own cookies and storage), JavaScript on, French locale."""
    context = _context(browser)
    page = context.new_page()
    yield page
    _save_artifacts(request, page)
    context.close()


@pytest.fixture
def nojs_page(browser, request):
    """A page in a fresh context with JavaScript disabled: plain forms and links only."""
    context = _context(browser, java_script_enabled=False)
    page = context.new_page()
    yield page
    _save_artifacts(request, page)
    context.close()


@pytest.fixture
def bowl_shop(app, live_server):
    """One product, « Bol en grès » (5 in stock, /products/bol-en-gres), on a live server."""
    add_catalogue(
        app,
        [{"name": "Bol en grès", "slug": "bol-en-gres", "stock": 5, "category": "Céramique"}],
        ("Céramique",),
    )
    return live_server
