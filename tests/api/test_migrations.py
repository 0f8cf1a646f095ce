"""The Alembic migrations on SQLite and PostgreSQL: they make the models' tables, and
with data in the tables each upgrade keeps the rows it finds and each downgrade
undoes it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from api.db import alembic_config, make_engine, migrate
from api.models import Base


def test_migrations_match_the_models(database_url: str) -> None:
    """The tables Alembic made are the models' tables, column for column."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    finally:
        engine.dispose()


def test_accepted_split_is_added_to_packages_with_rows_in_them(database_url: str) -> None:
    """0003 adds `packages.accepted_split` to a database holding a package with its
    matching job (null for it: it was not accepted as a split), and 0003's downgrade
    takes the column away again, keeping the rows; upgrading again works."""
    config = alembic_config(database_url)
    command.upgrade(config, "0002")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_keys (id, secret_hash, role, label, created_at) "
                    "VALUES ('key1', 'hash', 'broker', '', CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO packages (id, broker_key_id, reference, document, status, "
                    "accepted_agency_id, created_at, updated_at) VALUES ('pkg1', 'key1', "
                    "'mary', '{}', 'accepted', 'isl-agency', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO jobs (id, created_seq, kind, package_id, status, attempts, "
                    "created_at) VALUES ('job1', 1.0, 'match', 'pkg1', 'done', 1, "
                    "CURRENT_TIMESTAMP)"
                )
            )

        def columns() -> set[str]:
            return {c["name"] for c in inspect(engine).get_columns("packages")}

        def rows() -> list[tuple]:
            with engine.connect() as connection:
                return list(
                    connection.execute(text("SELECT id, status, accepted_agency_id FROM packages"))
                )

        assert "accepted_split" not in columns()
        migrate(database_url)
        assert "accepted_split" in columns()
        assert rows() == [("pkg1", "accepted", "isl-agency")]
        with engine.connect() as connection:
            assert connection.execute(text("SELECT accepted_split FROM packages")).all() == [
                (None,)
            ]
        engine.dispose()  # SQLite: nothing of ours open while the table changes
        command.downgrade(config, "0002")
        assert "accepted_split" not in columns()
        assert rows() == [("pkg1", "accepted", "isl-agency")]
        engine.dispose()
        migrate(database_url)
        assert "accepted_split" in columns()
    finally:
        engine.dispose()
