"""CSV import: every row checked, every problem reported by row number, all or nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from misybot.db.models import Product, StockLevel, StockMovement, Supplier
from misybot.db.session import session_scope
from misybot.enums import MovementKind, Role
from misybot.importer import import_csv
from misybot.permissions import PermissionDenied
from testkit.database import Builder

PRODUCTS = """sku,name,unit,reorder_point,reorder_quantity,lead_time_days,unit_cost,unit_price,preferred_supplier
WID-220,blue widgets,each,60,100,7,4.20,7.90,Acme Supply
wid 221,red widgets,each,40,80,7,4.20,,acme supply
AC4410,ac filters,each,20,30,14,12.50,24.90,
"""  # noqa: E501


@pytest.fixture
def company(session_factory):
    """An empty company with two locations and one supplier; returns (factory, admin actor)."""
    with session_scope(session_factory) as session:
        builder = Builder(session, "importing")
        builder.location("Lisbon", "LIS")
        builder.location("Porto", "OPO")
        builder.supplier("Acme Supply")
        actor = builder.actor(builder.user("Ada Admin", Role.ADMIN))
    return session_factory, actor


def run(factory, actor, kind, text):
    with session_scope(factory) as session:
        return import_csv(session, actor, kind, text)


def count(factory, model) -> int:
    with session_scope(factory) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_valid_products_are_created_then_updated(company):
    factory, actor = company
    result = run(factory, actor, "products", PRODUCTS)
    assert (result.rows, result.created, result.errors) == (3, 3, ())
    with session_scope(factory) as session:
        products = {
            p.sku: p
            for p in session.execute(
                select(Product).where(Product.company_id == actor.company_id)
            ).scalars()
        }
        acme = session.execute(select(Supplier.id)).scalar_one()
    assert set(products) == {"WID-220", "WID-221", "AC4410"}
    assert products["WID-221"].preferred_supplier_id == acme
    assert products["WID-221"].unit_price is None
    assert products["AC4410"].unit_cost == Decimal("12.50")

    changed = PRODUCTS.replace("12.50,24.90", "13.10,24.90")
    again = run(factory, actor, "products", changed)
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)
    with session_scope(factory) as session:
        cost = session.execute(select(Product.unit_cost).where(Product.sku == "AC4410"))
        assert cost.scalar_one() == Decimal("13.10")


def test_a_products_other_names_are_imported_checked_and_updated(company):
    factory, actor = company
    header = "sku,name,reorder_point,reorder_quantity,lead_time_days,unit_cost,aliases\n"
    text = header + "CRS-12,butter croissants,50,200,2,0.45,croissants | crois\n"
    text += "SRD-800,sourdough loaves,25,80,2,2.90,\n"
    assert run(factory, actor, "products", text).created == 2

    def aliases() -> dict[str, list[str] | None]:
        with session_scope(factory) as session:
            return dict(session.execute(select(Product.sku, Product.aliases)).all())

    assert aliases() == {"CRS-12": ["croissants", "crois"], "SRD-800": None}
    again = run(factory, actor, "products", text.replace("croissants | crois", "croissants"))
    assert (again.updated, again.unchanged) == (1, 1)
    assert aliases()["CRS-12"] == ["croissants"]
    too_many = header + "CRS-12,butter croissants,50,200,2,0.45," + "|".join("x" * 11) + "\n"
    too_long = header + "CRS-12,butter croissants,50,200,2,0.45," + "x" * 121 + "\n"
    for bad in (too_many, too_long):
        result = run(factory, actor, "products", bad)
        assert [(e.row, e.column) for e in result.errors] == [(2, "aliases")]
    assert aliases()["CRS-12"] == ["croissants"]


def test_every_bad_row_is_reported_and_nothing_is_written(company):
    factory, actor = company
    text = (
        "sku,name,reorder_point,reorder_quantity,lead_time_days,unit_cost,preferred_supplier\n"
        "WID-220,blue widgets,60,100,7,4.20,\n"  # row 2: fine
        "WID 2!,bad sku,60,100,7,4.20,\n"  # row 3
        "WID-221,,60,100,7,4.20,\n"  # row 4: no name
        "WID-230,green widgets,60,0,7,4.20,\n"  # row 5: reorder quantity 0
        "wid-220,again,60,100,7,4.20,\n"  # row 6: repeats row 2
        "WID-305,brackets,6o,100,7,1.234,\n"  # row 7: two problems
        "\n"  # a blank line is skipped but counted
        "BLT-108,steel bolts,10,10,7,6.50,Globex\n"  # row 9: unknown supplier
        "NUT-108,hex nuts,10,10,7,4.80,\n"  # row 10: fine
    )
    result = run(factory, actor, "products", text)

    assert not result.written
    assert sorted({e.row for e in result.errors}) == [3, 4, 5, 6, 7, 9]
    by_row = {(e.row, e.column) for e in result.errors}
    assert {(3, "sku"), (4, "name"), (5, "reorder_quantity"), (6, None)} <= by_row
    assert {(7, "reorder_point"), (7, "unit_cost"), (9, "preferred_supplier")} <= by_row
    assert "repeats row 2" in str(next(e for e in result.errors if e.row == 6))
    assert count(factory, Product) == 0


def test_header_problems_are_row_one(company):
    factory, actor = company
    result = run(factory, actor, "products", "sku,name,colour\nWID-220,blue widgets,blue\n")
    assert [e.row for e in result.errors] == [1, 1]
    assert "missing column(s): reorder_point" in str(result.errors[0])
    assert "unknown column(s): colour" in str(result.errors[1])
    assert run(factory, actor, "stock", "").errors[0].row == 1


def test_stock_import_sets_levels_through_movements(company):
    factory, actor = company
    run(factory, actor, "products", PRODUCTS)
    result = run(factory, actor, "stock", "sku,location,quantity\nWID-220,Lisbon,120\n"
                 "WID-220,OPO,30\nAC4410,porto,0\n")  # fmt: skip
    assert (result.updated, result.unchanged) == (2, 1)
    with session_scope(factory) as session:
        moves = session.execute(
            select(StockMovement.kind, StockMovement.quantity, StockMovement.reason,
                   StockMovement.user_id).order_by(StockMovement.id)
        ).all()  # fmt: skip
        levels = sorted(session.execute(select(StockLevel.quantity)).scalars())
    assert moves == [
        (MovementKind.ADJUSTMENT, 120, "stock import", actor.user_id),
        (MovementKind.ADJUSTMENT, 30, "stock import", actor.user_id),
    ]
    assert levels == [30, 120]

    bad = run(factory, actor, "stock", "sku,location,quantity,reason\nWID-220,Lisbon,100,count\n"
              "WID-999,Lisbon,5,\nWID-220,Paris,5,\nAC4410,Lisbon,-3,\n")  # fmt: skip
    assert [e.row for e in bad.errors] == [3, 4, 5]
    assert "known: Lisbon, Porto" in str(bad.errors[1])
    assert count(factory, StockMovement) == 2  # the valid first row was not applied either


def test_suppliers_with_a_semicolon_file_and_decimal_commas(company):
    factory, actor = company
    suppliers = (
        "\ufeffname;contact_name;email;phone;lead_time_days\n"
        "Northwind Traders;Daniel;sales@northwind.example;+34 910 000 202;10\n"
        "Acme Supply;Rita;orders@acme.example;+351213000101;5\n"
    )
    result = run(factory, actor, "suppliers", suppliers)
    assert (result.created, result.updated) == (1, 1)
    products = (
        "sku;name;reorder_point;reorder_quantity;lead_time_days;unit_cost\nX-1;x;1;1;1;2,50\n"
    )
    assert run(factory, actor, "products", products).created == 1
    with session_scope(factory) as session:
        assert session.execute(select(Product.unit_cost)).scalar_one() == Decimal("2.50")
        acme = session.execute(select(Supplier).where(Supplier.name == "Acme Supply")).scalar_one()
        assert (acme.lead_time_days, acme.contact_name) == (5, "Rita")

    bad = run(
        factory,
        actor,
        "suppliers",
        "name,email,phone,lead_time_days\n"
        "Globex,not-an-email,+4930000303,14\nIberia,,call me,5\nNorthwind Traders,,,-1\n",
    )
    assert [(e.row, e.column) for e in bad.errors] == [
        (2, "email"),
        (3, "phone"),
        (4, "lead_time_days"),
    ]
    assert count(factory, Supplier) == 2


def test_only_admins_import_and_only_into_their_company(company, session_factory, tmp_path):
    factory, admin = company
    with session_scope(factory) as session:
        other = Builder(session, "other")
        other.location("Lyon")
        operator = other.actor(other.user("Otto Operator", Role.OPERATOR))
        other_admin = other.actor()
    with pytest.raises(PermissionDenied):
        run(factory, operator, "products", PRODUCTS)

    path = Path(tmp_path / "products.csv")
    path.write_text(PRODUCTS, encoding="utf-8")
    with session_scope(factory) as session:
        assert import_csv(session, admin, "products", path).created == 3
    stock = run(factory, other_admin, "stock", "sku,location,quantity\nWID-220,Lyon,5\n")
    assert "unknown SKU" in str(stock.errors[0])  # the other company's SKU does not exist here
    with session_scope(factory) as session:
        owners = set(session.execute(select(Product.company_id)).scalars())
    assert owners == {admin.company_id}
