"""Merchandising as a shopper and a staff member see it: the home page's hero and category tiles
(chosen in the admin among the catalogue's own photos), the product gallery without JavaScript,
stock badges that only speak when they tell something, and "you may also like"."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.services import browse
from comptoir.services.merchandising import HERO_KEY
from models import AuditLog, Category, Product, ShopSetting
from tests.builders import add_catalogue, add_user, count_queries, csrf_token, make_image_row

EN = {"Accept-Language": "en"}
NO_SUCH_IDS = ["abc", "0", "-3", "1e3", "²", "99999999999", "2147483648", " 12 x"]


def _p(name, stock=10, category="Céramique", **fields):
    return {"name": name, "price_cents": 2500, "stock": stock, "category": category, **fields}


def _photos(app, product_id: int, count: int = 1, *, status: str = "ready") -> list[int]:
    """`count` gallery rows for the product (keys products/<id>/img<n>); their ids."""
    with app.app_context():
        rows = [
            make_image_row(product_id, n, alt_text=f"Photo {n + 1} of product {product_id}")
            for n in range(count)
        ]
        for row in rows:
            row.status = status
        db.session.commit()
        return [row.id for row in rows]


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _hero(html: str) -> str:
    return re.search(r'<section class="hero[^"]*".*?</section>', html, re.S).group(0)


def _tiles(html: str) -> dict[str, str]:
    """{category name: its tile's markup} in the order the home page shows them."""
    section = re.search(r'<ul class="category-tiles">.*?</ul>', html, re.S).group(0)
    return {
        name: tile
        for tile, name in re.findall(
            r'(<li><a class="category-tile".*?<span class="category-tile__name">([^<]+)</span>)',
            section,
            re.S,
        )
    }


def _main_image(html: str) -> str:
    return re.search(r'<img [^>]*class="gallery__image"[^>]*>', html, re.S).group(0)


def _audit(app, action: str) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        db.session.expunge_all()
        return list(rows)


def _hero_setting(app) -> str | None:
    with app.app_context():
        setting = db.session.get(ShopSetting, HERO_KEY)
        return setting.value if setting is not None else None


def _choose_hero(staff, value, **extra):
    data = {"csrf_token": csrf_token(staff, "/admin/storefront"), "product_id": value, **extra}
    return staff.post("/admin/storefront", data=data)


# --- Home hero -----------------------------------------------------------------------------------


def test_hero_shows_the_product_staff_chose_with_its_photo_name_and_a_link(app, client, staff):
    ids = add_catalogue(
        app,
        [_p("Bol lune", description="Un bol tourné à la main.\n\nGrès."), _p("Vase haut")],
    )
    bowl_photo = _photos(app, ids["Bol lune"])[0]
    _photos(app, ids["Vase haut"])
    assert _choose_hero(staff, str(ids["Bol lune"])).status_code == 303

    hero = _hero(_html(client.get("/", headers=EN)))
    assert 'class="hero hero--photo"' in hero
    assert "Bol lune" in hero and "Un bol tourné à la main." in hero and "Grès" not in hero
    assert 'href="/products/bol-lune"' in hero and 'href="/products"' in hero
    image = re.search(r"<img [^>]*>", hero).group(0)
    assert f"products/{ids['Bol lune']}/img0-" in image  # the product's own first photo
    assert bowl_photo and f'alt="Photo 1 of product {ids["Bol lune"]}"' in image
    # The phone's largest contentful paint: fetched at once, its space reserved.
    assert 'fetchpriority="high"' in image and 'loading="eager"' in image
    assert 'width="1280"' in image and 'height="960"' in image


def test_without_a_choice_the_hero_shows_an_in_stock_product_with_a_photo(app, client):
    ids = add_catalogue(
        app, [_p("Ancien avec photo"), _p("Épuisé avec photo", stock=0), _p("Récent sans photo")]
    )
    _photos(app, ids["Ancien avec photo"])
    _photos(app, ids["Épuisé avec photo"])
    hero = _hero(_html(client.get("/", headers=EN)))
    assert "Ancien avec photo" in hero and "Épuisé" not in hero


def test_a_shop_without_photos_shows_a_hero_without_a_picture(app, client):
    add_catalogue(app, [_p("Bol sans photo")])
    hero = _hero(_html(client.get("/", headers=EN)))
    assert 'class="hero"' in hero and "<img" not in hero
    assert 'href="/products"' in hero


def test_a_chosen_product_taken_off_sale_leaves_the_hero_to_the_default(app, client, staff):
    ids = add_catalogue(app, [_p("Vedette"), _p("Remplaçant")])
    for name in ids:
        _photos(app, ids[name])
    _choose_hero(staff, str(ids["Vedette"]))
    with app.app_context():
        db.session.get(Product, ids["Vedette"]).is_active = False
        db.session.commit()
    hero = _hero(_html(client.get("/", headers=EN)))
    assert "Remplaçant" in hero and "Vedette" not in hero


def test_staff_choose_the_hero_then_go_back_to_the_automatic_choice_audited(app, staff, staff_id):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    for name in ids:
        _photos(app, ids[name])
    page = _html(staff.get("/admin/storefront"))
    assert 'href="/admin/storefront" aria-current="page"' in page  # in the admin's menu
    assert f'<option value="{ids["Bol"]}">Bol</option>' in page

    response = _choose_hero(staff, str(ids["Bol"]))
    assert response.status_code == 303
    assert _hero_setting(app) == str(ids["Bol"])
    assert "“Bol” is now in the home page" in _html(staff.get("/admin/storefront"))
    _choose_hero(staff, str(ids["Bol"]))  # the same again: nothing to record

    _choose_hero(staff, str(ids["Bol"]), reset="1")
    assert _hero_setting(app) is None
    assert "chooses its hero product automatically" in _html(staff.get("/admin/storefront"))
    entries = _audit(app, "setting.update")
    assert [(e.actor_id, e.object_id, e.before, e.after) for e in entries] == [
        (staff_id, HERO_KEY, {HERO_KEY: None}, {HERO_KEY: str(ids["Bol"])}),
        (staff_id, HERO_KEY, {HERO_KEY: str(ids["Bol"])}, {HERO_KEY: None}),
    ]


@pytest.mark.parametrize("kind", ["archived", "no photo", "failed photo", *NO_SUCH_IDS])
def test_the_hero_refuses_what_is_not_a_product_on_sale_with_a_photo(app, staff, kind):
    ids = add_catalogue(app, [_p("Bol"), _p("Retiré", is_active=False), _p("Sans photo"),
                              _p("Photo ratée")])  # fmt: skip
    _photos(app, ids["Bol"])
    _photos(app, ids["Retiré"])
    _photos(app, ids["Photo ratée"], status="failed")
    value = {"archived": ids["Retiré"], "no photo": ids["Sans photo"],
             "failed photo": ids["Photo ratée"]}.get(kind, kind)  # fmt: skip
    response = _choose_hero(staff, str(value))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose a product from the list: it must be on sale and have a photo." in page
    assert 'aria-invalid="true"' in page
    assert _hero_setting(app) is None and _audit(app, "setting.update") == []


def test_only_staff_may_choose_the_hero(app, client, test_routes):
    from tests.builders import logged_in_client

    ids = add_catalogue(app, [_p("Bol")])
    _photos(app, ids["Bol"])
    anonymous = client.get("/admin/storefront")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    customer = logged_in_client(app, add_user(app, "customer", "cliente@example.com"))
    assert customer.get("/admin/storefront").status_code == 403
    refused = customer.post("/admin/storefront", data={"csrf_token": csrf_token(customer, "/"),
                                                       "product_id": str(ids["Bol"])})  # fmt: skip
    assert refused.status_code == 403 and _hero_setting(app) is None


# --- Category tiles ------------------------------------------------------------------------------


def test_category_tiles_show_the_chosen_photo_or_the_first_products_or_a_placeholder(app, client):
    ids = add_catalogue(
        app,
        [_p("Bol ancien"), _p("Bol récent"), _p("Plaid", category="Textile"),
         _p("Nappe", category="Textile"), _p("Bougie", category="Bougies")],
        categories=("Céramique", "Textile", "Bougies"),
    )  # fmt: skip
    for name in ("Bol ancien", "Bol récent", "Plaid", "Nappe"):
        _photos(app, ids[name], 2)
    with app.app_context():
        textile = db.session.scalar(select(Category).where(Category.name == "Textile"))
        chosen = (
            db.session.scalars(select(Product).where(Product.id == ids["Plaid"])).one().images[1]
        )
        textile.image_id = chosen.id
        db.session.commit()

    tiles = _tiles(_html(client.get("/", headers=EN)))
    assert list(tiles) == ["Céramique", "Textile", "Bougies"]
    assert f"products/{ids['Bol récent']}/img0-" in tiles["Céramique"]  # newest product, 1st photo
    assert f"products/{ids['Plaid']}/img1-" in tiles["Textile"]  # staff's choice
    assert "placeholder" in tiles["Bougies"] and 'width="1600"' in tiles["Bougies"]
    assert 'href="/products?category=ceramique"' in tiles["Céramique"]
    assert all('loading="lazy"' in tile for tile in tiles.values())  # below the hero


def test_a_chosen_tile_photo_that_is_no_longer_ready_falls_back(app, client):
    ids = add_catalogue(app, [_p("Bol"), _p("Tasse")])
    bowl = _photos(app, ids["Bol"])[0]
    cup = _photos(app, ids["Tasse"])[0]
    with app.app_context():
        db.session.scalar(select(Category).where(Category.name == "Céramique")).image_id = bowl
        db.session.commit()
    assert f"products/{ids['Bol']}/img0-" in _tiles(_html(client.get("/")))["Céramique"]
    with app.app_context():
        db.session.get(Product, ids["Bol"]).images[0].status = "failed"
        db.session.commit()
    assert f"products/{ids['Tasse']}/img0-" in _tiles(_html(client.get("/")))["Céramique"]
    assert cup


def test_the_home_page_reads_tiles_in_the_same_queries_for_two_or_ten_categories(app, client):
    def home_queries() -> int:
        with count_queries(app) as statements:
            _html(client.get("/", headers=EN))
        return len(statements)

    names = [f"Catégorie {n}" for n in range(10)]
    ids = add_catalogue(
        app, [_p(f"Pièce {n}", category=names[n]) for n in range(2)], categories=names[:2]
    )
    for product_id in ids.values():
        _photos(app, product_id)
    few = home_queries()
    ids = add_catalogue(
        app, [_p(f"Pièce {n}", category=names[n]) for n in range(2, 10)], categories=names[2:]
    )
    for product_id in ids.values():
        _photos(app, product_id)
    many = home_queries()
    assert len(_tiles(_html(client.get("/")))) == 10
    assert many == few, (few, many)


# --- Admin: the tile's photo -----------------------------------------------------------------


def _category(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Category.id).where(Category.name == name))


