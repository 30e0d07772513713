"""The persistent cart: one database row per guest (found by a signed cookie) or per customer.

Rules this module guarantees, whoever calls it (views, the login hook, checkout):
- Prices are never taken from the shopper: every line is priced from the product row when it is
  read (`summarize`), so a price change shows up in the cart before checkout.
- A quantity is a whole number from 1 to min(units on sale, CART_MAX_PER_LINE). Anything else
  raises `CartError` with a message the shopper can act on; nothing is written.
- The cart never touches stock: units are only reserved at checkout (services.stock). A line can
  therefore go stale (sold out meanwhile); `summarize` reports it as the line's `problem` and
  checkout refuses a cart with problems.
- Functions flush but never commit, like every service: the request commits once.

Which cart is the current visitor's (the signed guest cookie, the signed-in account) is the
storefront's business: storefront/visitor.py.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.util import identity_key

from comptoir.services.checkout import shipping_for
from comptoir.typography import quote_name
from models import Availability, Cart, CartItem, Order, Product, utcnow

COOKIE_MAX_AGE = 30 * 24 * 3600  # a guest cart is kept 30 days after its last change
DEFAULT_MAX_PER_LINE = 10
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_MAX_ID = 2**31 - 1


class CartError(Exception):
    """A cart change the shopper asked for and cannot have; `message` is translated, for them.

    `status` is the HTTP status an htmx caller should answer with: 400 bad input, 404 unknown
    product or line, 409 not enough stock.
    """

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = str(message)
        self.status = status


@dataclass(frozen=True)
class CartLine:
    """One priced line as the shopper sees it now (price and availability read from the product)."""

    product: Product
    quantity: int
    unit_price_cents: int
    vat_rate_bp: int
    line_total_cents: int
    availability: Availability
    problem: str | None
    max_quantity: int  # what the quantity input allows now: min(stock, per-line cap), 0 if none

    @property
    def product_id(self) -> int:
        return self.product.id


@dataclass(frozen=True)
class CartSummary:
    """Everything a cart page, the drawer or checkout needs about one cart."""

    lines: list[CartLine]
    count: int  # units, not lines
    subtotal_cents: int  # VAT included

    @property
    def has_problems(self) -> bool:
        return any(line.problem for line in self.lines)

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def shipping(self) -> ShippingOffer:
        """Delivery for this subtotal, by checkout's own rule (what the order will charge)."""
        return shipping_offer(self.subtotal_cents)

    @property
    def total_cents(self) -> int:
        """Subtotal plus delivery: what checkout will ask for today."""
        return self.subtotal_cents + self.shipping.cents


@dataclass(frozen=True)
class ShippingOffer:
    """Delivery as the cart shows it: its cost now, and how far free delivery is."""

    cents: int  # what checkout charges for this subtotal (0: free)
    threshold_cents: int  # free from this items total; 0 when there is no free delivery
    remaining_cents: int  # still to add for free delivery; 0 once reached (or none offered)

    @property
    def is_free(self) -> bool:
        return self.cents == 0


# --- Rules -------------------------------------------------------------------------------------


def max_per_line() -> int:
    """The most units of one product a cart line may hold (CART_MAX_PER_LINE, default 10)."""
    return int(current_app.config.get("CART_MAX_PER_LINE") or DEFAULT_MAX_PER_LINE)


def parse_quantity(raw: object) -> int:
    """A whole number ≥ 1 from a form value or an int; CartError otherwise.

    "1.5", "abc", "", "-1", "0" and "+2" are refused. Absurdly long numbers are not parsed:
    they come back as a huge value that the per-line cap then refuses with its own message.
    """
    if isinstance(raw, bool):
        raise CartError(_("Enter a whole number of items, 1 or more."))
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise CartError(_("Enter a whole number of items, 1 or more."))
        value = int(text) if len(text) <= 12 else 10**12
    if value < 1:
        raise CartError(_("Enter a whole number of items, 1 or more."))
    return value


