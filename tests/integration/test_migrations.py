"""The Alembic migrations build exactly the tables the code declares, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from outbound.store.db import current_revision, head_revision, make_engine
from outbound.store.tables import metadata


def test_migrated_schema_has_no_drift_from_the_declared_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn), metadata)
        assert drift == []
    finally:
        engine.dispose()
