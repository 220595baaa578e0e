"""Latency of the inventory monitor on the demo data (a temporary SQLite file, or --database-url).

Each call is one unit of work as the chat layer makes it: open a session, resolve the product
(by SKU, or by name for every fourth call), compute its status, close the session. Figures are
printed, never asserted; the last line is machine-readable.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test kit (testkit/) is not installed

from misybot.agents.inventory import InventoryQuery, check_inventory
from misybot.db.engine import create_db_engine
from misybot.db.migrate import upgrade
from misybot.db.models import Company, Product
from misybot.db.session import make_session_factory, session_scope
from misybot.demo import seed_demo
from misybot.store.tenancy import resolve_actor
from testkit.measure import percentile

ANCHOR = datetime(2026, 3, 11, 15, 0, tzinfo=timezone.utc)


def run(url: str, calls: int, warmup: int) -> tuple[list[float], list[float], dict[str, int]]:
    engine = create_db_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        counts = seed_demo(session, now=ANCHOR).counts
    with session_scope(factory) as session:
        products = session.execute(
            select(Product.sku, Product.name)
            .join(Company, Company.id == Product.company_id)
            .where(Company.slug == "demo")
            .order_by(Product.sku)
        ).all()
    queries = [
        InventoryQuery(product=name) if index % 4 == 3 else InventoryQuery(sku=sku.lower())
        for index, (sku, name) in enumerate(products)
    ]
    wall, reported = [], []
    for index in range(warmup + calls):
        query = queries[index % len(queries)]
        started = time.perf_counter()
        with session_scope(factory) as session:
            result = check_inventory(session, resolve_actor(session, "demo"), query)
        elapsed = (time.perf_counter() - started) * 1000
        if index >= warmup:
            wall.append(elapsed)
            reported.append(result.query_ms)
    engine.dispose()
    return wall, reported, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--database-url", help="an empty database to seed (default: temp SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        wall, reported, counts = run(url, args.calls, args.warmup)
    print(f"database: {url.split(':', 1)[0]}; demo rows: " +
          ", ".join(f"{table}={n}" for table, n in counts.items() if n))  # fmt: skip
    print(
        f"agent (query_ms): n={len(reported)} median_ms={statistics.median(reported):.2f} "
        f"p95_ms={percentile(reported, 0.95):.2f}"
    )
    print(
        f"inventory_agent median_ms={statistics.median(wall):.2f} "
        f"p95_ms={percentile(wall, 0.95):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
