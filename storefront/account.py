"""Customer account pages: sign-up, sign-in (throttled), password reset, profile, saved
addresses and order history. Rules live in comptoir.services.accounts; views parse and render."""

from __future__ import annotations

import hashlib

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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_required
from limits import parse_many
from wtforms import SelectChoice

from comptoir.auth import current_token, sign_in, sign_out
from comptoir.cookies import delete_cookie, set_cookie
from comptoir.extensions import db, limiter
from comptoir.i18n import LOCALE_COOKIE
from comptoir.services import accounts, signup
from comptoir.services import addresses as address_book
from comptoir.services.accounts import AccountError
from comptoir.services.addresses import AddressData
from comptoir.services.orders import CUSTOMER_STATUS_LABELS
from comptoir.services.pagination import paginate
from comptoir.urls import safe_next
from storefront.account_forms import (
    AddressForm,
    LoginForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    ProfileForm,
    RegisterForm,
    WelcomeForm,
)

bp = Blueprint("account", __name__, url_prefix="/account")

ORDERS_PER_PAGE = 20
ONE_YEAR = 365 * 24 * 3600


# --- Throttling (Flask-Limiter; counters in memory or in Redis when REDIS_URL is set) --------


def _setting(name: str, default: str):
    return lambda: current_app.config.get(name) or default


def _typed_email() -> str:
    return accounts.normalize_email(request.form.get("email"))


def _email_key(prefix: str, email: str) -> str:
    """Hashed: the limiter's storage never holds customers' addresses."""
    return f"{prefix}:{hashlib.sha256(email.encode()).hexdigest()[:32]}"


def _account_key(prefix: str):
    """Key a limit on the email typed, so an account is protected whatever IPs guesses come from."""
    return lambda: _email_key(prefix, _typed_email())


def _no_email_typed() -> bool:
    return not _typed_email()


def _unlock_login(email: str) -> None:
    """Forget an account's failed sign-ins (after a password reset proved who is asking), so the
    throttle page's advice — reset your password — really lets the customer back in."""
    # The identifiers Flask-Limiter uses for a route limit: [prefix,] key, scope (= endpoint).
    identifiers = [_email_key("login", email), "account.login"]
    if current_app.config.get("RATELIMIT_KEY_PREFIX"):
        identifiers.insert(0, current_app.config["RATELIMIT_KEY_PREFIX"])
    try:
        for item in parse_many(_setting("LOGIN_ACCOUNT_RATE_LIMIT", "5 per 15 minutes")()):
            limiter.limiter.clear(item, *identifiers)
    except Exception:  # the storage (Redis) being down must not spoil a successful reset
        current_app.logger.warning("Could not clear the sign-in throttle for a reset account")


@bp.errorhandler(RateLimitExceeded)
def too_many_attempts(error: RateLimitExceeded):
    response = make_response(
        render_template("account/throttled.html", message=error.description), 429
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def private_pages(response):
    """Account pages are personal: never stored by shared caches, never indexed."""
    response.headers.setdefault("Cache-Control", "no-store, private")
    response.headers.setdefault("X-Robots-Tag", "noindex")
    return response


# --- Sign-up, sign-in, sign-out ------------------------------------------------------------


def _me():
    """The signed-in User itself (not the proxy), for services that add it to the session."""
    return current_user._get_current_object()


def _after_login_url(user, next_value: str | None) -> str:
    fallback = url_for("account.dashboard")
    if user.is_staff:
        fallback = url_for("admin.dashboard")
    return safe_next(next_value, fallback)


def _field_error(form, error: AccountError) -> None:
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(
    _setting("REGISTER_RATE_LIMIT", "20 per hour"),
    methods=["POST"],
    error_message=lambda: _(
        "Too many accounts were created from your network. Please try again later."
    ),
)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("account.dashboard"))
    form = RegisterForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
    if form.validate_on_submit():
        try:
            signup.sign_up(
                db.session,
                form.email.data,
                form.password.data,
                full_name=form.full_name.data or "",
                locale=str(get_locale()),
            )
        except AccountError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            # The same answer whether the address was new or already had an account.
            next_url = safe_next(form.next.data, "")
            return redirect(url_for("account.registered", next=next_url or None), code=303)
    return render_template("account/register.html", form=form)


@bp.get("/register/sent")
def registered():
    """After a sign-up: check your inbox (the same page whatever the address was)."""
    return render_template(
        "account/registered.html", next_url=safe_next(request.args.get("next"), "")
    )


