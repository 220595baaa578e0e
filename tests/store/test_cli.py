"""The ``misybot`` command, as other tools run it (a subprocess), plus the rest in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from misybot.cli import main
from misybot.db.engine import create_db_engine
from misybot.db.models import Company, Location, Product, StockLevel
from misybot.db.session import make_session_factory, session_scope
from misybot.settings import get_settings

MISYBOT = str(Path(sys.executable).with_name("misybot"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A database URL and reports folder for the CLI, migrated and seeded by the CLI itself."""
    folder = tmp_path_factory.mktemp("cli")
    env = {
        **os.environ,
        "MISYBOT_DATABASE_URL": f"sqlite:///{folder / 'cli.db'}",
        "MISYBOT_REPORTS_DIR": str(folder / "reports"),
    }
    return folder, env


def cli(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([MISYBOT, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def seeded_by_cli(workspace):
    folder, env = workspace
    upgraded = cli(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    from misybot.db.migrate import head_revision

    assert f"revision {head_revision()}" in upgraded.stdout
    seeded = cli(env, "demo", "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded companies demo, northstar" in seeded.stdout
    assert "stock_movements" in seeded.stdout
    return folder, env


def session_for(env):
    engine = create_db_engine(env["MISYBOT_DATABASE_URL"])
    return session_scope(make_session_factory(engine))


def test_inventory_prints_the_real_status(seeded_by_cli):
    _folder, env = seeded_by_cli
    result = cli(env, "agents", "inventory", "--company", "demo", "--sku", "WID-220")
    with session_for(env) as session:
        product = session.execute(
            select(Product)
            .join(Company, Company.id == Product.company_id)
            .where(Company.slug == "demo", Product.sku == "WID-220")
        ).scalar_one()
        levels = dict(
            session.execute(
                select(Location.name, StockLevel.quantity)
                .join(Location, Location.id == StockLevel.location_id)
                .where(StockLevel.product_id == product.id)
            ).all()
        )
    total = sum(levels.values())
    status = "OK" if total > product.reorder_point else "BELOW REORDER POINT"
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    assert first == (
        f"WID-220 blue widgets: {total} each - {status if total else 'OUT OF STOCK'} "
        f"(reorder point {product.reorder_point})"
    )
    for name, quantity in levels.items():
        assert any(line.split()[:2] == [name, str(quantity)] for line in rest), name


def test_a_bad_sku_prints_suggestions(seeded_by_cli):
    _folder, env = seeded_by_cli
    result = cli(env, "agents", "inventory", "--company", "demo", "--sku", "WID-22")
    assert result.returncode == 1
    assert "no product matches 'WID-22'; did you mean WID-220 (blue widgets)" in result.stdout


def test_a_bad_import_file_names_every_bad_row_and_imports_nothing(seeded_by_cli):
    folder, env = seeded_by_cli
    bad = folder / "bad.csv"
    bad.write_text(
        "sku,name,reorder_point,reorder_quantity,lead_time_days,unit_cost\n"
        "NEW-001,new thing,5,10,7,1.00\n"
        "NEW-002,,5,10,7,1.00\n"
        "NEW-003,third,five,10,7,1.00\n"
        "NEW-004,fourth,5,10,7,-2\n",
        encoding="utf-8",
    )
    with session_for(env) as session:
        before = session.execute(select(func.count(Product.id))).scalar_one()

    result = cli(env, "import", "products", str(bad), "--company", "demo")

    assert result.returncode != 0
    for row in (3, 4, 5):
        assert f"row {row}, " in result.stdout
    assert "row 2" not in result.stdout
    assert "nothing was imported" in result.stdout
    with session_for(env) as session:
        assert session.execute(select(func.count(Product.id))).scalar_one() == before

    good = folder / "good.csv"
    good.write_text(bad.read_text().splitlines()[0] + "\nNEW-001,new thing,5,10,7,1.00\n")
    imported = cli(env, "import", "products", str(good), "--company", "demo")
    assert imported.returncode == 0 and "1 created" in imported.stdout


@pytest.fixture
def in_process(seeded_by_cli, monkeypatch):
    folder, env = seeded_by_cli
    for name in ("MISYBOT_DATABASE_URL", "MISYBOT_REPORTS_DIR"):
        monkeypatch.setenv(name, env[name])
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


def test_agent_commands_print_json(in_process, capsys):
    assert main(["agents", "alerts", "list", "--company", "demo", "--severity", "critical"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["sku"] for a in listed["alerts"]] == ["DRL-680"]

    assert main(["agents", "report", "--company", "demo", "--type", "sales",
                 "--from", "2026-01-01", "--to", "2026-12-31"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert Path(report["csv_path"]).is_file() and Path(report["chart_path"]).is_file()
    assert Path(report["csv_path"]).parent == in_process / "reports" / "demo"

    assert main(["agents", "supplier", "--company", "demo", "--name", "acme"]) == 0
    assert json.loads(capsys.readouterr().out)["suppliers"][0]["name"] == "Acme Supply"


def test_permissions_apply_to_the_acting_user(in_process, capsys):
    code = main(["agents", "stock", "--company", "demo", "--sku", "WID-220", "--add", "5",
                 "--location", "Porto", "--reason", "received",
                 "--user", "lucia.gomez@misy-demo.example"])  # fmt: skip
    assert code == 1
    assert "viewers may not update stock" in capsys.readouterr().out


def test_an_unmigrated_database_gets_a_clear_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MISYBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        assert main(["agents", "inventory", "--company", "demo", "--sku", "WID-220"]) == 1
    finally:
        get_settings.cache_clear()
    assert "run `misybot db upgrade`" in capsys.readouterr().out


def test_a_companys_time_zone_is_set_checked_and_its_digests_keep_their_hour(seeded_by_cli):
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from misybot.db.models import Company, Subscription, User
    from misybot.notify.subscriptions import subscribe_digest
    from misybot.store.tenancy import actor_for_user

    _folder, env = seeded_by_cli
    refused = cli(env, "company", "update", "demo", "--timezone", "Mars/Olympus")
    assert refused.returncode == 2 and "unknown time zone 'Mars/Olympus'" in refused.stderr
    with session_for(env) as session:
        company = session.execute(select(Company).where(Company.slug == "demo")).scalar_one()
        user = session.execute(select(User).where(User.company_id == company.id)).scalars().first()
        subscribe_digest(session, actor_for_user(company, user), 7 * 60)
    done = cli(env, "company", "update", "demo", "--timezone", "Asia/Tokyo")
    assert done.returncode == 0 and "1 digest(s) moved" in done.stdout
    with session_for(env) as session:
        company = session.execute(select(Company).where(Company.slug == "demo")).scalar_one()
        next_at = session.execute(select(Subscription.next_at)).scalar_one()
    assert company.timezone == "Asia/Tokyo"
    assert next_at.astimezone(ZoneInfo("Asia/Tokyo")).hour == 7
