"""Telling a CDN that the catalogue changed: the optional `cdn-purge` job (CDN_PURGE_URL).

The pages a CDN keeps (comptoir/public_pages.py) carry an ETag built from the catalogue stamp:
without anything more, a CDN serves a page for CDN_S_MAXAGE seconds, then revalidates it (a 304
while nothing changed, the new page after a change). For changes to show at once, set
CDN_PURGE_URL: a transaction that changes products, categories, product images or the shop's
pages (an admin edit, a sale, a restock, a photo made ready) takes a `cdn-purge` job **in
that transaction** (comptoir.jobs: a rollback takes nothing, a commit cannot lose it), and the
job POSTs CDN_PURGE_BODY to CDN_PURGE_URL with CDN_PURGE_HEADER — a CDN's "purge everything"
call. A failing call is retried with the queue's backoff.

Purges are coalesced: a job that finds another `cdn-purge` job still waiting to run leaves the
purge to it. The last job of a burst of sales always runs, after the last of their commits. A
job that finds the catalogue stamp — what the pages show — as it was at this worker's last
purge calls nothing: most sales change no page.
"""

from __future__ import annotations

import itertools
import logging

import requests
from flask import current_app, has_app_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from comptoir import jobs
from comptoir.extensions import db
from comptoir.services import browse

log = logging.getLogger(__name__)

# `pages`: the shop's own pages (services.pages), listed in every page's footer.
CATALOGUE_TABLES = frozenset({"products", "categories", "product_images", "pages"})
# `shop_settings`: what staff choose for the storefront (services.merchandising: the hero).
CATALOGUE_TABLES |= {"shop_settings"}
TIMEOUT_SECONDS = 10
_last_purged: dict[str, tuple] = {}  # this worker process's last successful purge, per URL
_CHANGED = "comptoir_catalogue_changed"


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, flush_context) -> None:
    if session.info.get(_CHANGED):
        return
    for obj in itertools.chain(session.new, session.deleted, session.dirty):
        if getattr(type(obj), "__tablename__", None) not in CATALOGUE_TABLES:
            continue
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        session.info[_CHANGED] = True
        return


@event.listens_for(Session, "do_orm_execute")
def _note_statements(state) -> None:
    # Stock changes are UPDATE statements (services.stock), not object changes.
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in CATALOGUE_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "before_commit")
def _take_a_purge_job(session: Session) -> None:
    if session.in_nested_transaction() or not has_app_context():
        return
    if not current_app.config.get("CDN_PURGE_URL") or session is not db.session():
        session.info.pop(_CHANGED, None)
        return
    session.flush()  # what is still pending counts too
    if session.info.pop(_CHANGED, False):
        jobs.defer(purge_cdn)


@event.listens_for(Session, "after_soft_rollback")
def _forget_changes(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_CHANGED, None)


@jobs.job("cdn-purge")
def purge_cdn() -> None:
    """POST to CDN_PURGE_URL (nothing when unset); an answer other than 2xx raises, so the
    queue retries it. Skipped when another purge is waiting to run: that one will do."""
    config = current_app.config
    url = config.get("CDN_PURGE_URL")
    if not url:
        return
    if jobs.uses_queue() and _another_purge_waiting():
        log.info("cdn-purge: a later purge is queued, leaving it to that one")
        return
    # Most sales change no byte of any page (40 units left, then 39: "In stock" either way):
    # the catalogue stamp says what the pages show, so an unchanged stamp needs no purge.
    stamp = browse.catalog_stamp(db.session)
    if _last_purged.get(url) == stamp:
        log.info("cdn-purge: nothing the pages show changed since this worker's last purge")
        return
    headers = {}
    name, colon, value = (config.get("CDN_PURGE_HEADER") or "").partition(":")
    if colon and name.strip():
        headers[name.strip()] = value.strip()
    body = config.get("CDN_PURGE_BODY") or ""
    if body.lstrip().startswith(("{", "[")):
        headers.setdefault("Content-Type", "application/json")
    response = requests.post(url, data=body.encode(), headers=headers, timeout=TIMEOUT_SECONDS)
    if not 200 <= response.status_code < 300:
        raise RuntimeError(f"the CDN purge call answered {response.status_code}")
    _last_purged[url] = stamp
    log.info("cdn-purge: the CDN was told the catalogue changed")


def _another_purge_waiting() -> bool:
    """A `cdn-purge` job due now and not yet started (this one is running, so not counted; one
    waiting for a retry later is not counted either: it would purge late)."""
    return bool(
        db.session.execute(
            text(
                "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'cdn-purge' "
                "AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()) LIMIT 1"
            )
        ).first()
    )
