"""The tests' one toolbox: data built through the shop's own code, and a browser's gestures.

Two kinds of builders, by name:
- `make_*` work inside an app context the test already opened; they flush, never commit, and
  return the object (or the user id): `with app.app_context(): bowl = make_product("Bol")`.
- `add_*` open their own app context, commit, and return the new row's id: `add_product(app)`.

What a shopper or staff member does goes through the real pages, CSRF token included
(`add_to_cart`, `start_checkout`, `checkout`, `paid_order`), and Stripe's side of it through the
fake Stripe (`tests/stripe_fake.py`) and webhook events signed as Stripe signs them
(`signed_event`, `deliver`). `make_order` builds an order row directly, for the admin pages that
need orders in every state, with lines priced by `services.checkout.price_lines` (the checkout's
own VAT arithmetic).
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pillow_heif
from flask_wtf.csrf import generate_csrf
from PIL import Image, ImageDraw
from sqlalchemy import event, select
from werkzeug.serving import make_server

from comptoir import jobs
from comptoir.auth import sign_in
from comptoir.config import TestConfig
from comptoir.extensions import db
from comptoir.services import stock
from comptoir.services.catalog import create_category, create_product
from comptoir.services.checkout import ShippingQuote, price_lines
from comptoir.services.passwords import hash_password
from comptoir.services.payments import make_event, sign_event
from models import Order, Product, ProductImage, Role, User, utcnow

PASSWORD = "Terre cuite et lin 7"

# --- Forms and CSRF ------------------------------------------------------------------------------

_TOKEN_INPUT = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)
_TOKEN_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on the page (or of the page's htmx headers)."""
    match = _TOKEN_INPUT.search(html) or _TOKEN_HEADER.search(html)
    if not match:
        raise AssertionError("no CSRF token on the page")
    return next(group for group in match.groups() if group)


def csrf_token(client, url: str = "/") -> str:
    """GET `url` with `client` and return the CSRF token its forms carry."""
    return csrf_from(client.get(url).get_data(as_text=True))


# --- Catalogue ----------------------------------------------------------------------------------


def make_product(
    name: str = "Bol en grès", *, stock: int = 5, price_cents: int = 2800, **fields
) -> Product:
    """A product through the catalogue service (its opening stock goes through the ledger)."""
    return create_product(
        db.session, name=name, price_cents=price_cents, stock_quantity=stock, **fields
    )


def add_product(app, name: str = "Bol en grès", *, stock: int = 5, price_cents: int = 2800,
                **fields) -> int:  # fmt: skip
    with app.app_context():
        product = make_product(name, stock=stock, price_cents=price_cents, **fields)
        db.session.commit()
        return product.id


def add_catalogue(app, products: Sequence[dict], categories=("Céramique", "Textile")) -> dict:
    """Categories (in this order) and products; each product spec is `make_product`'s keywords
    plus `category` (a name from `categories`). Returns {product name: id}."""
    with app.app_context():
        cats = {
            name: create_category(db.session, name, position=i) for i, name in enumerate(categories)
        }
        ids = {}
        for spec in products:
            spec = dict(spec)
            category = spec.pop("category", None)
            product = make_product(category=cats[category] if category else None, **spec)
            ids[product.name] = product.id
        db.session.commit()
        return ids


def stock_of(app, product_id: int) -> int:
    """Units on sale now (held units are not on sale)."""
    with app.app_context():
        return db.session.scalar(select(Product.stock_quantity).where(Product.id == product_id))


# --- People ------------------------------------------------------------------------------------


@cache
def password_hash(password: str = PASSWORD) -> str:
    return hash_password(password)  # scrypt is slow on purpose: hash once per test run


def make_user(
    role: Role | str = Role.CUSTOMER,
    email: str | None = None,
    full_name: str = "",
    *,
    password: str = PASSWORD,
    active: bool = True,
) -> int:
    """An account that can sign in with `password` through the real login form."""
    role = Role(role)
    user = User(
        email=email or f"{role.value}@example.com",
        password_hash=password_hash(password),
        full_name=full_name or f"{role.value.title()} Person",
        role=role.value,
        is_active=active,
    )
    db.session.add(user)
    db.session.flush()
    return user.id


def add_user(app, role: Role | str = Role.CUSTOMER, email: str | None = None, full_name: str = "",
             **options) -> int:  # fmt: skip
    with app.app_context():
        user_id = make_user(role, email, full_name, **options)
        db.session.commit()
        return user_id


