"""Forms of the staff pages (Flask-WTF: CSRF-checked). They parse and check shapes (required,
lengths, numbers, euros → cents); the rules (unique slugs, what may be deleted…) live in
comptoir.services.admin_catalog."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    IntegerField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import TextInput

from comptoir.money import parse_euros
from comptoir.services.admin_catalog import VAT_RATES_BP
from comptoir.shop_time import shop_zone
from models import MovementReason, Role

_REQUIRED = _l("This field is required.")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_PRICE_CENTS = 100_000_000  # 1 million euros: a typo guard, not a business rule


class EuroField(Field):
    """A price typed in euros (`28`, `28.5`, `28,50`, `1 234,00`); `data` is integer cents.

    Decimal all the way: 0.1 + 0.2 never becomes 30.000000000000004 cents.
    """

    widget = TextInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return f"{Decimal(self.data) / 100:.2f}".replace(".", ",")

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip().replace("\u00a0", "").replace(" ", "").replace("€", "")
        text = text.replace(",", ".")
        # Digits and at most one decimal point: no exponent (`1e30`), sign, NaN or Infinity,
        # and no 40-digit number reaching Decimal's limits or the INTEGER column.
        match = re.fullmatch(r"([0-9]+)(?:\.([0-9]+))?", text)
        if match is None:
            raise ValueError(_l("Enter a price in euros, for example 28,50."))
        whole, decimals = match.group(1).lstrip("0") or "0", match.group(2) or ""
        if len(decimals) > 2:
            raise ValueError(_l("A price has at most two decimals (cents)."))
        if len(whole) > 9:
            raise ValueError(_l("This price is too high."))
        cents = int(whole) * 100 + int(decimals.ljust(2, "0"))
        if cents > MAX_PRICE_CENTS:
            raise ValueError(_l("This price is too high."))
        self.data = cents


def _vat_choices():
    # Same format as the `vat_rate` template filter: `5,5 %` in French, `5.5 %` in English.
    return [SelectChoice(bp, f"{format_decimal(Decimal(bp) / 100)}\u00a0%") for bp in VAT_RATES_BP]


class ProductForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_REQUIRED), Length(max=200)])
    slug = StringField(
        _l("Address (slug)"),
        validators=[
            Optional(),
            Length(max=150),
            Regexp(SLUG_PATTERN, message=_l("Lower-case letters, digits and hyphens only.")),
        ],
    )
    sku = StringField(_l("SKU (reference)"), validators=[Optional(), Length(max=64)])
    category_id = SelectField(_l("Category"), coerce=int, validate_choice=True)
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=20_000)])
    price = EuroField(_l("Price (€, VAT included)"), validators=[InputRequired(message=_REQUIRED)])
    vat_rate_bp = SelectField(_l("VAT rate"), coerce=int, choices=_vat_choices)
    low_stock_threshold = IntegerField(
        _l("Low-stock threshold"),
        validators=[Optional(), NumberRange(min=0, max=100_000)],
    )
    stock_quantity = IntegerField(
        _l("Stock on hand"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=1_000_000)],
    )
    is_active = BooleanField(_l("On sale (visible in the shop)"), default=True)
    is_featured = BooleanField(_l("Featured on the home page"))

    def set_categories(self, categories) -> None:
        self.category_id.choices = [SelectChoice(0, _l("— No category —"))] + [
            SelectChoice(c.id, c.name if c.is_active else f"{c.name} ({_l('inactive')})")
            for c in categories
        ]

    def values(self) -> dict:
        """The product fields, ready for admin_catalog (cents, None for 'no category')."""
        return {
            "name": self.name.data.strip(),
            "slug": (self.slug.data or "").strip(),
            "sku": (self.sku.data or "").strip(),
            "category_id": self.category_id.data or None,
            "description": (self.description.data or "").strip(),
            "price_cents": self.price.data,
            "vat_rate_bp": self.vat_rate_bp.data,
            "low_stock_threshold": self.low_stock_threshold.data,
            "is_active": bool(self.is_active.data),
            "is_featured": bool(self.is_featured.data),
        }


class ShopDateTimeField(StringField):
    """A date and time typed in the shop's time zone (`<input type="datetime-local">`:
    `2026-11-27T09:00`); `data` is an aware UTC datetime, None when left empty."""

    FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        return self.data.astimezone(shop_zone()).strftime("%Y-%m-%dT%H:%M")

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()[:40]
        if not text:
            return
        for pattern in self.FORMATS:
            try:
                moment = datetime.strptime(text, pattern)
            except ValueError:
                continue
            if not 2000 <= moment.year <= 2100:
                break
            self.data = moment.replace(tzinfo=shop_zone()).astimezone(UTC)
            return
        raise ValueError(_l("Enter a date and time, for example 2026-11-27 09:00."))


class SaleForm(FlaskForm):
    """The product page's « Sale » fieldset: a sale price (euros, comptoir.money.parse_euros)
    and optional dates; `state` echoes the price columns the staff member saw
    (services.pricing.SaleState.token) so a colleague's change is never overwritten."""

    sale_price = StringField(
        _l("Sale price (€, VAT included)"),
        validators=[InputRequired(message=_REQUIRED), Length(max=40)],
    )
    starts_at = ShopDateTimeField(_l("Starts"))
    ends_at = ShopDateTimeField(_l("Ends"))
    state = HiddenField()

    sale_price_cents: int | None = None

    def validate_sale_price(self, field) -> None:
        try:
            cents = parse_euros(field.data)
        except ValueError:
            raise ValidationError(
                _l("Enter a price in euros with at most two decimals, for example 22,40.")
            ) from None
        if cents <= 0:
            raise ValidationError(_l("The sale price must be above zero."))
        self.sale_price_cents = cents

    def validate_ends_at(self, field) -> None:
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The sale must end after it starts."))


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_REQUIRED), Length(max=120)])
    slug = StringField(
        _l("Address (slug)"),
        validators=[
            Optional(),
            Length(max=120),
            Regexp(SLUG_PATTERN, message=_l("Lower-case letters, digits and hyphens only.")),
        ],
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    position = IntegerField(
        _l("Position in menus"), default=0, validators=[Optional(), NumberRange(min=0, max=9999)]
    )
    is_active = BooleanField(_l("Shown in the shop"), default=True)
    # The tile's picture: a photo id among the category's ("" = automatic). Which ids are
    # allowed is the service's rule (services.merchandising.set_category_image); not in values().
    image_id = StringField(_l("Picture on the home page"), validators=[Optional(), Length(max=20)])

    def values(self) -> dict:
        return {
            "name": self.name.data.strip(),
            "slug": (self.slug.data or "").strip(),
            "description": (self.description.data or "").strip(),
            "position": self.position.data or 0,
            "is_active": bool(self.is_active.data),
        }


STOCK_REASON_CHOICES = [
    SelectChoice(MovementReason.ADJUSTMENT.value, _l("Correction / inventory count")),
    SelectChoice(MovementReason.RESTOCK.value, _l("Goods received")),
]


class StockForm(FlaskForm):
    """Inline stock edit: `expected` is the value the staff member saw (compare-and-set)."""

    expected = IntegerField(validators=[InputRequired(message=_REQUIRED), NumberRange(min=0)])
    stock_quantity = IntegerField(
        _l("Stock"),
        validators=[
            InputRequired(message=_REQUIRED),
            NumberRange(
                min=0, max=1_000_000, message=_l("Enter a number between 0 and 1,000,000.")
            ),
        ],
    )
    reason = SelectField(
        _l("Reason"),
        choices=STOCK_REASON_CHOICES,
        default=MovementReason.ADJUSTMENT.value,
        validators=[Optional()],
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=255)])
    next = HiddenField()


