"""The Alembic migrations build exactly the schema the models describe, up and down."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from misybot.db.engine import create_db_engine
from misybot.db.migrate import current_revision, downgrade, head_revision, upgrade
from misybot.db.models import Base
from testkit.database import postgres_schema

MODEL_TABLES = {table.name for table in Base.metadata.sorted_tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_engine(request, tmp_path):
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        yield engine
        engine.dispose()
        return
    url = request.getfixturevalue("postgres_url")
    with postgres_schema(url, migrate=False) as engine:
        yield engine


def _differences(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_upgrade_creates_the_model_schema(blank_engine):
    assert current_revision(blank_engine) is None

    assert upgrade(blank_engine) == head_revision()

    tables = set(inspect(blank_engine).get_table_names())
    assert tables == MODEL_TABLES | {"alembic_version"}
    assert _differences(blank_engine) == []


def test_hot_lookups_are_indexed(blank_engine):
    upgrade(blank_engine)
    inspector = inspect(blank_engine)

    def indexed(table):
        names = [tuple(ix["column_names"]) for ix in inspector.get_indexes(table)]
        names += [tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)]
        return names

    assert ("company_id", "sku") in indexed("products")
    assert ("company_id", "product_id", "occurred_at") in indexed("stock_movements")
    assert ("status", "priority", "available_at") in indexed("agent_executions")
    assert ("channel", "address") in indexed("channel_identities")
    assert ("channel", "provider_message_id") in indexed("conversation_messages")
    assert ("company_id", "status", "severity") in indexed("alerts")


def test_downgrade_removes_everything_and_upgrade_rebuilds(blank_engine):
    upgrade(blank_engine)

    assert downgrade(blank_engine, "base") is None
    assert set(inspect(blank_engine).get_table_names()) <= {"alembic_version"}

    upgrade(blank_engine)
    assert _differences(blank_engine) == []


def test_upgrade_is_a_no_op_when_current(blank_engine):
    upgrade(blank_engine)
    assert upgrade(blank_engine) == head_revision()
