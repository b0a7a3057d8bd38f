"""The Alembic migrations build exactly the tables the code declares, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from outbound.store.db import alembic_config, current_revision, head_revision, make_engine
from outbound.store.tables import customers, log_sends, metadata


def test_migrated_schema_has_no_drift_from_the_declared_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn), metadata)
        assert drift == []
    finally:
        engine.dispose()


def test_sqlite_timestamps_stored_as_text_before_0009_become_integers_that_read_the_same(
    tmp_path: Path,
) -> None:
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.upgrade(alembic_config(engine), "0008")
        with engine.begin() as conn:  # rows as SQLAlchemy wrote them before: naive UTC text
            conn.exec_driver_sql(
                "INSERT INTO customers (external_id, name, locale, attributes, created_at) "
                "VALUES ('A', '', 'en-US', '{}', '2026-11-26 15:00:00.123456'), "
                "('B', '', 'en-US', '{}', '1969-12-31 23:59:59.500000')"
            )
            conn.exec_driver_sql(
                "INSERT INTO log_sends (idempotency_key, channel, customer_id, text, outcome, at)"
                " VALUES ('k', 'sms', 1, 't', 'sent', '2026-11-27 08:00:00')"
            )
        command.upgrade(alembic_config(engine), "head")
        with engine.begin() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT typeof(created_at) FROM customers UNION SELECT typeof(at) FROM log_sends"
            ).scalars()
            assert set(kinds) == {"integer"}
            read = dict(conn.execute(select(customers.c.external_id, customers.c.created_at)).all())
            sent = conn.execute(select(log_sends.c.at)).scalar_one()
            later = conn.execute(
                select(customers.c.external_id).where(
                    customers.c.created_at > datetime(2026, 11, 26, 15, 0, 0, 123455, tzinfo=UTC)
                )
            ).scalars()
            assert list(later) == ["A"]
        assert read == {
            "A": datetime(2026, 11, 26, 15, 0, 0, 123456, tzinfo=UTC),
            "B": datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        }
        assert sent == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
        command.downgrade(alembic_config(engine), "0008")
        with engine.begin() as conn:
            texts = conn.exec_driver_sql("SELECT created_at FROM customers ORDER BY id").scalars()
            assert list(texts) == ["2026-11-26 15:00:00.123456", "1969-12-31 23:59:59.500000"]
    finally:
        engine.dispose()
