from sqlalchemy import text

from outbound.store.db import make_engine


def test_every_engine_database_is_migrated_to_head(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        seq = conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()
    engine.dispose()
    assert seq == 0
