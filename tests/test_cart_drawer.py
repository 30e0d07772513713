"""Cart lines a shopper can step up and down, the drawer as a dialog, the empty cart, how far
free delivery is, and French typography around product names (issue #11, item 4)."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string
from markupsafe import Markup
from sqlalchemy import select

from comptoir.extensions import db
from comptoir.services import cart as carts
from comptoir.services.checkout import shipping_for
from comptoir.typography import NBSP, NNBSP, french_spacing, quote_name
from models import Cart, Product
from tests.builders import add_product, csrf_token, logged_in_client

HX = {"HX-Request": "true"}


@pytest.fixture
def client(app):
    """A browser that reads English (messages are asserted in English)."""
    return logged_in_client(app, None)


def french(app):
    client = app.test_client()
    client.set_cookie("lang", "fr")
    return client


def quantities(app) -> dict[int, int]:
    """The one cart's lines as {product_id: quantity} ({} when there is no cart)."""
    with app.app_context():
        cart = db.session.scalars(select(Cart)).first()
        return {i.product_id: i.quantity for i in cart.items} if cart else {}


def put_in_cart(client, product_id: int, quantity: int = 1) -> str:
    """Add through the cart form; returns the CSRF token of the cart page."""
    token = csrf_token(client, "/cart")
    response = client.post(
        "/cart/items", data={"csrf_token": token, "product_id": product_id, "quantity": quantity}
    )
    assert response.status_code == 303
    client.get("/cart")  # the flash is shown (and consumed) there
    return token


def button(html: str, button_id: str) -> str:
    match = re.search(rf'<button [^>]*id="{button_id}"[^>]*>', html)
    assert match, f"no #{button_id}"
    return match.group(0)


def attr(tag: str, name: str) -> str | None:
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    return match.group(1) if match else None


def step_form(html: str, form_id: str) -> dict[str, str]:
    """The hidden fields of the step form `form_id` (what − and + submit with their value)."""
    form = re.search(rf'<form id="{form_id}"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no #{form_id}"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)))


def press(client, html: str, button_id: str, *, htmx=False, headers=None):
    """Press − or + as a browser would: the button's form (its `form` attribute), its
    formaction if any, its name=value."""
    tag = button(html, button_id)
    data = step_form(html, attr(tag, "form"))
    if attr(tag, "name"):
        data[attr(tag, "name")] = attr(tag, "value")
    form = re.search(rf'<form id="{attr(tag, "form")}"[^>]*action="([^"]+)"', html).group(1)
    action = attr(tag, "formaction") or form
    return client.post(action, data=data, headers={**(HX if htmx else {}), **(headers or {})})


def region(html: str, name: str) -> str:
    match = re.search(
        rf'<div id="{name}-cart" class="cart-contents">.*?</div>\n(?=<a id|$)', html, re.S
    )
    return match.group(0) if match else html


def oob_count(html: str) -> str:
    match = re.search(r'<a id="cart-count"[^>]*>', html)
    assert match, "no cart count"
    assert "hx-swap-oob" in match.group(0)
    return match.group(0)


# --- − and + without JavaScript -----------------------------------------------------------------


def test_plus_and_minus_are_plain_forms_that_post_the_quantity_they_show(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 2)
    page = client.get("/cart").get_data(as_text=True)
    plus = button(page, f"page-{pid}-more")
    assert attr(plus, "type") == "submit" and attr(plus, "value") == "3"
    assert attr(button(page, f"page-{pid}-less"), "value") == "1"
    fields = step_form(page, f"page-{pid}-step")
    assert fields["csrf_token"] and fields["next"] == "/cart" and fields["region"] == "page"

    response = press(client, page, f"page-{pid}-more")
    assert response.status_code == 303 and response.headers["Location"] == "/cart"
    assert quantities(app) == {pid: 3}
    page = client.get("/cart").get_data(as_text=True)
    assert "“Bol en grès”: quantity set to 3." in page
    assert 'value="3" min="1" max="5"' in page and "€84.00" in page

    press(client, page, f"page-{pid}-less")
    assert quantities(app) == {pid: 2}


def test_enter_in_the_quantity_field_updates_instead_of_pressing_minus(app, client):
    """− and + belong to the step form: the quantity form's first (default) button is Update."""
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 2)
    page = client.get("/cart").get_data(as_text=True)
    quantity_form = re.search(r'<form class="cart-line__set".*?</form>', page, re.S).group(0)
    own_buttons = [
        tag for tag in re.findall(r"<button [^>]*>", quantity_form) if 'form="' not in tag
    ]
    assert len(own_buttons) == 1 and "cart-line__update" in own_buttons[0]


