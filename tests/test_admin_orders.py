"""Staff orders: finding orders, reading one, moving it along, notes, CSV, packing slip."""

from __future__ import annotations

import csv
import io
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests as http
from sqlalchemy import create_engine, select, text

from comptoir.config import PROJECT_ROOT
from comptoir.extensions import db
from comptoir.money import parse_euros
from comptoir.services import order_admin
from comptoir.services.order_listing import PER_PAGE
from models import (
    AuditLog,
    Order,
    OrderEvent,
    Product,
    ReservationStatus,
    StockReservation,
    StripeEvent,
    utcnow,
)
from tests.builders import (
    add_order,
    csrf_from,
    csrf_token,
    make_order,
    make_product,
    outbox,
    race,
    stock_of,
)


def _status(app, number: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Order.status).where(Order.number == number))


def _events(app, number: str) -> list[OrderEvent]:
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == number))
        return db.session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        ).all()


def _audits(app, action: str) -> list[AuditLog]:
    with app.app_context():
        return db.session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        ).all()


def _post(client, url: str, data: dict, **kwargs):
    token = csrf_token(client, "/admin/orders")
    return client.post(url, data={"csrf_token": token, **data}, **kwargs)


def _refund_form(client, number: str) -> dict:
    """The hidden fields of the order page's refund form, as a browser would send them."""
    html = client.get(f"/admin/orders/{number}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert key, "no refund form on the page"
    return {"csrf_token": csrf_from(html), "idempotency_key": key.group(1)}


def _refund(client, number: str, data: dict, **kwargs):
    """Post the order page's refund form (a fresh page load, so a fresh one-time key)."""
    return client.post(
        f"/admin/orders/{number}/refund", data={**_refund_form(client, number), **data}, **kwargs
    )


# --- List, filters, search, fragment --------------------------------------------------------


def test_order_list_shows_newest_first(app, staff):
    now = utcnow()
    add_order(app, "CMD-OLD", created_at=now - timedelta(days=3))
    add_order(app, "CMD-NEW", created_at=now - timedelta(hours=1))
    add_order(app, "CMD-MID", created_at=now - timedelta(days=1))

    html = staff.get("/admin/orders").get_data(as_text=True)

    assert html.index("CMD-NEW") < html.index("CMD-MID") < html.index("CMD-OLD")
    assert "3 orders" in html


def test_status_filter_keeps_only_that_status(app, staff):
    add_order(app, "CMD-PAID", status="paid")
    add_order(app, "CMD-SHIP", status="shipped", carrier="DHL", tracking_number="1")
    add_order(app, "CMD-WAIT", status="pending_payment")

    html = staff.get("/admin/orders?status=shipped").get_data(as_text=True)

    assert "CMD-SHIP" in html
    assert "CMD-PAID" not in html and "CMD-WAIT" not in html


def test_search_finds_orders_by_email_or_number(app, staff):
    add_order(app, "CMD-1001", email="alice@example.com")
    add_order(app, "CMD-2002", email="bob@example.org")

    by_email = staff.get("/admin/orders?q=ALICE@").get_data(as_text=True)
    by_number = staff.get("/admin/orders?q=2002").get_data(as_text=True)
    no_wildcards = staff.get("/admin/orders?q=%25").get_data(as_text=True)

    assert "CMD-1001" in by_email and "CMD-2002" not in by_email
    assert "CMD-2002" in by_number and "CMD-1001" not in by_number
    assert "No order matches these filters." in no_wildcards


def test_date_range_counts_whole_days_in_the_shop_time_zone(app, staff):
    # 23:30 UTC on 9 March is already 10 March in Paris (UTC+1 in winter).
    add_order(app, "CMD-LATE", created_at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    add_order(app, "CMD-DAY9", created_at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    add_order(app, "CMD-DAY12", created_at=datetime(2026, 3, 12, 10, 0, tzinfo=UTC))

    html = staff.get("/admin/orders?date_from=2026-03-10&date_to=2026-03-11").get_data(as_text=True)
    only_from = staff.get("/admin/orders?date_from=2026-03-12").get_data(as_text=True)

    assert "CMD-LATE" in html
    assert "CMD-DAY9" not in html and "CMD-DAY12" not in html
    assert "CMD-DAY12" in only_from and "CMD-LATE" not in only_from


def test_invalid_filters_are_ignored_with_a_note(app, staff):
    add_order(app, "CMD-1")

    response = staff.get("/admin/orders?date_from=10/03/2026&status=teleported")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "CMD-1" in html
    assert "is not a date (YYYY-MM-DD): ignored." in html
    assert "Unknown status" in html


def test_htmx_filter_gets_only_the_results_fragment(app, staff):
    add_order(app, "CMD-PAID", status="paid")
    add_order(app, "CMD-WAIT", status="pending_payment")

    response = staff.get("/admin/orders?status=paid", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in html and "<h1" not in html
    assert "CMD-PAID" in html and "CMD-WAIT" not in html
    # The same URL without htmx is the whole page, with the filter form.
    page = staff.get("/admin/orders?status=paid").get_data(as_text=True)
    assert "<h1>" in page and 'hx-push-url="true"' in page and "CMD-PAID" in page


def test_long_lists_are_paginated_and_keep_filters_in_page_links(app, staff):
    with app.app_context():
        product = make_product(stock=0)
        base = utcnow()
        for n in range(PER_PAGE + 2):
            make_order(f"CMD-{n:03d}", lines=[(product, 1)], created_at=base + timedelta(minutes=n))
        db.session.commit()

    first = staff.get("/admin/orders?status=paid").get_data(as_text=True)
    second = staff.get("/admin/orders?status=paid&page=2").get_data(as_text=True)

    assert "CMD-051" in first and "CMD-000" not in first
    assert "CMD-000" in second and "CMD-051" not in second
    assert "status=paid&amp;page=2" in first or "page=2&amp;status=paid" in first


# --- CSV export -----------------------------------------------------------------------------


def test_csv_export_has_one_row_per_filtered_order_with_euro_amounts(app, staff):
    with app.app_context():
        bowl = make_product("Bol", price_cents=2800)
        make_order("CMD-A", lines=[(bowl, 2)], status="shipped", carrier="Colissimo",
                   tracking_number="6A123", refunded_cents=1250)  # fmt: skip
        make_order("CMD-B", status="pending_payment")
        db.session.commit()

    response = staff.get("/admin/orders/export.csv?status=shipped")
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0][0] == "Number" and rows[0][-1] == "Tracking number"
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Number"] == "CMD-A"
    assert row["Status"] == "shipped"
    assert row["Items"] == "2"
    assert row["Total (EUR)"] == "61.90"  # 2 × 28,00 + 5,90 shipping
    assert row["Refunded (EUR)"] == "12.50"
    assert row["Carrier"] == "Colissimo" and row["Tracking number"] == "6A123"
    assert row["Shipping method"] == "Colissimo domicile"
    assert len(_audits(app, "order.export")) == 1


def test_csv_export_neutralises_spreadsheet_formulas(app, staff):
    add_order(app, "CMD-X", customer_name='=HYPERLINK("http://evil.example","Cliquez")',
           email="+33@example.com")  # fmt: skip

    body = staff.get("/admin/orders/export.csv").get_data(as_text=True)
    row = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))[1]

    assert row[4] == '\'=HYPERLINK("http://evil.example","Cliquez")'
    assert row[3] == "'+33@example.com"


# --- Order page -----------------------------------------------------------------------------


def test_order_page_shows_lines_totals_vat_address_and_payment_ids(app, staff):
    with app.app_context():
        bowl = make_product("Bol émaillé", price_cents=2800)
        candle = make_product("Bougie", price_cents=1500)
        make_order("CMD-42", lines=[(bowl, 2), (candle, 1)])
        db.session.commit()

    html = staff.get("/admin/orders/CMD-42").get_data(as_text=True)

    assert "Bol émaillé" in html and "Bougie" in html
    assert "€76.90" in html  # 56 + 15 + 5.90 shipping, English locale by default
    assert "VAT breakdown" in html and "20\u00a0%" in html
    assert "12 rue des Potiers" in html and "69001 Lyon" in html
    assert "cs_test_CMD-42" in html and "pi_test_CMD-42" in html
    assert "claire@example.com" in html


def test_order_page_warns_about_disputes_and_problems(app, staff):
    add_order(app, "CMD-D", disputed=True, needs_attention="Amount paid differs from the total")

    html = staff.get("/admin/orders/CMD-D").get_data(as_text=True)

    assert "disputed this payment" in html
    assert "Amount paid differs from the total" in html


def test_staff_mark_a_problem_as_handled_and_it_stays_in_the_timeline(app, staff, staff_id):
    add_order(app, "CMD-D", needs_attention="Amount paid differs from the total")

    response = _post(staff, "/admin/orders/CMD-D/attention", {})
    again = _post(staff, "/admin/orders/CMD-D/attention", {})

    assert response.status_code == 303 and again.status_code == 409
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-D"))
        assert order.needs_attention is None
    [event] = _events(app, "CMD-D")
    assert event.kind == "attention_resolved" and event.actor_id == staff_id
    assert "Amount paid differs" in event.message
    [entry] = _audits(app, "order.resolve_attention")
    assert entry.before == {"needs_attention": "Amount paid differs from the total"}


def test_unknown_order_is_404(staff):
    assert staff.get("/admin/orders/NOPE").status_code == 404
    assert staff.get("/admin/orders/NOPE/packing-slip").status_code == 404


def test_timeline_merges_events_in_time_order_with_actor_names(app, staff, staff_id):
    start = utcnow() - timedelta(hours=5)
    with app.app_context():
        order = make_order("CMD-T")
        db.session.add_all(
            [
                OrderEvent(order_id=order.id, kind="note", message="Gift wrap please",
                           actor_id=staff_id, created_at=start + timedelta(hours=3)),
                OrderEvent(order_id=order.id, kind="payment", message="Payment received",
                           created_at=start + timedelta(hours=1)),
                # A webhook event already told by an OrderEvent is shown once, not twice.
                OrderEvent(order_id=order.id, kind="refund", message="Refund succeeded",
                           data={"stripe_event_id": "evt_told"},
                           created_at=start + timedelta(hours=4)),
                StripeEvent(id="evt_told", type="charge.refunded", object_id="pi_test_CMD-T",
                            received_at=start + timedelta(hours=4)),
                StripeEvent(id="evt_1", type="checkout.session.completed",
                            object_id="cs_test_CMD-T", received_at=start + timedelta(hours=2)),
                StripeEvent(id="evt_other", type="checkout.session.completed",
                            object_id="cs_test_SOMEONE_ELSE", received_at=start),
            ]
        )  # fmt: skip
        db.session.commit()

    html = staff.get("/admin/orders/CMD-T").get_data(as_text=True)
    timeline = html[html.index('id="timeline"') :]

    positions = [
        timeline.index("Payment received"),
        timeline.index("checkout.session.completed"),
        timeline.index("Gift wrap please"),
        timeline.index("Refund succeeded"),
    ]
    assert positions == sorted(positions)
    assert "Marie Atelier" in timeline
    assert "charge.refunded" not in timeline
    assert timeline.count("checkout.session.completed") == 1


# --- Status changes -------------------------------------------------------------------------


def test_paid_order_is_prepared_shipped_then_delivered(app, staff, staff_id):
    add_order(app, "CMD-9", locale="en")

    r1 = _post(staff, "/admin/orders/CMD-9/status", {"status": "preparing"})
    shipping = {"status": "shipped", "carrier": "Colissimo", "tracking_number": "6A 123/45"}
    r2 = _post(staff, "/admin/orders/CMD-9/status", shipping)
    shipped_page = staff.get(r2.headers["Location"]).get_data(as_text=True)
    r3 = _post(staff, "/admin/orders/CMD-9/status", {"status": "delivered"})

    assert [r.status_code for r in (r1, r2, r3)] == [303, 303, 303]
    assert "the customer was emailed" in shipped_page
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-9"))
        assert order.status == "delivered"
        assert order.carrier == "Colissimo" and order.tracking_number == "6A 123/45"
        assert order.shipped_at is not None and order.delivered_at >= order.shipped_at
    events = [e for e in _events(app, "CMD-9") if e.kind == "status"]
    assert [(e.kind, e.data["to"], e.actor_id) for e in events] == [
        ("status", "preparing", staff_id),
        ("status", "shipped", staff_id),
        ("status", "delivered", staff_id),
    ]
    audits = _audits(app, "order.status")
    assert [(a.before["status"], a.after["status"]) for a in audits] == [
        ("paid", "preparing"),
        ("preparing", "shipped"),
        ("shipped", "delivered"),
    ]
    assert audits[1].after["tracking_number"] == "6A 123/45" and audits[0].actor_id == staff_id
    assert audits[1].object_id == "CMD-9"


def test_shipping_emails_the_customer_with_carrier_and_tracking_link(app, staff):
    add_order(app, "CMD-S", status="preparing", email="claire@example.com", locale="en")

    _post(staff, "/admin/orders/CMD-S/status",
          {"status": "shipped", "carrier": "La Poste", "tracking_number": "6A12345"})  # fmt: skip

    [message] = outbox(app)
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert message["To"] == "claire@example.com"
    assert _events(app, "CMD-S")[-1].kind == "email_sent"  # on the order's timeline, once sent
    assert "CMD-S" in message["Subject"]
    assert "La Poste" in body and "6A12345" in body
    assert "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345" in body
    assert "2 × Produit CMD-S" in body
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345"' in html


@pytest.mark.parametrize(
    ("carrier", "expected"),
    [
        ("Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code=AB%2F1"),
        ("chronopost", "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT=AB%2F1"),
        ("Mondial Relay", "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition=AB%2F1"),
        ("DHL", "https://www.dhl.com/fr-fr/home/tracking/tracking-parcel.html?submit=1&tracking-id=AB%2F1"),
        ("UPS", "https://www.ups.com/track?loc=fr_FR&tracknum=AB%2F1"),
        ("Coursier du coin", None),
    ],
)  # fmt: skip
def test_tracking_links_for_known_carriers(carrier, expected):
    assert order_admin.tracking_url(carrier, "AB/1") == expected


def test_shipping_without_tracking_number_is_refused_and_changes_nothing(app, staff):
    add_order(app, "CMD-S", status="preparing")

    response = _post(staff, "/admin/orders/CMD-S/status",
                     {"status": "shipped", "carrier": "DHL", "tracking_number": " "})  # fmt: skip

    assert response.status_code == 400
    assert "Enter the carrier and the tracking number" in response.get_data(as_text=True)
    assert 'value="DHL"' in response.get_data(as_text=True)  # what was typed is kept
    assert _status(app, "CMD-S") == "preparing"
    assert _events(app, "CMD-S") == [] and outbox(app) == []


@pytest.mark.parametrize(
    ("current", "target", "reason"),
    [
        ("paid", "shipped", "cannot become"),
        ("paid", "delivered", "cannot become"),
        ("paid", "cancelled", "refund it instead"),
        ("preparing", "cancelled", "refund it instead"),
        ("shipped", "preparing", "cannot become"),
        ("delivered", "shipped", "cannot become"),
        ("pending_payment", "preparing", "cannot become"),
        ("cancelled", "preparing", "cannot become"),
        ("refunded", "shipped", "cannot become"),
        ("preparing", "preparing", "already"),
    ],
)
def test_transitions_off_the_path_are_refused_with_the_reason(app, staff, current, target, reason):
    add_order(app, "CMD-R", status=current)
    data = {"status": target, "carrier": "DHL", "tracking_number": "123"}

    response = _post(staff, "/admin/orders/CMD-R/status", data)

    assert response.status_code == 409
    assert reason in response.get_data(as_text=True)
    assert _status(app, "CMD-R") == current
    assert _events(app, "CMD-R") == [] and _audits(app, "order.status") == []


def test_unknown_status_value_is_a_bad_request(app, staff):
    add_order(app, "CMD-U")

    response = _post(staff, "/admin/orders/CMD-U/status", {"status": "paid"})

    assert response.status_code == 400
    assert "Choose a valid status" in response.get_data(as_text=True)
    assert _status(app, "CMD-U") == "paid"


def test_status_change_on_unknown_order_is_404(staff):
    assert _post(staff, "/admin/orders/NOPE/status", {"status": "preparing"}).status_code == 404


def test_cancelling_an_unpaid_order_puts_reserved_units_back_on_sale(app, staff):
    with app.app_context():
        product = make_product("Vase", stock=5)
        product_id = product.id
        make_order("CMD-C", lines=[(product, 2)], status="pending_payment", reserve=True)
        db.session.commit()
        assert db.session.get(Product, product_id).stock_quantity == 3

    response = _post(staff, "/admin/orders/CMD-C/status", {"status": "cancelled"})

    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Product, product_id).stock_quantity == 5
        reservation = db.session.scalar(select(StockReservation))
        assert reservation.status == ReservationStatus.RELEASED.value
        order = db.session.scalar(select(Order).where(Order.number == "CMD-C"))
        assert order.status == "cancelled" and order.cancelled_at is not None
    [event] = _events(app, "CMD-C")
    assert event.data["released"] == [{"product_id": product_id, "quantity": 2}]
    assert _audits(app, "order.status")[0].after["status"] == "cancelled"


