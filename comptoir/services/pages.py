"""The shop's own pages (`ShopPage`): legal notice, terms of sale, privacy, delivery and returns,
the contact page's introduction — written by staff in Markdown, shown at `/pages/<slug>`.

Rules this module guarantees:
- **Safe rendering.** A body is Markdown rendered by markdown-it-py (CommonMark, plus tables and
  strikethrough) with raw HTML off: `<script>` or `<img onerror=…>` typed in a body is shown as
  text, never sent as markup. Links go only to http, https and mailto addresses, or to the
  shop's own paths (`/pages/livraison-retours`, `#retours`); anything else (`javascript:`,
  `data:`, `vbscript:`, protocol-relative `//host`) stays plain text. No images (a page of text
  needs none, and a picture from another host would tell that host who reads the privacy
  notice). The body's top headings are `<h2>`: the page title is the page's only `<h1>`.
- **Caching.** The `pages` table is part of the catalogue stamp (services.browse.catalog_stamp),
  so a page edit gives every cached page a new ETag (the footer lists the pages on all of them)
  and takes a CDN purge (services.cdn_purge). On PostgreSQL its trigger (migration 0019)
  NOTIFYs the other worker processes at commit, as the catalogue's do (catalog_changes).
- **The contract slugs** (`REQUIRED_SLUGS`) are linked from the code (footer, cart, contact page)
  and a French shop must publish them: they cannot be deleted nor renamed, only edited.
- **Double submits.** Creating a page twice with the same form finds the first one (the slug is
  the natural key: the same values twice are one page); an edit sent twice changes nothing the
  second time; a page deleted twice is gone once. Every change is audited, with the page's full
  text, so the audit log also keeps each version of the terms of sale.
Functions flush, the caller commits once.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import NamedTuple

from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comptoir.fragment_cache import fragment_cache
from comptoir.services import audit
from comptoir.services.browse import catalog_stamp
from models import ShopPage

LEGAL_NOTICE_SLUG = "mentions-legales"
TERMS_SLUG = "conditions-generales-de-vente"
PRIVACY_SLUG = "confidentialite"
DELIVERY_SLUG = "livraison-retours"
CONTACT_SLUG = "contact"
# Linked from the code and required of a French shop: a contract, never renamed.
REQUIRED_SLUGS = (LEGAL_NOTICE_SLUG, TERMS_SLUG, PRIVACY_SLUG, DELIVERY_SLUG, CONTACT_SLUG)

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG_CHARS = 80  # the column's size
MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 50_000  # a long CGV is ~30 000 characters
MAX_POSITION = 10_000
PAGE_FIELDS = ("slug", "title", "body", "position", "in_footer", "is_published")

_LINK_SCHEMES = ("http:", "https:", "mailto:")


class PageError(ValueError):
    """A change staff can correct; `field` names the form field it belongs to (or None)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class PageValues:
    """What the admin form says a page is (already stripped and length-checked by the form)."""

    slug: str
    title: str
    body: str = ""
    position: int = 0
    in_footer: bool = True
    is_published: bool = True


class FooterLink(NamedTuple):
    """A page as the footer needs it (cacheable: no ORM state)."""

    slug: str
    title: str


# --- Rendering ----------------------------------------------------------------------------------


def _allowed_link(url: str) -> bool:
    """http, https, mailto, or a path of this shop; never `javascript:`, `data:`, `//host`…"""
    # markdown-it has already normalised the URL (percent-encoded, entities decoded), so a
    # `java&#x09;script:` or `JAVASCRIPT:` arrives here as what a browser would read.
    value = url.strip().lower()
    if value.startswith(("/", "#")):
        return not value.startswith(("//", "/\\"))
    return value.startswith(_LINK_SCHEMES)


def _markdown() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": False}
    )
    md.enable(["table", "strikethrough"])
    md.disable("image")
    md.validateLink = _allowed_link

    def shift_headings(state) -> None:
        # The body's top headings become <h2> whether staff typed `#` or `##` (no level is
        # skipped after the title's <h1>: screen readers navigate by them).
        headings = [t for t in state.tokens if t.type in ("heading_open", "heading_close")]
        if not headings:
            return
        shift = 2 - min(int(token.tag[1]) for token in headings)
        for token in headings:
            token.tag = f"h{max(2, min(6, int(token.tag[1]) + shift))}"

    md.core.ruler.push("shift_headings", shift_headings)
    return md


_MD = _markdown()


def render_markdown(body: str | None) -> Markup:
    """The body as safe HTML: raw HTML escaped, links limited, top headings <h2>."""
    return Markup(_MD.render(body or ""))  # noqa: S704 (html disabled: markdown-it escapes it)


# --- Reading ------------------------------------------------------------------------------------


def valid_slug(slug: str) -> bool:
    """True for a slug a page could have (lower-case letters, digits, single hyphens)."""
    return len(slug) <= MAX_SLUG_CHARS and bool(SLUG_PATTERN.fullmatch(slug))


def find_page(session: Session, slug: str) -> ShopPage | None:
    """The page at `slug`, published or not (None for a slug no page could have)."""
    if not valid_slug(slug):
        return None
    return session.scalar(select(ShopPage).where(ShopPage.slug == slug))


def published_page(session: Session, slug: str) -> ShopPage | None:
    """The page at `slug` if shoppers may read it."""
    page = find_page(session, slug)
    return page if page is not None and page.is_published else None