def test_a_double_click_on_plus_adds_one_not_two(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 1)
    page = client.get("/cart").get_data(as_text=True)
    press(client, page, f"page-{pid}-more")
    press(client, page, f"page-{pid}-more")  # the same page: the second click, before reload
    assert quantities(app) == {pid: 2}


def test_minus_at_one_removes_the_line_with_a_clear_message(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 1)
    page = client.get("/cart").get_data(as_text=True)
    less = button(page, f"page-{pid}-less")
    assert attr(less, "formaction") == f"/cart/items/{pid}/remove"
    assert "Remove – Bol en grès" in page

    response = press(client, page, f"page-{pid}-less")
    assert response.status_code == 303
    assert quantities(app) == {}
    assert "“Bol en grès” was removed from your cart." in client.get("/cart").get_data(as_text=True)
    # A second click (double click, another tab) is not an error either.
    press(client, page, f"page-{pid}-less")
    assert "no longer in your cart" in client.get("/cart").get_data(as_text=True)


def test_plus_beyond_the_stock_is_refused_with_the_amount_left(app, client):
    pid = add_product(app, stock=3)
    put_in_cart(client, pid, 3)
    page = client.get("/cart").get_data(as_text=True)
    plus = button(page, f"page-{pid}-more")
    assert attr(plus, "aria-disabled") == "true"  # says so, and still explains when pressed
    press(client, page, f"page-{pid}-more")
    assert quantities(app) == {pid: 3}
    assert "Only 3 of “Bol en grès” are left." in client.get("/cart").get_data(as_text=True)


def test_plus_beyond_the_per_line_cap_is_refused_naming_the_cap(app, client):
    app.config["CART_MAX_PER_LINE"] = 2
    pid = add_product(app, stock=50)
    put_in_cart(client, pid, 2)
    page = client.get("/cart").get_data(as_text=True)
    assert attr(button(page, f"page-{pid}-more"), "aria-disabled") == "true"
    press(client, page, f"page-{pid}-more")
    assert quantities(app) == {pid: 2}
    assert "at most 2 of “Bol en grès” at a time" in client.get("/cart").get_data(as_text=True)


def test_minus_on_a_line_above_the_stock_left_goes_down_to_what_is_left(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 5)
    with app.app_context():
        db.session.get(Product, pid).stock_quantity = 2  # sold meanwhile
        db.session.commit()
    page = client.get("/cart").get_data(as_text=True)
    assert "Only 2 left" in page
    press(client, page, f"page-{pid}-less")
    assert quantities(app) == {pid: 2}


# --- − and + with htmx ---------------------------------------------------------------------------


