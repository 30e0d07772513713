"""(being written) account pages."""

from flask import Blueprint

bp = Blueprint("account", __name__)
