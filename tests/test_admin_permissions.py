"""Who may open what under /admin: every admin route, found in the URL map at run time (other
pages are added in parallel, so nothing here lists them), for every role and method.

- anonymous → redirected to the login page, with `next` pointing back;
- customer → 403 everywhere;
- staff → in (200, 3xx, 404 for a missing object, 4xx for an empty form), never 403 — except
  on admin-only routes, where it is 403;
- admin → never 403, never 5xx.
Routes with arguments get real objects created here when the argument's name says what it is,
otherwise a placeholder: the guard runs before the view, so even a placeholder URL must stop
anonymous visitors and customers before any 404.
"""

from __future__ import annotations

import inspect
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, UUIDConverter

from admin import guard
from comptoir.extensions import db
from comptoir.services.catalog import create_category
from models import Role
from tests.builders import logged_in_client, make_order, make_product, make_user

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
REDIRECTS = {301, 302, 303, 307, 308}

# Every client here signs in through `/_test/login/<id>` and reads its token from `/_test/csrf`.
pytestmark = pytest.mark.usefixtures("test_routes")


def admin_rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin")),
        key=lambda rule: rule.rule,
    )


ADMIN_ONLY_MARKS = re.compile(r"\b(require_admin|admin_required|admin_only)\b")


def is_admin_only(app, rule) -> bool:
    """Admin-only: the view (or a function it wraps) is marked `admin_only`, its blueprint (or a
    parent) runs `guard.require_admin` before every request, or the view's source — decorators
    included — calls on `require_admin` / `admin_required` / `admin_only`."""
    view = app.view_functions[rule.endpoint]
    wrapped = view
    while wrapped is not None:
        if getattr(wrapped, "admin_only", False):
            return True
        wrapped = getattr(wrapped, "__wrapped__", None)
    parts = rule.endpoint.split(".")[:-1]
    for depth in range(1, len(parts) + 1):
        hooks = app.before_request_funcs.get(".".join(parts[:depth]), [])
        if any(hook is guard.require_admin for hook in hooks):
            return True
    try:
        source = inspect.getsource(inspect.unwrap(view))
    except (OSError, TypeError):
        return False
    return bool(ADMIN_ONLY_MARKS.search(source))


class Objects:
    """Real rows the route arguments can point at."""

    def __init__(self, app):
        with app.app_context():
            self.customer_id = make_user(Role.CUSTOMER, "client@example.com")
            self.staff_id = make_user(Role.STAFF, "staff@example.com")
            self.admin_id = make_user(Role.ADMIN, "admin@example.com")
            category = create_category(db.session, "Céramique")
            product = make_product("Bol témoin", stock=5)
            order = make_order("CMD-PERM", lines=[(product, 1)], user_id=self.customer_id)
            db.session.commit()
            self.category = (category.id, category.slug)
            self.product = (product.id, product.slug)
            self.order = (order.id, order.number)

    def value_for(self, rule, name: str, converter):
        """A real object's id/slug/number when the argument names one, else a placeholder."""
        subject = name.lower()
        if subject == "id" or subject == "slug":
            subject = f"{rule.endpoint.lower()}_{subject}"
        is_int = isinstance(converter, IntegerConverter)
        for words, (row_id, key) in (
            (("order",), self.order),
            (("product",), self.product),
            (("categor",), self.category),
            (("customer", "user", "staff"), (self.customer_id, self.customer_id)),
        ):
            if any(word in subject for word in words):
                return row_id if is_int else key
        if name in ("number", "order_number"):
            return self.order[1]
        if is_int:
            return 999_999
        if isinstance(converter, FloatConverter):
            return 1.5
        if isinstance(converter, UUIDConverter):
            return uuid.uuid4()
        if isinstance(converter, AnyConverter):
            return sorted(converter.items)[0]
        return "missing-object"

    def url(self, rule) -> str:
        values = {name: self.value_for(rule, name, conv) for name, conv in rule._converters.items()}
        values.update({k: v for k, v in (rule.defaults or {}).items() if k not in values})
        _domain, path = rule.build(values, append_unknown=False)
        return path


def _request(client, method: str, url: str):
    token = client.get("/_test/csrf").get_data(as_text=True)
    if method == "GET":
        response = client.get(url)
    else:
        response = client.open(
            url, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token}
        )
    # Read and close streamed bodies (CSV export): an unread stream keeps its request's
    # context pushed, and the next request would run inside it.
    response.get_data()
    response.close()
    return response