def test_a_missing_csrf_token_is_refused(app, staff):
    add_order(app, "CMD-1")

    response = staff.post("/admin/orders/CMD-1/status", data={"status": "preparing"})
    note = staff.post("/admin/orders/CMD-1/notes", data={"note": "hello"})

    assert response.status_code == 400 and note.status_code == 400
    assert _status(app, "CMD-1") == "paid"
    assert _events(app, "CMD-1") == []


@pytest.mark.postgresql_only
def test_two_staff_changing_one_order_at_once_make_one_change(app, staff_id, database_url):
    """While one transaction holds the order (another staff member mid-change), a second change
    waits for the lock, then re-reads the status and refuses instead of writing over it."""
    add_order(app, "CMD-RACE", status="paid")
    engine = create_engine(database_url)
    holder = engine.connect()
    holder.begin()
    holder.execute(text("SELECT id FROM orders WHERE number = 'CMD-RACE' FOR UPDATE"))
    holder.execute(text("UPDATE orders SET status = 'preparing' WHERE number = 'CMD-RACE'"))
    outcome: dict = {}

    def second_staff():
        with app.test_request_context():
            try:
                order_admin.change_status(db.session, "CMD-RACE", "preparing", actor_id=staff_id)
                db.session.commit()
                outcome["result"] = "changed"
            except order_admin.OrderActionError as error:
                db.session.rollback()
                outcome["result"] = error.status_code
            finally:
                db.session.remove()

    worker = threading.Thread(target=second_staff)
    worker.start()
    worker.join(timeout=1)
    assert worker.is_alive(), "the second change should wait for the row lock"
    holder.commit()
    worker.join(timeout=10)
    holder.close()
    engine.dispose()

    assert outcome["result"] == 409
    assert _status(app, "CMD-RACE") == "preparing"
    assert _events(app, "CMD-RACE") == []


