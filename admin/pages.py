"""Staff pages for the shop's own pages (legal notice, terms of sale, privacy, delivery and
returns, contact text): list, create, edit with a preview of the rendered Markdown, delete.

Thin views: the form parses, comptoir.services.pages applies the rules (slug format and
uniqueness, the contract slugs that cannot be renamed or deleted, the audit entry), the view
commits once and redirects (303). The preview works without JavaScript (a "Preview" button
that posts the form back without saving) and, with htmx, as the text is typed.
Double submits: creating the same page twice finds the first one, saving the same edit twice
changes nothing the second time (the row is locked while deciding), deleting twice is one
deletion.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from admin.guard import admin_response_headers, require_staff
from comptoir.extensions import db
from comptoir.services import pages as service
from comptoir.services.catalog import slugify
from comptoir.services.pages import PageError, PageValues
from models import ShopPage

bp = Blueprint("admin_pages", __name__, url_prefix="/admin/pages")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)

_REQUIRED = _l("This field is required.")


def _strip(value: str | None) -> str:
    return (value or "").strip()


class PageForm(FlaskForm):
    title = StringField(
        _l("Title"),
        filters=[_strip],
        validators=[DataRequired(message=_REQUIRED), Length(max=service.MAX_TITLE_CHARS)],
    )
    slug = StringField(
        _l("Address (slug)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=service.MAX_SLUG_CHARS),
            Regexp(
                service.SLUG_PATTERN, message=_l("Lower-case letters, digits and hyphens only.")
            ),
        ],
    )
    body = TextAreaField(
        _l("Text (Markdown)"),
        filters=[lambda value: (value or "").replace("\r\n", "\n").strip()],
        validators=[
            Length(
                max=service.MAX_BODY_CHARS,
                message=_l("The text is too long: at most %(max)d characters."),
            )
        ],
    )
    position = IntegerField(
        _l("Position (footer order)"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=service.MAX_POSITION)],
    )
    in_footer = BooleanField(_l("Listed in the footer"), default=True)
    is_published = BooleanField(_l("Published (visible in the shop)"), default=True)
    # The page as the form was filled (services.pages.page_version): a stale save is refused.
    version = HiddenField()

    def values(self) -> PageValues:
        return PageValues(
            slug=self.slug.data or slugify(self.title.data, service.MAX_SLUG_CHARS),
            title=self.title.data,
            body=self.body.data or "",
            position=self.position.data or 0,
            in_footer=bool(self.in_footer.data),
            is_published=bool(self.is_published.data),
        )


class PreviewForm(FlaskForm):
    body = PageForm.body


def _page_or_404(page_id: int, *, lock: bool = False) -> ShopPage:
    page = db.session.get(ShopPage, page_id, with_for_update=lock or None)
    if page is None:
        abort(404)
    return page


def _apply_error(form: PageForm, error: PageError) -> None:
    db.session.rollback()
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def _previewing() -> bool:
    return request.method == "POST" and request.form.get("action") == "preview"


def _form_page(form: PageForm, page: ShopPage | None, status: int):
    body = form.body.data if request.method == "POST" else (page.body if page else "")
    too_long = len(body or "") > service.MAX_BODY_CHARS
    return render_template(
        "admin/pages/form.html",
        form=form,
        page=page,
        preview_html=None if too_long else service.render_markdown(body or ""),
        fixed_slug=page is not None and page.slug in service.REQUIRED_SLUGS,
        can_delete=page is not None and service.can_delete(page),
    ), status


@bp.get("")
def index():
    return render_template(
        "admin/pages/index.html",
        pages=service.list_pages(db.session),
        required=service.REQUIRED_SLUGS,
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = PageForm()
    if _previewing():  # shown, not saved: no error for what is not finished yet
        return _form_page(form, None, 200)
    if form.validate_on_submit():
        try:
            page, created = service.create_page(db.session, form.values(), actor_id=current_user.id)
        except PageError as error:
            _apply_error(form, error)
        else:
            db.session.commit()
            if created:
                flash(_("Page “%(title)s” created.", title=page.title), "success")
            else:
                flash(_("This page was already created (the form was sent twice)."), "info")
            return redirect(url_for(".edit", page_id=page.id), 303)
    return _form_page(form, None, 422 if request.method == "POST" else 200)


@bp.route("/<int:page_id>/edit", methods=["GET", "POST"])
def edit(page_id: int):
    # Locked while deciding: the same edit sent twice at once is applied (and audited) once.
    page = _page_or_404(page_id, lock=request.method == "POST")
    form = PageForm(obj=page if request.method == "GET" else None)
    if request.method == "GET":
        form.version.data = service.page_version(page)
    if _previewing():
        return _form_page(form, page, 200)
    if form.validate_on_submit():
        values = form.values()
        if not form.slug.data:  # emptied: keep the address it has
            values = replace(values, slug=page.slug)
        if service.is_stale_edit(page, values, form.version.data):
            # Kept as typed, against the current version: saving again overwrites on purpose.
            form.version.data = service.page_version(page)
            form.form_errors.append(
                _(
                    "Someone saved this page while you were editing it: your changes were not "
                    "saved. Open the page in another tab to see theirs, then save again to "
                    "replace them with yours."
                )
            )
            return _form_page(form, page, 409)
        try:
            changed = service.update_page(db.session, page, values, actor_id=current_user.id)
        except PageError as error:
            _apply_error(form, error)
            page = _page_or_404(page_id)
        else:
            db.session.commit()
            if changed:
                flash(_("Changes saved."), "success")
            else:
                flash(_("Nothing to save: no field was changed."), "info")
            return redirect(url_for(".edit", page_id=page.id), 303)
    return _form_page(form, page, 422 if request.method == "POST" else 200)


@bp.post("/<int:page_id>/delete")
def delete(page_id: int):
    page = db.session.get(ShopPage, page_id, with_for_update=True)
    if page is None:  # deleted meanwhile, or this is the second click
        flash(_("This page no longer exists."), "info")
        return redirect(url_for(".index"), 303)
    title = page.title
    try:
        service.delete_page(db.session, page, actor_id=current_user.id)
    except PageError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".edit", page_id=page_id), 303)
    db.session.commit()
    flash(_("Page “%(title)s” deleted.", title=title), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/preview")
def preview():
    """The rendered Markdown of `body`, for the edit form's live preview (htmx)."""
    form = PreviewForm()
    if not form.validate():
        errors = form.body.errors or [_("The preview could not be made.")]
        return render_template("admin/pages/_preview.html", error=str(errors[0])), 422
    return render_template(
        "admin/pages/_preview.html", preview_html=service.render_markdown(form.body.data)
    )
