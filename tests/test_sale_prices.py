"""Sale prices that follow the Omnibus rule (issue #12, item 3): the price ledger, the reference
price (lowest price charged in the 30 days before the reduction), sales within their dates,
the money path charging the price in force, cached pages at sale boundaries, the admin form."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import comptoir.services.browse
import comptoir.services.pricing
import models.catalog
from comptoir.extensions import db
from comptoir.services import pricing
from models import AuditLog, Order, OrderStatus, PriceChange, Product, Role
from tests.builders import (
    add_catalogue,
    add_product,
    add_to_cart,
    add_user,
    csrf_from,
    logged_in_client,
    make_product,
    order_for,
    paid_order,
    race,
    session_id_from,
    start_checkout,
)

EN = {"Accept-Language": "en"}


@pytest.fixture
def app_overrides(fake_stripe):
    # The catalogue stamp is normally re-read at most every CATALOG_STAMP_SECONDS when nothing
    # was written; 0 reads it on every request, so the sale-boundary test needs no sleep.
    return {**fake_stripe.settings(), "CATALOG_STAMP_SECONDS": 0}


def _state(product_id: int) -> pricing.SaleState:
    return pricing.SaleState.of(db.session.get(Product, product_id))


def _set_price(product_id: int, cents: int, at: datetime) -> None:
    assert pricing.set_price(
        db.session, product_id, expected=_state(product_id), new_price=cents, actor_id=None, at=at
    )


def _start_sale(product_id: int, cents: int, at: datetime, starts=None, ends=None) -> None:
    assert pricing.start_sale(
        db.session, product_id, expected=_state(product_id), sale_price=cents,
        starts_at=starts, ends_at=ends, actor_id=None, at=at,
    )  # fmt: skip


def _ledger(product_id: int) -> list[tuple[str, int, int | None]]:
    rows = db.session.scalars(
        select(PriceChange).where(PriceChange.product_id == product_id).order_by(PriceChange.id)
    )
    return [(row.kind, row.price_cents, row.previous_cents) for row in rows]


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# --- The ledger --------------------------------------------------------------------------------


def test_every_price_change_is_a_ledger_row_with_an_audit_entry(app):
    with app.app_context():
        pid = make_product("Vase", price_cents=4000).id
        now = datetime.now(UTC)
        _set_price(pid, 4500, now)
        _start_sale(pid, 3600, now, ends=now + timedelta(days=7))
        assert pricing.end_sale(db.session, pid, expected=_state(pid), actor_id=None, at=now)
        db.session.commit()
        assert _ledger(pid) == [
            ("initial", 4000, None),
            ("regular", 4500, 4000),
            ("sale_start", 3600, 4500),
            ("sale_end", 4500, 3600),
        ]
        actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert actions == ["product.price", "product.sale", "product.sale_end"]
        product = db.session.get(Product, pid)
        assert product.sale_price_cents is None and product.price_at() == 4500


def test_a_stale_edit_changes_nothing(app):
    """Compare-and-set: an edit made against prices that changed meanwhile is refused."""
    with app.app_context():
        pid = make_product("Vase", price_cents=4000).id
        seen = _state(pid)
        now = datetime.now(UTC)
        _set_price(pid, 4200, now)  # a colleague's edit
        assert not pricing.start_sale(
            db.session, pid, expected=seen, sale_price=3000, starts_at=None, ends_at=None,
            actor_id=None,
        )  # fmt: skip
        assert not pricing.set_price(db.session, pid, expected=seen, new_price=3900, actor_id=None)
        assert db.session.get(Product, pid).price_cents == 4200
        assert [kind for kind, *_ in _ledger(pid)] == ["initial", "regular"]


# --- The reference price -----------------------------------------------------------------------


def test_reference_is_the_lowest_price_of_the_30_days_before_the_sale(app):
    """40 € for months, 25 € for 5 days 45 days before (too old to count), 35 € for 10 days
    from 20 days before, back to 40 €, then a sale at 30 €: the reference is 35 €."""
    with app.app_context():
        pid = make_product("Plaid", price_cents=4000).id
        sale = datetime.now(UTC) + timedelta(days=100)
        _set_price(pid, 2500, sale - timedelta(days=45))
        _set_price(pid, 4000, sale - timedelta(days=40))
        _set_price(pid, 3500, sale - timedelta(days=20))
        _set_price(pid, 4000, sale - timedelta(days=10))
        _start_sale(pid, 3000, sale)
        product = db.session.get(Product, pid)
        assert pricing.reference_price(db.session, product, sale) == 3500
        tag = pricing.price_tag(db.session, product, sale + timedelta(hours=1))
        assert (tag.price_cents, tag.reference_cents, tag.percent_off) == (3000, 3500, 14)
        assert tag.shows_reduction


def test_a_sale_within_the_30_days_counts_and_a_cancelled_one_does_not(app):
    with app.app_context():
        pid = make_product("Plaid", price_cents=4000).id
        sale = datetime.now(UTC) + timedelta(days=100)
        # Scheduled at 28 € but cancelled before it started: never charged.
        _start_sale(pid, 2800, sale - timedelta(days=29), starts=sale - timedelta(days=20),
                    ends=sale - timedelta(days=15))  # fmt: skip
        assert pricing.end_sale(
            db.session, pid, expected=_state(pid), actor_id=None, at=sale - timedelta(days=25)
        )
        assert pricing.reference_price(db.session, db.session.get(Product, pid), sale) is None
        # A three-day sale at 32 € that did apply, 23 days before the new one.
        _start_sale(pid, 3200, sale - timedelta(days=24), starts=sale - timedelta(days=23),
                    ends=sale - timedelta(days=20))  # fmt: skip
        _start_sale(pid, 3000, sale - timedelta(days=1), starts=sale)
        product = db.session.get(Product, pid)
        assert pricing.reference_price(db.session, product, sale) == 3200


def test_a_reference_not_above_the_sale_price_announces_no_reduction(app):
    with app.app_context():
        pid = make_product("Bougie", price_cents=2000).id
        now = datetime.now(UTC)
        _set_price(pid, 1500, now + timedelta(days=1))
        _set_price(pid, 2000, now + timedelta(days=5))
        _start_sale(pid, 1500, now + timedelta(days=6))
        tag = pricing.price_tag(db.session, db.session.get(Product, pid), now + timedelta(days=7))
        assert tag.on_sale and tag.price_cents == 1500
        assert not tag.shows_reduction and tag.percent_off is None


def test_changing_only_the_end_of_a_running_sale_keeps_its_reference(app):
    with app.app_context():
        pid = make_product("Plaid", price_cents=4000).id
        start = datetime.now(UTC) + timedelta(days=40)
        _set_price(pid, 3800, start - timedelta(days=5))
        _start_sale(pid, 3000, start, ends=start + timedelta(days=7))
        _start_sale(pid, 3000, start + timedelta(days=3), ends=start + timedelta(days=14))
        product = db.session.get(Product, pid)
        assert product.sale_starts_at == start
        assert pricing.reference_price(db.session, product, start + timedelta(days=10)) == 3800


# --- A sale applies within its dates -----------------------------------------------------------


def test_a_sale_applies_only_between_its_start_and_its_end(app):
    with app.app_context():
        pid = make_product("Plaid", price_cents=4000).id
        now = datetime.now(UTC)
        _start_sale(pid, 3000, now, starts=now + timedelta(days=1), ends=now + timedelta(days=3))
        product = db.session.get(Product, pid)
        assert pricing.current_price(product, now) == 4000
        assert pricing.current_price(product, now + timedelta(days=1)) == 3000
        assert pricing.current_price(product, now + timedelta(days=2, hours=23)) == 3000
        assert pricing.current_price(product, now + timedelta(days=3)) == 4000


def test_sale_rules_are_refused_with_a_message(app):
    with app.app_context():
        pid = make_product("Plaid", price_cents=4000).id
        now = datetime.now(UTC)
        for cents, starts, ends, field in (
            (4000, None, None, "sale_price"),
            (0, None, None, "sale_price"),
            (3000, now + timedelta(days=2), now + timedelta(days=1), "sale_ends_at"),
            (3000, None, now - timedelta(hours=1), "sale_ends_at"),
        ):
            with pytest.raises(pricing.PricingError) as error:
                _start_sale(pid, cents, now, starts=starts, ends=ends)
            assert error.value.field == field
        _start_sale(pid, 3000, now)
        with pytest.raises(pricing.PricingError):  # the price may not fall to the sale price
            _set_price(pid, 3000, now)


def test_the_database_refuses_a_sale_price_not_below_the_price(app):
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        product = make_product("Plaid", price_cents=4000)
        db.session.commit()
        product.sale_price_cents = 4000
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# --- The money path ----------------------------------------------------------------------------


def _on_sale(app, pid: int, cents: int, **dates) -> None:
    with app.app_context():
        at = dates.pop("at", None) or datetime.now(UTC)
        _start_sale(pid, cents, at, **dates)
        db.session.commit()


def _end_sale(app, pid: int) -> None:
    with app.app_context():
        assert pricing.end_sale(db.session, pid, expected=_state(pid), actor_id=None)
        db.session.commit()


def test_an_order_during_a_sale_charges_the_sale_price_and_after_it_the_regular_price(
    app, fake_stripe
):
    pid = add_product(app, "Plaid", price_cents=4000, stock=10)
    _on_sale(app, pid, 3000)
    during = order_for(app, paid_order(app.test_client(), fake_stripe, pid, 2))
    assert during.status == OrderStatus.PAID.value
    assert [(i.unit_price_cents, i.line_total_cents) for i in during.items] == [(3000, 6000)]
    (create,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    assert create.params["line_items"][0]["price_data"]["unit_amount"] == "3000"

    _end_sale(app, pid)
    after = order_for(app, paid_order(app.test_client(), fake_stripe, pid, 1))
    assert after.status == OrderStatus.PAID.value
    assert after.items[0].unit_price_cents == 4000


def test_a_sale_ended_on_schedule_charges_the_regular_price(app, fake_stripe):
    pid = add_product(app, "Plaid", price_cents=4000, stock=10)
    now = datetime.now(UTC)
    _on_sale(app, pid, 3000, at=now - timedelta(days=2), ends=now - timedelta(minutes=1))
    order = order_for(app, paid_order(app.test_client(), fake_stripe, pid, 1))
    assert order.items[0].unit_price_cents == 4000 and order.status == OrderStatus.PAID.value


def test_a_sale_ending_between_cart_and_checkout_charges_the_price_at_checkout(app, fake_stripe):
    pid = add_product(app, "Plaid", price_cents=4000, stock=10)
    _on_sale(app, pid, 3000)
    client = app.test_client()
    add_to_cart(client, pid, 1)
    assert "€30.00" in _text(client.get("/cart", headers=EN))
    _end_sale(app, pid)
    assert "€40.00" in _text(client.get("/cart", headers=EN))
    session_id = session_id_from(start_checkout(client))
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        assert order.items[0].unit_price_cents == 4000
        assert order.total_cents == 4000 + order.shipping_cents
    assert session_id


# --- The catalogue -----------------------------------------------------------------------------


class Clock:
    """Moves the shop's clock (prices in force and the catalogue stamp), not the real one."""

    def __init__(self, monkeypatch):
        self.now = datetime.now(UTC)
        for module in (models.catalog, comptoir.services.pricing, comptoir.services.browse):
            monkeypatch.setattr(module, "utcnow", lambda: self.now)


