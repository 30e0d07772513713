"""The Lighthouse bench section's own arithmetic (bench/lighthouse.py), without Lighthouse: what
counts as the first view's transfer, which run is the median, and which targets a page misses —
so a bench run's verdict can be trusted without re-reading its JSON reports."""

from __future__ import annotations

from bench import lighthouse


def report(performance=1.0, lcp=800.0, cls=0.0, requests=None, seo=1.0) -> dict:
    """A Lighthouse 12 JSON report reduced to what the section reads."""
    requests = requests or [
        {"url": "/", "resourceType": "Document", "transferSize": 5_000},
        {"url": "/static/css/shop.css", "resourceType": "Stylesheet", "transferSize": 8_000},
        {"url": "/static/vendor/htmx.js", "resourceType": "Script", "transferSize": 16_000},
        {"url": "/media/bol-640.webp", "resourceType": "Image", "transferSize": 90_000},
        {"url": "/static/img/favicon.svg", "resourceType": "Other", "transferSize": 900},
    ]
    return {
        "categories": {
            "performance": {"score": performance, "auditRefs": [
                {"id": "largest-contentful-paint", "weight": 25}]},
            "accessibility": {"score": 1.0, "auditRefs": []},
            "best-practices": {"score": 1.0, "auditRefs": []},
            "seo": {"score": seo, "auditRefs": [{"id": "is-crawlable", "weight": 4.0}]},
        },
        "audits": {
            "largest-contentful-paint": {"numericValue": lcp, "score": 1.0 if lcp < 1200 else 0.8},
            "first-contentful-paint": {"numericValue": 600.0},
            "cumulative-layout-shift": {"numericValue": cls},
            "total-blocking-time": {"numericValue": 0.0},
            "speed-index": {"numericValue": 700.0},
            "is-crawlable": {"score": 1.0 if seo == 1.0 else 0.0},
            "network-requests": {"details": {"items": requests}},
        },
    }  # fmt: skip


def row(form_factor="mobile", **figures) -> dict:
    return {"page": "home", "form_factor": form_factor, **lighthouse.summarize(report(**figures))}


def test_first_view_transfer_counts_every_request_but_images():
    summary = lighthouse.summarize(report())

    assert summary["transfer_bytes"] == 119_900
    assert summary["transfer_excl_images_bytes"] == 29_900  # HTML, CSS, JS and the favicon
    assert summary["transfer_by_type"]["Image"] == 90_000
    assert summary["requests"] == 5


def test_the_reported_run_is_the_median_by_performance_score():
    runs = [lighthouse.summarize(report(performance=p, lcp=lcp))
            for p, lcp in ((1.0, 700.0), (0.91, 1900.0), (0.97, 1100.0))]  # fmt: skip

    median = lighthouse.median_run(runs)

    assert median["scores"]["performance"] == 97
    assert median["lcp_ms"] == 1100.0  # every figure comes from that same run


def test_a_fast_page_meets_every_target():
    assert lighthouse.misses([row()]) == []
    assert lighthouse.misses([row("desktop")]) == []


def test_a_slow_largest_paint_on_a_phone_is_a_miss_but_not_on_desktop():
    assert lighthouse.misses([row(lcp=1_100.0)]) == ["lighthouse home mobile: LCP <= 1 s (1.10 s)"]
    assert lighthouse.misses([row("desktop", lcp=1_100.0)]) == []


def test_any_visible_layout_shift_seo_point_or_extra_kilobyte_is_a_miss():
    heavy = [{"url": "/", "resourceType": "Document", "transferSize": 60_001}]

    assert lighthouse.misses([row(cls=0.001)]) == ["lighthouse home mobile: CLS 0 (0.001)"]
    assert lighthouse.misses([row(cls=0.0004)]) == []  # Lighthouse displays it as 0.000
    assert lighthouse.misses([row(seo=0.92)]) == ["lighthouse home mobile: seo 100 (92)"]
    assert lighthouse.misses([row("desktop", requests=heavy)]) == [
        "lighthouse home desktop: transfer excl. images <= 60 KB (60.0 KB)"
    ]


def test_performance_below_99_is_a_miss_on_a_phone_only():
    assert lighthouse.misses([row(performance=0.98)]) == [
        "lighthouse home mobile: performance >= 99 (98)"
    ]
    assert lighthouse.misses([row("desktop", performance=0.98)]) == []


def test_audits_below_a_full_score_are_named_for_the_categories_at_100():
    summary = lighthouse.summarize(report(seo=0.92))

    assert summary["failing_audits"] == {"seo": ["is-crawlable"]}


def test_the_cart_is_measured_with_its_cookie_and_without_the_noindex_audit():
    cart = next(p for p in lighthouse.pages("bol-en-gres", "signed.cookie") if p.name == "cart")

    assert cart.headers == {"Cookie": "cart=signed.cookie"}
    assert cart.skip_audits == ("is-crawlable",)
