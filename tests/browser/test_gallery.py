"""The product gallery in a real browser: thumbnails switch the main photo in place (JavaScript)
or by a plain link (without), and the main photo opens a full-size view that Escape closes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.services.admin_gallery import upload_images
from models import Product, ProductImage
from tests.builders import add_catalogue, jpeg, run_jobs

URL = "/products/bol-en-gres"
COLOURS = [(180, 120, 80), (60, 90, 150), (90, 140, 70)]


@pytest.fixture
def gallery_shop(app, live_server):
    """« Bol en grès » with three real photos (uploaded and made ready by the variants job);
    returns the server and the photos' storage keys in gallery order."""
    ids = add_catalogue(
        app,
        [{"name": "Bol en grès", "slug": "bol-en-gres", "stock": 5, "category": "Céramique"}],
        ("Céramique",),
    )
    for n, colour in enumerate(COLOURS):  # one upload per commit, as staff add photos
        with app.app_context():
            product = db.session.get(Product, ids["Bol en grès"])
            files = [(f"bol-{n}.jpg", jpeg(800, 600, colour))]
            result = upload_images(
                db.session, product, files, alt_text=f"Vue {n + 1}", actor_id=None
            )
            assert not result.rejected
            db.session.commit()
    run_jobs(app)
    with app.app_context():
        images = db.session.scalars(
            select(ProductImage).where(ProductImage.product_id == ids["Bol en grès"])
            .order_by(ProductImage.position)
        ).all()  # fmt: skip
        assert all(image.is_ready for image in images), [(i.status, i.failure) for i in images]
        return live_server, [(image.id, image.storage_key) for image in images]


def main_src(page) -> str:
    return page.get_attribute("#gallery .gallery__image", "src")


def test_a_thumbnail_switches_the_main_photo_and_escape_closes_the_full_view(gallery_shop, page):
    server, photos = gallery_shop
    page.goto(server(URL))
    assert photos[0][1] in main_src(page)
    page.evaluate("window.__notReloaded = 1")

    page.click(".gallery__thumb >> nth=2")
    page.wait_for_function(
        "key => document.querySelector('#gallery .gallery__image').src.includes(key)",
        arg=photos[2][1],
    )
    assert page.evaluate("window.__notReloaded === 1")  # switched in place, no page load
    assert page.url == server(f"{URL}?image={photos[2][0]}#gallery")  # a reload shows it too
    assert page.get_attribute(".gallery__thumb >> nth=2", "aria-current") == "true"
    assert page.get_attribute(".gallery__thumb >> nth=0", "aria-current") is None
    assert photos[2][1] in page.get_attribute("#photo-full img", "src")

    page.click("#gallery .gallery__main")
    page.wait_for_selector("#photo-full", state="visible")
    page.wait_for_selector("#photo-full .lightbox__close:focus")
    full = page.locator("#photo-full img")
    full.wait_for(state="visible")
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", full.element_handle())
    page.keyboard.press("Escape")
    page.wait_for_selector("#photo-full", state="hidden")
    page.wait_for_selector("#gallery .gallery__main:focus")  # focus back where it was
    assert page.evaluate("window.__notReloaded === 1")


def test_without_javascript_thumbnails_are_links_and_the_full_view_a_target(
    gallery_shop, nojs_page
):
    server, photos = gallery_shop
    nojs_page.goto(server(URL))
    with nojs_page.expect_navigation():
        nojs_page.click(".gallery__thumb >> nth=1")
    assert nojs_page.url == server(f"{URL}?image={photos[1][0]}#gallery")
    assert photos[1][1] in main_src(nojs_page)
    assert not nojs_page.is_visible("#photo-full")

    nojs_page.click("#gallery .gallery__main")
    nojs_page.wait_for_selector("#photo-full", state="visible")
    assert photos[1][1] in nojs_page.get_attribute("#photo-full img", "src")
    nojs_page.click("#photo-full .lightbox__close")
    nojs_page.wait_for_selector("#photo-full", state="hidden")
