"""What a location holds: hand-made stock with every figure known, and tenant isolation."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from seeded import TODAY, actor_as

from misybot.agents.location import LocationQuery, check_location
from misybot.db.models import StockLevel
from misybot.db.session import session_scope
from misybot.enums import Role, StockStatus
from misybot.errors import InvalidInput, NotFound
from testkit.database import Builder


def test_a_location_lists_its_products_most_urgent_first(writable_db):
    at = datetime.combine(TODAY - timedelta(days=3), time(12), timezone.utc)
    with session_scope(writable_db) as s:
        b = Builder(s, "depot")
        porto, lisbon = b.location("Porto"), b.location("Lisbon")
        bolts = b.product("BLT-001", "steel bolts", unit_cost="0.50")
        tape = b.product("TAP-002", "packing tape", unit_cost="2.00")
        crates = b.product("CRT-003", "plastic crates", unit_cost="10.00")
        gloves = b.product("GLV-004", "work gloves", unit_cost="3.00")
        b.move(bolts, porto, 400, at)
        b.move(tape, porto, 12, at)
        b.move(crates, porto, 5, at)
        b.move(crates, porto, -5, at)  # sold out here
        b.move(gloves, lisbon, 30, at)  # stocked elsewhere only
        s.execute(
            StockLevel.__table__.update()
            .where(StockLevel.location_id == porto.id, StockLevel.product_id == tape.id)
            .values(reorder_point=20)
        )
        actor = b.actor(b.user("Vi Ewer", Role.VIEWER))

        result = check_location(s, actor, LocationQuery("porto", as_of=TODAY))

    assert (result.location, result.code) == ("Porto", "POR")
    assert [(i.sku, i.quantity, i.status) for i in result.items] == [
        ("CRT-003", 0, StockStatus.OUT_OF_STOCK),
        ("TAP-002", 12, StockStatus.BELOW_REORDER_POINT),
        ("BLT-001", 400, StockStatus.OK),
    ]
    assert result.items[1].reorder_point == 20
    assert result.total_units == 412
    assert result.stock_value == Decimal("224.00")  # 400 × 0.50 + 12 × 2.00
    assert (result.out_of_stock, result.below_minimum) == (1, 1)


def test_a_location_is_named_and_found_in_the_own_company_only(session):
    viewer = actor_as(session, "lucia")
    with pytest.raises(InvalidInput):
        check_location(session, viewer, LocationQuery(None))
    with pytest.raises(NotFound) as caught:
        check_location(session, viewer, LocationQuery("Lyon"))  # the other demo company's
    assert {s.value for s in caught.value.suggestions} == {"Lisbon", "Porto", "Madrid"}
    northstar = actor_as(session, "camille", slug="northstar")
    assert check_location(session, northstar, LocationQuery("Lyon")).location == "Lyon"
    with pytest.raises(NotFound):
        check_location(session, northstar, LocationQuery("Porto"))
