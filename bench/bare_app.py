"""The baseline: a bare Flask route rendering a Jinja template, no database, no extensions.

`GET /bare/<size>` answers an HTML page of exactly `size` bytes, built the way a shop page is
(a base layout and a loop over product-like cards), so "catalogue ÷ bare" at equal bytes shows
what the shop adds on top of Flask + Jinja + gunicorn: queries, sessions, CSRF, Babel, headers.
Served by the same gunicorn settings as the shop (bench/server.py).
"""

from __future__ import annotations

from functools import cache

from flask import Flask, render_template

app = Flask(__name__)

CARD_BYTES_HINT = 400


@cache
def _context_for(size: int) -> dict:
    """Cards and padding so the rendered page is exactly `size` bytes (computed once per size)."""
    items = [
        {
            "name": f"Produit artisanal {i}",
            "slug": f"produit-artisanal-{i}",
            "price": "28,00\u00a0€",
        }
        for i in range(max(0, size // CARD_BYTES_HINT))
    ]
    while True:
        with app.app_context():
            body = render_template("bare.html", items=items, padding="")
        missing = size - len(body.encode())
        if missing >= 0 or not items:
            return {"items": items, "padding": "x" * max(0, missing)}
        items = items[:-1]


@app.get("/bare/<int:size>")
def bare(size: int):
    return render_template("bare.html", **_context_for(min(size, 5_000_000)))


@app.get("/")
def ready():
    return "ok"
