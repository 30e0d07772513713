"""(being written) media pages."""

from flask import Blueprint

bp = Blueprint("media", __name__)