def _parse_product_id(raw: object) -> int | None:
    """A positive id that fits the INTEGER column (PostgreSQL refuses a larger parameter)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        text = str(raw if raw is not None else "").strip()
        if not (_WHOLE_NUMBER.fullmatch(text) and len(text) <= 10):
            return None
        value = int(text)
    return value if 0 < value <= _MAX_ID else None


def _load_product(session: Session, raw_product_id: object) -> Product:
    """The active product with that id, or CartError (404) in words a shopper understands."""
    product_id = _parse_product_id(raw_product_id)
    product = session.get(Product, product_id) if product_id is not None else None
    if product is None:
        raise CartError(_("This product does not exist or is no longer sold."), status=404)
    if not product.is_active:
        raise CartError(
            _("%(name)s is no longer available.", name=quote_name(product.name)), status=404
        )
    return product


def _limit(product: Product) -> int:
    """Units of `product` one line may hold right now (0 when it cannot be bought)."""
    availability = product.availability
    if not availability.can_buy:
        return 0
    return min(availability.quantity, max_per_line())


def _check_quantity(product: Product, quantity: int, *, already: int = 0) -> None:
    """Refuse a line of `quantity` units (`already` of them were in the cart before)."""
    availability = product.availability
    if not availability.can_buy:
        raise CartError(
            _("%(name)s is out of stock.", name=quote_name(product.name))
            if availability.code == "out_of_stock"
            else _("%(name)s is no longer available.", name=quote_name(product.name)),
            status=409,
        )
    cap = max_per_line()
    stock = availability.quantity
    if quantity <= min(stock, cap):
        return
    if stock < cap:
        message = ngettext(
            "Only %(num)d of %(name)s is left.",
            "Only %(num)d of %(name)s are left.",
            stock,
            name=quote_name(product.name),
        )
        status = 409
    else:
        message = _(
            "You can order at most %(max)d of %(name)s at a time.",
            max=cap,
            name=quote_name(product.name),
        )
        status = 400
    if already:
        message += " " + ngettext(
            "You already have %(num)d in your cart.",
            "You already have %(num)d in your cart.",
            already,
        )
    raise CartError(message, status=status)


def _problem(product: Product, quantity: int) -> str | None:
    """Why this line cannot be checked out as it is, or None."""
    if not product.is_active:
        return _("No longer available: remove it to check out.")
    stock = product.availability.quantity
    if stock <= 0:
        return _("Out of stock: remove it to check out.")
    if quantity > stock:
        return ngettext(
            "Only %(num)d left: lower the quantity to check out.",
            "Only %(num)d left: lower the quantity to check out.",
            stock,
        )
    if quantity > max_per_line():
        return _("At most %(max)d per order: lower the quantity to check out.", max=max_per_line())
    return None


def line_for(product: Product, quantity: int) -> CartLine:
    """Price one line from the product row (never from the request), at the price in force now
    (the sale price during a sale: services.pricing)."""
    unit_price = product.price_at()
    return CartLine(
        product=product,
        quantity=quantity,
        unit_price_cents=unit_price,
        vat_rate_bp=product.vat_rate_bp,
        line_total_cents=unit_price * quantity,
        availability=product.availability,
        problem=_problem(product, quantity),
        max_quantity=_limit(product),
    )


# --- Finding and creating carts -----------------------------------------------------------------


def _cart_query():
    # One round trip per relationship for the whole cart instead of one per line.
    return select(Cart).options(
        selectinload(Cart.items).selectinload(CartItem.product).selectinload(Product.images)
    )


def reload_cart(session: Session, cart_id: int) -> Cart | None:
    """The cart with its lines and products read again from the database (after a lock)."""
    return session.scalars(
        _cart_query().where(Cart.id == cart_id).execution_options(populate_existing=True)
    ).first()


def find_cart(session: Session, *, user_id: int | None, token: str | None) -> Cart | None:
    """The customer's cart when `user_id` is given, else the guest cart with that token.

    A token only ever finds a guest cart (user_id NULL): an account's cart is reachable through
    the account alone.
    """
    if user_id is not None:
        return session.scalars(_cart_query().where(Cart.user_id == user_id)).first()
    if token:
        return session.scalars(
            _cart_query().where(Cart.token == token, Cart.user_id.is_(None))
        ).first()
    return None


def get_or_create_cart(session: Session, *, user_id: int | None, token: str | None) -> Cart:
    """`find_cart`, or a new empty cart (a guest cart gets a fresh random token; set the cookie).

    Two requests creating the same customer's cart at once: the loser's insert hits the unique
    user_id and it picks up the winner's cart instead (savepoint, the rest of the transaction
    is kept). Guest tokens are 256 random bits: they do not collide, and no savepoint is
    taken for them (on SQLite a savepoint opened outside a transaction commits when released,
    which would keep an empty guest cart after a refused add).
    """
    cart = find_cart(session, user_id=user_id, token=token)
    if cart is not None:
        return cart
    cart = Cart(token=secrets.token_urlsafe(32), user_id=user_id)
    if user_id is None:
        session.add(cart)
        session.flush()
        return cart
    try:
        with session.begin_nested():
            session.add(cart)
    except IntegrityError:
        existing = find_cart(session, user_id=user_id, token=None)
        if existing is None:
            raise
        return existing
    return cart


def _touch(cart: Cart) -> None:
    # Line changes do not update the cart row by themselves; its updated_at is the cart's
    # "last change", which the guest cookie's lifetime and purge_stale_guest_carts go by.
    cart.updated_at = utcnow()


def _item(cart: Cart, product_id: int) -> CartItem | None:
    return next((item for item in cart.items if item.product_id == product_id), None)


# --- Changing a cart ----------------------------------------------------------------------------


def add_item(session: Session, cart: Cart, product_id: object, quantity: object) -> CartLine:
    """Add `quantity` units (or more of an existing line); the line's new total must fit.

    Raises CartError (nothing changed) for an unknown/inactive product, a bad quantity, or a
    total above the stock on sale or the per-line cap.
    """
    product = _load_product(session, product_id)
    quantity = parse_quantity(quantity)
    item = _item(cart, product.id)
    already = item.quantity if item else 0
    _check_quantity(product, already + quantity, already=already)
    if item is None:
        item = CartItem(product=product, quantity=quantity)
        cart.items.append(item)
    else:
        item.quantity = already + quantity
    _touch(cart)
    session.flush()
    return line_for(product, item.quantity)


def set_quantity(session: Session, cart: Cart, product_id: object, quantity: object) -> CartLine:
    """Set a line's quantity. Above the stock on sale is refused with the available amount
    (never silently clamped: the shopper decides). 0 is refused too: removing is explicit."""
    pid = _parse_product_id(product_id)
    item = _item(cart, pid) if pid is not None else None
    if item is None:
        raise CartError(_("This item is not in your cart."), status=404)
    product = item.product
    quantity = parse_quantity(quantity)
    if not product.is_active:
        raise CartError(
            _(
                "%(name)s is no longer available: remove it from your cart.",
                name=quote_name(product.name),
            ),
            status=409,
        )
    _check_quantity(product, quantity)
    item.quantity = quantity
    _touch(cart)
    session.flush()
    return line_for(product, quantity)


def remove_item(session: Session, cart: Cart, product_id: object) -> Product | None:
    """Remove a line; returns its product, or None when it was not (or no longer) in the cart."""
    pid = _parse_product_id(product_id)
    item = _item(cart, pid) if pid is not None else None
    if item is None:
        return None
    product = item.product
    cart.items.remove(item)  # delete-orphan: the row goes at flush
    _touch(cart)
    session.flush()
    return product


def remove_ordered_units(session: Session, cart_id: int, lines: Iterable[tuple[int, int]]) -> None:
    """Take the units an order bought out of the cart it was placed from; flushes.

    Only those units: a line added (or raised) in another tab after checkout started stays in
    the cart. Each line is one atomic UPDATE/DELETE, so a concurrent change by the shopper is
    never overwritten with a stale quantity.
    """
    for product_id, quantity in sorted(lines):
        session.execute(
            delete(CartItem)
            .where(
                CartItem.cart_id == cart_id,
                CartItem.product_id == product_id,
                CartItem.quantity <= quantity,
            )
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
            .values(quantity=CartItem.quantity - quantity)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Cart)
        .where(Cart.id == cart_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    cart = session.identity_map.get(identity_key(Cart, cart_id))
    if cart is not None:
        session.expire(cart)
    session.flush()


def restore_ordered_units(session: Session, cart_id: int, lines: Iterable[tuple[int, int]]) -> None:
    """Put an order's units back into its cart (a delayed payment failed); flushes.

    The shopper finds what they tried to buy where they left it. Atomic per line: added to a
    line still there, or a new line; a cart deleted meanwhile is left alone.
    """
    if session.get(Cart, cart_id) is None:
        return
    for product_id, quantity in sorted(lines):
        result = session.execute(
            update(CartItem)
            .where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)
            .values(quantity=CartItem.quantity + quantity)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 0:
            session.add(CartItem(cart_id=cart_id, product_id=product_id, quantity=quantity))
    session.execute(
        update(Cart)
        .where(Cart.id == cart_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(session.get(Cart, cart_id))


def merge_carts(session: Session, guest_cart: Cart, user_cart: Cart) -> Cart:
    """Move a guest cart's lines into the customer's cart at login, then delete the guest cart.

    Quantities add up, capped by the units on sale and the per-line cap; a line the customer
    already had is never lowered by the merge. Lines for products that cannot be bought any
    more are dropped (they could not be checked out). Returns `user_cart`.
    """
    if guest_cart is user_cart:
        return user_cart
    for guest_item in list(guest_cart.items):
        product = guest_item.product
        item = _item(user_cart, product.id)
        have = item.quantity if item else 0
        wanted = max(have, min(have + guest_item.quantity, _limit(product)))
        if item is not None:
            item.quantity = wanted
        elif wanted > 0:
            user_cart.items.append(CartItem(product=product, quantity=wanted))
    # Orders placed from the guest cart now belong to the account's: paying one takes its units
    # out of the merged cart, and the account's cart keeps one open checkout.
    session.execute(
        update(Order)
        .where(Order.cart_id == guest_cart.id)
        .values(cart_id=user_cart.id)
        .execution_options(synchronize_session=False)
    )
    session.delete(guest_cart)
    _touch(user_cart)
    session.flush()
    return user_cart


def purge_stale_guest_carts(session: Session, *, now: datetime | None = None) -> int:
    """Delete guest carts unchanged for longer than their cookie lives (30 days, plus a day).

    Their cookies have expired, so nobody can reach them any more; customers' carts are kept.
    Returns how many carts were deleted. Bulk deletes (lines first: SQLite does not enforce
    ON DELETE CASCADE here); safe to run any time, e.g. daily from a scheduler.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=COOKIE_MAX_AGE, days=1)
    stale = select(Cart.id).where(Cart.user_id.is_(None), Cart.updated_at < cutoff)
    # SQLite does not apply ON DELETE SET NULL here, and may reuse a deleted cart's id.
    session.execute(
        update(Order)
        .where(Order.cart_id.in_(stale))
        .values(cart_id=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(CartItem)
        .where(CartItem.cart_id.in_(stale))
        .execution_options(synchronize_session=False)
    )
    result = session.execute(
        delete(Cart)
        .where(Cart.user_id.is_(None), Cart.updated_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)


# --- Reading ------------------------------------------------------------------------------------


def summarize(cart: Cart | None) -> CartSummary:
    """Price every line from the database now and flag what would block checkout."""
    if cart is None:
        return CartSummary(lines=[], count=0, subtotal_cents=0)
    lines = [line_for(item.product, item.quantity) for item in cart.items]
    return CartSummary(
        lines=lines,
        count=sum(line.quantity for line in lines),
        subtotal_cents=sum(line.line_total_cents for line in lines),
    )


def shipping_offer(subtotal_cents: int) -> ShippingOffer:
    """Delivery for a cart's subtotal: the cost from `checkout.shipping_for` (the one rule, so
    the cart never promises what checkout would not give) and the amount still missing for free
    delivery (SHIPPING_FREE_THRESHOLD_CENTS; 0 disables it)."""
    quote = shipping_for(subtotal_cents)
    threshold = int(current_app.config.get("SHIPPING_FREE_THRESHOLD_CENTS") or 0)
    if quote.cents == 0 or threshold <= 0:
        return ShippingOffer(
            cents=quote.cents, threshold_cents=max(threshold, 0), remaining_cents=0
        )
    return ShippingOffer(
        cents=quote.cents,
        threshold_cents=threshold,
        remaining_cents=max(threshold - subtotal_cents, 0),
    )


def count_units(session: Session, *, user_id: int | None, token: str | None) -> int:
    """Units in a cart in one query (for the header); 0, and no query, when nothing names a cart."""
    if user_id is not None:
        owner = Cart.user_id == user_id
    elif token:
        owner = (Cart.token == token) & Cart.user_id.is_(None)
    else:
        return 0
    stmt = (
        select(func.coalesce(func.sum(CartItem.quantity), 0))
        .join(Cart, Cart.id == CartItem.cart_id)
        .where(owner)
    )
    return int(session.scalar(stmt) or 0)