def _post_category(staff, category_id: int, image_id, name="Céramique"):
    url = f"/admin/products/categories/{category_id}/edit"
    return staff.post(url, data={"csrf_token": csrf_token(staff, url), "name": name,
                                 "slug": "", "position": "0", "is_active": "y",
                                 "image_id": image_id})  # fmt: skip


def test_staff_choose_a_tiles_photo_among_the_categorys_ready_photos(app, staff, staff_id):
    ids = add_catalogue(app, [_p("Bol"), _p("Retiré", is_active=False),
                              _p("Plaid", category="Textile")])  # fmt: skip
    bowl = _photos(app, ids["Bol"], 2)
    failed = _photos(app, ids["Bol"], 1, status="failed")[0]
    archived = _photos(app, ids["Retiré"])[0]
    blanket = _photos(app, ids["Plaid"])[0]
    ceramics = _category(app, "Céramique")
    form = _html(staff.get(f"/admin/products/categories/{ceramics}/edit"))
    offered = re.findall(r'type="radio" name="image_id" value="(\d*)"', form)
    assert offered == ["", str(bowl[0]), str(bowl[1])]  # automatic, then the ready ones
    assert re.search(r'value=""\s+checked', form) and "<legend>Picture on the home page" in form
    assert form.count('class="tile-picker__image"') == 2

    assert _post_category(staff, ceramics, str(bowl[1])).status_code == 303
    with app.app_context():
        assert db.session.get(Category, ceramics).image_id == bowl[1]
    assert re.search(rf'value="{bowl[1]}"\s+checked', _html(
        staff.get(f"/admin/products/categories/{ceramics}/edit")))  # fmt: skip

    for refused in (str(blanket), str(failed), str(archived), *NO_SUCH_IDS):
        response = _post_category(staff, ceramics, refused, name="Céramique renommée")
        assert response.status_code == 422, refused
        assert "Choose one of the photos shown" in response.get_data(as_text=True)
    with app.app_context():
        category = db.session.get(Category, ceramics)
        assert (category.image_id, category.name) == (bowl[1], "Céramique")  # nothing saved

    assert _post_category(staff, ceramics, "").status_code == 303  # back to automatic
    with app.app_context():
        assert db.session.get(Category, ceramics).image_id is None
    entries = _audit(app, "category.image")
    assert [(e.actor_id, e.before, e.after) for e in entries] == [
        (staff_id, {"image_id": None}, {"image_id": bowl[1]}),
        (staff_id, {"image_id": bowl[1]}, {"image_id": None}),
    ]


