"""What every template can use: filters (money, dates, VAT rates), globals, shared context."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, g, has_request_context, request
from flask_babel import format_date, format_datetime, format_decimal, get_locale

from comptoir import page_cache
from comptoir.extensions import db
from comptoir.i18n import languages
from comptoir.money import money
from comptoir.services import catalog, pricing
from comptoir.typography import typo
from comptoir.urls import external_url


def nav_categories() -> tuple[catalog.NavCategory, ...]:
    """The header's and filters' categories, read once per request (services.catalog caches
    them per process)."""
    if "nav_categories" not in g:
        g.nav_categories = catalog.nav_categories(db.session)
    return g.nav_categories


def price_tag(product) -> pricing.PriceTag:
    """The price a page shows for `product` now (sale and Omnibus reference: services.pricing),
    computed once per product and request."""
    if not has_request_context():
        return pricing.price_tag(db.session, product)
    tags = g.setdefault("price_tags", {})
    if product.id not in tags:
        tags[product.id] = pricing.price_tag(db.session, product)
    return tags[product.id]


def vat_rate(bp: int) -> str:
    """Basis points as a locale-aware percentage: `5,5 %` in French, `5.5 %` in English."""
    return f"{format_decimal(Decimal(bp) / 100)}\u00a0%"


def register(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["vat_rate"] = vat_rate
    app.jinja_env.filters["typo"] = typo  # French no-break spaces (comptoir/typography.py)
    app.jinja_env.globals["csrf_token"] = page_cache.csrf_token
    app.jinja_env.globals["rendering_for_cache"] = page_cache.rendering_for_cache
    app.jinja_env.globals["external_url"] = external_url
    app.jinja_env.globals["nav_categories"] = nav_categories
    app.jinja_env.globals["price_tag"] = price_tag
    app.jinja_env.add_extension("jinja2.ext.do")

    @app.context_processor
    def shop_context():
        return {
            "shop_name": app.config["SHOP_NAME"],
            # Overrides Flask-WTF's own context processor: placeholder while page-caching.
            "csrf_token": page_cache.csrf_token,
            "current_locale": str(get_locale()),
            "languages": languages(),
            "analytics_enabled": bool(app.config.get("ANALYTICS_SCRIPT_URL")),
            "analytics_consent": request.cookies.get("consent") if has_request_context() else None,
        }