def run_matrix(app, objects: Objects, rules) -> list[str]:
    """Request every rule with every allowed method as every role; one line per wrong answer."""
    clients = {
        "anonymous": logged_in_client(app, None),
        "customer": logged_in_client(app, objects.customer_id),
        "staff": logged_in_client(app, objects.staff_id),
        "admin": logged_in_client(app, objects.admin_id),
    }
    calls = [
        (rule, method)
        for rule in rules
        for method in ("GET", *STATE_CHANGING)
        if method in rule.methods
    ]
    # Reads first: a state-changing request (a delete…) must not hide a page from the reads.
    calls.sort(key=lambda call: call[1] != "GET")
    failures = []
    for rule, method in calls:
        url = objects.url(rule)
        admin_only = is_admin_only(app, rule)
        for role, client in clients.items():
            response = _request(client, method, url)
            status = response.status_code
            problem = _check(role, method, url, status, response.headers, admin_only)
            if problem:
                failures.append(f"{role} {method} {url} ({rule.endpoint}) → {status}: {problem}")
    return failures


def test_every_admin_route_is_guarded_for_every_role(app):
    objects = Objects(app)
    rules = admin_rules(app)
    # The matrix must cover real pages, so it cannot pass by finding nothing.
    assert {
        "admin_orders.index", "admin_orders.detail", "admin_orders.change_status",
        "admin_orders.add_note", "admin_orders.refund", "admin_orders.packing_slip",
        "admin_orders.export_csv",
    } <= {rule.endpoint for rule in rules}  # fmt: skip

    failures = run_matrix(app, objects, rules)

    assert failures == [], "\n".join(failures)


def _check(role, method, url, status, headers, admin_only) -> str | None:
    if role == "anonymous":
        if status != 302:
            return "anonymous visitors must be sent to the login page"
        location = urlsplit(headers.get("Location", ""))
        if location.path != "/account/login":
            return f"redirected to {headers.get('Location')}, not the login page"
        if method == "GET" and not parse_qs(location.query).get("next", [""])[0].startswith(
            urlsplit(url).path
        ):
            return "the login link must bring them back (next=…)"
        return None
    if role == "customer":
        return None if status == 403 else "customers must get 403"
    if status >= 500:
        return "server error"
    if role == "staff" and admin_only:
        return None if status == 403 else "admin-only: staff must get 403"
    if status in (401, 403):
        return f"{role} must not be refused"
    if method == "GET" and status not in {200, 304, 404, *REDIRECTS}:
        return "a page should answer 200, a redirect or 404"
    return None


def test_the_matrix_knows_admin_only_routes_and_catches_an_unguarded_page(app):
    """Probe routes shaped like the ones other admin modules may add: a staff page, a view
    that calls `require_admin()` itself, an admin-only blueprint — and a forgotten guard."""
    staff_bp = Blueprint("admin_probe", __name__, url_prefix="/admin/probe")
    staff_bp.before_request(guard.require_staff)
    staff_bp.add_url_rule("/", "index", lambda: "staff page")

    def settings():
        return guard.require_admin() or "admin settings"

    staff_bp.add_url_rule("/settings", "settings", settings, methods=["GET", "POST"])
    admin_bp = Blueprint("admin_probe_staff_accounts", __name__, url_prefix="/admin/probe-team")
    admin_bp.before_request(guard.require_admin)
    admin_bp.add_url_rule("/<int:user_id>", "edit", lambda user_id: "team member")
    app.register_blueprint(staff_bp)
    app.register_blueprint(admin_bp)
    app.add_url_rule("/admin/probe-forgotten", "probe_forgotten", lambda: "no guard")
    rules = {rule.endpoint: rule for rule in admin_rules(app)}
    probes = [rules[e] for e in rules if "probe" in e]

    assert is_admin_only(app, rules["admin_probe.settings"])
    assert is_admin_only(app, rules["admin_probe_staff_accounts.edit"])
    assert not is_admin_only(app, rules["admin_probe.index"])
    assert not is_admin_only(app, rules["admin_orders.refund"])

    failures = run_matrix(app, Objects(app), probes)

    # Only the unguarded page is reported: anonymous and customer both got through.
    assert sorted(f.split(" → ")[0] for f in failures) == [
        "anonymous GET /admin/probe-forgotten (probe_forgotten)",
        "customer GET /admin/probe-forgotten (probe_forgotten)",
    ]
