"""(being written) seo pages."""

from flask import Blueprint

bp = Blueprint("seo", __name__)