@bp.route("/welcome/<token>", methods=["GET", "POST"])
def welcome(token: str):
    """The welcome email's link: a button that signs the new customer in (a POST, so that mail
    scanners that open links do not use up the one-time link)."""
    try:
        user = signup.user_for_welcome_token(db.session, token)
    except accounts.ResetTokenExpired as error:
        return _reset_link_page("account/welcome_invalid.html", 410, message=error.message)
    except accounts.ResetTokenInvalid as error:
        return _reset_link_page("account/welcome_invalid.html", 400, message=error.message)
    form = WelcomeForm()
    if form.validate_on_submit():
        sign_in(user)
        accounts.record_login(db.session, user)
        db.session.commit()
        flash(_("Welcome! Your account is ready."), "success")
        return redirect(url_for("account.dashboard"), code=303)
    return _reset_link_page("account/welcome.html", form=form, user=user)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    _setting("LOGIN_RATE_LIMIT", "10 per minute"),
    methods=["POST"],
    error_message=lambda: _(
        "Too many sign-in attempts from your network. Please wait a minute and try again."
    ),
)
@limiter.limit(
    _setting("LOGIN_ACCOUNT_RATE_LIMIT", "5 per 15 minutes"),
    key_func=_account_key("login"),
    methods=["POST"],
    exempt_when=_no_email_typed,
    # Only failures count: a customer who signs in successfully is never locked out.
    deduct_when=lambda response: bool(g.get("login_failed")),
    error_message=lambda: _(
        "Too many failed sign-in attempts for this account. Please wait 15 minutes, "
        "or reset your password."
    ),
)
def login():
    form = LoginForm()
    if current_user.is_authenticated:
        return redirect(_after_login_url(_me(), request.args.get("next")))
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
    failed = False
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            sign_in(user, remember=form.remember.data)
            accounts.record_login(db.session, user)
            db.session.commit()
            return redirect(_after_login_url(user, form.next.data), code=303)
        db.session.rollback()
        g.login_failed = failed = True
    form.next.data = safe_next(form.next.data, "")  # never echo an off-site address back
    return render_template("account/login.html", form=form, failed=failed)


@bp.post("/logout")
def logout():
    sign_out()  # revoked on the server: a copy of this browser's cookies opens nothing now
    db.session.commit()
    flash(_("You are signed out."), "success")
    return redirect(url_for("catalog.home"), code=303)


# --- Password reset ------------------------------------------------------------------------


@bp.route("/password-reset", methods=["GET", "POST"])
@limiter.limit(
    _setting("PASSWORD_RESET_RATE_LIMIT", "10 per hour"),
    methods=["POST"],
    error_message=lambda: _("Too many reset requests from your network. Please try again later."),
)
@limiter.limit(
    _setting("PASSWORD_RESET_ACCOUNT_RATE_LIMIT", "3 per hour"),
    key_func=_account_key("reset"),
    methods=["POST"],
    exempt_when=_no_email_typed,
    error_message=lambda: _(
        "Several reset emails were already sent to this address. Check your inbox (and spam "
        "folder), or try again in an hour."
    ),
)
def password_reset_request():
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        accounts.request_password_reset(db.session, form.email.data)
        db.session.commit()  # the email, decided (an account or not: the same work and answer)
        # Same words whether or not an account exists: no way to probe for customers' emails.
        flash(
            _(
                "If an account exists for this address, we have sent it a link to choose a new "
                "password. The link is valid for one hour."
            ),
            "success",
        )
        return redirect(url_for("account.password_reset_request"), code=303)
    return render_template("account/password_reset_request.html", form=form)