def test_a_category_without_photos_offers_nothing_and_keeps_its_choice(app, staff):
    add_catalogue(app, [_p("Bol")])
    ceramics = _category(app, "Céramique")
    form = _html(staff.get(f"/admin/products/categories/{ceramics}/edit"))
    assert 'type="radio"' not in form and "has a photo yet" in form
    url = f"/admin/products/categories/{ceramics}/edit"
    response = staff.post(url, data={"csrf_token": csrf_token(staff, url), "name": "Céramiques",
                                     "position": "0", "is_active": "y"})  # fmt: skip
    assert response.status_code == 303 and _audit(app, "category.image") == []


# --- Product gallery -----------------------------------------------------------------------------


def test_a_thumbnail_link_shows_its_photo_as_the_main_one_without_javascript(app, client):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    photos = _photos(app, ids["Bol"], 3)
    html = _html(client.get("/products/bol", headers=EN))
    thumbs = re.findall(r'<a class="gallery__thumb" href="([^"]+)"[^>]*>', html)
    assert thumbs == [f"/products/bol?image={i}#gallery" for i in photos]
    assert f"products/{ids['Bol']}/img0-" in _main_image(html)
    assert 'aria-current="true"' in re.findall(r'<a class="gallery__thumb"[^>]*>', html)[0]
    assert "Photo 2 of 3" in html  # each thumbnail says which photo it is

    third = _html(client.get(f"/products/bol?image={photos[2]}", headers=EN))
    main = _main_image(third)
    assert (
        f"products/{ids['Bol']}/img2-" in main and f'alt="Photo 3 of product {ids["Bol"]}"' in main
    )
    assert 'fetchpriority="high"' in main
    current = re.findall(r'<a class="gallery__thumb"[^>]*>', third)
    assert ['aria-current="true"' in link for link in current] == [False, False, True]
    # The canonical address stays the product's own.
    assert '<link rel="canonical" href="http://localhost/products/bol">' in third