def install_test_routes(app) -> None:
    """Add `/_test/login/<id>` (signs in through `comptoir.auth.sign_in`, as the login view does,
    without the login form's rate limits) and `/_test/csrf`. Must run before the first request."""

    def test_login(user_id: int):
        sign_in(db.session.get(User, user_id))
        db.session.commit()  # the sign-in record, as the login view commits it
        return "ok"

    if "_test_login" not in app.view_functions:
        app.add_url_rule("/_test/login/<int:user_id>", "_test_login", test_login)
        app.add_url_rule("/_test/csrf", "_test_csrf", generate_csrf)


def sign_in_as(client, user_id: int) -> None:
    """Sign `client` in (the app's test routes must be installed: the `test_routes` fixture)."""
    assert client.get(f"/_test/login/{user_id}").status_code == 200


def logged_in_client(app, user_id: int | None):
    """A fresh client reading English (`€12.50` amounts), signed in as `user_id` if given."""
    client = app.test_client()
    client.set_cookie("lang", "en")
    if user_id is not None:
        sign_in_as(client, user_id)
    return client


# --- Shopping through the real pages -----------------------------------------------------------


def add_to_cart(client, product_id: int, quantity: int = 1):
    """Put a product in this client's cart through the cart form."""
    token = csrf_token(client, "/cart")
    response = client.post(
        "/cart/items",
        data={"product_id": product_id, "quantity": quantity, "csrf_token": token},
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return response


def start_checkout(client):
    """POST /checkout from the cart page, as the Checkout button does."""
    return client.post("/checkout", data={"csrf_token": csrf_token(client, "/cart")})


def session_id_from(response) -> str:
    """The Checkout Session id in a 303 to Stripe (fake or test-payment page)."""
    assert response.status_code == 303, response.status_code
    match = re.search(r"(cs_test_[A-Za-z0-9_]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def checkout(client, product_id: int, quantity: int = 1) -> str:
    """Cart then Checkout: the units are reserved, a payment page is open. Its session id."""
    add_to_cart(client, product_id, quantity)
    return session_id_from(start_checkout(client))


def paid_order(client, fake_stripe, product_id: int, quantity: int = 1, **payer) -> str:
    """A real checkout paid on the fake Stripe and settled by its signed webhook: the order is
    paid, its units sold. Returns the session id (`order_for(app, session_id)` reads it)."""
    session_id = checkout(client, product_id, quantity)
    response = deliver(
        client, "checkout.session.completed", fake_stripe.complete(session_id, **payer)
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return session_id


def order_for(app, session_id: str) -> Order:
    """The order of a Checkout Session, detached with its lines, VAT, events and refunds loaded."""
    with app.app_context():
        order = db.session.scalar(
            select(Order).where(Order.stripe_checkout_session_id == session_id)
        )
        assert order is not None, session_id
        _ = (order.items, order.vat_lines, order.events, order.refunds)
        db.session.expunge_all()
        return order


# --- Stripe's side -------------------------------------------------------------------------------


def signed_event(
    event_type: str,
    obj: dict,
    *,
    secret: str = TestConfig.STRIPE_WEBHOOK_SECRET,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict]:
    """A Stripe-shaped event around `obj`, signed: (raw body, headers) for POST /stripe/webhook."""
    event = make_event(event_type, obj)
    if event_id:
        event["id"] = event_id
    body, signature = sign_event(event, secret, timestamp)
    return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}


def deliver(client, event_type: str, obj: dict, **kwargs):
    """Sign an event and POST it to the webhook."""
    body, headers = signed_event(event_type, obj, **kwargs)
    return client.post("/stripe/webhook", data=body, headers=headers)


# --- Orders in any state, for the staff pages -----------------------------------------------------


@dataclass(frozen=True)
class _Line:
    product: Product
    quantity: int


SHIPPING = ShippingQuote(name="Colissimo domicile", cents=590, vat_rate_bp=2000)
ADDRESS = {"line1": "12 rue des Potiers", "line2": "", "postal_code": "69001", "city": "Lyon",
           "country": "FR"}  # fmt: skip


def make_order(
    number: str,
    *,
    lines: list[tuple[Product, int]] | None = None,
    status: str = "paid",
    email: str = "claire@example.com",
    customer_name: str = "Claire Dupont",
    created_at: datetime | None = None,
    shipping_cents: int = 590,
    reserve: bool = False,
    **fields,
) -> Order:
    """An order in `status` with lines priced like checkout prices them (`price_lines`: frozen
    prices, shipping, VAT per rate). `lines` = [(product, quantity)]; `reserve=True` holds the
    units through the stock service, as an open checkout does. Other `fields` set order columns."""
    if lines is None:
        lines = [(make_product(f"Produit {number}", stock=10), 2)]
    order = Order(
        number=number,
        email=email,
        customer_name=customer_name,
        status=status,
        currency="EUR",
        shipping_address={"name": customer_name, **ADDRESS},  # as settlement stores it
        stripe_checkout_session_id=f"cs_test_{number}",
        stripe_payment_intent_id=f"pi_test_{number}",
        paid_at=utcnow() if status not in ("pending_payment", "payment_processing") else None,
    )
    price_lines(
        order,
        [_Line(product, quantity) for product, quantity in lines],
        ShippingQuote(SHIPPING.name, shipping_cents, SHIPPING.vat_rate_bp),
    )
    for name, value in fields.items():
        setattr(order, name, value)
    if created_at is not None:
        order.created_at = created_at
    db.session.add(order)
    db.session.flush()
    if reserve:
        stock.reserve(
            db.session,
            order.id,
            [(product.id, quantity) for product, quantity in lines],
            utcnow() + timedelta(minutes=30),
        )
        db.session.flush()
    return order


def add_order(app, number: str, **options) -> int:
    with app.app_context():
        order = make_order(number, **options)
        db.session.commit()
        return order.id


# --- Mail ----------------------------------------------------------------------------------------


def run_jobs(app) -> None:
    """Run every job that is due through the real queue, as a worker would (PostgreSQL), until
    none is left; on SQLite jobs already ran in-process after their commit."""
    with app.app_context():
        if not jobs.uses_queue():
            return
    jobs.bind(app)
    worker = jobs.worker_queue(app.config["SQLALCHEMY_DATABASE_URI"])
    failure: list[BaseException] = []

    def run() -> None:  # a thread of its own: no event loop of the caller's (Playwright) in it
        try:
            worker.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
        except BaseException as error:  # noqa: BLE001 — re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=run, name="run_jobs")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def outbox(app) -> list:
    """The emails the app sent (the test mail backend keeps them), once the queued ones ran."""
    run_jobs(app)
    return app.extensions.setdefault("outbox", [])


def mails_to(app, to: str) -> list:
    return [message for message in outbox(app) if message["To"] == to]


# --- Images ------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(width: int = 1600, height: int = 1200, color=(180, 120, 80)) -> Image.Image:
    """A landscape picture with a red marker in its top-left corner (to see rotations)."""
    image = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(image).rectangle((0, 0, width // 5, height // 5), fill=(255, 0, 0))
    return image


def jpeg(width: int = 800, height: int = 600, color=(180, 120, 80)) -> bytes:
    return encode(photo(width, height, color), "JPEG", quality=90)


def jpeg_with_gps(width: int = 1600, height: int = 1200, orientation: int = 1) -> bytes:
    """What a phone saves: EXIF with orientation, maker, software and a GPS position, and XMP."""
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0131] = "SecretCam 1.0"  # Software
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 24.0)
    gps[3] = "E"
    gps[4] = (2.0, 21.0, 7.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>SecretXMP</x:xmpmeta>'
    return encode(photo(width, height), "JPEG", exif=exif.tobytes(), xmp=xmp, quality=90)


def png_declaring(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header claims width × height pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# --- Threads -----------------------------------------------------------------------------------


def race(calls: Sequence[Callable], timeout: float = 60) -> list:
    """Run the callables in threads released at the same instant; their results, in order.
    An exception in any thread fails the test with that exception."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # surfaced below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running"
    assert not errors, errors
    return results


# --- HEIC (appended: used by test_images.py and test_admin_products.py) ------------------------


def heic_with_gps(width: int = 1600, height: int = 1200, orientation: int = 1) -> bytes:
    """What an iPhone saves: HEIC with EXIF (orientation, GPS) and XMP. pillow-heif (a test
    dependency) encodes it; the shop only decodes, with pi-heif."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>SecretXMP</x:xmpmeta>'
    buffer = io.BytesIO()
    pillow_heif.from_pillow(photo(width, height)).save(
        buffer, quality=85, exif=exif.tobytes(), xmp=xmp
    )
    data = buffer.getvalue()
    assert data[4:12] == b"ftypheic" and b"PhoneMaker" in data and b"SecretXMP" in data
    return data


# --- Accounts through the real forms (appended: test_accounts, test_cart, test_seed,
# test_hostile_input, test_trusted_urls; test_admin_access and test_open_checkout sign in the
# same way) -------------------------------------------------------------------------------------


def log_in(client, email: str, password: str = PASSWORD, **fields):
    """Sign in through the login form (its CSRF token, its rate limits, its `next`). The
    response, unchecked: a refusal is what some tests look for."""
    token = csrf_token(client, "/account/login")
    data = {"csrf_token": token, "email": email, "password": password, **fields}
    return client.post("/account/login", data=data)


def request_password_reset(client, email: str, **headers):
    """Ask for a reset link through the form; `headers` ride on both the GET and the POST."""
    page = client.get("/account/password-reset", headers=headers)
    return client.post(
        "/account/password-reset",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email},
        headers=headers,
    )


# --- Counting SQL (appended: test_cart and test_catalog) ------------------------------------------


@contextmanager
def count_queries(app):
    """The SQL statements the app's engine runs inside the block, in order (a list to `len`)."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- Gallery rows without files (appended: test_catalog and test_seo) ---------------------------


def make_image_row(product_id: int, position: int = 0, *, name: str | None = None,
                   alt_text: str = "", widths: Sequence[int] = (320, 640, 1280)) -> ProductImage:  # fmt: skip
    """A gallery row as the media service stores it (key `products/<id>/<name>`, a 4:3 photo as
    wide as its widest variant) but without its files: pages render from the row alone."""
    name = name or f"img{position}"
    image = ProductImage(
        product_id=product_id,
        position=position,
        alt_text=alt_text,
        storage_key=f"products/{product_id}/{name}",
        widths=list(widths),
        width=max(widths),
        height=max(widths) * 3 // 4,
        content_hash=name,
    )
    db.session.add(image)
    db.session.flush()
    return image


# --- The shop on a real HTTP server (appended: browser/conftest.py, test_hostile_input;
# test_admin_exports_live serves it the same way) ---------------------------------------------------


@contextmanager
def serve(app) -> Iterator[str]:
    """`app` on werkzeug's threaded server (127.0.0.1, a free port) inside the block; yields its
    base URL. That URL is also the shop's public address (SHOP_URL, SERVER_NAME), as in
    production, so Stripe return URLs and the test-payment page lead back to this server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config.update(SHOP_URL=url, SERVER_NAME=url.removeprefix("http://"))
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()  # waits for serve_forever to return
        server.server_close()
        thread.join(timeout=5)


# --- One signed event, delivered from threads (appended: test_webhooks and test_stock_race) -----


def webhook_delivery(app, signed: tuple[bytes, dict]) -> Callable[[], int]:
    """A call for `race`: POST one already signed event (`signed_event`'s body and headers) from
    a fresh client, so each run has its own request context, session and connection, as a
    webhook retry reaching another worker does. Each run delivers the very same event (same id,
    same body). The call returns the response's status code."""
    body, headers = signed
    return lambda: app.test_client().post("/stripe/webhook", data=body, headers=headers).status_code


# --- Processes: a real SMTP server, the shop's own commands ----------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpInbox:
    """The receiving side of a real SMTP server (aiosmtpd): what it accepted, and a hook called
    with the conversation's number on each MAIL FROM (to break things mid-batch)."""

    def __init__(self):
        self.accepted: list[dict[str, str]] = []  # each message's headers
        self.mail_from_count = 0
        self.on_mail_from: Callable[[int], None] | None = None
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mail_from_count += 1
            count, hook = self.mail_from_count, self.on_mail_from
        if hook is not None:
            hook(count)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.accepted.append({name: str(value) for name, value in message.items()})
        return "250 Message accepted"


@contextmanager
def smtp_server(inbox: SmtpInbox, port: int) -> Iterator[None]:
    from aiosmtpd.controller import Controller

    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def shop_process(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """One of the Procfile's processes (`flask --app wsgi worker`, gunicorn…), its output
    appended to `log`; stop it with `stop_process`."""
    return subprocess.Popen(
        args,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(condition: Callable[[], bool], seconds: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
            raise AssertionError(f"timed out after {seconds} s\n{tail}")
        time.sleep(0.1)
