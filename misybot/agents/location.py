"""What a location holds: every product stocked there, its units and status against the
location's own minimum, what needs attention first."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from misybot.agents.common import as_of_or_today, elapsed_ms
from misybot.enums import StockStatus
from misybot.errors import InvalidInput
from misybot.permissions import Operation
from misybot.store.catalog import find_location
from misybot.store.stock import stock_positions, stock_status
from misybot.store.tenancy import Actor

# Out of stock first, then under the minimum, then the rest.
_ATTENTION = {StockStatus.OUT_OF_STOCK: 0, StockStatus.BELOW_REORDER_POINT: 1, StockStatus.OK: 2}


@dataclass(frozen=True)
class LocationQuery:
    """Which location (name or code), as of which day (default today)."""

    location: str | None
    as_of: date | None = None


@dataclass(frozen=True)
class LocationItem:
    """One product stocked at the location."""

    sku: str
    name: str
    unit: str
    quantity: int
    reorder_point: int | None  # the location's own minimum, when it has one
    status: StockStatus
    value: Decimal  # at unit cost


@dataclass(frozen=True)
class LocationContents:
    """What the location holds, most urgent first."""

    company: str
    location: str
    code: str
    city: str | None
    items: tuple[LocationItem, ...]
    total_units: int
    stock_value: Decimal
    below_minimum: int
    out_of_stock: int
    as_of: date
    query_ms: float


def check_location(session: Session, actor: Actor, query: LocationQuery) -> LocationContents:
    """The stock of every product at one location of the actor's company."""
    started = time.perf_counter()
    actor.require(Operation.VIEW)
    if not (query.location or "").strip():
        raise InvalidInput("location", "name a location, for example Porto")
    as_of = as_of_or_today(query.as_of)
    location = find_location(session, actor.company_id, query.location)
    items = []
    for position in stock_positions(session, actor.company_id, as_of):
        if location.id not in position.quantities:
            continue  # never stocked there
        quantity = position.quantities[location.id]
        minimum = position.location_reorder_points.get(location.id)
        product = position.product
        items.append(
            LocationItem(
                sku=product.sku,
                name=product.name,
                unit=product.unit,
                quantity=quantity,
                reorder_point=minimum,
                status=stock_status(quantity, minimum),
                value=product.unit_cost * quantity,
            )
        )
    items.sort(key=lambda item: (_ATTENTION.get(item.status, 3), item.sku))
    return LocationContents(
        company=actor.company_slug,
        location=location.name,
        code=location.code,
        city=location.city,
        items=tuple(items),
        total_units=sum(item.quantity for item in items),
        stock_value=sum((item.value for item in items), Decimal("0")),
        below_minimum=sum(item.status == StockStatus.BELOW_REORDER_POINT for item in items),
        out_of_stock=sum(item.status == StockStatus.OUT_OF_STOCK for item in items),
        as_of=as_of,
        query_ms=elapsed_ms(started),
    )