# --- Notes ----------------------------------------------------------------------------------


def test_staff_note_is_added_to_the_timeline_with_its_author(app, staff, staff_id):
    add_order(app, "CMD-N")

    response = _post(staff, "/admin/orders/CMD-N/notes", {"note": "Client called: leave at door"})
    page = staff.get("/admin/orders/CMD-N").get_data(as_text=True)

    assert response.status_code == 303
    [event] = _events(app, "CMD-N")
    assert (event.kind, event.message, event.actor_id) == (
        "note", "Client called: leave at door", staff_id,
    )  # fmt: skip
    assert "Client called: leave at door" in page and "Marie Atelier" in page
    assert _audits(app, "order.note")[0].after == {"note": "Client called: leave at door"}


def test_an_empty_note_is_refused(app, staff):
    add_order(app, "CMD-N")

    response = _post(staff, "/admin/orders/CMD-N/notes", {"note": "   "})

    assert response.status_code == 400
    assert "Write a note" in response.get_data(as_text=True)
    assert _events(app, "CMD-N") == []


# --- Packing slip ---------------------------------------------------------------------------


def test_packing_slip_lists_quantities_without_prices(app, staff):
    with app.app_context():
        make_order("CMD-P", lines=[(make_product("Plaid en laine", price_cents=8900), 3)])
        db.session.commit()

    response = staff.get("/admin/orders/CMD-P/packing-slip")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Packing slip" in html and "CMD-P" in html and "Comptoir" in html
    assert "Plaid en laine" in html and '<td class="num">3</td>' in html
    assert "12 rue des Potiers" in html and "Claire Dupont" in html
    assert "€89" not in html and "89.00" not in html  # no price on the slip
    assert "Notes" in html