def test_the_gallery_ignores_photos_that_are_not_this_products_ready_ones(app, client):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    _photos(app, ids["Bol"], 2)
    failed = _photos(app, ids["Bol"], 1, status="failed")[0]
    other = _photos(app, ids["Vase"])[0]
    for value in (str(other), str(failed), *NO_SUCH_IDS, "", "1,2", "[]"):
        response = client.get("/products/bol", query_string={"image": value})
        main = _main_image(_html(response))
        assert f"products/{ids['Bol']}/img0-" in main, value
    assert f"products/{ids['Bol']}/img2" not in _html(client.get("/products/bol"))
    assert client.get("/products/bol?image=%00").status_code == 400


def test_the_main_photo_opens_a_full_size_view_without_javascript(app, client):
    ids = add_catalogue(app, [_p("Bol")])
    photos = _photos(app, ids["Bol"], 2)
    html = _html(client.get(f"/products/bol?image={photos[1]}", headers=EN))
    opener = re.search(r'<a class="gallery__main" href="([^"]+)"', html).group(1)
    assert opener == "#photo-full"
    full = re.search(r'<div class="lightbox" id="photo-full"[^>]*>.*?</div>', html, re.S).group(0)
    assert 'role="dialog"' in full and 'aria-label="Full-size photo"' in full
    assert 'href="#gallery"' in full and ">Close<" in full
    image = re.search(r"<img [^>]*>", full).group(0)
    assert f"products/{ids['Bol']}/img1-1280.webp 1280w" in image  # the largest variant
    assert 'sizes="100vw"' in image and 'loading="lazy"' in image  # fetched when opened


