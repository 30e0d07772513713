"""Catalogue pages: home, product list (search, filters, sort, pages), product detail."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from comptoir.extensions import db
from models import Product

bp = Blueprint("catalog", __name__)


@bp.get("/")
def home():
    products = db.session.scalars(select(Product).where(Product.is_active.is_(True)).limit(8)).all()
    return render_template("storefront/home.html", products=products)


@bp.get("/products")
def products():
    products = db.session.scalars(select(Product).where(Product.is_active.is_(True))).all()
    return render_template("storefront/home.html", products=products)