def test_print_stylesheet_hides_the_admin_navigation():
    css = (PROJECT_ROOT / "static/css/admin.css").read_text()
    print_rules = css[css.index("@media print") :]
    assert ".admin-header" in print_rules and "display: none" in print_rules


# --- Money input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("12,50", 1250), ("12.5", 1250), ("12", 1200), (" 1 234,56 € ", 123456), ("0,01", 1)],
)
def test_refund_amounts_are_read_as_euros(typed, cents):
    assert parse_euros(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "-5", "12,345", "1e3", "NaN", "Infinity", "9" * 40])
def test_nonsense_refund_amounts_are_rejected(typed):
    with pytest.raises(ValueError):
        parse_euros(typed)


def test_a_zero_refund_is_refused_with_a_reason(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe)
    response = _refund(staff, "CMD-FS", {"amount": "0,00"})
    assert response.status_code == 400
    assert "is not an amount in euros" in response.get_data(as_text=True)
    assert fake_stripe.requests("POST", "/v1/refunds") == []


# --- Refunds --------------------------------------------------------------------------------
# Without a Stripe key the tests' configuration uses the shop's keyless test gateway (refunds
# succeed at once, no network); the fake-Stripe test below goes through stripe-python.


def _paid_order_with_two_bowls(app, number: str = "CMD-RF") -> tuple[int, int]:
    """A paid order: 2 × 28,00 € + 5,90 € shipping = 61,90 €. Returns (product id, item id)."""
    with app.app_context():
        bowl = make_product("Bol", stock=3, price_cents=2800)
        order = make_order(number, lines=[(bowl, 2)])
        db.session.commit()
        return bowl.id, order.items[0].id