def list_pages(session: Session) -> list[ShopPage]:
    """Every page, in footer order (position, then title), for the admin list."""
    return list(session.scalars(select(ShopPage).order_by(ShopPage.position, ShopPage.title)))


def footer_links(session: Session) -> tuple[FooterLink, ...]:
    """The published pages the footer lists, by position; cached per process and keyed by the
    catalogue stamp (which counts the pages): no query on most requests, a change shows at
    once."""

    def load() -> tuple[FooterLink, ...]:
        rows = session.execute(
            select(ShopPage.slug, ShopPage.title)
            .where(ShopPage.is_published.is_(True), ShopPage.in_footer.is_(True))
            .order_by(ShopPage.position, ShopPage.title)
        ).all()
        return tuple(FooterLink(*row) for row in rows)

    return fragment_cache().get_or_set(("footer-pages", catalog_stamp(session)), load)


def sitemap_pages(session: Session) -> list[tuple[str, datetime]]:
    """(slug, last change) of every published page but the contact page's introduction (the
    sitemap lists /contact itself)."""
    stmt = (
        select(ShopPage.slug, ShopPage.updated_at)
        .where(ShopPage.is_published.is_(True), ShopPage.slug != CONTACT_SLUG)
        .order_by(ShopPage.position, ShopPage.id)
    )
    return [(slug, updated_at) for slug, updated_at in session.execute(stmt)]


# --- Changing -----------------------------------------------------------------------------------


def _snapshot(page: ShopPage) -> dict:
    return {name: getattr(page, name) for name in PAGE_FIELDS}


def page_version(page: ShopPage) -> str:
    """A digest of what the edit form shows of `page`: the form carries the one it was filled
    from, so a save made on a page a colleague changed meanwhile can be told apart."""
    shown = json.dumps(_snapshot(page), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(shown.encode()).hexdigest()[:20]


def is_stale_edit(page: ShopPage, values: PageValues, form_version: str | None) -> bool:
    """True when the form was filled from an older version of `page` and would overwrite it with
    something else (the same edit sent twice is not stale: it changes nothing)."""
    if not form_version or form_version == page_version(page):
        return False
    return asdict(values) != _snapshot(page)


def _check(values: PageValues) -> None:
    if not valid_slug(values.slug):
        raise PageError(_("Lower-case letters, digits and hyphens only."), "slug")
    if not values.title.strip():
        raise PageError(_("This field is required."), "title")
    if len(values.title) > MAX_TITLE_CHARS:
        raise PageError(_("The title is too long."), "title")
    if len(values.body) > MAX_BODY_CHARS:
        raise PageError(_("The text is too long."), "body")
    if not 0 <= values.position <= MAX_POSITION:
        raise PageError(_("The position is out of range."), "position")


def _slug_taken() -> PageError:
    return PageError(
        _("Another page already uses this address (slug). Choose another one."), "slug"
    )


def create_page(
    session: Session, values: PageValues, *, actor_id: int | None
) -> tuple[ShopPage, bool]:
    """Add a page; audited. Returns (page, created): the same values sent again (a double
    submit, even two at once) find the page the first one created instead of failing."""
    _check(values)
    existing = session.scalar(select(ShopPage).where(ShopPage.slug == values.slug))
    if existing is not None:
        if _snapshot(existing) == asdict(values):
            return existing, False
        raise _slug_taken()
    page = ShopPage(**asdict(values))
    try:
        with session.begin_nested():
            session.add(page)
            session.flush()
    except IntegrityError:
        # Another request inserted this slug meanwhile: the same form twice, or a colleague.
        existing = session.scalar(select(ShopPage).where(ShopPage.slug == values.slug))
        if existing is not None and _snapshot(existing) == asdict(values):
            return existing, False
        raise _slug_taken() from None
    audit.record(
        session, actor_id, "page.create", object_type="page", object_id=page.id,
        after=_snapshot(page),
    )  # fmt: skip
    return page, True


def update_page(
    session: Session, page: ShopPage, values: PageValues, *, actor_id: int | None
) -> dict:
    """Apply the edit form to `page`; audited with the changed fields. Returns the `after`
    part of the diff (empty when nothing changed: nothing is written or recorded)."""
    _check(values)
    if page.slug in REQUIRED_SLUGS and values.slug != page.slug:
        raise PageError(
            _("The shop links to this page by its address: it cannot be changed."), "slug"
        )
    before = _snapshot(page)
    changed_before, changed_after = audit.diff(before, asdict(values))
    if not changed_after:
        return {}
    if "slug" in changed_after and session.scalar(
        select(ShopPage.id).where(ShopPage.slug == values.slug, ShopPage.id != page.id)
    ):
        raise _slug_taken()
    for name, value in changed_after.items():
        setattr(page, name, value)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _slug_taken() from None
    audit.record(
        session, actor_id, "page.update", object_type="page", object_id=page.id,
        before=changed_before, after=changed_after,
    )  # fmt: skip
    return changed_after


def can_delete(page: ShopPage) -> bool:
    return page.slug not in REQUIRED_SLUGS


def delete_page(session: Session, page: ShopPage, *, actor_id: int | None) -> None:
    """Delete a page (never one of REQUIRED_SLUGS: unpublish it instead); audited with its
    last text."""
    if not can_delete(page):
        raise PageError(
            _("The shop links to this page and the law asks for it: it cannot be deleted.")
        )
    before = _snapshot(page)
    page_id = page.id
    session.delete(page)
    session.flush()
    audit.record(
        session, actor_id, "page.delete", object_type="page", object_id=page_id, before=before
    )
