"""Staff product pages: list (search, filters, pagination, htmx), create/edit/archive/delete,
inline stock edits (compare-and-set, conflicts, alerts), movements, photos, categories."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from comptoir.extensions import db
from comptoir.services.catalog import create_category
from comptoir.services.media import get_storage
from models import AuditLog, Category, Product, ProductImage, Role, StockMovement
from tests.builders import (
    add_product,
    add_user,
    csrf_from,
    csrf_token,
    heic_with_gps,
    jpeg,
    jpeg_with_gps,
    logged_in_client,
    make_order,
    make_product,
    outbox,
    png_declaring,
    race,
    run_jobs,
)

MAX_IMAGE = 200_000
MAX_REQUEST = 1_000_000


@pytest.fixture
def app_overrides():
    return {
        "STAFF_ALERT_EMAIL": "atelier@example.com",
        "MAX_IMAGE_UPLOAD_BYTES": MAX_IMAGE,
        "MAX_CONTENT_LENGTH": MAX_REQUEST,
    }


def audit_actions(app, object_id=None) -> list[str]:
    with app.app_context():
        query = select(AuditLog.action).order_by(AuditLog.id)
        if object_id is not None:
            query = query.where(AuditLog.object_id == str(object_id))
        return list(db.session.scalars(query))


def flashes(html: str) -> list[str]:
    return [
        re.sub(r"\s+", " ", m)
        for m in re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', html, re.S)
    ]


# --- Creating and editing ------------------------------------------------------------------------


def test_staff_create_a_product_with_a_price_in_euros_and_opening_stock(app, staff, staff_id):
    with app.app_context():
        category_id = create_category(db.session, "Céramique").id
        db.session.commit()
    assert staff.get("/admin/products/new").status_code == 200
    response = staff.post(
        "/admin/products/new",
        data={
            "csrf_token": csrf_token(staff, "/admin/products/new"), "name": "Bol « Lune »", "slug": "", "sku": "BOL-01",
            "category_id": str(category_id), "description": "Grès émaillé.", "price": "28,50",
            "vat_rate_bp": "550", "low_stock_threshold": "", "stock_quantity": "7",
            "is_active": "y",
        },
    )  # fmt: skip
    assert response.status_code == 303
    with app.app_context():
        product = db.session.scalar(select(Product).where(Product.sku == "BOL-01"))
        assert (product.slug, product.price_cents, product.vat_rate_bp) == ("bol-lune", 2850, 550)
        assert (product.stock_quantity, product.category_id, product.is_active) == (
            7,
            category_id,
            True,
        )
        assert product.low_stock_threshold is None and product.is_featured is False
        movement = db.session.scalar(
            select(StockMovement).where(StockMovement.product_id == product.id)
        )
        assert (movement.delta, movement.reason, movement.user_id) == (7, "initial", staff_id)
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "product.create"))
        assert entry.actor_id == staff_id and entry.after["price_cents"] == 2850
    assert response.headers["Location"].endswith(f"/admin/products/{product.id}/edit")


def test_invalid_product_input_is_shown_inline_and_nothing_is_saved(app, staff):
    response = staff.post(
        "/admin/products/new",
        data={"csrf_token": csrf_token(staff, "/admin/products/new"), "name": "", "price": "12,345", "vat_rate_bp": "1234",
              "category_id": "0", "stock_quantity": "-2", "slug": "Pas Bon"},
    )  # fmt: skip
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html
    assert "at most two decimals" in html
    assert "Lower-case letters, digits and hyphens only." in html
    assert 'aria-invalid="true"' in html
    assert 'value="12,345"' in html  # what was typed stays in the form
    with app.app_context():
        assert db.session.scalar(select(func.count(Product.id))) == 0


def test_a_sku_already_used_is_refused_on_its_field(app, staff):
    with app.app_context():
        make_product("Tasse").sku = "TAS-1"
        db.session.commit()
    response = staff.post(
        "/admin/products/new",
        data={"csrf_token": csrf_token(staff, "/admin/products/new"), "name": "Autre tasse", "price": "10",
              "vat_rate_bp": "2000", "category_id": "0", "sku": "TAS-1"},
    )  # fmt: skip
    assert response.status_code == 422
    assert "Another product already has this SKU." in response.get_data(as_text=True)


def test_editing_a_product_records_only_what_changed(app, staff):
    pid = add_product(app, "Vase", price_cents=4500)
    page = staff.get(f"/admin/products/{pid}/edit")
    assert 'value="45,00"' in page.get_data(as_text=True)
    response = staff.post(
        f"/admin/products/{pid}/edit",
        data={"csrf_token": csrf_token(staff, f"/admin/products/{pid}/edit"), "name": "Vase haut", "slug": "vase", "price": "49.90",
              "vat_rate_bp": "2000", "category_id": "0", "low_stock_threshold": "5",
              "is_active": "y", "is_featured": "y", "description": ""},
    )  # fmt: skip
    assert response.status_code == 303
    with app.app_context():
        product = db.session.get(Product, pid)
        assert (product.name, product.price_cents, product.low_stock_threshold) == (
            "Vase haut",
            4990,
            5,
        )
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "product.update"))
        assert entry.before == {"name": "Vase", "price_cents": 4500, "low_stock_threshold": None,
                                "is_featured": False}  # fmt: skip
        assert entry.after == {"name": "Vase haut", "price_cents": 4990, "low_stock_threshold": 5,
                               "is_featured": True}  # fmt: skip


def test_a_sold_product_is_archived_never_deleted(app, staff):
    with app.app_context():
        sold = make_product("Pichet", stock=4)
        make_order("CMD-1", lines=[(sold, 1)])
        db.session.commit()
        sold_id = sold.id
    edit = staff.get(f"/admin/products/{sold_id}/edit").get_data(as_text=True)
    csrf = csrf_from(edit)
    assert "can be archived but never deleted" in edit
    assert f"/admin/products/{sold_id}/delete" not in edit

    refused = staff.post(f"/admin/products/{sold_id}/delete", data={"csrf_token": csrf},
                         follow_redirects=True)  # fmt: skip
    assert "cannot be deleted, only archived" in refused.get_data(as_text=True)
    staff.post(f"/admin/products/{sold_id}/archive", data={"csrf_token": csrf})
    with app.app_context():
        product = db.session.get(Product, sold_id)
        assert product is not None and product.is_active is False
    assert audit_actions(app, sold_id) == ["product.archive"]
    staff.post(f"/admin/products/{sold_id}/restore", data={"csrf_token": csrf})
    with app.app_context():
        assert db.session.get(Product, sold_id).is_active is True


def test_a_product_that_never_sold_can_be_deleted(app, staff):
    pid = add_product(app, "Essai")
    response = staff.post(
        f"/admin/products/{pid}/delete",
        data={"csrf_token": csrf_token(staff, f"/admin/products/{pid}/edit")},
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Product, pid) is None
    assert audit_actions(app, pid) == ["product.delete"]


# --- The list ------------------------------------------------------------------------------------


def test_the_list_searches_filters_and_pages(app, staff):
    with app.app_context():
        tea = create_category(db.session, "Thé")
        for n in range(30):
            make_product(f"Assiette {n:02d}", stock=10).category_id = tea.id
        make_product("Bol vide", stock=0).sku = "BOL-VIDE"
        make_product("Bol bas", stock=2)
        make_product("Bol rangé", stock=9).is_active = False
        db.session.commit()
        tea_id = tea.id

    def names(html):
        return re.findall(r'<a href="/admin/products/\d+/edit">([^<]+)</a>', html)

    first = staff.get("/admin/products").get_data(as_text=True)
    assert "33 products" in first and len(names(first)) == 25
    second = staff.get("/admin/products?page=2").get_data(as_text=True)
    assert len(names(second)) == 8 and 'aria-current="page">2<' in second

    assert names(staff.get("/admin/products?q=bol-vide").get_data(as_text=True)) == ["Bol vide"]
    assert sorted(names(staff.get("/admin/products?q=BOL").get_data(as_text=True))) == [
        "Bol bas", "Bol rangé", "Bol vide",
    ]  # fmt: skip
    assert names(staff.get("/admin/products?stock=out").get_data(as_text=True)) == ["Bol vide"]
    assert names(staff.get("/admin/products?stock=low").get_data(as_text=True)) == ["Bol bas"]
    assert names(staff.get("/admin/products?status=archived").get_data(as_text=True)) == [
        "Bol rangé"
    ]
    by_category = staff.get(f"/admin/products?category={tea_id}&sort=-name").get_data(as_text=True)
    assert names(by_category)[0] == "Assiette 29" and "30 products" in by_category
    # Nonsense in the query string falls back to defaults, never a 500.
    assert staff.get("/admin/products?page=abc&sort=evil&stock=x&category=-1").status_code == 200


def test_the_list_answers_htmx_with_the_results_fragment(app, staff):
    add_product(app, "Bol")
    response = staff.get("/admin/products?q=bol", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and "<h1" not in html
    assert "1 product" in html and "Bol" in html
    assert "HX-Request" in response.headers["Vary"]
    page = staff.get("/admin/products?q=bol").get_data(as_text=True)
    assert 'hx-push-url="true"' in page and 'hx-target="#product-results"' in page


# --- Inline stock edit ---------------------------------------------------------------------------


def post_stock(client, pid, expected, quantity, htmx=True, **extra):
    headers = {"HX-Request": "true"} if htmx else {}
    data = {"csrf_token": csrf_token(client, "/admin/products"), "expected": str(expected),
            "stock_quantity": str(quantity), "next": "/admin/products", **extra}  # fmt: skip
    return client.post(f"/admin/products/{pid}/stock", data=data, headers=headers)


def staff_movements(app, pid):
    with app.app_context():
        return db.session.execute(
            select(StockMovement.delta, StockMovement.reason, StockMovement.user_id)
            .where(StockMovement.product_id == pid, StockMovement.reason != "initial")
            .order_by(StockMovement.id)
        ).all()


def test_an_inline_stock_edit_saves_and_answers_with_the_new_form(app, staff, staff_id):
    pid = add_product(app, "Bol", stock=10)
    response = post_stock(staff, pid, 10, 14, note="inventaire", reason="restock")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert 'name="expected" value="14"' in html and "saved: 14" in html
    assert staff_movements(app, pid) == [(4, "restock", staff_id)]
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "stock.adjust"))
        assert entry.before == {"stock_quantity": 10}
        assert entry.after == {"stock_quantity": 14, "reason": "restock", "note": "inventaire"}


def test_two_staff_editing_the_same_stock_second_gets_the_fresh_value(app, staff, staff_id):
    other = logged_in_client(app, add_user(app, Role.STAFF, "hugo@example.com"))
    pid = add_product(app, "Bol", stock=10)

    assert post_stock(staff, pid, 10, 8).status_code == 200
    conflict = post_stock(other, pid, 10, 15)  # Hugo still sees 10
    html = conflict.get_data(as_text=True)
    assert conflict.status_code == 409
    assert "changed meanwhile to 8" in html and "was not applied" in html
    assert 'name="expected" value="8"' in html  # the form now holds the fresh value

    with app.app_context():
        assert db.session.get(Product, pid).stock_quantity == 8
    assert staff_movements(app, pid) == [(-2, "adjustment", staff_id)]
    assert audit_actions(app, pid) == ["stock.adjust"]


def test_a_stock_conflict_without_javascript_flashes_and_redirects(app, staff):
    pid = add_product(app, "Bol", stock=10)
    post_stock(staff, pid, 10, 9, htmx=False)
    response = post_stock(staff, pid, 10, 20, htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/admin/products"
    html = staff.get("/admin/products").get_data(as_text=True)
    assert any("changed meanwhile to 9" in message for message in flashes(html))


def test_the_admin_htmx_config_swaps_conflict_and_invalid_answers(app, staff):
    html = staff.get("/admin/products").get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1)
    handling = json.loads(config)["responseHandling"]
    assert {"code": "409", "swap": True, "error": False} in handling
    assert {"code": "422", "swap": True, "error": False} in handling


def test_invalid_stock_input_is_refused_without_change(app, staff):
    pid = add_product(app, "Bol", stock=10)
    response = post_stock(staff, pid, 10, -3)
    assert response.status_code == 422
    assert "between 0 and 1,000,000" in response.get_data(as_text=True)
    response = post_stock(staff, pid, 10, "douze")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(Product, pid).stock_quantity == 10


def test_crossing_the_low_stock_threshold_emails_the_staff_once(app, staff):
    pid = add_product(app, "Bol", stock=10)  # default threshold: 3
    outbox(app).clear()
    post_stock(staff, pid, 10, 2)
    sent = list(outbox(app))
    assert len(sent) == 1
    assert sent[0]["To"] == "atelier@example.com"
    assert "Bol" in sent[0].get_body(("plain",)).get_content()
    post_stock(staff, pid, 2, 1)  # already below: no second email
    post_stock(staff, pid, 1, 0)  # out of stock: crosses zero
    assert len(outbox(app)) == 2
    assert "out of stock" in outbox(app)[1].get_body(("plain",)).get_content()


def test_a_conflicting_edit_sends_no_alert(app, staff):
    pid = add_product(app, "Bol", stock=10)
    outbox(app).clear()
    post_stock(staff, pid, 9, 1)
    assert outbox(app) == []


def test_restock_and_movements_page_show_who_when_and_why(app, staff):
    with app.app_context():
        product = make_product("Bol", stock=5)
        make_order("CMD-9", lines=[(product, 2)], reserve=True)
        db.session.commit()
        pid = product.id
    response = staff.post(
        f"/admin/products/{pid}/restock",
        data={
            "csrf_token": csrf_token(staff, f"/admin/products/{pid}/edit"),
            "quantity": "12",
            "note": "Livraison atelier",
        },
        follow_redirects=True,
    )
    assert "12 units added: 15 in stock." in response.get_data(as_text=True)
    html = staff.get(f"/admin/products/{pid}/movements").get_data(as_text=True)
    rows = re.findall(r"<tr>.*?</tr>", html[html.index("<tbody>") :], re.S)
    assert len(rows) == 3  # opening stock, checkout reservation, restock
    assert "+12" in rows[0] and "Goods received" in rows[0] and "Livraison atelier" in rows[0]
    assert "Marie Atelier" in rows[0]
    assert "-2" in rows[1] and "CMD-9" in rows[1]
    assert "+5" in rows[2] and "Opening stock" in rows[2]
    assert audit_actions(app, pid) == ["stock.restock"]


def test_the_stock_alerts_page_lists_products_to_restock_with_inline_edit(app, staff):
    low = add_product(app, "Bol bas", stock=1)
    add_product(app, "Bol plein", stock=40)
    html = staff.get("/admin/products/stock-alerts").get_data(as_text=True)
    assert "Bol bas" in html and "Bol plein" not in html
    assert f'action="/admin/products/{low}/stock"' in html


@pytest.mark.postgresql_only
def test_concurrent_inline_edits_apply_exactly_one(app, test_routes):
    clients = [
        logged_in_client(app, add_user(app, Role.STAFF, f"staff{n}@example.com")) for n in range(4)
    ]
    pid = add_product(app, "Bol", stock=10)
    tokens = [csrf_token(c, "/admin/products") for c in clients]

    def edit(client, csrf, quantity):
        def post():
            response = client.post(
                f"/admin/products/{pid}/stock",
                data={"csrf_token": csrf, "expected": "10", "stock_quantity": str(quantity)},
                headers={"HX-Request": "true"},
            )
            return response.status_code, quantity

        return post

    statuses = race(
        [edit(c, t, 20 + n) for n, (c, t) in enumerate(zip(clients, tokens, strict=True))]
    )
    winners = [quantity for status, quantity in statuses if status == 200]
    assert len(winners) == 1 and sorted(s for s, _ in statuses) == [200, 409, 409, 409]
    with app.app_context():
        assert db.session.get(Product, pid).stock_quantity == winners[0]
    assert len(staff_movements(app, pid)) == 1


def test_a_form_without_csrf_token_is_refused(app, staff):
    pid = add_product(app, "Bol", stock=10)
    response = staff.post(
        f"/admin/products/{pid}/stock", data={"expected": "10", "stock_quantity": "1"}
    )
    assert response.status_code == 400
    response = staff.post(f"/admin/products/{pid}/archive")
    assert response.status_code == 400
    with app.app_context():
        product = db.session.get(Product, pid)
        assert (product.stock_quantity, product.is_active) == (10, True)


# --- Photos --------------------------------------------------------------------------------------


def upload(client, pid, files, alt_text=""):
    data = {"csrf_token": csrf_token(client, f"/admin/products/{pid}/edit"), "alt_text": alt_text,
            "images": [(io.BytesIO(content), name) for name, content in files]}  # fmt: skip
    return client.post(f"/admin/products/{pid}/images", data=data,
                       content_type="multipart/form-data", follow_redirects=True)  # fmt: skip


def gallery(app, pid):
    with app.app_context():
        return list(
            db.session.execute(
                select(ProductImage.id, ProductImage.alt_text, ProductImage.storage_key,
                       ProductImage.widths)
                .where(ProductImage.product_id == pid).order_by(ProductImage.position)
            )
        )  # fmt: skip


def test_uploading_photos_strips_gps_and_refuses_non_images_per_file(app, staff):
    pid = add_product(app, "Bol « Lune »")
    response = upload(
        staff, pid,
        [("photo.jpg", jpeg_with_gps()), ("notes.jpg", b"just text pretending to be a photo"),
         ("second.jpg", jpeg(color=(20, 90, 160)))],
        alt_text="Bol bleu vu de dessus",
    )  # fmt: skip
    html = response.get_data(as_text=True)
    messages = flashes(html)
    assert response.status_code == 200
    assert "2 photos added." in messages
    assert any("notes.jpg" in m and "JPEG, PNG, WebP or HEIC" in m for m in messages)
    run_jobs(app)  # the variants are made by the job (SQLite: right after the request's commit)
    images = gallery(app, pid)
    assert [alt for _, alt, _, _ in images] == ["Bol bleu vu de dessus"] * 2
    assert all(widths for _, _, _, widths in images)  # both photos got their variants
    with app.app_context():
        storage = get_storage()
        stored = storage.read(f"{images[0][2]}-{images[0][3][-1]}.webp")
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "WEBP"
        assert not img.getexif() and b"PhoneMaker" not in stored
        assert "exif" not in img.info
    assert audit_actions(app, pid) == ["image.add", "image.add"]


def test_a_heic_photo_from_an_iphone_is_added_like_any_other(app, staff):
    pid = add_product(app, "Bol « Lune »")
    response = upload(staff, pid, [("IMG_0042.HEIC", heic_with_gps(orientation=6))])
    assert "1 photo added." in flashes(response.get_data(as_text=True))
    run_jobs(app)
    ((_, alt, key, widths),) = gallery(app, pid)
    assert alt == "Bol « Lune »" and widths == [320, 640, 960, 1200]
    with app.app_context():
        stored = get_storage().read(f"{key}-1200.webp")
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (1200, 1600) and not img.getexif() and b"PhoneMaker" not in stored


def test_an_oversized_photo_and_a_decompression_bomb_are_refused_with_a_message(app, staff):
    pid = add_product(app, "Bol")
    big = jpeg(1800, 1800) + b"\0" * MAX_IMAGE  # over the per-image limit, under the request limit
    html = upload(
        staff, pid, [("big.jpg", big), ("bomb.png", png_declaring(60_000, 60_000))]
    ).get_data(as_text=True)
    messages = flashes(html)
    assert any("big.jpg" in m and "too large" in m for m in messages)
    assert any("bomb.png" in m and "too many pixels" in m for m in messages)
    assert gallery(app, pid) == []


def test_a_request_above_the_upload_limit_gets_the_413_page(app, staff):
    pid = add_product(app, "Bol")
    data = {
        "csrf_token": csrf_token(staff, f"/admin/products/{pid}/edit"),
        "images": [(io.BytesIO(b"\0" * (MAX_REQUEST + 10)), "huge.jpg")],
    }
    response = staff.post(
        f"/admin/products/{pid}/images", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "File too large" in response.get_data(as_text=True)


def test_missing_alt_text_defaults_to_the_name_with_a_warning(app, staff):
    pid = add_product(app, "Bol « Lune »")
    html = upload(staff, pid, [("a.jpg", jpeg())]).get_data(as_text=True)
    assert any("described by the product name only" in m for m in flashes(html))
    assert "Alt text is only the product name" in html
    assert [alt for _, alt, _, _ in gallery(app, pid)] == ["Bol « Lune »"]


def test_photos_are_reordered_described_and_deleted(app, staff):
    pid = add_product(app, "Bol")
    upload(staff, pid, [("a.jpg", jpeg(color=(1, 2, 3))), ("b.jpg", jpeg(color=(200, 2, 3)))], "x")
    first, second = [row[0] for row in gallery(app, pid)]
    csrf = csrf_token(staff, f"/admin/products/{pid}/edit")

    staff.post(
        f"/admin/products/{pid}/images/{second}/move", data={"csrf_token": csrf, "direction": "up"}
    )
    assert [row[0] for row in gallery(app, pid)] == [second, first]
    staff.post(f"/admin/products/{pid}/images/{first}/alt",
               data={"csrf_token": csrf, "alt_text": "  Bol rouge,   de profil "})  # fmt: skip
    assert gallery(app, pid)[1][1] == "Bol rouge, de profil"
    staff.post(f"/admin/products/{pid}/images/{second}/delete", data={"csrf_token": csrf})
    assert [row[0] for row in gallery(app, pid)] == [first]
    # Another product's photo id is not reachable through this product.
    other = add_product(app, "Autre")
    assert staff.post(f"/admin/products/{other}/images/{first}/delete",
                      data={"csrf_token": csrf}).status_code == 404  # fmt: skip
    assert audit_actions(app, pid)[-3:] == ["image.reorder", "image.alt_text", "image.delete"]


# --- Categories ----------------------------------------------------------------------------------


def test_categories_are_created_edited_and_hidden(app, staff):
    csrf = csrf_token(staff, "/admin/products/categories")
    response = staff.post("/admin/products/categories",
                          data={"csrf_token": csrf, "name": "Arts de la table", "position": "2",
                                "is_active": "y"}, follow_redirects=True)  # fmt: skip
    assert "Category “Arts de la table” created." in response.get_data(as_text=True)
    with app.app_context():
        category = db.session.scalar(select(Category))
        assert (category.slug, category.position, category.is_active) == (
            "arts-de-la-table",
            2,
            True,
        )
        category_id = category.id
    duplicate = staff.post(
        "/admin/products/categories",
        data={"csrf_token": csrf, "name": "Autre", "slug": "arts-de-la-table"},
    )
    assert duplicate.status_code == 422
    staff.post(f"/admin/products/categories/{category_id}/edit",
               data={"csrf_token": csrf, "name": "Table", "slug": "table", "position": "1",
                     "is_active": "y"})  # fmt: skip
    staff.post(f"/admin/products/categories/{category_id}/toggle", data={"csrf_token": csrf})
    with app.app_context():
        category = db.session.get(Category, category_id)
        assert (category.name, category.slug, category.is_active) == ("Table", "table", False)
    assert audit_actions(app, category_id) == [
        "category.create",
        "category.update",
        "category.update",
    ]
