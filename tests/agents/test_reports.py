"""Report generator: CSV figures recomputed from the movements, a real PNG, a Report row."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from seeded import TODAY, actor_as, company
from sqlalchemy import select

from misybot import clock
from misybot.agents.reports import ReportRequest, generate_report, get_report
from misybot.db.models import Location, Product, Report, StockMovement
from misybot.db.session import session_scope
from misybot.enums import MovementKind, ReportType
from misybot.errors import InvalidInput, NotFound

START, END = TODAY - timedelta(days=29), TODAY - timedelta(days=10)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def movements(session):
    demo = company(session)
    return session.execute(
        select(Product.sku, Location.name, StockMovement.kind, StockMovement.quantity,
               StockMovement.occurred_at)
        .join(Product, Product.id == StockMovement.product_id)
        .join(Location, Location.id == StockMovement.location_id)
        .where(StockMovement.company_id == demo.id)
    ).all()  # fmt: skip


@pytest.fixture
def make_report(writable_db, tmp_path):
    def make(report_type: ReportType, start=START, end=END, who="lucia"):
        with session_scope(writable_db) as s:
            actor = actor_as(s, who)
            result = generate_report(
                s, actor, ReportRequest(report_type, start, end, as_of=TODAY), tmp_path / "out"
            )
            row = s.get(Report, result.report_id)
            return result, row, actor

    return make


def test_inventory_report_closing_stock_per_location(make_report, writable_db, tmp_path):
    result, row, actor = make_report(ReportType.INVENTORY)
    with session_scope(writable_db) as s:
        moves = movements(s)
        costs = dict(
            s.execute(select(Product.sku, Product.unit_cost).where(
                Product.company_id == company(s).id)).all()
        )  # fmt: skip
    closing = defaultdict(int)
    used = defaultdict(int)
    for sku, location, kind, quantity, at in moves:
        day = clock.local_date(at)
        if day <= END:
            closing[(sku, location)] += quantity
        if START <= day <= END and kind in (MovementKind.SALE, MovementKind.CONSUMPTION):
            used[sku] -= quantity

    rows = read_csv(result.csv_path)
    assert len(rows) == 40 == result.row_count
    for line in rows:
        for location in ("Lisbon", "Porto", "Madrid"):
            assert int(line[location]) == closing[(line["sku"], location)], line["sku"]
        assert int(line["used"]) == used[line["sku"]]
    value = sum(costs[sku] * qty for (sku, _loc), qty in closing.items())
    assert Decimal(result.summary["stock_value"]) == value
    assert result.csv_path.parent == tmp_path / "out" / "demo"
    assert result.chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (row.company_id, row.requested_by_id) == (actor.company_id, actor.user_id)
    assert (row.file_path, row.chart_path) == (str(result.csv_path), str(result.chart_path))
    assert (row.start_date, row.end_date, row.summary) == (START, END, result.summary)


def test_sales_report_units_and_revenue(make_report, writable_db):
    result, _row, _actor = make_report(ReportType.SALES)
    with session_scope(writable_db) as s:
        prices = dict(s.execute(select(Product.sku, Product.unit_price).where(
            Product.company_id == company(s).id)).all())  # fmt: skip
        sold = defaultdict(int)
        for sku, _loc, kind, quantity, at in movements(s):
            if kind is MovementKind.SALE and START <= clock.local_date(at) <= END:
                sold[sku] -= quantity
    rows = read_csv(result.csv_path)
    assert {line["sku"]: int(line["units_sold"]) for line in rows} == dict(sold)
    assert result.summary["units_sold"] == sum(sold.values())
    assert Decimal(result.summary["revenue"]) == sum(
        (prices[sku] or 0) * units for sku, units in sold.items()
    )
    revenues = [Decimal(line["revenue"]) for line in rows]
    assert revenues == sorted(revenues, reverse=True)


def test_financial_report_reconciles_opening_to_closing(make_report):
    result, _row, _actor = make_report(ReportType.FINANCIAL)
    for line in read_csv(result.csv_path):
        money = {key: Decimal(value) for key, value in line.items() if key not in ("sku", "name")}
        assert (
            money["opening_value"] + money["purchases"] - money["cost_of_goods_sold"]
            - money["write_offs"] + money["other_movements"]
        ) == money["closing_value"], line["sku"]  # fmt: skip
        assert money["gross_margin"] == money["revenue"] - money["cost_of_goods_sold"]


def test_supplier_report_lists_every_supplier_ranked(make_report):
    result, _row, _actor = make_report(ReportType.SUPPLIER, start=TODAY - timedelta(days=59),
                                       end=TODAY)  # fmt: skip
    rows = read_csv(result.csv_path)
    assert [int(line["rank"]) for line in rows] == [1, 2, 3, 4]
    assert {line["supplier"] for line in rows} == {
        "Acme Supply", "Northwind Traders", "Globex Industrial", "Iberia Components",
    }  # fmt: skip
    assert result.summary["best"] == rows[0]["supplier"]


def test_bad_ranges_are_refused_and_other_companies_reports_are_invisible(make_report, writable_db):
    result, _row, _actor = make_report(ReportType.SALES)
    with session_scope(writable_db) as s:
        with pytest.raises(InvalidInput):
            generate_report(s, actor_as(s, "lucia"), ReportRequest(ReportType.SALES, END, START))
        assert get_report(s, actor_as(s, "lucia"), result.report_id).id == result.report_id
        with pytest.raises(NotFound):
            get_report(s, actor_as(s, "camille", "northstar"), result.report_id)
