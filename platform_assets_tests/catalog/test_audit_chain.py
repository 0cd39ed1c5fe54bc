"""The audit trail's hash chain: linked on write, in bulk, per product; migration 0009 chains the old events;
verify names the first edited, deleted or out-of-order event; four processes never lose or fork a link."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime

from sqlalchemy import text

from platform_assets.catalog import Catalog
from platform_assets.catalog.audit_chain import GENESIS, PLATFORM_CHAIN, Breach, canonical, chain_of, event_hash
from platform_assets.catalog.db import open_catalog, transaction
from platform_assets.catalog.migrate import head_revision, upgrade
from platform_assets.catalog.queries import audit
from platform_assets.storage.sql import create_db_engine


def _write(url: str, product: str = "customers", events: int = 5) -> None:
    engine = open_catalog(url)
    with transaction(engine) as session:
        audit.record(session, "version", f"{product}/1", "registered", "ann", {"files": events})
        rows = [
            {"entity_type": "raw_file", "entity_id": f"{product}/1/f{n}.csv", "action": "captured", "change": {"n": n}}
            for n in range(events)
        ]
        audit.record_many(session, rows, "ann")
    with transaction(engine) as session:
        audit.record(session, "worker", "w1", "stopped", "ann", {"reason": "finished"})
        audit.record(session, "version", f"{product}/1", "status", "bob", {"from": "CAPTURED", "to": "PROCESSED"})


def _at(url: str, when: datetime) -> object:
    """``when`` as a bound value the way the catalog stores it (SQLite: naive UTC text)."""
    return when if url.startswith("postgres") else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _links(url: str, chain: str) -> list[tuple[int, int, str, str]]:
    with open_catalog(url).connect() as connection:
        query = text("SELECT id, seq, prev_hash, hash FROM audit_events WHERE chain = :c ORDER BY seq")
        return [(row[0], row[1], row[2], row[3]) for row in connection.execute(query, {"c": chain})]


def test_the_canonical_content_is_sorted_key_compact_json() -> None:
    """The hand-written encoder gives exactly json.dumps(sort_keys, compact, ASCII) of the documented fields."""
    at = datetime(2026, 3, 1, 12, 30, 5, 123, tzinfo=UTC)
    for change, run in (
        ({}, None),
        ({"reason": 'say "no"\\ é ✓', "keys": ["a", "b"], "n": 1.5, "z": None, "a": {"y": 1, "x": [True]}}, "r1"),
    ):
        event = {
            "chain": "customers",
            "seq": 7,
            "entity_type": "raw_file",
            "entity_id": 'customers/1/dir/ä "q".csv',
            "action": "captured",
            "actor": "zoë",
            "at": at,
            "change": change,
            "dagster_run_id": run,
        }
        content = {**event, "at": "2026-03-01T12:30:05.000123+00:00", "prev": "ab" * 32}
        expected = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        assert canonical(event, "ab" * 32) == expected


def test_chain_of_an_event() -> None:
    assert chain_of("version", "customers/3") == "customers"
    assert chain_of("raw_file", "customers/3/a/b.csv") == "customers"
    assert chain_of("replica", "customers") == "customers"
    assert chain_of("worker", "customers") == PLATFORM_CHAIN
    assert chain_of("thing", "Not A Product/1") == PLATFORM_CHAIN


def test_events_are_linked_per_chain_in_bulk_and_verify_clean(db_url: str) -> None:
    _write(db_url)
    _write(db_url, "orders", events=2)
    links = _links(db_url, "customers")
    assert [seq for _, seq, _, _ in links] == list(range(1, 8))
    assert links[0][2] == GENESIS
    assert all(links[n][2] == links[n - 1][3] for n in range(1, len(links)))
    assert [seq for _, seq, _, _ in _links(db_url, PLATFORM_CHAIN)] == [1, 2]
    result = Catalog(db_url).verify_audit()
    assert result.intact and result.chains == 3 and result.events == 7 + 4 + 2
    assert {head.chain: head.seq for head in result.heads} == {"customers": 7, "orders": 4, PLATFORM_CHAIN: 2}
    assert Catalog(db_url).verify_audit(["orders"]).events == 4 + 2


def test_a_rolled_back_transaction_leaves_no_link(db_url: str) -> None:
    _write(db_url)
    engine = open_catalog(db_url)
    try:
        with transaction(engine) as session:
            audit.record(session, "version", "customers/2", "registered", "ann", {})
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    _write(db_url)
    assert [seq for _, seq, _, _ in _links(db_url, "customers")] == list(range(1, 15))
    assert Catalog(db_url).verify_audit().intact


def _tamper(url: str, statement: str, **params: object) -> None:
    with open_catalog(url).begin() as connection:
        connection.execute(text(statement), params)


def test_verify_names_an_edited_event(db_url: str) -> None:
    _write(db_url)
    edited = _links(db_url, "customers")[3][0]
    _tamper(db_url, "UPDATE audit_events SET actor = 'mallory' WHERE id = :id", id=edited)
    (finding,) = Catalog(db_url).verify_audit().findings
    assert (finding.chain, finding.breach, finding.event_id, finding.seq) == ("customers", Breach.EDITED, edited, 4)
    assert finding.entity == "raw_file:customers/1/f2.csv" and finding.action == "captured"


def test_verify_names_a_deleted_event_in_the_middle_and_at_the_end(db_url: str) -> None:
    _write(db_url)
    links = _links(db_url, "customers")
    _tamper(db_url, "DELETE FROM audit_events WHERE id = :id", id=links[2][0])
    (finding,) = Catalog(db_url).verify_audit().findings
    assert (finding.breach, finding.event_id, finding.seq) == (Breach.DELETED, links[3][0], 4)
    assert "seq 3 missing" in finding.detail
    _write(db_url, "orders")
    last = _links(db_url, "orders")[-1][0]
    _tamper(db_url, "DELETE FROM audit_events WHERE id = :id", id=last)
    findings = {f.chain: f for f in Catalog(db_url).verify_audit().findings}
    assert findings["orders"].breach is Breach.DELETED and findings["orders"].seq == 7
    assert "seq 7..7 missing after the last event" in findings["orders"].detail


def test_verify_names_an_event_inserted_out_of_order(db_url: str) -> None:
    """A forged event slipped into the middle (later seqs moved up one, every hash recomputed) is still caught:
    its id is newer than the event that follows it."""
    _write(db_url)
    links = _links(db_url, "customers")
    with open_catalog(db_url).begin() as connection:
        connection.execute(text("UPDATE audit_events SET seq = seq + 100 WHERE chain = 'customers' AND seq >= 3"))
        connection.execute(text("UPDATE audit_events SET seq = seq - 99 WHERE chain = 'customers' AND seq >= 103"))
        forged = {
            "chain": "customers",
            "seq": 3,
            "entity_type": "version",
            "entity_id": "customers/1",
            "action": "approved",
            "actor": "mallory",
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "change": {},
            "dagster_run_id": None,
        }
        forged_hash = event_hash(forged, links[1][3])
        connection.execute(
            text(
                "INSERT INTO audit_events (entity_type, entity_id, action, actor, at, change, chain, seq, prev_hash, "
                "hash) VALUES ('version', 'customers/1', 'approved', 'mallory', :at, '{}', 'customers', 3, :prev, :h)"
            ),
            {"at": _at(db_url, datetime(2026, 1, 1, tzinfo=UTC)), "prev": links[1][3], "h": forged_hash},
        )
        forged_id = connection.execute(text("SELECT max(id) FROM audit_events")).scalar_one()
    (finding,) = Catalog(db_url).verify_audit().findings
    assert (finding.breach, finding.event_id, finding.seq) == (Breach.OUT_OF_ORDER, forged_id, 3)
    assert finding.entity == "version:customers/1" and finding.action == "approved"


def test_verify_names_an_event_appended_around_the_writer(db_url: str) -> None:
    _write(db_url)
    last = _links(db_url, "customers")[-1]
    _tamper(
        db_url,
        "INSERT INTO audit_events (entity_type, entity_id, action, actor, at, change, chain, seq, prev_hash, hash) "
        "VALUES ('version', 'customers/1', 'approved', 'mallory', :at, '{}', 'customers', :seq, :prev, 'x')",
        at=_at(db_url, datetime(2026, 1, 1, tzinfo=UTC)),
        seq=last[1] + 1,
        prev=last[3],
    )
    (finding,) = Catalog(db_url).verify_audit().findings
    assert (
        finding.breach is Breach.OUT_OF_ORDER
        and finding.seq == last[1] + 1
        and "past the chain's head" in finding.detail
    )


def test_migration_0009_chains_the_events_that_exist(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine, "0008")
    old = [
        ("version", "customers/1", "registered"),
        ("replica", "orders", "reseed"),
        ("raw_file", "customers/1/a.csv", "captured"),
        ("worker", "w1", "stopped"),
        ("version", "customers/1", "status"),
    ]
    with engine.begin() as connection:
        for n, (entity_type, entity_id, action) in enumerate(old, start=1):
            connection.execute(
                text(
                    "INSERT INTO audit_events (entity_type, entity_id, action, actor, at, change) "
                    "VALUES (:t, :e, :a, 'ann', :at, :change)"
                ),
                {
                    "t": entity_type,
                    "e": entity_id,
                    "a": action,
                    "at": _at(db_url, datetime(2026, 1, n, 12, tzinfo=UTC)),
                    "change": f'{{"n": {n}, "why": "x"}}',
                },
            )
        ids = list(connection.execute(text("SELECT id FROM audit_events ORDER BY id")).scalars())
    assert upgrade(engine) == head_revision()
    engine.dispose()
    assert [(row[0], row[1]) for row in _links(db_url, "customers")] == [(ids[0], 1), (ids[2], 2), (ids[4], 3)]
    assert [(row[0], row[1]) for row in _links(db_url, "orders")] == [(ids[1], 1)]
    assert [(row[0], row[1]) for row in _links(db_url, PLATFORM_CHAIN)] == [(ids[3], 1)]
    result = Catalog(db_url).verify_audit()
    assert result.intact and result.events == 5
    _write(db_url)  # new events link after the migrated head
    assert [seq for _, seq, _, _ in _links(db_url, "customers")] == list(range(1, 11))
    assert Catalog(db_url).verify_audit().intact


def _writer(url: str, rounds: int) -> None:
    catalog = Catalog(url)
    for n in range(rounds):
        catalog.record_replica_reseed("customers", {"round": n}, actor="writer")
        with transaction(catalog.engine) as session:  # a bulk write too, as capture and processing do
            rows = [
                {"entity_type": "raw_file", "entity_id": f"customers/1/{n}-{k}.csv", "action": "captured", "change": {}}
                for k in range(3)
            ]
            audit.record_many(session, rows, "writer")


def test_four_processes_writing_one_chain_lose_or_fork_no_link(db_url: str) -> None:
    Catalog(db_url).ready()
    context = multiprocessing.get_context("spawn")
    rounds = 15
    writers = [context.Process(target=_writer, args=(db_url, rounds)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=180)
        assert writer.exitcode == 0
    expected = 4 * rounds * (1 + 3)
    links = _links(db_url, "customers")
    assert [seq for _, seq, _, _ in links] == list(range(1, expected + 1))
    assert [prev for _, _, prev, _ in links[1:]] == [h for _, _, _, h in links[:-1]]
    result = Catalog(db_url).verify_audit()
    assert result.intact and result.events == expected
