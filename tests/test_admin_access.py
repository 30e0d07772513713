"""Administrators deactivate and reactivate accounts: a deactivated one is signed out everywhere
and cannot sign in; the last administrator cannot lock the shop out."""

from __future__ import annotations

from sqlalchemy import select

from comptoir.extensions import db
from models import AuditLog, Role, User
from tests.builders import add_user, csrf_token, log_in, logged_in_client


def _set_active(client, user_id: int, active: str, next_url: str = "/admin/staff"):
    token = csrf_token(client, "/admin/staff")
    return client.post(
        f"/admin/accounts/{user_id}/active",
        data={"csrf_token": token, "active": active, "next": next_url},
    )


def test_an_admin_deactivates_a_customer_who_is_signed_out_and_cannot_sign_in(app, admin):
    claire = add_user(app, Role.CUSTOMER, "claire@example.com", "Claire Dupont")
    shopper = logged_in_client(app, None)
    assert log_in(shopper, "claire@example.com").status_code == 303
    assert shopper.get("/account/").status_code == 200

    page = admin.get(f"/admin/customers/{claire}").get_data(as_text=True)
    assert "Deactivate" in page
    response = _set_active(admin, claire, "0", f"/admin/customers/{claire}")

    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/admin/customers/{claire}")
    assert "deactivated" in admin.get(f"/admin/customers/{claire}").get_data(as_text=True)
    # Her open session is gone, and her password no longer opens the account.
    assert shopper.get("/account/").status_code == 302
    refused = log_in(logged_in_client(app, None), "claire@example.com")
    assert refused.status_code == 200  # the form again, with its error
    assert "Incorrect email or password." in refused.get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        assert "user.deactivate" in actions

    _set_active(admin, claire, "1", f"/admin/customers/{claire}")
    assert log_in(logged_in_client(app, None), "claire@example.com").status_code == 303


def test_the_last_admin_cannot_be_deactivated_and_staff_cannot_deactivate(app, admin, admin_id):
    other = add_user(app, Role.ADMIN, "second@example.com", "Second Admin")
    assert _set_active(admin, other, "0").status_code == 303
    with app.app_context():
        assert db.session.get(User, other).is_active is False

    # The signed-in admin is now the last active one: the shop refuses to lock itself out.
    response = _set_active(admin, admin_id, "0")
    assert response.status_code == 303
    assert "This is the last administrator" in admin.get("/admin/staff").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, admin_id).is_active is True

    staff = logged_in_client(app, add_user(app, Role.STAFF, "marie@example.com", "Marie"))
    token = csrf_token(staff, "/admin/")
    forbidden = staff.post(
        f"/admin/accounts/{admin_id}/active", data={"csrf_token": token, "active": "0"}
    )
    assert forbidden.status_code == 403
    with app.app_context():
        assert db.session.get(User, admin_id).is_active is True


def test_a_bad_choice_or_an_unknown_account_gets_a_clear_answer(app, admin):
    claire = add_user(app, Role.CUSTOMER, "claire@example.com")
    response = _set_active(admin, claire, "maybe")
    assert response.status_code == 303
    assert "Choose to deactivate or reactivate" in admin.get("/admin/staff").get_data(as_text=True)
    assert _set_active(admin, 10**6, "0").status_code == 404
    # A `next` pointing away from the admin falls back to the staff page.
    away = _set_active(admin, claire, "0", "https://evil.example/")
    assert away.headers["Location"].endswith("/admin/staff")
