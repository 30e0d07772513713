"""Flask CLI commands (`flask --app wsgi <command>`): parse, call a service, commit, report.

The only module that speaks click: services know nothing of terminals, exit codes or prompts.
"""

from __future__ import annotations

import click
from flask import Flask, current_app

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import user_sessions
from comptoir.services.accounts import AccountError, create_or_promote_staff
from comptoir.services.cart import purge_stale_guest_carts
from comptoir.services.payments import PaymentsNotConfigured
from comptoir.services.reconcile import reconcile
from models import Role


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--products", default=64, show_default=True, help="How many products to create.")
    @click.option(
        "--staff/--no-staff",
        default=None,
        help="Create a demo admin account (default: only in development, as `make run` does).",
    )
    def seed_demo_command(products: int, staff: bool | None) -> None:
        """Create the demo shop (idempotent: does nothing for what already exists)."""
        # Lazy: the demo data and photo drawing (PIL fonts, ~25 ms) stay out of every web worker.
        from comptoir.demo.seed import seed_demo

        # `flask run`/the CLI reset app.debug from FLASK_DEBUG, so ask the configuration.
        with_staff = current_app.config["ENV_NAME"] == "development" if staff is None else staff
        seed_demo(
            product_count=products,
            with_staff=with_staff,
            echo=click.echo,
            progress=lambda items, label: click.progressbar(items, label=label, show_pos=True),
        )

    @app.cli.command("create-staff")
    @click.argument("email")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--admin", "is_admin", is_flag=True, help="Admin role (also manages staff).")
    def create_staff_command(email: str, password: str, is_admin: bool) -> None:
        """Create (or promote) a staff account; a new password signs it out everywhere."""
        try:
            user, action = create_or_promote_staff(db.session, email, password, is_admin=is_admin)
        except AccountError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from None
        db.session.commit()
        role = "admin" if user.role == Role.ADMIN.value else "staff"
        if action == "created":
            click.echo(f"Created {role} account {user.email}.")
        else:
            click.echo(f"Updated {user.email}: role {role}, active, password changed.")

    @app.cli.command("stripe-reconcile")
    @click.option(
        "--since",
        "since_hours",
        default=48,
        show_default=True,
        type=int,
        help="Look at Checkout Sessions created in the last HOURS.",
    )
    def stripe_reconcile_command(since_hours: int) -> None:
        """Settle paid sessions the webhook missed, then expire stale reservations; exits 1
        when a step failed."""
        try:
            summary = reconcile(db.session, since_hours=since_hours)
        except PaymentsNotConfigured as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(str(summary))
        if summary.errors:
            raise SystemExit(1)

    @app.cli.command("worker")
    @click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64),
                  help="Jobs run at once by this process.")  # fmt: skip
    @click.option("--burst", is_flag=True, help="Run what is due, then stop (no waiting).")
    def worker_command(concurrency: int, burst: bool) -> None:
        """Run background jobs and the periodic ones (stripe-reconcile every 10 minutes,
        purge-carts and purge-old-data daily, retry-stalled-jobs every minute) until stopped;
        the Procfile's `worker:` process. Several workers may run at once."""
        if not jobs.uses_queue():
            raise click.ClickException(
                "The job queue needs PostgreSQL (DATABASE_URL). With SQLite (make run) jobs run "
                "in the web process right after each commit; no worker is needed."
            )
        config = current_app.config
        jobs.bind(current_app._get_current_object())
        # A worker that died mid-job (kill -9, a lost dyno): its jobs go back in the queue now.
        retried = jobs.retry_stalled(config["JOB_STALLED_AFTER"])
        db.session.commit()
        click.echo(f"Worker started (concurrency {concurrency}); {retried} stalled job(s) retried.")
        # The worker LISTENs and keeps its own pool: straight to PostgreSQL, never via PgBouncer.
        url = config.get("DATABASE_DIRECT_URL") or config["SQLALCHEMY_DATABASE_URI"]
        jobs.worker_queue(url).run_worker(
            concurrency=concurrency,
            wait=not burst,
            install_signal_handlers=not burst,
            update_heartbeat_interval=config["JOB_HEARTBEAT_SECONDS"],
            stalled_worker_timeout=config["JOB_STALLED_AFTER"],
        )

    @app.cli.command("purge-carts")
    def purge_carts_command() -> None:
        """Delete guest carts nobody can reach any more (cookie expired) and sign-ins that can
        never be used again (expired, or signed out over a day ago); run daily."""
        deleted = purge_stale_guest_carts(db.session)
        sign_ins = user_sessions.purge(db.session)
        db.session.commit()
        click.echo(f"Deleted {deleted} stale guest cart(s) and {sign_ins} ended sign-in(s).")
