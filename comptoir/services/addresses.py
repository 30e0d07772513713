"""Saved delivery addresses of customer accounts (France and the EU), used by checkout too.

Plain functions taking the session; they flush, the caller commits. Input problems raise
`AccountError` naming the faulty field.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from comptoir.services.accounts import AccountError
from models import Address, User

# Where addresses may be by default: France, then the other EU member states.
ADDRESS_COUNTRIES = (
    "FR", "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)  # fmt: skip
MAX_ADDRESSES = 20


def address_countries() -> tuple[str, ...]:
    """Countries an address may be in: where the shop delivers (SHIPPING_COUNTRIES, shared with
    checkout, so a saved address is always usable there), France first."""
    configured = current_app.config.get("SHIPPING_COUNTRIES") or ADDRESS_COUNTRIES
    codes = tuple(dict.fromkeys(code.upper() for code in configured))
    return ("FR", *(c for c in codes if c != "FR")) if "FR" in codes else codes


_ADDRESS_LIMITS = {
    "full_name": 200, "line1": 200, "line2": 200, "postal_code": 20, "city": 120,
    "country": 2, "label": 80, "phone": 40,
}  # fmt: skip


@dataclass
class AddressData:
    full_name: str
    line1: str
    postal_code: str
    city: str
    country: str = "FR"
    line2: str = ""
    label: str = ""
    phone: str = ""

    def cleaned(self) -> AddressData:
        """Trimmed values, checked; raises AccountError naming the first faulty field."""
        values = {k: (str(v or "")).strip() for k, v in vars(self).items()}
        values["country"] = values["country"].upper()
        values["postal_code"] = values["postal_code"].upper()
        for name, limit in _ADDRESS_LIMITS.items():
            if len(values[name]) > limit:
                raise AccountError(_("Use at most %(n)d characters.", n=limit), name)
        for required in ("full_name", "line1", "postal_code", "city"):
            if not values[required]:
                raise AccountError(_("This field is required."), required)
        if values["country"] not in address_countries():
            raise AccountError(_("We do not deliver to this country."), "country")
        if values["country"] == "FR" and not (
            len(values["postal_code"]) == 5 and values["postal_code"].isdigit()
        ):
            raise AccountError(_("A French postal code has 5 digits."), "postal_code")
        return AddressData(**values)


def user_address(session: Session, user: User, address_id: int) -> Address | None:
    """The user's address with this id; None for anyone else's (callers answer 404)."""
    return session.scalar(
        select(Address).where(Address.id == address_id, Address.user_id == user.id)
    )


def default_address(session: Session, user: User) -> Address | None:
    """The default address, else the oldest one (what checkout pre-fills)."""
    return session.scalar(
        select(Address)
        .where(Address.user_id == user.id)
        .order_by(Address.is_default.desc(), Address.id)
        .limit(1)
    )


def save_address(
    session: Session, user: User, data: AddressData, address: Address | None = None,
    *, make_default: bool = False,
) -> Address:  # fmt: skip
    """Create (address=None) or update one of the user's addresses. The first one is the default."""
    values = data.cleaned()
    if address is None:
        count = session.scalar(select(func.count(Address.id)).where(Address.user_id == user.id))
        if count >= MAX_ADDRESSES:
            raise AccountError(_("You can save up to %(n)d addresses.", n=MAX_ADDRESSES))
        address = Address(user_id=user.id, is_default=count == 0)
        session.add(address)
    for name, value in vars(values).items():
        setattr(address, name, value)
    session.flush()
    if make_default:
        set_default_address(session, user, address)
    return address


def set_default_address(session: Session, user: User, address: Address) -> None:
    for other in session.scalars(select(Address).where(Address.user_id == user.id)):
        other.is_default = other.id == address.id
    session.flush()


def delete_address(session: Session, user: User, address: Address) -> None:
    """Delete; when it was the default, the oldest remaining address becomes the default."""
    was_default = address.is_default
    session.delete(address)
    session.flush()
    if was_default:
        remaining = default_address(session, user)
        if remaining is not None:
            set_default_address(session, user, remaining)