class RestockForm(FlaskForm):
    quantity = IntegerField(
        _l("Units received"),
        validators=[InputRequired(message=_REQUIRED), NumberRange(min=1, max=1_000_000)],
    )
    note = StringField(_l("Note (supplier, delivery…)"), validators=[Optional(), Length(max=255)])


class ImageUploadForm(FlaskForm):
    images = MultipleFileField(_l("Photos (JPEG, PNG, WebP or HEIC)"))
    alt_text = StringField(
        _l("Description of the photos (alt text)"), validators=[Optional(), Length(max=300)]
    )


class AltTextForm(FlaskForm):
    alt_text = StringField(_l("Alt text"), validators=[Optional(), Length(max=300)])


class RoleForm(FlaskForm):
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(Role.CUSTOMER.value, _l("Customer (no admin access)")),
            SelectChoice(Role.STAFF.value, _l("Staff")),
            SelectChoice(Role.ADMIN.value, _l("Administrator")),
        ],
    )


class PromoteForm(RoleForm):
    email = StringField(_l("Email of an existing account"),
                        validators=[DataRequired(message=_REQUIRED), Length(max=255)])  # fmt: skip


class HeroForm(FlaskForm):
    """The home page's hero product ("" = automatic). The choices are for display; which ids
    are allowed is the service's rule (services.merchandising.set_hero_product), so a foreign
    id gets its clear message rather than WTForms' "Not a valid choice"."""

    product_id = SelectField(_l("Product in the hero"), validate_choice=False)

    def set_products(self, products) -> None:
        automatic = SelectChoice("", _l("Automatic (in stock, featured, newest)"))
        self.product_id.choices = [automatic] + [SelectChoice(str(p.id), p.name) for p in products]