def test_a_product_with_one_photo_has_no_thumbnails_and_one_without_a_placeholder(app, client):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    _photos(app, ids["Bol"])
    html = _html(client.get("/products/bol"))
    assert 'class="gallery__thumbs' not in html and 'id="photo-full"' in html
    bare = _html(client.get("/products/vase"))
    assert "placeholder-image" in bare and 'id="photo-full"' not in bare


# --- Stock badges --------------------------------------------------------------------------------


def test_only_low_and_out_of_stock_badges_are_shown(app, client):
    ids = add_catalogue(app, [_p("Plein", stock=20), _p("Bas", stock=2), _p("Vide", stock=0)])
    for html in (_html(client.get("/products", headers=EN)),
                 _html(client.get("/products/plein", headers=EN))):  # fmt: skip
        # The element stays (the poll swaps it by id; tests and benches read its class).
        assert (
            f'<span id="stock-badge-{ids["Plein"]}" class="badge badge--in_stock" hidden></span>'
            in html
        )
        assert "In stock<" not in html
    catalogue = _html(client.get("/products", headers=EN))
    assert f'id="stock-badge-{ids["Bas"]}" class="badge badge--low_stock">Only 2 left<' in catalogue
    assert (
        f'id="stock-badge-{ids["Vide"]}" class="badge badge--out_of_stock">Out of stock<'
        in catalogue
    )
    polled = _html(client.get(f"/stock-badges?ids={ids['Plein']},{ids['Bas']}", headers=EN))
    assert 'class="badge badge--in_stock" data-hx-swap-oob="true" hidden></span>' in polled
    assert 'class="badge badge--low_stock" data-hx-swap-oob="true">Only 2 left<' in polled


def test_french_shoppers_read_plus_que_and_epuise(app, client):
    add_catalogue(app, [_p("Bas", stock=2), _p("Vide", stock=0)])
    html = _html(client.get("/products", headers={"Accept-Language": "fr"}))
    assert "Plus que 2" in html and "Épuisé" in html and "En stock<" not in html


# --- You may also like ---------------------------------------------------------------------------


def _related(html: str) -> list[str]:
    section = re.search(r'<section class="related".*?</section>', html, re.S)
    if section is None:
        return []
    return re.findall(r'class="product-card__title"><a href="[^"]+">([^<]+)</a>', section.group(0))


