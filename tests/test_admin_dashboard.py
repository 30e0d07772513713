"""The staff dashboard: sales figures from the `sales_stats` view, the SVG chart, best sellers,
stock alerts from the `stock_alerts` view, orders waiting; staff roles and the audit log."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select, text

from comptoir import create_app
from comptoir.config import TestConfig
from comptoir.extensions import db
from comptoir.services import reporting
from comptoir.shop_time import shop_today
from models import AuditLog, Role, User
from tests.builders import add_product, add_user, csrf_token, make_order, make_product

# The shop's date (SHOP_TIMEZONE, Europe/Paris in tests); `at()` builds noon UTC of a Paris date,
# which is the same date in Paris.
TODAY = datetime.now(ZoneInfo("Europe/Paris")).date()


def at(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour), tzinfo=UTC)


def seed_sales(app) -> None:
    """Orders whose figures the tests below know by heart (prices VAT incl., 5,90 € shipping)."""
    with app.app_context():
        bowl = make_product("Bol", stock=50, price_cents=2000)
        vase = make_product("Vase", stock=50, price_cents=4500)
        # today: 2 × 20 + 5,90 = 45,90 and 1 × 45 + 5,90 = 50,90 (10,00 refunded) → 86,80 kept
        make_order("T1", lines=[(bowl, 2)], status="paid", paid_at=at(0))
        make_order("T2", lines=[(vase, 1)], status="shipped", paid_at=at(0), refunded_cents=1000)
        # today, fully refunded: shown in refunds, not counted as an order, adds 0
        make_order("T3", lines=[(vase, 1)], status="refunded", paid_at=at(0), refunded_cents=5090)
        # today but never paid: ignored
        make_order("T4", lines=[(vase, 3)], status="cancelled", paid_at=None)
        make_order("T5", lines=[(vase, 3)], status="pending_payment")
        # 3 days ago: 3 × 20 + 5,90 = 65,90
        make_order("D3", lines=[(bowl, 3)], status="delivered", paid_at=at(3))
        # 10 days ago: 2 × 45 + 5,90 = 95,90
        make_order("D10", lines=[(vase, 2)], status="preparing", paid_at=at(10))
        # 40 days ago: outside every period
        make_order("D40", lines=[(vase, 5)], status="delivered", paid_at=at(40))
        db.session.commit()


def test_both_reporting_views_exist_and_answer(app):
    with app.app_context():
        views = set(inspect(db.engine).get_view_names())
        assert {"sales_stats", "stock_alerts"} <= views
        assert db.session.execute(text("SELECT * FROM sales_stats")).all() == []
        assert db.session.execute(text("SELECT * FROM stock_alerts")).all() == []


def test_sales_figures_count_paid_orders_and_subtract_refunds(app):
    seed_sales(app)
    with app.app_context():
        summary = reporting.sales_summary(db.session, TODAY)

    today = summary["today"]
    assert today.orders_count == 2
    assert today.gross_cents == 4590 + 5090 + 5090
    assert today.refunded_cents == 1000 + 5090
    assert today.revenue_cents == 4590 + 5090 - 1000
    assert today.average_basket_cents == round((4590 + 4090) / 2)
    assert today.items_sold == 3

    week = summary["7d"]
    assert (week.orders_count, week.revenue_cents) == (3, 8680 + 6590)
    month = summary["30d"]
    assert (month.orders_count, month.revenue_cents) == (4, 8680 + 6590 + 9590)
    assert month.items_sold == 3 + 3 + 2
    assert month.average_basket_cents == round((8680 + 6590 + 9590) / 4)


def test_the_dashboard_shows_the_figures_a_chart_and_its_table(app, staff):
    seed_sales(app)
    page = staff.get("/admin/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)

    today_card = re.search(r'id="stats-today".*?</li>', html, re.S).group(0)
    assert "€86.80" in today_card and ">2<" in today_card and "€43.40" in today_card
    assert "−€60.90" in today_card  # refunds shown, not hidden
    month_card = re.search(r'id="stats-30d".*?</li>', html, re.S).group(0)
    assert "€248.60" in month_card

    svg = re.search(r"<svg viewBox.*?</svg>", html, re.S).group(0)  # the chart, not an icon
    assert 'role="img"' in svg and "aria-labelledby" in svg
    assert svg.count('class="sales-chart__bar"') == 30
    assert "€86.80, 2 orders" in svg  # each bar has a <title> a pointer or reader can reach
    bars = re.findall(r'<rect class="sales-chart__bar" [^>]*height="([\d.]+)"', svg)
    assert float(bars[-1]) > float(bars[-4]) > 0 and float(bars[0]) == 0
    # The same figures as text, for people who cannot see the chart.
    table = re.search(r'<details class="sales-chart__table">.*?</details>', html, re.S).group(0)
    assert table.count("<tr>") == 31 and "€65.90" in table
    assert "<script" not in svg and "style=" not in html


def test_best_sellers_rank_by_revenue_over_30_days(app, staff):
    seed_sales(app)
    with app.app_context():
        top = reporting.top_products(db.session, 30, 10, TODAY)
    # Vase: T2 (1) + D10 (2) = 3 units, 135 €; Bol: T1 (2) + D3 (3) = 5 units, 100 €.
    assert [(t.name, t.units, t.revenue_cents) for t in top] == [
        ("Vase", 3, 13500),
        ("Bol", 5, 10000),
    ]
    html = staff.get("/admin/").get_data(as_text=True)
    assert html.index("Vase") < html.index("Bol")


def test_stock_alerts_apply_each_threshold_and_the_shop_default(app, staff):
    with app.app_context():
        make_product("Épuisé", stock=0)
        make_product("Presque", stock=2)  # default threshold 3
        make_product("Confortable", stock=4)
        own = make_product("Seuil maison", stock=8)
        own.low_stock_threshold = 10
        relaxed = make_product("Seuil zéro", stock=1)
        relaxed.low_stock_threshold = 0
        archived = make_product("Archivé", stock=0)
        archived.is_active = False
        db.session.commit()
        alerts = reporting.stock_alerts(db.session, 3)
        assert [(a.name, a.level, a.threshold) for a in alerts] == [
            ("Épuisé", "out_of_stock", 3),
            ("Presque", "low_stock", 3),
            ("Seuil maison", "low_stock", 10),
        ]
        assert reporting.stock_alerts(db.session, 5)[2].name == "Confortable"

    html = staff.get("/admin/").get_data(as_text=True)
    alerts_panel = html[html.index('id="alerts-title"') :]
    assert "Épuisé" in alerts_panel and "Presque" in alerts_panel
    assert "Confortable" not in alerts_panel and "Archivé" not in alerts_panel
    assert 'name="expected"' in alerts_panel  # editable in place


def test_orders_needing_action_are_listed(app, staff):
    with app.app_context():
        make_order("WAIT-PAID", status="paid", paid_at=at(1))
        make_order("BUSY", status="preparing", paid_at=at(1))
        make_order("WAIT-FLAG", status="shipped", paid_at=at(2), needs_attention="Amount differs")
        make_order("WAIT-DISPUTE", status="delivered", paid_at=at(5), disputed=True)
        db.session.commit()
    html = staff.get("/admin/").get_data(as_text=True)
    waiting = html[html.index('id="waiting-title"') : html.index('id="top-title"')]
    # Disputes first, then flagged orders, then paid orders waiting to be prepared.
    assert waiting.index("WAIT-DISPUTE") < waiting.index("WAIT-FLAG") < waiting.index("WAIT-PAID")
    assert "Amount differs" in waiting
    assert "BUSY" not in waiting


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/products", "/admin/products/stock-alerts", "/admin/customers"]
)
def test_admin_pages_are_never_cached_nor_indexed(app, staff, url):
    response = staff.get(url)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    assert "noindex" in response.headers["X-Robots-Tag"]
    html = response.get_data(as_text=True)
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert '<link rel="icon" href="/static/img/favicon.' in html  # no 404 for the tab icon


def test_staff_management_and_audit_log_are_for_administrators(app, staff, admin):
    assert staff.get("/admin/staff").status_code == 403
    assert staff.get("/admin/audit").status_code == 403
    assert "/admin/staff" not in staff.get("/admin/").get_data(as_text=True)
    assert admin.get("/admin/staff").status_code == 200
    assert "/admin/audit" in admin.get("/admin/").get_data(as_text=True)


def test_an_admin_promotes_an_account_and_the_last_admin_stays(app, admin, admin_id):
    customer_id = add_user(app, Role.CUSTOMER, "lea@example.com")
    token = csrf_token(admin, "/admin/staff")

    response = admin.post(
        "/admin/staff/promote",
        data={"csrf_token": token, "email": "LEA@example.com", "role": "staff"},
        follow_redirects=True,
    )
    assert "lea@example.com is now: staff." in response.get_data(as_text=True)
    response = admin.post(
        f"/admin/staff/{admin_id}/role",
        data={"csrf_token": token, "role": "staff"},
        follow_redirects=True,
    )
    assert "last administrator" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, customer_id).role == "staff"
        assert db.session.get(User, admin_id).role == "admin"
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.role"))
        assert (entry.object_id, entry.before, entry.after) == (
            str(customer_id), {"role": "customer"}, {"role": "staff"},
        )  # fmt: skip


def test_the_audit_log_page_shows_who_did_what(app, admin):
    product_id = add_product(app, "Tasse", stock=5)
    token = csrf_token(admin, f"/admin/products/{product_id}/edit")
    admin.post(f"/admin/products/{product_id}/archive", data={"csrf_token": token})

    html = admin.get("/admin/audit?action=product").get_data(as_text=True)
    assert "product.archive" in html and "admin@example.com" in html
    fragment = admin.get("/admin/audit?action=stock", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert "0 entries" in fragment.get_data(as_text=True)


# Payments just after midnight in Paris (CET in March, CEST in July) and just before it.
AFTER_MIDNIGHT_WINTER = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 11 March, 00:30 in Paris
AFTER_MIDNIGHT_SUMMER = datetime(2026, 7, 10, 22, 30, tzinfo=UTC)  # 11 July, 00:30 in Paris
BEFORE_MIDNIGHT_SUMMER = datetime(2026, 7, 10, 21, 30, tzinfo=UTC)  # 10 July, 23:30 in Paris


def _night_orders() -> None:
    make_order("WINTER", status="paid", paid_at=AFTER_MIDNIGHT_WINTER)
    make_order("SUMMER", status="paid", paid_at=AFTER_MIDNIGHT_SUMMER)
    make_order("EVENING", status="delivered", paid_at=BEFORE_MIDNIGHT_SUMMER)
    db.session.commit()


def _view_days() -> list[tuple[date, int]]:
    rows = db.session.execute(
        select(reporting.sales_stats.c.day, reporting.sales_stats.c.orders_count).order_by(
            reporting.sales_stats.c.day
        )
    )
    return [(reporting._as_date(day), count) for day, count in rows]


def test_sales_days_are_the_shops_days_in_paris_summer_and_winter(app):
    with app.app_context():
        _night_orders()
        assert _view_days() == [
            (date(2026, 3, 11), 1),
            (date(2026, 7, 10), 1),
            (date(2026, 7, 11), 1),
        ]
        days = reporting.daily_sales(db.session, 2, date(2026, 3, 11))
        assert [(d.day, d.orders_count) for d in days] == [
            (date(2026, 3, 10), 0),
            (date(2026, 3, 11), 1),
        ]
        today = reporting.sales_summary(db.session, date(2026, 7, 11))["today"]
        assert today.orders_count == 1
        # Best sellers of "the last day" start at midnight in Paris (22:00 UTC in July): the
        # 00:30 payment is in, the 23:30 one of the day before is not.
        (summer,) = reporting.top_products(db.session, 1, 10, date(2026, 7, 11))
        assert summer.name == "Produit SUMMER" and summer.units == 2
        assert len(reporting.top_products(db.session, 2, 10, date(2026, 7, 11))) == 2


def test_shop_today_turns_at_midnight_in_the_shops_zone(app):
    with app.app_context():
        assert shop_today(AFTER_MIDNIGHT_WINTER) == date(2026, 3, 11)
        assert shop_today(BEFORE_MIDNIGHT_SUMMER) == date(2026, 7, 10)


class TestAnotherTimeZone:
    @pytest.fixture
    def app_overrides(self):
        return {"SHOP_TIMEZONE": "UTC"}

    def test_days_follow_SHOP_TIMEZONE(self, app):
        with app.app_context():
            _night_orders()
            assert _view_days() == [(date(2026, 3, 10), 1), (date(2026, 7, 10), 2)]
            assert shop_today(AFTER_MIDNIGHT_WINTER) == date(2026, 3, 10)


def test_an_unknown_shop_time_zone_stops_the_start(app):
    with pytest.raises(ValueError, match="SHOP_TIMEZONE='Europe/Atlantis' is not a time zone"):
        create_app(TestConfig, SHOP_TIMEZONE="Europe/Atlantis")
