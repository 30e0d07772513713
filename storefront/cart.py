"""(being written) cart pages."""

from flask import Blueprint

bp = Blueprint("cart", __name__)