def test_you_may_also_like_same_category_in_stock_first_then_others(app, client):
    add_catalogue(
        app,
        [_p("Plaid", category="Textile"), _p("Nappe", category="Textile"),
         _p("Tasse"), _p("Assiette épuisée", stock=0), _p("Vase retiré", is_active=False),
         _p("Bol")],
    )  # fmt: skip
    related = _related(_html(client.get("/products/bol")))
    assert related[:1] == ["Tasse"]  # the same category first
    assert sorted(related[1:]) == ["Nappe", "Plaid"]  # then the others
    assert not {"Bol", "Assiette épuisée", "Vase retiré"} & set(related)


def test_you_may_also_like_shows_at_most_four_and_works_without_a_category(app, client):
    add_catalogue(app, [*[_p(f"Bol {n}") for n in range(6)], _p("Seul", category=None)])
    assert len(_related(_html(client.get("/products/bol-0")))) == 4
    assert len(_related(_html(client.get("/products/seul")))) == 4


def test_you_may_also_like_is_one_query_whatever_the_catalogue(app):
    ids = add_catalogue(app, [*[_p(f"Bol {n}") for n in range(8)], _p("Plaid", category="Textile")])
    with app.app_context():
        product = db.session.get(Product, ids["Bol 0"])
        with count_queries(app) as statements:
            related = browse.related_products(db.session, product)
        assert len(related) == 4
        assert len(statements) <= 2, statements  # the products, then their images


# --- Cached pages follow the choices ------------------------------------------------------------


def test_the_cached_home_page_changes_when_staff_change_the_hero_or_a_tile(app, staff):
    ids = add_catalogue(app, [_p("Bol"), _p("Vase")])
    bowl_photo = _photos(app, ids["Bol"])[0]
    _photos(app, ids["Vase"])
    visitor = app.test_client()
    first = visitor.get("/")
    etag = first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"]
    assert "Vase" in _hero(_html(first))  # automatic: the newest
    assert visitor.get("/", headers={"If-None-Match": etag}).status_code == 304

    _choose_hero(staff, str(ids["Bol"]))
    changed = visitor.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "Bol" in _hero(_html(changed))

    assert f"products/{ids['Vase']}/img0-" in _tiles(_html(changed))["Céramique"]
    _post_category(staff, _category(app, "Céramique"), str(bowl_photo))
    tiles = _tiles(_html(visitor.get("/", headers={"If-None-Match": changed.headers["ETag"]})))
    assert f"products/{ids['Bol']}/img0-" in tiles["Céramique"]


def test_the_catalogue_stamp_covers_the_shop_settings(app, staff):
    ids = add_catalogue(app, [_p("Bol")])
    _photos(app, ids["Bol"])
    with app.app_context():
        before = browse._read_stamp(db.session)
    _choose_hero(staff, str(ids["Bol"]))
    with app.app_context():
        after = browse._read_stamp(db.session)
    _choose_hero(staff, "", reset="1")
    with app.app_context():
        reset = browse._read_stamp(db.session)
    assert after not in (before, reset)  # (back to automatic is the page of before: same stamp)


@pytest.mark.postgresql_only
def test_other_worker_processes_hear_of_a_hero_change(app, staff):
    """`shop_settings` announces its changes on the catalogue channel (migration 0019)."""
    import time

    from comptoir import catalog_changes

    ids = add_catalogue(app, [_p("Bol")])
    _photos(app, ids["Bol"])
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql")
    listener = catalog_changes.ChangeListener(url.render_as_string(hide_password=False))
    try:
        assert listener.heard() is True  # just connected
        assert listener.heard() is False
        _choose_hero(staff, str(ids["Bol"]))
        deadline = time.monotonic() + 2
        while not listener.heard():
            assert time.monotonic() < deadline, "no NOTIFY for the hero change"
            time.sleep(0.005)
    finally:
        listener.close()
