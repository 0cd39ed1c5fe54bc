"""Database failures a user can fix come out of our engines as PlatformErrors that name the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, make_url, text

from platform_assets.errors import EXIT_FAILED, EXIT_USAGE
from platform_assets.storage.db_errors import (
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnreachable,
    ValueOutOfRange,
)
from platform_assets.storage.sql import create_db_engine
from platform_assets_tests.conftest import PG_ADMIN_URL


def test_an_unreachable_server_is_transient_and_names_the_masked_url() -> None:
    engine = create_db_engine("postgresql://platform:s3cr%40t@127.0.0.1:1/state")
    with pytest.raises(DatabaseUnreachable) as caught:
        engine.connect()
    message = str(caught.value)
    assert "postgresql://platform:***@127.0.0.1:1/state" in message and "s3cr" not in message
    assert "Connection refused" in message and "server is running" in message
    assert (caught.value.kind, caught.value.exit_code) == ("transient", EXIT_FAILED)


def test_a_missing_database_is_a_config_error(pg_database: Callable[[str], str]) -> None:
    missing = make_url(pg_database("gone")).set(database="pa_no_such_database_here")
    engine = create_db_engine(missing.render_as_string(hide_password=False))
    with pytest.raises(DatabaseMissing) as caught:
        engine.connect()
    assert "pa_no_such_database_here does not exist" in str(caught.value) and "CREATE DATABASE" in str(caught.value)
    assert (caught.value.kind, caught.value.exit_code) == ("config", EXIT_USAGE)


def test_a_read_only_postgresql_database_refuses_writes_with_advice(pg_database: Callable[[str], str]) -> None:
    url = pg_database("ro")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = make_url(url).database
            connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
    finally:
        admin.dispose()
    engine = create_db_engine(url)
    try:
        with pytest.raises(DatabaseReadOnly) as caught, engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (a int)"))
    finally:
        engine.dispose()
    assert "does not accept writes" in str(caught.value) and "write access" in str(caught.value)


def test_a_number_too_large_for_its_column_is_out_of_range(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (a integer)"))
        with pytest.raises(ValueOutOfRange), engine.begin() as connection:
            # PostgreSQL refuses 2^31 in an integer (DataError); SQLite cannot bind 2^70 (OverflowError)
            connection.execute(text("INSERT INTO t VALUES (:a)"), {"a": 2**70 if "sqlite" in db_url else 2**31})
    finally:
        engine.dispose()


def test_other_database_errors_stay_as_they_are(db_url: str) -> None:
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    engine = create_db_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (a integer PRIMARY KEY)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        if "postgresql" in db_url:
            with pytest.raises(ProgrammingError), engine.begin() as connection:
                connection.execute(text("SELECT * FROM no_such_table"))
    finally:
        engine.dispose()
