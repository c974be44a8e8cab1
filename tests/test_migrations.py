"""The migrations build exactly the schema infra/tables.py describes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from infra.tables import metadata


async def test_migrated_schema_matches_the_tables_module(engine: AsyncEngine) -> None:
    """No table, column, index or constraint differs between head and infra/tables.py."""
    def differences(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        diff = await conn.run_sync(differences)
    assert diff == []