def test_htmx_plus_on_the_cart_page_answers_the_region_with_totals_and_the_count(app, client):
    pid = add_product(app, stock=5, price_cents=2500)
    put_in_cart(client, pid, 1)
    page = client.get("/cart").get_data(as_text=True)
    assert '<div id="page-cart" class="cart-contents">' in page
    plus = button(page, f"page-{pid}-more")
    assert attr(plus, "form") == f"page-{pid}-step"

    response = press(client, page, f"page-{pid}-more", htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "HX-Request" in response.headers["Vary"]
    assert html.startswith('<div id="page-cart" class="cart-contents">')
    contents = region(html, "page")
    assert f'id="page-{pid}-qty"' in contents and 'name="quantity" value="2"' in contents
    assert "€50.00" in contents  # line total and subtotal
    assert "€56.90" in contents  # + €6.90 delivery
    assert 'aria-label="Cart: 2 items"' in oob_count(html)
    assert '<div id="flashes" data-hx-swap-oob="innerHTML">' in html
    assert "quantity set to 2" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert quantities(app) == {pid: 2}
    # The buttons keep their ids, so htmx gives the focus back to the one just pressed.
    assert attr(button(html, f"page-{pid}-more"), "value") == "3"


def test_htmx_minus_in_the_drawer_answers_the_drawer_region_only(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 3)
    drawer = client.get(
        "/cart/drawer", headers={**HX, "HX-Current-URL": "http://localhost/products?q=bol"}
    ).get_data(as_text=True)
    assert step_form(drawer, f"drawer-{pid}-step")["next"] == "/products?q=bol"

    response = press(
        client,
        drawer,
        f"drawer-{pid}-less",
        htmx=True,
        headers={"HX-Current-URL": "http://localhost/products?q=bol"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.startswith('<div id="drawer-cart" class="cart-contents">')
    assert 'id="cart-drawer"' not in html  # the dialog stays: only its contents are swapped
    assert f'id="drawer-{pid}-qty"' in html and 'name="quantity" value="2"' in html
    assert 'aria-label="Cart: 2 items"' in oob_count(html)
    assert 'name="next" value="/products?q=bol"' in html
    assert quantities(app) == {pid: 2}


def test_htmx_change_posts_its_token_in_the_form_or_the_header(app, client):
    pid = add_product(app, stock=5)
    token = put_in_cart(client, pid, 1)
    for data, headers in (
        ({"csrf_token": token, "quantity": "2", "region": "page"}, HX),
        ({"quantity": "3", "region": "page"}, {**HX, "X-CSRFToken": token}),
    ):
        assert client.post(f"/cart/items/{pid}", data=data, headers=headers).status_code == 200
    assert quantities(app) == {pid: 3}
    response = client.post(
        f"/cart/items/{pid}", data={"quantity": "4", "region": "page"}, headers=HX
    )
    assert response.status_code == 400
    assert quantities(app) == {pid: 3}


def test_htmx_refusal_answers_the_region_with_the_reason_on_the_line(app, client):
    pid = add_product(app, stock=3)
    put_in_cart(client, pid, 3)
    page = client.get("/cart").get_data(as_text=True)
    response = press(client, page, f"page-{pid}-more", htmx=True)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#page-cart"
    assert response.headers["HX-Reswap"] == "outerHTML settle:0ms"
    html = response.get_data(as_text=True)
    notice = re.search(
        rf'<p class="cart-line__notice" role="alert" id="page-{pid}-notice">(.*?)</p>', html
    )
    assert notice and notice.group(1) == "Only 3 of “Bol en grès” are left."
    assert f'aria-describedby="page-{pid}-notice"' in html
    assert 'name="quantity" value="3"' in html  # unchanged
    assert 'aria-label="Cart: 3 items"' in oob_count(html)
    assert re.search(r'<div id="flashes" data-hx-swap-oob="innerHTML">\s*</div>', html)
    assert quantities(app) == {pid: 3}


def test_htmx_change_of_a_line_that_is_gone_shows_why_above_the_lines(app, client):
    pid = add_product(app, stock=3)
    other = add_product(app, name="Bougie", stock=3)
    token = put_in_cart(client, pid, 1)
    response = client.post(
        f"/cart/items/{other}",
        data={"csrf_token": token, "quantity": "2", "region": "drawer"},
        headers=HX,
    )
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#drawer-cart"
    html = response.get_data(as_text=True)
    assert '<p class="cart-notice" role="alert">This item is not in your cart.</p>' in html


def test_removing_the_last_line_in_the_drawer_shows_the_empty_state(app, client):
    pid = add_product(app, stock=3)
    put_in_cart(client, pid, 1)
    drawer = client.get("/cart/drawer", headers=HX).get_data(as_text=True)
    response = press(client, drawer, f"drawer-{pid}-less", htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Your cart is empty." in html and 'href="/products"' in html
    assert "€0.00" not in html and "cart-checkout" not in html
    assert 'aria-label="Cart: 0 items"' in oob_count(html)
    assert "“Bol en grès” was removed from your cart." in html


def test_an_unknown_region_gets_the_whole_drawer_as_before(app, client):
    pid = add_product(app, stock=5)
    token = put_in_cart(client, pid, 1)
    for name in ("<script>", "main", "", "page\u200b"):
        response = client.post(
            f"/cart/items/{pid}",
            data={"csrf_token": token, "quantity": "2", "region": name},
            headers=HX,
        )
        assert response.status_code == 200
        assert '<div id="cart-drawer" class="cart-drawer is-open">' in response.get_data(
            as_text=True
        )


# --- Hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "status", "words"),
    [
        ("abc", 400, "Enter a whole number"),
        ("1e3", 400, "Enter a whole number"),
        ("-1", 400, "Enter a whole number"),
        ("0", 400, "Enter a whole number"),
        ("", 400, "Enter a whole number"),
        ("2.5", 400, "Enter a whole number"),
        ("9" * 400, 400, "at most 10"),
        ("99999999999", 400, "at most 10"),
        ("3\x00", 400, None),
    ],
)
def test_bad_quantities_from_a_stepper_are_refused_never_a_500(
    app, client, quantity, status, words
):
    pid = add_product(app, stock=50)
    token = put_in_cart(client, pid, 2)
    for headers in (HX, {}):
        response = client.post(
            f"/cart/items/{pid}",
            data={"csrf_token": token, "quantity": quantity, "region": "page", "next": "/cart"},
            headers=headers,
        )
        if headers:
            assert response.status_code == status, quantity
            if words:
                assert words in response.get_data(as_text=True)
        else:
            assert response.status_code in (303, 400), quantity
    assert quantities(app) == {pid: 2}


def test_nul_bytes_and_huge_ids_in_a_cart_change_are_4xx(app, client):
    pid = add_product(app, stock=5)
    token = put_in_cart(client, pid, 1)
    hostile = [
        (f"/cart/items/{pid}", {"quantity": "2", "region": "page\x00"}),
        (f"/cart/items/{pid}", {"quantity": "2", "next": "/cart\x00x"}),
        (f"/cart/items/{pid}/remove", {"region": "drawer", "next": "\x00"}),
        ("/cart/items/2147483648", {"quantity": "2", "region": "page"}),
        ("/cart/items/99999999999999999999/remove", {"region": "page"}),
    ]
    for url, data in hostile:
        for headers in (HX, {}):
            response = client.post(url, data={"csrf_token": token, **data}, headers=headers)
            assert 400 <= response.status_code < 500, (url, data, response.status_code)
    assert quantities(app) == {pid: 1}


# --- The drawer ---------------------------------------------------------------------------------


def test_the_open_drawer_is_a_modal_dialog_over_a_backdrop_that_closes_it(app, client):
    pid = add_product(app, stock=5)
    put_in_cart(client, pid, 1)
    html = client.get("/cart/drawer", headers=HX).get_data(as_text=True)
    assert re.search(
        r'<section class="cart-drawer__panel" role="dialog" aria-modal="true" '
        r'aria-labelledby="cart-drawer-title">',
        html,
    )
    assert re.search(
        r'<h2 id="cart-drawer-title" class="cart-drawer__title" tabindex="-1" autofocus>', html
    )
    backdrop = re.search(r'<div class="cart-drawer__backdrop"[^>]*>', html).group(0)
    close = re.search(r'<button type="button"[^>]*cart-drawer__close"[^>]*>', html, re.S).group(0)
    for element in (backdrop, close):
        assert 'data-hx-get="/cart/drawer?closed=1"' in element
        assert 'data-hx-target="#cart-drawer"' in element
    assert "<script" not in html and " onclick" not in html and "style=" not in html


def test_the_header_cart_link_opens_the_drawer_with_htmx_and_is_a_link_without(app, client):
    pid = add_product(app, stock=5, slug="bol")
    for path in ("/", "/products/bol"):
        link = re.search(r'<a id="cart-count"[^>]*>', client.get(path).get_data(as_text=True))
        assert 'href="/cart"' in link.group(0) and 'data-hx-get="/cart/drawer"' in link.group(0)
        assert 'data-hx-target="#cart-drawer"' in link.group(0)
        assert 'aria-haspopup="dialog"' in link.group(0)
    # On the cart page (and in the answers to changes made there) it is a plain link: a drawer
    # would show the same lines twice, one of them going stale.
    put_in_cart(client, pid, 1)
    page = client.get("/cart").get_data(as_text=True)
    assert "data-hx-get" not in re.search(r'<a id="cart-count"[^>]*>', page).group(0)
    answer = press(client, page, f"page-{pid}-more", htmx=True).get_data(as_text=True)
    assert "data-hx-get" not in oob_count(answer)
    drawer = client.get("/cart/drawer", headers=HX).get_data(as_text=True)
    assert 'data-hx-get="/cart/drawer"' in oob_count(drawer)


def test_empty_drawer_and_cart_page_offer_the_catalogue_and_no_totals(app, client):
    for html in (
        client.get("/cart").get_data(as_text=True),
        client.get("/cart/drawer", headers=HX).get_data(as_text=True),
    ):
        assert "Your cart is empty." in html
        assert re.search(r'<a class="button" href="/products">Browse the shop</a>', html)
        assert "€0.00" not in html and "Subtotal" not in html
        assert 'class="cart-checkout"' not in html and "Checkout</button>" not in html


# --- Free delivery ------------------------------------------------------------------------------


def summary_of(client) -> str:
    html = client.get("/cart").get_data(as_text=True)
    return re.search(r'<div class="cart-summary">.*?</form>', html, re.S).group(0)


def test_below_the_threshold_the_cart_says_how_much_is_missing(app, client):
    pid = add_product(app, price_cents=3400, stock=5)
    put_in_cart(client, pid, 2)  # €68.00
    summary = summary_of(client)
    assert "Add €12.00 more for free delivery" in summary
    assert "Free delivery from €80.00" in summary
    assert re.search(r"Shipping \(Colissimo\)</dt>\s*<dd>€6.90</dd>", summary)
    assert "€74.90" in summary  # total with delivery


def test_at_the_threshold_delivery_is_free(app, client):
    pid = add_product(app, price_cents=4000, stock=5)
    put_in_cart(client, pid, 2)  # exactly €80.00
    summary = summary_of(client)
    assert re.search(
        r'<p class="cart-shipping cart-shipping--free"[^>]*><strong>Free delivery</strong>', summary
    )
    assert "more for free delivery" not in summary
    assert re.search(r"Shipping \(Colissimo\)</dt>\s*<dd>Free</dd>", summary)
    assert re.search(r"Total, VAT included</dt>\s*<dd><strong>€80.00</strong>", summary)


def test_above_the_threshold_delivery_stays_free(app, client):
    pid = add_product(app, price_cents=4500, stock=5)
    put_in_cart(client, pid, 2)  # €90.00
    summary = summary_of(client)
    assert "Free delivery</strong>" in summary and "more for free delivery" not in summary
    assert "€90.00" in summary


def test_the_message_follows_each_step_across_the_threshold(app, client):
    pid = add_product(app, price_cents=3000, stock=5)
    put_in_cart(client, pid, 2)  # €60.00
    page = client.get("/cart").get_data(as_text=True)
    assert "Add €20.00 more for free delivery" in page
    html = press(client, page, f"page-{pid}-more", htmx=True).get_data(as_text=True)  # €90.00
    assert "Free delivery</strong>" in html and "more for free delivery" not in html


def test_without_a_threshold_there_is_no_free_delivery_message(app, client):
    app.config["SHIPPING_FREE_THRESHOLD_CENTS"] = 0
    pid = add_product(app, price_cents=9000, stock=5)
    put_in_cart(client, pid, 2)
    summary = summary_of(client)
    assert "free delivery" not in summary.lower()
    assert re.search(r"<dd>€6.90</dd>", summary)


def test_the_cart_uses_checkouts_shipping_rule(app):
    app.config["SHIPPING_FREE_THRESHOLD_CENTS"] = 5000
    app.config["SHIPPING_FLAT_CENTS"] = 450
    with app.test_request_context():
        for subtotal in (0, 1, 4999, 5000, 5001, 10**9):
            offer = carts.shipping_offer(subtotal)
            assert offer.cents == shipping_for(subtotal).cents, subtotal
            assert offer.remaining_cents == (5000 - subtotal if subtotal < 5000 else 0)
            assert offer.threshold_cents == 5000


# --- French typography --------------------------------------------------------------------------


def render_in(app, lang: str, source: str, **context) -> str:
    with app.test_request_context("/", headers={"Cookie": f"lang={lang}"}):
        return render_template_string(source, **context)


def test_typo_binds_french_spaces_in_french(app):
    text = "Vase « Mistral » : joli ! Vraiment ? Oui ; non"
    html = render_in(app, "fr", "{{ text|typo }}", text=text)
    assert html == (
        f"Vase «{NBSP}Mistral{NBSP}»{NBSP}: joli{NNBSP}! Vraiment{NNBSP}? Oui{NNBSP}; non"
    )


def test_typo_changes_nothing_but_escaping_in_english(app):
    text = "Vase « Mistral » : joli ! <b>"
    assert render_in(app, "en", "{{ text|typo }}", text=text) == (
        "Vase « Mistral » : joli ! &lt;b&gt;"
    )


def test_typo_escapes_first_and_never_twice(app):
    source = "{{ text|typo }}"
    html = render_in(app, "fr", source, text='<script>alert("x ! ")</script> & co ; fin')
    assert "<script>" not in html
    assert html == (
        f"&lt;script&gt;alert(&#34;x{NNBSP}! &#34;)&lt;/script&gt; &amp; co{NNBSP}; fin"
    )
    # Markup is trusted as it is; entities (no space before their ;) are left alone.
    assert render_in(app, "fr", source, text=Markup("<em>Bol</em> &amp; tasse !")) == (
        f"<em>Bol</em> &amp; tasse{NNBSP}!"
    )
    assert render_in(app, "fr", source, text=None) == ""


def test_typo_adds_no_space_where_there_was_none(app):
    for text in ("10:30", "https://exemple.fr/a?b=1", "«Mistral»", "Quoi?!"):
        assert french_spacing(text) == text
    assert french_spacing("Quoi  ?!") == f"Quoi{NNBSP}?!"
    assert french_spacing("ligne\n: suite") == "ligne\n: suite"  # a line break stays


def test_quote_name_never_doubles_the_quotation_marks(app):
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        assert quote_name("Bol en grès") == "“Bol en grès”"
        assert quote_name("Vase « Mistral »") == "Vase « Mistral »"
        assert quote_name("“Le” bol") == "“Le” bol"


def test_names_with_their_own_quotes_are_not_quoted_again_in_flash_messages(app, client):
    pid = add_product(app, "Vase « Comète », édition limitée", stock=1)
    put_in_cart(client, pid, 1)
    token = csrf_token(client, "/cart")
    client.post("/cart/items", data={"csrf_token": token, "product_id": pid, "quantity": 1})
    html = client.get("/cart").get_data(as_text=True)
    assert "Only 1 of Vase « Comète », édition limitée is left." in html
    assert "“Vase" not in html and "« Vase" not in html


def test_product_names_keep_their_guillemets_together_in_french(app):
    pid = add_product(app, "Vase « Mistral » bleu", slug="vase-mistral", stock=5)
    shopper = french(app)
    bound = f"«{NBSP}Mistral{NBSP}»"
    product_page = shopper.get("/products/vase-mistral").get_data(as_text=True)
    assert re.search(rf"<h1>Vase {bound} bleu</h1>", product_page)
    assert f"<title>Vase {bound} bleu" in product_page
    assert bound in shopper.get("/products").get_data(as_text=True)  # the product card

    put_in_cart(shopper, pid, 1)
    cart_page = shopper.get("/cart").get_data(as_text=True)
    assert re.search(rf'<p class="cart-line__name"><a [^>]*>Vase {bound} bleu</a>', cart_page)
    drawer = shopper.get("/cart/drawer", headers=HX).get_data(as_text=True)
    assert f"Vase {bound} bleu</a>" in drawer
    for html in (cart_page, drawer, product_page):  # no breakable space left in the text shown
        text = re.sub(r"<[^>]*>", "", re.sub(r"<script.*?</script>", "", html, flags=re.S))
        assert "« Mistral" not in text and "Mistral »" not in text


def test_flash_messages_get_french_spacing_too(app):
    pid = add_product(app, "Vase « Mistral »", stock=5)
    shopper = french(app)
    token = csrf_token(shopper, "/cart")
    shopper.post("/cart/items", data={"csrf_token": token, "product_id": pid, "quantity": 1})
    flashes = shopper.get("/cart").get_data(as_text=True).split('id="flashes"', 1)[1]
    flashes = flashes.split("</div>", 1)[0]
    assert f"«{NBSP}Mistral{NBSP}»" in flashes
    assert "« «" not in flashes and "» »" not in flashes
