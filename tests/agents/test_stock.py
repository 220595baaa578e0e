"""Stock update: every change is a movement, nothing goes below zero, retries change nothing."""

from __future__ import annotations

import pytest
from seeded import actor_as, company
from sqlalchemy import func, select

from misybot.agents.stock import StockUpdateMode, StockUpdateRequest, update_stock
from misybot.db.models import Location, Product, StockLevel, StockMovement
from misybot.db.session import session_scope
from misybot.enums import MovementKind, Role
from misybot.errors import InvalidInput
from misybot.permissions import Operation, PermissionDenied

ADD, REMOVE, SET = StockUpdateMode.ADD, StockUpdateMode.REMOVE, StockUpdateMode.SET


def level(session, sku: str, location: str) -> int:
    demo = company(session)
    return session.execute(
        select(StockLevel.quantity)
        .join(Product, Product.id == StockLevel.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Product.company_id == demo.id, Product.sku == sku, Location.name == location)
    ).scalar_one()


def movement_count(session) -> int:
    return session.execute(select(func.count(StockMovement.id))).scalar_one()


def test_add_remove_and_set_each_record_a_movement(writable_db):
    with session_scope(writable_db) as s:
        before = level(s, "WID-220", "Lisbon")
        marta = actor_as(s, "marta")
        added = update_stock(s, marta, StockUpdateRequest(ADD, 200, "received from Acme",
                             sku="wid-220", location="lisbon"))  # fmt: skip
        removed = update_stock(s, marta, StockUpdateRequest(REMOVE, 5, "damaged", sku="WID-220",
                               location="Lisbon", kind=MovementKind.WRITE_OFF))  # fmt: skip
        counted = update_stock(s, marta, StockUpdateRequest(SET, 150, "cycle count",
                               sku="WID-220", location="Lisbon"))  # fmt: skip
        moves = s.execute(
            select(StockMovement).where(
                StockMovement.id.in_([added.movement_id, removed.movement_id, counted.movement_id])
            ).order_by(StockMovement.id)
        ).scalars().all()  # fmt: skip

    assert (added.previous_quantity, added.new_quantity) == (before, before + 200)
    assert (removed.previous_quantity, removed.new_quantity) == (before + 200, before + 195)
    assert (counted.change, counted.new_quantity) == (150 - (before + 195), 150)
    assert [(m.kind, m.quantity, m.balance_after, m.reason) for m in moves] == [
        (MovementKind.RECEIPT, 200, before + 200, "received from Acme"),
        (MovementKind.WRITE_OFF, -5, before + 195, "damaged"),
        (MovementKind.ADJUSTMENT, 150 - (before + 195), 150, "cycle count"),
    ]
    assert {m.user_id for m in moves} == {marta.user_id}
    with session_scope(writable_db) as s:
        assert level(s, "WID-220", "Lisbon") == 150
        totals = s.execute(
            select(func.sum(StockLevel.quantity))
            .join(Product, Product.id == StockLevel.product_id)
            .where(Product.sku == "WID-220", Product.company_id == company(s).id)
        ).scalar_one()
    assert counted.total_quantity == totals


def test_never_below_zero_and_nothing_written_when_refused(writable_db):
    with session_scope(writable_db) as s:
        before, moves_before = level(s, "GLV-010", "Porto"), movement_count(s)
    with pytest.raises(InvalidInput) as caught, session_scope(writable_db) as s:
        update_stock(s, actor_as(s, "marta"), StockUpdateRequest(REMOVE, before + 1, "sold",
                     sku="GLV-010", location="Porto", kind=MovementKind.SALE))  # fmt: skip
    assert caught.value.field == "quantity"
    assert f"only {before} box" in caught.value.message
    with session_scope(writable_db) as s:
        assert level(s, "GLV-010", "Porto") == before
        assert movement_count(s) == moves_before


def test_setting_the_same_quantity_records_nothing(writable_db):
    with session_scope(writable_db) as s:
        current, moves_before = level(s, "BAT-100", "Madrid"), movement_count(s)
        result = update_stock(s, actor_as(s, "tiago"), StockUpdateRequest(SET, current, "count",
                              sku="BAT-100", location="Madrid"))  # fmt: skip
        assert result.movement_id is None and result.change == 0
        assert movement_count(s) == moves_before


def test_a_retried_execution_changes_stock_once(writable_db):
    request = StockUpdateRequest(ADD, 30, "received", sku="LED-045", location="Porto",
                                 idempotency_key="exec-4242")  # fmt: skip
    with session_scope(writable_db) as s:
        before = level(s, "LED-045", "Porto")
        first = update_stock(s, actor_as(s, "priya"), request)
    with session_scope(writable_db) as s:
        second = update_stock(s, actor_as(s, "priya"), request)
        assert level(s, "LED-045", "Porto") == before + 30
        keyed = s.execute(
            select(func.count(StockMovement.id)).where(StockMovement.idempotency_key == "exec-4242")
        ).scalar_one()
    assert keyed == 1
    assert second.replayed and not first.replayed
    assert second.movement_id == first.movement_id
    assert (second.previous_quantity, second.new_quantity) == (before, before + 30)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (StockUpdateRequest(ADD, 5, "received", sku="WID-220"), "location"),
        (StockUpdateRequest(ADD, 0, "received", sku="WID-220", location="Porto"), "quantity"),
        (StockUpdateRequest(ADD, 1.5, "received", sku="WID-220", location="Porto"), "quantity"),
        (StockUpdateRequest(ADD, 5_000_000, "oops", sku="WID-220", location="Porto"), "quantity"),
        (StockUpdateRequest(ADD, 5, "  ", sku="WID-220", location="Porto"), "reason"),
        (StockUpdateRequest(REMOVE, 5, "x", sku="WID-220", location="Porto",
                            kind=MovementKind.RECEIPT), "kind"),
    ],
)  # fmt: skip
def test_bad_requests_say_which_field(session, request_, field):
    with pytest.raises(InvalidInput) as caught:
        update_stock(session, actor_as(session, "marta"), request_)
    assert caught.value.field == field
    if field == "location":
        assert "Lisbon, Porto, Madrid" in caught.value.message


def test_viewers_cannot_change_stock(session):
    with pytest.raises(PermissionDenied) as caught:
        update_stock(
            session,
            actor_as(session, "lucia"),
            StockUpdateRequest(ADD, 5, "received", sku="WID-220", location="Porto"),
        )
    assert caught.value.operation is Operation.UPDATE_STOCK
    assert caught.value.role is Role.VIEWER
    assert Role.OPERATOR in caught.value.allowed_roles