def _price_block(page: str) -> str:
    match = re.search(r'<p class="product__price[^"]*">(.*?)</p>', page, re.S)
    assert match, page[:2000]
    text = html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))
    return re.sub(r"\s+", " ", text).strip()


def _offer_price(page: str) -> str:
    for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S):
        data = json.loads(block)
        for item in data if isinstance(data, list) else [data]:
            if item.get("@type") == "Product":
                return item["offers"]["price"]
    raise AssertionError("no Product JSON-LD")


def test_cached_product_page_follows_a_scheduled_sale_without_any_write(app, monkeypatch):
    ids = add_catalogue(app, [{"name": "Plaid", "price_cents": 4000, "category": "Textile"}])
    clock = Clock(monkeypatch)
    _on_sale(app, ids["Plaid"], 3000, at=clock.now,
             starts=clock.now + timedelta(hours=1), ends=clock.now + timedelta(hours=2))  # fmt: skip
    client = app.test_client()
    before = client.get("/products/plaid", headers=EN)
    assert _price_block(before.get_data(as_text=True)) == "€40.00 VAT incl."

    clock.now += timedelta(minutes=90)
    during = client.get("/products/plaid", headers=EN)
    html = during.get_data(as_text=True)
    assert during.headers.get("ETag") != before.headers.get("ETag")
    assert _price_block(html) == (
        "Sale price: €30.00 Reference price: €40.00 Reduction: −25 % VAT incl."
    )
    assert "<s>€40.00</s>" in html
    assert _offer_price(html) == "30.00"
    assert "price--sale" in client.get("/products", headers=EN).get_data(as_text=True)

    clock.now += timedelta(hours=1)
    after = client.get("/products/plaid", headers=EN).get_data(as_text=True)
    assert _price_block(after) == "€40.00 VAT incl."
    assert _offer_price(after) == "40.00"


