"""Staff customer pages: search, order count and lifetime value, detail, CSV export."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import select

from comptoir.extensions import db
from models import AuditLog, Role
from tests.builders import make_order, make_product, make_user


def seed_customers(app) -> dict[str, int]:
    """Claire: 45,90 paid + 50,90 shipped with 10,00 refunded + a fully refunded order + a
    cancelled one → 2 paid orders, 86,80 €. Léa: no order. Staff never listed."""
    with app.app_context():
        bowl = make_product("Bol", stock=50, price_cents=2000)
        vase = make_product("Vase", stock=50, price_cents=4500)
        claire = make_user(Role.CUSTOMER, "claire@example.com", full_name="Claire Dupont")
        lea = make_user(Role.CUSTOMER, "lea@example.org", full_name="Léa Martin")
        make_order("C1", lines=[(bowl, 2)], status="paid", user_id=claire)
        make_order("C2", lines=[(vase, 1)], status="shipped", user_id=claire, refunded_cents=1000)
        make_order("C3", lines=[(vase, 1)], status="refunded", user_id=claire, refunded_cents=5090)
        make_order("C4", lines=[(vase, 1)], status="cancelled", user_id=claire)
        make_order("GUEST", lines=[(vase, 1)], status="paid", email="guest@example.com")
        db.session.commit()
        return {"claire": claire, "lea": lea}


def rows(html: str) -> list[str]:
    body = html[html.index("<tbody>") :]
    return [re.sub(r"\s+", " ", row) for row in re.findall(r"<tr>.*?</tr>", body, re.S)]


def test_the_list_shows_paid_orders_and_lifetime_value_net_of_refunds(app, staff):
    seed_customers(app)
    html = staff.get("/admin/customers").get_data(as_text=True)
    assert "2 customers" in html
    listed = rows(html)
    claire = next(row for row in listed if "Claire Dupont" in row)
    assert '<td class="num">2</td>' in claire and "€86.80" in claire
    lea = next(row for row in listed if "Léa Martin" in row)
    assert '<td class="num">0</td>' in lea and "€0.00" in lea
    assert "marie@example.com" not in html


def test_customers_are_searched_by_email_or_name_with_an_htmx_fragment(app, staff):
    seed_customers(app)
    by_email = staff.get("/admin/customers?q=EXAMPLE.ORG").get_data(as_text=True)
    assert "Léa Martin" in by_email and "Claire" not in by_email
    fragment = staff.get("/admin/customers?q=dupont", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and "1 customer" in html and "Claire Dupont" in html
    assert staff.get("/admin/customers?q=%25").get_data(as_text=True).count("<tbody>") == 0


def test_the_customer_list_pages(app, staff):
    with app.app_context():
        for n in range(27):
            make_user(Role.CUSTOMER, f"client{n:02d}@example.com")
        db.session.commit()
    first = staff.get("/admin/customers").get_data(as_text=True)
    assert len(rows(first)) == 25 and "27 customers" in first
    second = staff.get("/admin/customers?page=2").get_data(as_text=True)
    assert len(rows(second)) == 2
    assert staff.get("/admin/customers?page=zzz").status_code == 200


def test_a_customer_page_lists_every_order_and_the_totals(app, staff):
    ids = seed_customers(app)
    html = staff.get(f"/admin/customers/{ids['claire']}").get_data(as_text=True)
    for number in ("C1", "C2", "C3", "C4"):
        assert number in html
    assert "€86.80" in html and "GUEST" not in html
    assert staff.get("/admin/customers/999999").status_code == 404


def test_the_csv_export_opens_in_excel_and_cannot_run_formulas(app, staff):
    with app.app_context():
        make_user(Role.CUSTOMER, "evil@example.com", full_name='=HYPERLINK("http://x.test","clic")')
        make_user(Role.CUSTOMER, "hélène@example.com", full_name="Hélène Noël")
        make_user(Role.CUSTOMER, "plus@example.com", full_name="+33 6 12 34 56 78")
        db.session.commit()
    response = staff.get("/admin/customers/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the accents
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:2] == ["Email", "Name"]
    by_email = {row[0]: row for row in table[1:]}
    assert by_email["evil@example.com"][1] == '\'=HYPERLINK("http://x.test","clic")'
    assert by_email["plus@example.com"][1] == "'+33 6 12 34 56 78"
    assert by_email["hélène@example.com"][1] == "Hélène Noël"
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "customer.export"))
        assert entry is not None and entry.actor_id is not None


def test_the_export_follows_the_search_and_carries_the_figures(app, staff):
    seed_customers(app)
    raw = staff.get("/admin/customers/export.csv?q=claire").get_data()
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(table) == 2
    assert table[1][0] == "claire@example.com" and table[1][4:6] == ["2", "86.80"]
