"""The stock service: every unit accounted for, never below zero, each reservation closed once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from comptoir.extensions import db
from comptoir.services import stock
from models import (
    ReservationStatus,
    StockMovement,
    StockReservation,
    utcnow,
)
from tests.builders import make_order, make_product, stock_of


def _order(number: str) -> int:
    """An order waiting for payment, holding nothing yet: the tests reserve its units."""
    return make_order(number, lines=[], status="pending_payment").id


def _ledger_total(product_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
            StockMovement.product_id == product_id
        )
    )


def test_reservation_takes_units_and_release_puts_them_back(app):
    with app.app_context():
        pid = make_product(stock=5).id
        oid = _order("T-1")
        stock.reserve(db.session, oid, [(pid, 2)], utcnow() + timedelta(minutes=30))
        db.session.commit()
        assert stock_of(app, pid) == 3

        released = stock.release(db.session, oid)
        db.session.commit()
        assert [c.after for c in released] == [5]
        assert stock_of(app, pid) == 5
        assert _ledger_total(pid) == 5  # initial +5, reservation -2, release +2


def test_releasing_twice_puts_units_back_only_once(app):
    with app.app_context():
        pid = make_product(stock=4).id
        oid = _order("T-2")
        stock.reserve(db.session, oid, [(pid, 3)], utcnow() + timedelta(minutes=30))
        stock.release(db.session, oid)
        assert stock.release(db.session, oid) == []
        db.session.commit()
        assert stock_of(app, pid) == 4


def test_cannot_reserve_more_than_available_and_nothing_changes(app):
    with app.app_context():
        cheap, scarce = (
            make_product(stock=10, name="Tasse").id,
            make_product(stock=1, name="Vase").id,
        )
        oid = _order("T-3")
        db.session.commit()
        with pytest.raises(stock.InsufficientStock) as excinfo:
            stock.reserve(
                db.session, oid, [(cheap, 2), (scarce, 2)], utcnow() + timedelta(minutes=30)
            )
        db.session.rollback()
        assert excinfo.value.product_id == scarce
        assert excinfo.value.available == 1
        assert (stock_of(app, cheap), stock_of(app, scarce)) == (10, 1)
        assert db.session.scalar(select(func.count(StockReservation.id))) == 0


def test_inactive_product_cannot_be_reserved(app):
    with app.app_context():
        pid = make_product(stock=3, is_active=False).id
        oid = _order("T-4")
        with pytest.raises(stock.InsufficientStock):
            stock.reserve(db.session, oid, [(pid, 1)], utcnow() + timedelta(minutes=30))


def test_paid_order_converts_reservation_without_touching_stock_again(app):
    with app.app_context():
        pid = make_product(stock=3).id
        oid = _order("T-5")
        stock.reserve(db.session, oid, [(pid, 2)], utcnow() + timedelta(minutes=30))
        assert stock.convert_to_sale(db.session, oid) == []
        assert stock.convert_to_sale(db.session, oid) == []  # idempotent
        db.session.commit()
        assert stock_of(app, pid) == 1
        status = db.session.scalar(select(StockReservation.status))
        assert status == ReservationStatus.CONVERTED


def test_payment_after_release_takes_units_again_when_still_available(app):
    with app.app_context():
        pid = make_product(stock=3).id
        oid = _order("T-6")
        stock.reserve(db.session, oid, [(pid, 2)], utcnow() + timedelta(minutes=30))
        stock.release(db.session, oid)
        changes = stock.convert_to_sale(db.session, oid)
        db.session.commit()
        assert [(c.before, c.after) for c in changes] == [(3, 1)]
        assert stock_of(app, pid) == 1


def test_payment_after_release_fails_whole_order_when_units_were_sold(app):
    with app.app_context():
        plenty, scarce = (
            make_product(stock=10, name="Tasse").id,
            make_product(stock=1, name="Vase").id,
        )
        late, other = _order("T-7"), _order("T-8")
        stock.reserve(db.session, late, [(plenty, 1), (scarce, 1)], utcnow())
        stock.release(db.session, late)
        stock.reserve(db.session, other, [(scarce, 1)], utcnow() + timedelta(minutes=30))
        db.session.commit()

        with pytest.raises(stock.InsufficientStock):
            stock.convert_to_sale(db.session, late)
        db.session.commit()
        # All or nothing: the available product was not taken either.
        assert (stock_of(app, plenty), stock_of(app, scarce)) == (10, 0)
        statuses = db.session.scalars(
            select(StockReservation.status).where(StockReservation.order_id == late)
        ).all()
        assert set(statuses) == {ReservationStatus.RELEASED}


def test_staff_adjustment_refuses_to_overwrite_a_concurrent_change(app):
    with app.app_context():
        pid = make_product(stock=5).id
        ok, value = stock.adjust_to(db.session, pid, expected=5, new_quantity=8, user_id=None)
        assert (ok, value) == (True, 8)
        ok, value = stock.adjust_to(db.session, pid, expected=5, new_quantity=2, user_id=None)
        db.session.commit()
        assert (ok, value) == (False, 8)
        assert stock_of(app, pid) == 8
        assert _ledger_total(pid) == 8


def test_threshold_crossing_is_reported_once():
    change = stock.StockChange(product_id=1, before=4, after=2)
    assert change.crossed(3) == "low_stock"
    assert stock.StockChange(1, 2, 1).crossed(3) is None
    assert stock.StockChange(1, 1, 0).crossed(3) == "out_of_stock"
    assert stock.StockChange(1, 10, 8).crossed(3) is None
