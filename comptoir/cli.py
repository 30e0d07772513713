"""Flask CLI commands (`flask --app wsgi <command>`). Each delegates to a service function."""

from __future__ import annotations

import click
from flask import Flask


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--products", default=64, show_default=True, help="How many products to create.")
    def seed_demo_command(products: int) -> None:
        """Create the demo shop (idempotent: does nothing for what already exists)."""
        from comptoir.services.seed import seed_demo

        seed_demo(product_count=products)
