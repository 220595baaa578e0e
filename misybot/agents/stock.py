"""Stock update: set, add or remove units at a location, with a reason, as a recorded movement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from misybot.agents.common import whole_quantity
from misybot.db.models import Location, Product, StockLevel, StockMovement
from misybot.db.types import utc_now
from misybot.enums import MovementKind, StockStatus
from misybot.errors import InvalidInput
from misybot.permissions import Operation
from misybot.store.catalog import (
    find_location,
    find_product,
    get_location,
    get_product,
    list_locations,
)
from misybot.store.stock import apply_movement, quantity_at, stock_status
from misybot.store.tenancy import Actor


class StockUpdateMode(str, Enum):
    SET = "set"
    ADD = "add"
    REMOVE = "remove"


_KINDS_FOR_MODE = {
    StockUpdateMode.ADD: (MovementKind.RECEIPT, MovementKind.ADJUSTMENT),
    StockUpdateMode.REMOVE: (
        MovementKind.SALE,
        MovementKind.CONSUMPTION,
        MovementKind.WRITE_OFF,
        MovementKind.ADJUSTMENT,
    ),
    StockUpdateMode.SET: (MovementKind.ADJUSTMENT,),
}
_DEFAULT_KIND = {
    StockUpdateMode.ADD: MovementKind.RECEIPT,
    StockUpdateMode.REMOVE: MovementKind.CONSUMPTION,
    StockUpdateMode.SET: MovementKind.ADJUSTMENT,
}


@dataclass(frozen=True)
class StockUpdateRequest:
    """Set/add/remove ``quantity`` of a product at a location, and why.

    ``kind`` records the nature of the change (a sale, a write-off…; default: receipt for add,
    consumption for remove, adjustment for set). A retried request with the same
    ``idempotency_key`` returns the first result and changes nothing.
    """

    mode: StockUpdateMode
    quantity: int
    reason: str
    sku: str | None = None
    product: str | None = None
    location: str | None = None
    kind: MovementKind | None = None
    idempotency_key: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class StockUpdateResult:
    """The level before and after, the movement that records it, and the new company total."""

    sku: str
    name: str
    unit: str
    location: str
    mode: StockUpdateMode
    kind: MovementKind | None
    previous_quantity: int
    new_quantity: int
    change: int
    movement_id: int | None  # None when "set" found the level already at that quantity
    total_quantity: int
    reorder_point: int
    status: StockStatus
    replayed: bool = False


def update_stock(session: Session, actor: Actor, request: StockUpdateRequest) -> StockUpdateResult:
    """Apply a stock change for the actor's company; never leaves a level below zero."""
    actor.require(Operation.UPDATE_STOCK)
    mode = StockUpdateMode(request.mode)
    reason = (request.reason or "").strip()
    if not reason:
        raise InvalidInput("reason", "say why the stock changes (received, sold, counted…)")
    if request.idempotency_key:
        replay = _replay(session, actor, request.idempotency_key, mode)
        if replay is not None:
            return replay
    quantity = whole_quantity(request.quantity, minimum=0 if mode is StockUpdateMode.SET else 1)
    kind = MovementKind(request.kind) if request.kind else _DEFAULT_KIND[mode]
    if kind not in _KINDS_FOR_MODE[mode]:
        raise InvalidInput("kind", f"a {kind.value} cannot {mode.value} stock")
    product = find_product(session, actor.company_id, sku=request.sku, name=request.product)
    location = _location(session, actor, product, request.location)
    previous = quantity_at(session, actor.company_id, product.id, location.id)
    change = {
        StockUpdateMode.SET: quantity - previous,
        StockUpdateMode.ADD: quantity,
        StockUpdateMode.REMOVE: -quantity,
    }[mode]
    movement = None
    if change != 0:
        try:
            with session.begin_nested():
                movement = apply_movement(
                    session,
                    actor.company_id,
                    product=product,
                    location=location,
                    quantity=change,
                    kind=kind,
                    reason=reason,
                    occurred_at=request.occurred_at or utc_now(),
                    user_id=actor.user_id,
                    idempotency_key=request.idempotency_key,
                )
        except IntegrityError:
            # A concurrent retry of the same execution got there first: answer as it did.
            replay = request.idempotency_key and _replay(
                session, actor, request.idempotency_key, mode
            )
            if not replay:
                raise
            return replay
    return _result(session, actor, product, location, mode, previous, movement)


def _location(session: Session, actor: Actor, product: Product, text: str | None) -> Location:
    if text:
        return find_location(session, actor.company_id, text)
    stocked = (
        session.execute(
            select(StockLevel.location_id).where(
                StockLevel.company_id == actor.company_id, StockLevel.product_id == product.id
            )
        )
        .scalars()
        .all()
    )
    if len(stocked) == 1:
        return get_location(session, actor.company_id, stocked[0])
    locations = list_locations(session, actor.company_id)
    if len(locations) == 1:
        return locations[0]
    names = ", ".join(loc.name for loc in locations)
    raise InvalidInput("location", f"which location? ({names})")


def _result(
    session: Session,
    actor: Actor,
    product: Product,
    location: Location,
    mode: StockUpdateMode,
    previous: int,
    movement: StockMovement | None,
    replayed: bool = False,
) -> StockUpdateResult:
    total = sum(
        session.execute(
            select(StockLevel.quantity).where(
                StockLevel.company_id == actor.company_id, StockLevel.product_id == product.id
            )
        ).scalars()
    )
    new_quantity = movement.balance_after if movement else previous
    return StockUpdateResult(
        sku=product.sku,
        name=product.name,
        unit=product.unit,
        location=location.name,
        mode=mode,
        kind=MovementKind(movement.kind) if movement else None,
        previous_quantity=previous,
        new_quantity=new_quantity,
        change=new_quantity - previous,
        movement_id=movement.id if movement else None,
        total_quantity=total,
        reorder_point=product.reorder_point,
        status=stock_status(total, product.reorder_point),
        replayed=replayed,
    )


def _replay(
    session: Session, actor: Actor, key: str, mode: StockUpdateMode
) -> StockUpdateResult | None:
    movement = session.execute(
        select(StockMovement).where(
            StockMovement.company_id == actor.company_id, StockMovement.idempotency_key == key
        )
    ).scalar_one_or_none()
    if movement is None:
        return None
    product = get_product(session, actor.company_id, movement.product_id)
    location = get_location(session, actor.company_id, movement.location_id)
    previous = movement.balance_after - movement.quantity
    return _result(session, actor, product, location, mode, previous, movement, replayed=True)