def _reset_link_page(template: str, status: int = 200, **context):
    # The token is in the URL: no third-party script may read it (analytics off on this page),
    # no Referer may carry it, no cache may keep it.
    response = make_response(render_template(template, analytics_enabled=False, **context), status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    try:
        accounts.user_for_reset_token(db.session, token)
    except accounts.ResetTokenExpired as error:
        return _reset_link_page("account/password_reset_invalid.html", 410, message=error.message)
    except accounts.ResetTokenInvalid as error:
        return _reset_link_page("account/password_reset_invalid.html", 400, message=error.message)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            user = accounts.reset_password(db.session, token, form.password.data)
        except AccountError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            sign_in(user)
            accounts.record_login(db.session, user)
            db.session.commit()
            _unlock_login(user.email)
            flash(_("Your password has been changed. You are signed in."), "success")
            return redirect(url_for("account.dashboard"), code=303)
    return _reset_link_page("account/password_reset.html", form=form, token=token)


# --- Dashboard and profile -----------------------------------------------------------------


@bp.get("/")
@login_required
def dashboard():
    recent = db.session.scalars(accounts.customer_orders_query(_me()).limit(3)).all()
    address = address_book.default_address(db.session, _me())
    return render_template(
        "account/dashboard.html", recent_orders=recent, address=address,
        status_labels=CUSTOMER_STATUS_LABELS, countries=_country_names(),
    )  # fmt: skip


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = ProfileForm(obj=current_user if request.method == "GET" else None)
    if request.method == "GET":
        form.locale.data = current_user.locale or ""
    if form.validate_on_submit():
        try:
            changed = accounts.update_profile(
                db.session,
                _me(),
                full_name=form.full_name.data or "",
                email=form.email.data,
                locale=form.locale.data or None,
                current_password=form.current_password.data or "",
                new_password=form.password.data or "",
                keep_session_token=current_token(),
            )
        except AccountError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()  # every other browser's sign-in is revoked; this one stays
            flash(_("Your details are saved.") if changed else _("Nothing to change."), "success")
            response = redirect(url_for("account.profile"), code=303)
            if "locale" in changed:
                _remember_language(response, current_user.locale)
            return response
    return render_template("account/profile.html", form=form)


def _remember_language(response, locale: str | None) -> None:
    """The language cookie is the explicit choice and wins over the account setting: keep the
    two in step, or drop the cookie when the account follows the browser again."""
    if locale:
        set_cookie(response, LOCALE_COOKIE, locale, max_age=ONE_YEAR)
    else:
        delete_cookie(response, LOCALE_COOKIE)


# --- Saved addresses -----------------------------------------------------------------------


def _country_names() -> dict[str, str]:
    """Delivery countries, France first, the others by name in the visitor's language."""
    names = get_locale().territories
    first, *others = address_book.address_countries()
    others.sort(key=lambda code: names.get(code, code))
    return {code: names.get(code, code) for code in (first, *others)}


def _own_address_or_404(address_id: int):
    address = address_book.user_address(db.session, _me(), address_id)
    if address is None:
        abort(404)
    return address


@bp.get("/addresses")
@login_required
def addresses():
    return render_template(
        "account/addresses.html",
        addresses=current_user.addresses,
        countries=_country_names(),
    )


@bp.route("/addresses/new", methods=["GET", "POST"], defaults={"address_id": None})
@bp.route("/addresses/<int:address_id>/edit", methods=["GET", "POST"])
@login_required
def address_form(address_id: int | None):
    address = _own_address_or_404(address_id) if address_id is not None else None
    form = AddressForm(obj=address if request.method == "GET" else None)
    form.country.choices = [SelectChoice(code, name) for code, name in _country_names().items()]
    if form.validate_on_submit():
        data = AddressData(**{name: getattr(form, name).data for name in (
            "full_name", "line1", "line2", "postal_code", "city", "country", "label", "phone",
        )})  # fmt: skip
        try:
            address_book.save_address(
                db.session, _me(), data, address, make_default=form.is_default.data
            )
        except AccountError as error:
            db.session.rollback()
            _field_error(form, error)
        else:
            db.session.commit()
            flash(_("Address saved."), "success")
            return redirect(url_for("account.addresses"), code=303)
    return render_template("account/address_form.html", form=form, address=address)


@bp.post("/addresses/<int:address_id>/delete")
@login_required
def address_delete(address_id: int):
    address_book.delete_address(db.session, _me(), _own_address_or_404(address_id))
    db.session.commit()
    flash(_("Address deleted."), "success")
    return redirect(url_for("account.addresses"), code=303)


@bp.post("/addresses/<int:address_id>/default")
@login_required
def address_default(address_id: int):
    address_book.set_default_address(db.session, _me(), _own_address_or_404(address_id))
    db.session.commit()
    flash(_("Default address updated."), "success")
    return redirect(url_for("account.addresses"), code=303)


# --- Orders --------------------------------------------------------------------------------


@bp.get("/orders")
@login_required
def orders():
    page = paginate(
        db.session,
        accounts.customer_orders_query(_me()),
        request.args.get("page", 1, type=int) or 1,
        ORDERS_PER_PAGE,
    )
    return render_template("account/orders.html", page=page, status_labels=CUSTOMER_STATUS_LABELS)


@bp.get("/orders/<number>")
@login_required
def order_detail(number: str):
    # Someone else's order and an unknown number answer the same 404: numbers cannot be probed.
    order = accounts.customer_order(db.session, _me(), number)
    if order is None:
        abort(404)
    return render_template(
        "account/order_detail.html", order=order, status_labels=CUSTOMER_STATUS_LABELS,
        countries=_country_names(),
    )  # fmt: skip