def test_partial_refund_in_euros_restocks_only_the_chosen_units(app, staff, staff_id):
    product_id, item_id = _paid_order_with_two_bowls(app)

    form = {"amount": "28,00", f"restock_{item_id}": "1", "reason": "Bol fêlé"}
    response = _refund(staff, "CMD-RF", form)
    page = staff.get("/admin/orders/CMD-RF").get_data(as_text=True)

    assert response.status_code == 303
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-RF"))
        [refund] = order.refunds
        assert (refund.amount_cents, refund.reason, refund.created_by_id) == (
            2800,
            "Bol fêlé",
            staff_id,
        )
        assert order.refunded_cents == 2800 and order.status == "paid"
        assert order.items[0].refunded_quantity == 1
    assert stock_of(app, product_id) == 4
    [entry] = _audits(app, "order.refund")
    assert entry.before == {"status": "paid", "refunded_cents": 0}
    assert entry.after["refunded_cents"] == 2800 and entry.after["amount_cents"] == 2800
    assert "Refund of €28.00 requested" in page
    assert "everything left (€33.90)" in page
    assert [e.kind for e in _events(app, "CMD-RF")] == ["refund"]


def test_full_refund_with_restock_returns_every_unit_and_closes_the_order(app, staff):
    product_id, _item_id = _paid_order_with_two_bowls(app)

    response = _refund(staff, "CMD-RF", {"amount": "", "restock": "1"})

    assert response.status_code == 303
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-RF"))
        assert order.refunded_cents == 6190 and order.status == "refunded"
        assert order.refunds[0].restock is True
    assert stock_of(app, product_id) == 5
    assert _audits(app, "order.refund")[0].after["status"] == "refunded"


