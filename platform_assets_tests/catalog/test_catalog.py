"""State catalog: migrations on both backends, atomic version numbers, audit in the same transaction."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from platform_assets.catalog.db import open_catalog, transaction
from platform_assets.catalog.migrate import alembic_config, current_revision, head_revision, upgrade
from platform_assets.catalog.models import AuditEvent, Base, Product, RawFile, Version
from platform_assets.catalog.queries import audit
from platform_assets.catalog.queries.products import allocate_version_number
from platform_assets.catalog.queries.products import lock as lock_product
from platform_assets.catalog.states import FileStatus
from platform_assets.storage.sql import create_db_engine


def test_migrations_create_the_models_schema(db_url: str) -> None:
    engine = create_db_engine(db_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert upgrade(engine) == head_revision()  # idempotent
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == [], f"models and migrations differ: {diffs}"
    engine.dispose()


def test_timestamps_are_aware_utc(db_url: str) -> None:
    engine = open_catalog(db_url)
    with transaction(engine) as session:
        product = lock_product(session, "customers")
    with transaction(engine) as session:
        stored = session.get(Product, product.id)
        assert stored is not None
        assert stored.created_at.tzinfo is not None and stored.created_at.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive datetime"):
        with transaction(engine) as session:
            session.add(
                AuditEvent(entity_type="x", entity_id="y", action="z", actor="t", at=datetime(2026, 1, 1), change={})
            )


def test_rollback_returns_the_version_number_and_the_audit_event(db_url: str) -> None:
    engine = open_catalog(db_url)
    with pytest.raises(RuntimeError):
        with transaction(engine) as session:
            product = lock_product(session, "customers")
            allocate_version_number(session, product)
            audit.record(session, "version", "customers/1", "registered", "test", {})
            raise RuntimeError("crash before commit")
    with transaction(engine) as session:
        product = lock_product(session, "customers")
        assert allocate_version_number(session, product) == 1
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def _allocate_many(url: str, count: int, queue: multiprocessing.Queue[list[int]]) -> None:
    engine = create_db_engine(url)
    numbers = []
    for _ in range(count):
        with transaction(engine) as session:
            product = lock_product(session, "customers")
            number = allocate_version_number(session, product)
            session.add(Version(product_id=product.id, number=number, mode="snapshot"))
            numbers.append(number)
    queue.put(numbers)


def test_concurrent_allocation_from_two_processes(db_url: str) -> None:
    open_catalog(db_url)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_allocate_many, args=(db_url, 40, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    numbers = sorted(results[0] + results[1])
    assert numbers == list(range(1, 81)), "numbers must be unique, gap-free and never reused"
    engine = open_catalog(db_url)
    with engine.connect() as connection:
        stored = sorted(connection.execute(text("SELECT number FROM versions")).scalars())
    assert stored == numbers


def test_migration_0003_renames_the_stored_capture_statuses(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine, "0002")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO products (id, name, last_version, created_at) VALUES (1, 'customers', 1, :now)"),
            {"now": now},
        )
        for number, (key, status) in enumerate(
            [("a.csv", "INGESTED"), ("b.csv", "INGESTING"), ("c.csv", "PROCESSED"), ("d.csv", "FAILED")], start=1
        ):
            connection.execute(
                text(
                    "INSERT INTO raw_files (id, product_id, version, key, size, change, is_empty, status, retry_count, "
                    "created_at, updated_at) VALUES (:id, 1, 1, :key, 1, 'new', false, :status, 0, :now, :now)"
                ),
                {"id": number, "key": key, "status": status, "now": now},
            )
    assert upgrade(engine) == head_revision()
    with transaction(engine) as session:
        stored = dict(session.execute(select(RawFile.key, RawFile.status)).all())
    assert stored == {
        "a.csv": FileStatus.CAPTURED,
        "b.csv": FileStatus.CAPTURING,
        "c.csv": FileStatus.PROCESSED,
        "d.csv": FileStatus.FAILED,
    }
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    with engine.connect() as connection:
        texts: dict[str, str] = dict(connection.execute(text("SELECT key, status FROM raw_files")).all())
    assert texts == {"a.csv": "INGESTED", "b.csv": "INGESTING", "c.csv": "PROCESSED", "d.csv": "FAILED"}
    engine.dispose()
