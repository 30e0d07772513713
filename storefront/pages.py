"""The shop's own pages and the contact form: `/pages/<slug>` and `/contact`.

- `/pages/<slug>` is a catalogue-like page: the same for every anonymous visitor, so it goes
  through the page cache (comptoir.page_cache) and is public, with an ETag from the catalogue
  stamp — which counts the pages, so an edit gives a new ETag and takes a CDN purge
  (services.pages). Unknown or unpublished: 404. Staff (signed in, so served privately) also
  see unpublished pages, marked as such, to proof-read them.
- `/contact` shows the `contact` page's text and a form that emails the shop through the job
  queue (services.contact: one email per message, however often it is submitted). It is a
  *public form* (comptoir.same_origin): a stateless visitor's page carries no CSRF token, and
  where the POST comes from is what is checked. The page itself is private (each one carries
  its own form id, the message's idempotency key) and sets no cookie. A honeypot field catches
  form-filling bots (same answer, nothing sent); two limits per client network count the
  messages (CONTACT_RATE_LIMIT) and every attempt (CONTACT_ATTEMPT_RATE_LIMIT).
- `footer_links()`, a template global, gives the footer its links from one cached reading.
"""

from __future__ import annotations

import logging
import uuid

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter import RateLimitExceeded
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import SQLAlchemyError
from wtforms import EmailField, HiddenField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

from comptoir import public_pages
from comptoir.extensions import db, limiter
from comptoir.page_cache import cached_page
from comptoir.same_origin import public_form
from comptoir.services import accounts
from comptoir.services import contact as messages
from comptoir.services import pages as shop_pages
from comptoir.urls import external_url
from storefront.checkout import client_network

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)

_REQUIRED = _l("This field is required.")


def _is_staff() -> bool:
    return bool(current_user.is_authenticated and getattr(current_user, "is_staff", False))


# --- The footer ---------------------------------------------------------------------------------


@bp.app_template_global("footer_links")
def footer_links() -> list[tuple[str, str]]:
    """(label, URL) of the footer's links: the published pages listed in the footer, by
    position, and the contact page (under its page's title when that page is listed, else
    "Contact", last). Read once per request; the list itself is cached per process."""
    if "footer_links" not in g:
        try:
            listed = shop_pages.footer_links(db.session)
        except SQLAlchemyError:  # an error page must still render when the database is down
            current_app.logger.exception("footer links unavailable")
            listed = ()
        links = []
        for link in listed:
            if link.slug == shop_pages.CONTACT_SLUG:
                links.append((link.title, url_for("pages.contact")))
            else:
                links.append((link.title, url_for("pages.show", slug=link.slug)))
        if not any(link.slug == shop_pages.CONTACT_SLUG for link in listed):
            links.append((_("Contact"), url_for("pages.contact")))
        g.footer_links = links
    return g.footer_links


# --- /pages/<slug> ------------------------------------------------------------------------------


@bp.get("/pages/<slug>")
def show(slug: str):
    """A published page (staff also see unpublished ones); 404 otherwise."""
    if not shop_pages.valid_slug(slug):
        abort(404)
    if slug == shop_pages.CONTACT_SLUG:  # its text introduces the contact form
        return redirect(url_for(".contact"), 301)
    return cached_page(lambda: _page(slug))


def _page(slug: str):
    page = shop_pages.find_page(db.session, slug)
    if page is None or not (page.is_published or _is_staff()):
        abort(404)
    return render_template(
        "storefront/page.html",
        page=page,
        body_html=shop_pages.render_markdown(page.body),
        canonical_url=external_url("pages.show", slug=page.slug),
    )


# --- /contact -----------------------------------------------------------------------------------


def _email_address(form, field) -> None:
    """The accounts' rule for an address (syntax only, no DNS lookup)."""
    try:
        field.data = accounts.validate_email(field.data)
    except accounts.AccountError as error:
        raise ValidationError(error.message) from None


def _one_line(value: str | None) -> str:
    return " ".join((value or "").split())