def test_price_filter_and_sort_use_the_price_in_force(app):
    add_catalogue(
        app,
        [
            {"name": "Plaid", "price_cents": 4000, "category": "Textile"},
            {"name": "Nappe", "price_cents": 3500, "category": "Textile"},
        ],
    )
    with app.app_context():
        plaid = db.session.scalar(select(Product.id).where(Product.name == "Plaid"))
    _on_sale(app, plaid, 3000)
    client = app.test_client()
    page = client.get("/products?sort=price_asc", headers=EN).get_data(as_text=True)
    assert page.index(">Plaid<") < page.index(">Nappe<")
    page = client.get("/products?max_price=32", headers=EN).get_data(as_text=True)
    assert ">Plaid<" in page and ">Nappe<" not in page


# --- The admin ---------------------------------------------------------------------------------


def _sale_form(staff, pid: int) -> dict:
    html = staff.get(f"/admin/products/{pid}/edit").get_data(as_text=True)
    state = re.search(r'name="state" type="hidden" value="([0-9a-f]+)"', html) or re.search(
        r'type="hidden" name="state" value="([0-9a-f]+)"', html
    )
    assert state, html[:3000]
    return {"csrf_token": csrf_from(html), "state": state.group(1)}


def test_staff_set_a_sale_see_its_reference_and_the_history(app, staff):
    pid = add_product(app, "Plaid", price_cents=4000)
    response = staff.post(
        f"/admin/products/{pid}/sale",
        data={**_sale_form(staff, pid), "sale_price": "30,00", "starts_at": "",
              "ends_at": "2099-01-31T18:00"},
    )  # fmt: skip
    assert response.status_code == 303, _text(response)[:3000]
    with app.app_context():
        product = db.session.get(Product, pid)
        assert product.sale_price_cents == 3000
        # 18:00 in Paris in winter is 17:00 UTC.
        assert product.sale_ends_at == datetime(2099, 1, 31, 17, 0, tzinfo=UTC)
        assert [kind for kind, *_ in _ledger(pid)] == ["initial", "sale_start"]
    page = _text(staff.get(f"/admin/products/{pid}/edit"))
    assert "Reference price (lowest of the 30 days before the sale)" in page
    assert "€40.00 (−25&nbsp;%)" in page or "€40.00 (−25" in page
    assert "Sale set" in page and "Opening price" in page
    assert 'value="2099-01-31T18:00"' in page

    form = _sale_form(staff, pid)
    assert staff.post(f"/admin/products/{pid}/sale/end", data=form).status_code == 303
    with app.app_context():
        assert db.session.get(Product, pid).sale_price_cents is None
        assert [kind for kind, *_ in _ledger(pid)][-1] == "sale_end"


