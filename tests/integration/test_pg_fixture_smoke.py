from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from outbound.store.db import make_engine
from outbound.testing.postgres import PgCluster, PgServer
from tests.conftest import pg_cluster


def test_every_engine_database_is_migrated_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        seq = conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()
    engine.dispose()
    assert seq == 0


@pytest.mark.postgres
def test_a_database_made_from_a_template_starts_with_the_template_rows(
    pg_server: PgServer,
) -> None:
    source = pg_server.new_database()
    engine = make_engine(source)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE seeded (n integer)"))
        conn.execute(text("INSERT INTO seeded VALUES (1), (2), (3)"))
    engine.dispose()  # a template must have no open connection

    copy = make_engine(pg_server.new_database(template=source.rsplit("/", 1)[1]))
    with copy.begin() as conn:
        conn.execute(text("INSERT INTO seeded VALUES (4)"))
        in_copy = conn.execute(text("SELECT count(*) FROM seeded")).scalar_one()
    copy.dispose()
    engine = make_engine(source)
    with engine.connect() as conn:
        in_source = conn.execute(text("SELECT count(*) FROM seeded")).scalar_one()
    engine.dispose()
    assert (in_copy, in_source) == (4, 3)


@pytest.fixture
def tuned_cluster() -> Iterator[PgCluster]:
    own = pg_cluster({"work_mem": "7MB"})
    try:
        yield own
    finally:
        own.remove()


@pytest.mark.postgres
def test_a_cluster_runs_with_the_extra_settings_it_was_given(tuned_cluster: PgCluster) -> None:
    engine = create_engine(tuned_cluster.admin_url)
    with engine.connect() as conn:
        settings = {
            name: conn.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("work_mem", "fsync", "listen_addresses")
        }
    engine.dispose()
    assert settings == {"work_mem": "7MB", "fsync": "off", "listen_addresses": "127.0.0.1"}