@pytest.mark.parametrize(
    ("form", "status", "reason"),
    [
        ({"amount": "douze"}, 400, "is not an amount in euros"),
        ({"amount": "61,91"}, 409, "can still be refunded"),
        ({"amount": "10", "restock": "1"}, 400, "how many units of each line"),
        ({"amount": "10", "restock_999999": "1"}, 409, "not part of this order"),
        ({"amount": "10", "restock_ITEM": "3"}, 409, "can still be restocked"),
        ({"amount": "10", "restock_ITEM": "two"}, 400, "whole numbers"),
    ],
)
def test_refunds_that_cannot_be_made_are_refused_and_write_nothing(
    app, staff, form, status, reason
):
    product_id, item_id = _paid_order_with_two_bowls(app)
    form = {k.replace("ITEM", str(item_id)): v for k, v in form.items()}

    response = _refund(staff, "CMD-RF", form)

    assert response.status_code == status
    assert reason in response.get_data(as_text=True)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-RF"))
        assert order.refunds == [] and order.refunded_cents == 0 and order.status == "paid"
    assert stock_of(app, product_id) == 3
    assert _audits(app, "order.refund") == [] and _events(app, "CMD-RF") == []


def test_an_unpaid_order_cannot_be_refunded(app, staff):
    add_order(app, "CMD-W", status="pending_payment")

    # No refund form on its page: a forged post is refused all the same.
    response = _post(
        staff, "/admin/orders/CMD-W/refund", {"amount": "", "idempotency_key": "k" * 24}
    )

    assert response.status_code == 409
    assert "Only a paid order can be refunded" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "app_overrides",
    [{"STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_API_BASE": "http://127.0.0.1:9",
      "STRIPE_MAX_NETWORK_RETRIES": 0, "STRIPE_TIMEOUT_SECONDS": 2}],
)  # fmt: skip
def test_when_stripe_cannot_be_reached_the_refund_is_refused_and_nothing_is_written(app, staff):
    product_id, item_id = _paid_order_with_two_bowls(app)

    response = _refund(staff, "CMD-RF", {"amount": "10", f"restock_{item_id}": "1"})

    assert response.status_code == 409
    assert "Stripe did not accept the refund" in response.get_data(as_text=True)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-RF"))
        assert order.refunds == [] and order.refunded_cents == 0
    assert stock_of(app, product_id) == 3
    assert _audits(app, "order.refund") == []