def test_the_regular_price_edit_goes_through_the_ledger_and_stays_above_the_sale(app, staff):
    pid = add_product(app, "Vase", price_cents=4500)
    _on_sale(app, pid, 4000)
    url = f"/admin/products/{pid}/edit"
    base = {"name": "Vase", "slug": "vase", "vat_rate_bp": "2000", "category_id": "0",
            "low_stock_threshold": "", "is_active": "y", "description": ""}  # fmt: skip
    html = staff.get(url).get_data(as_text=True)
    response = staff.post(url, data={**base, "csrf_token": csrf_from(html), "price": "39,00"})
    assert response.status_code == 422
    assert "the price must stay above the sale price" in _text(response)
    response = staff.post(url, data={**base, "csrf_token": csrf_from(html), "price": "49,00"})
    assert response.status_code == 303
    with app.app_context():
        assert _ledger(pid)[-1] == ("regular", 4900, 4500)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sale_price": "45,00"}, "The sale price must be below the regular price."),
        ({"sale_price": "0"}, "The sale price must be above zero."),
        ({"sale_price": "-5"}, "Enter a price in euros with at most two decimals"),
        ({"sale_price": "12.345"}, "Enter a price in euros with at most two decimals"),
        ({"sale_price": "9" * 30}, "Enter a price in euros with at most two decimals"),
        ({"sale_price": "1e3"}, "Enter a price in euros with at most two decimals"),
        ({"sale_price": ""}, "This field is required."),
        (
            {"sale_price": "30", "starts_at": "2099-02-01T10:00", "ends_at": "2099-01-01T10:00"},
            "The sale must end after it starts.",
        ),
        (
            {"sale_price": "30", "ends_at": "2001-01-01T10:00"},
            "The end of the sale is already past.",
        ),
        ({"sale_price": "30", "starts_at": "demain"}, "Enter a date and time"),
        ({"sale_price": "30", "starts_at": "99999-01-01T10:00"}, "Enter a date and time"),
        ({"sale_price": "30", "ends_at": "2099-13-45T99:99"}, "Enter a date and time"),
    ],
)
def test_bad_sale_input_gets_a_clear_message_never_a_500(app, staff, fields, message):
    pid = add_product(app, "Plaid", price_cents=4000)
    response = staff.post(
        f"/admin/products/{pid}/sale",
        data={**_sale_form(staff, pid), "starts_at": "", "ends_at": "", **fields},
    )
    assert response.status_code == 422
    assert message in _text(response)
    with app.app_context():
        assert db.session.get(Product, pid).sale_price_cents is None


