"""(being written) staff customers pages."""

from flask import Blueprint

from admin.guard import admin_response_headers, require_staff

bp = Blueprint("admin_customers", __name__, url_prefix="/admin/customers")
bp.before_request(require_staff)
bp.after_request(admin_response_headers)