def _paid_on_fake_stripe(app, fake_stripe, number: str = "CMD-FS", **settings) -> tuple[int, int]:
    """An order paid 61,90 € through the fake Stripe (its PaymentIntent exists there)."""
    app.config.update(fake_stripe.settings(**settings))
    product_id, item_id = _paid_order_with_two_bowls(app, number)
    fake_stripe.sessions[f"cs_test_{number}"] = {
        "id": f"cs_test_{number}",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_test_{number}",
        "amount_total": 6190,
    }
    return product_id, item_id


def test_partial_then_final_refund_through_stripe(app, staff, fake_stripe):
    product_id, item_id = _paid_on_fake_stripe(app, fake_stripe)

    first = _refund(staff, "CMD-FS",
                  {"amount": "12,50", f"restock_{item_id}": "1", "reason": "Bol fêlé"})  # fmt: skip
    second = _refund(staff, "CMD-FS", {"amount": ""})

    assert (first.status_code, second.status_code) == (303, 303)
    sent = fake_stripe.requests("POST", "/v1/refunds")
    assert [r.params["amount"] for r in sent] == ["1250", "4940"]
    assert {r.params["payment_intent"] for r in sent} == {"pi_test_CMD-FS"}
    assert all(r.idempotency_key for r in sent)
    assert sent[0].params["metadata"]["reason"] == "Bol fêlé"
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-FS"))
        assert [(r.amount_cents, r.status) for r in order.refunds] == [
            (1250, "succeeded"), (4940, "succeeded"),
        ]  # fmt: skip
        assert all(r.stripe_refund_id.startswith("re_fake_") for r in order.refunds)
        assert order.refunded_cents == 6190 and order.status == "refunded"
        assert order.items[0].refunded_quantity == 1  # the final refund restocked nothing more
    assert stock_of(app, product_id) == 4
    assert len(_audits(app, "order.refund")) == 2
    page = staff.get("/admin/orders/CMD-FS").get_data(as_text=True)
    assert "€12.50" in page and "€49.40" in page
    assert 'action="/admin/orders/CMD-FS/refund"' not in page  # nothing left to refund


def test_a_refund_stripe_rejects_is_shown_and_nothing_is_written(app, staff, fake_stripe):
    product_id, item_id = _paid_on_fake_stripe(app, fake_stripe, STRIPE_MAX_NETWORK_RETRIES=0)
    fake_stripe.fail("500")

    response = _refund(staff, "CMD-FS", {"amount": "10", f"restock_{item_id}": "1"})

    assert response.status_code == 409
    assert "Stripe did not accept the refund" in response.get_data(as_text=True)
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-FS"))
        assert order.refunds == [] and order.refunded_cents == 0 and order.status == "paid"
        assert order.items[0].refunded_quantity == 0
    assert stock_of(app, product_id) == 3
    assert _audits(app, "order.refund") == [] and _events(app, "CMD-FS") == []


# --- Refunds are idempotent: one form, one refund ----------------------------------------------


def test_the_same_refund_form_posted_twice_refunds_once(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe)
    form = {**_refund_form(staff, "CMD-FS"), "amount": "10", "reason": "Geste commercial"}

    first = staff.post("/admin/orders/CMD-FS/refund", data=form)
    again = staff.post("/admin/orders/CMD-FS/refund", data=form)  # double click, or F5

    assert (first.status_code, again.status_code) == (303, 303)
    assert len(fake_stripe.requests("POST", "/v1/refunds")) == 1
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-FS"))
        assert [r.amount_cents for r in order.refunds] == [1000]
        assert order.refunded_cents == 1000
    assert len(_audits(app, "order.refund")) == 1
    assert "€10.00" in staff.get("/admin/orders/CMD-FS").get_data(as_text=True)