def test_hostile_sale_input_is_refused_with_a_4xx(app, staff):
    pid = add_product(app, "Plaid", price_cents=4000)
    for fields in ({"sale_price": "30\x00"}, {"sale_price": "30", "ends_at": "2099\x00"},
                   {"sale_price": "3" * 5000}, {"sale_price": "30", "state": "\u202e" * 50}):  # fmt: skip
        response = staff.post(
            f"/admin/products/{pid}/sale", data={**_sale_form(staff, pid), **fields}
        )
        assert 400 <= response.status_code < 500, fields


def test_a_sale_form_built_on_outdated_prices_is_refused(app, staff):
    pid = add_product(app, "Plaid", price_cents=4000)
    form = _sale_form(staff, pid)
    with app.app_context():
        _set_price(pid, 4200, datetime.now(UTC))
        db.session.commit()
    response = staff.post(
        f"/admin/products/{pid}/sale",
        data={**form, "sale_price": "30", "starts_at": "", "ends_at": ""},
    )
    assert response.status_code == 409
    assert "changed meanwhile" in _text(response)
    with app.app_context():
        assert db.session.get(Product, pid).sale_price_cents is None


@pytest.mark.postgresql_only
def test_concurrent_sale_edits_apply_exactly_one(app, test_routes):
    clients = [
        logged_in_client(app, add_user(app, Role.STAFF, f"staff{n}@example.com")) for n in range(4)
    ]
    pid = add_product(app, "Plaid", price_cents=4000)
    forms = [_sale_form(client, pid) for client in clients]

    def post(client, form, euros):
        def call():
            data = {**form, "sale_price": str(euros), "starts_at": "", "ends_at": ""}
            return client.post(f"/admin/products/{pid}/sale", data=data).status_code, euros

        return call

    results = race(
        [post(c, f, 30 + n) for n, (c, f) in enumerate(zip(clients, forms, strict=True))]
    )
    winners = [euros for status, euros in results if status == 303]
    assert len(winners) == 1 and sorted(s for s, _ in results) == [303, 409, 409, 409]
    with app.app_context():
        assert db.session.get(Product, pid).sale_price_cents == winners[0] * 100
        assert [kind for kind, *_ in _ledger(pid)] == ["initial", "sale_start"]
