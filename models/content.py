"""What staff write for the storefront beside the catalogue: its pages and its settings.

- `ShopPage`: the trust and legal pages (mentions légales, conditions générales de vente,
  confidentialité, livraison et retours, contact), a title and a Markdown body that staff edit
  in the admin and the shop renders safely (no raw HTML). `slug` is the page's address,
  `/pages/<slug>`; `in_footer` lists it in every page's footer, by `position`.
- `ShopSetting`: one row per setting the shop owner chooses in the admin rather than in the
  environment (e.g. the home page's hero product), kept as text under a stable key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from comptoir.extensions import db
from models.base import TimestampMixin, UTCDateTime, utcnow


class ShopPage(TimestampMixin, db.Model):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, rendered without raw HTML
    position: Mapped[int] = mapped_column(Integer, default=0)
    in_footer: Mapped[bool] = mapped_column(Boolean, default=True)
    is_published: Mapped[bool] = mapped_column(Boolean, default=True)

    def __repr__(self) -> str:
        return f"<ShopPage {self.slug}>"


class ShopSetting(db.Model):
    __tablename__ = "shop_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<ShopSetting {self.key}>"