def test_a_new_page_load_gives_a_new_refund(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe)
    _refund(staff, "CMD-FS", {"amount": "10"})
    _refund(staff, "CMD-FS", {"amount": "10"})  # a second, deliberate partial refund
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-FS"))
        assert order.refunded_cents == 2000


def test_a_refund_retried_after_stripe_failed_reuses_its_key(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe, STRIPE_MAX_NETWORK_RETRIES=0)
    fake_stripe.fail("500", times=1)
    form = {**_refund_form(staff, "CMD-FS"), "amount": "10"}
    refused = staff.post("/admin/orders/CMD-FS/refund", data=form)
    assert refused.status_code == 409
    kept = re.search(r'name="idempotency_key" value="([^"]+)"', refused.get_data(as_text=True))
    assert kept.group(1) == form["idempotency_key"]  # the re-shown form keeps its key

    staff.post("/admin/orders/CMD-FS/refund", data=form)  # "try again"

    keys = [r.idempotency_key for r in fake_stripe.requests("POST", "/v1/refunds")]
    assert len(keys) == 2 and keys[0] == keys[1]  # Stripe would replay a refund it had made
    with app.app_context():
        assert (
            db.session.scalar(select(Order.refunded_cents).where(Order.number == "CMD-FS")) == 1000
        )


def test_a_refund_post_without_its_form_key_is_refused_clearly(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe)
    response = _post(staff, "/admin/orders/CMD-FS/refund", {"amount": "10"})
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    assert fake_stripe.requests("POST", "/v1/refunds") == []


@pytest.mark.postgresql_only
def test_the_same_refund_form_posted_twice_at_once_makes_one_stripe_refund(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe)
    form = {**_refund_form(staff, "CMD-FS"), "amount": "25"}

    def post():
        return staff.post("/admin/orders/CMD-FS/refund", data=form).status_code

    assert race([post, post]) == [303, 303]
    refunds_at_stripe = {r.idempotency_key for r in fake_stripe.requests("POST", "/v1/refunds")}
    assert len(refunds_at_stripe) == 1
    assert len(fake_stripe.refunds) == 1
    with app.app_context():
        order = db.session.scalar(select(Order).where(Order.number == "CMD-FS"))
        assert [r.amount_cents for r in order.refunds] == [2500]
        assert order.refunded_cents == 2500


def test_a_used_refund_form_sent_with_another_amount_is_refused_with_a_fresh_one(
    app, staff, fake_stripe
):
    _paid_on_fake_stripe(app, fake_stripe)
    form = {**_refund_form(staff, "CMD-FS"), "amount": "10"}
    staff.post("/admin/orders/CMD-FS/refund", data=form)

    edited = staff.post("/admin/orders/CMD-FS/refund", data={**form, "amount": "20"})

    assert edited.status_code == 409
    html = edited.get_data(as_text=True)
    assert "already made a refund of €10.00" in html
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    assert fresh != form["idempotency_key"]
    assert len(fake_stripe.requests("POST", "/v1/refunds")) == 1
    with app.app_context():
        assert (
            db.session.scalar(select(Order.refunded_cents).where(Order.number == "CMD-FS")) == 1000
        )


def test_a_form_key_stripe_already_spent_gets_a_fresh_form(app, staff, fake_stripe):
    _paid_on_fake_stripe(app, fake_stripe, STRIPE_MAX_NETWORK_RETRIES=0)
    form = {**_refund_form(staff, "CMD-FS"), "amount": "10"}
    # Stripe already answered this key for other values (a reply the shop never received).
    http.post(
        fake_stripe.url + "/v1/refunds",
        data={"payment_intent": "pi_test_CMD-FS", "amount": "999"},
        headers={"Authorization": "Bearer sk_test_fake",
                 "Idempotency-Key": f"refund-CMD-FS-{form['idempotency_key']}"},
        timeout=5,
    )  # fmt: skip

    refused = staff.post("/admin/orders/CMD-FS/refund", data=form)

    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert "already seen this refund form" in html
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)
    assert fresh != form["idempotency_key"]
    with app.app_context():
        assert db.session.scalar(select(Order.refunded_cents).where(Order.number == "CMD-FS")) == 0
