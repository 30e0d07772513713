"""(being written) testpay pages."""

from flask import Blueprint

bp = Blueprint("testpay", __name__)