class ContactForm(FlaskForm):
    """The contact form. No CSRF field: comptoir.same_origin has checked where the POST came
    from (and the token, for a browser that said nothing) before the view runs, as for every
    public form — the cached pages a visitor comes from carry no token."""

    class Meta:
        csrf = False

    name = StringField(
        _l("Your name"),
        filters=[_one_line],
        validators=[
            DataRequired(message=_REQUIRED),
            Length(max=messages.MAX_NAME_CHARS, message=_l("At most %(max)d characters.")),
        ],
    )
    email = EmailField(
        _l("Your email address"),
        validators=[
            DataRequired(message=_REQUIRED),
            Length(max=254, message=_l("At most %(max)d characters.")),
            _email_address,
        ],
    )
    subject = StringField(
        _l("Subject (optional)"),
        filters=[_one_line],
        validators=[
            Optional(),
            Length(max=messages.MAX_SUBJECT_CHARS, message=_l("At most %(max)d characters.")),
        ],
    )
    message = TextAreaField(
        _l("Your message"),
        filters=[lambda value: (value or "").strip()],
        validators=[
            DataRequired(message=_REQUIRED),
            Length(
                max=messages.MAX_MESSAGE_CHARS,
                message=_l(
                    "Your message is too long: at most %(max)d characters. Shorten it, or send "
                    "it in two parts."
                ),
            ),
        ],
    )
    # Hidden from people (off-screen, aria-hidden, out of the tab order); bots fill it in.
    website = StringField(_l("Leave this field empty"))
    form_id = HiddenField()


def _setting(name: str, default: str):
    return lambda: current_app.config.get(name) or default


def _throttled_message() -> str:
    return _(
        "You have sent several messages in a short time. Please wait a while before writing "
        "again: we read every message."
    )


def _sent(response) -> bool:
    """Counted against CONTACT_RATE_LIMIT: a message accepted (sent, or swallowed by the
    honeypot); a form sent back with an error costs nothing."""
    return response.status_code == 303


@bp.route("/contact", methods=["GET", "POST"])
@public_form(_l("Send your message"))  # linked from every page's footer, which a CDN may keep
@limiter.limit(
    _setting("CONTACT_ATTEMPT_RATE_LIMIT", "30 per hour"),
    methods=["POST"],
    key_func=client_network,
    scope="contact-attempts",
    error_message=_throttled_message,
)
@limiter.limit(
    _setting("CONTACT_RATE_LIMIT", "5 per hour"),
    methods=["POST"],
    key_func=client_network,
    scope="contact-messages",
    deduct_when=_sent,
    error_message=_throttled_message,
)
def contact():
    """The contact page and its form (redirect-after-POST, with a flash message)."""
    public_pages.skip_token_if_stateless()  # a stateless visitor's page starts no session
    form = ContactForm()
    status = 200
    if request.method == "POST":
        if (form.website.data or "").strip():
            # A bot: the same answer as a person gets, and nothing is sent.
            log.info("contact form: honeypot filled, message dropped")
            return _thanks()
        if form.validate():
            message = messages.ContactMessage(
                name=form.name.data,
                email=form.email.data,
                subject=form.subject.data or "",
                message=form.message.data,
            )
            try:
                messages.queue_contact_message(db.session, message, form_id=form.form_id.data)
            except messages.ContactUnavailable:
                log.error("contact form: no address to send it to (set CONTACT_EMAIL)")
                form.form_errors.append(
                    _("The message could not be sent: the shop has no contact address set up.")
                )
                status = 503
            else:
                db.session.commit()
                return _thanks()
        else:
            status = 422
    else:
        form.form_id.data = uuid.uuid4().hex
    intro = shop_pages.published_page(db.session, shop_pages.CONTACT_SLUG)
    return render_template(
        "storefront/contact.html",
        form=form,
        intro=intro,
        intro_html=shop_pages.render_markdown(intro.body) if intro else None,
        canonical_url=external_url("pages.contact"),
    ), status


def _thanks():
    flash(_("Thank you, your message has been sent. We will answer you by email."), "success")
    return redirect(url_for(".contact"), 303)


@bp.errorhandler(RateLimitExceeded)
def too_many_messages(error: RateLimitExceeded):
    public_pages.skip_token_if_stateless()
    response = make_response(
        render_template(
            "errors/error.html", status=429, title=_("Too many messages"), message=error.description
        ),
        429,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
