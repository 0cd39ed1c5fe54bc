"""``platform-assets audit verify`` and ``audit log`` on both state backends: an edited, a deleted and an
inserted audit row are each named (exit 1); the log filters by version, file and time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from platform_assets.catalog import Catalog
from platform_assets.catalog.audit_chain import GENESIS, event_hash
from platform_assets.catalog.models import AuditChain, AuditEvent
from platform_assets.cli import main
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets_tests.conftest import synced, write_csv, write_platform_config

ROWS: list[tuple[str, ...]] = [("1", "Ann", "1.00", "2026-01-01")]


@pytest.fixture
def audited(tmp_path: Path, db_url: str) -> tuple[str, Catalog]:
    """A config whose customers has two captured versions, a skipped file and an excluded version: its path."""
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", ROWS)
    write_csv(landing / "b.csv", ROWS)
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw")
    platform = Platform(load_config(path), actor="ann")
    platform.capture("customers", synced(platform, "customers").number)
    write_csv(landing / "c.csv", ROWS)
    platform.capture("customers", synced(platform, "customers").number)
    platform.skip("customers", 2, "c.csv", "bad export, resent tomorrow")
    platform.exclude("customers", 1, "superseded by v2")
    return path, platform.catalog


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main([*argv, "--json"])
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    main(list(argv))
    return code, payload, capsys.readouterr().out


def _events(catalog: Catalog) -> list[dict]:
    with catalog.engine.connect() as connection:
        query = text("SELECT id, seq, entity_type, entity_id, action, hash FROM audit_events ORDER BY chain, seq")
        return [dict(row._mapping) for row in connection.execute(query) if row.entity_id.startswith("customers")]


def _sql(catalog: Catalog, statement: str, **params: object) -> None:
    with catalog.engine.begin() as connection:
        connection.execute(text(statement), params)


def test_an_intact_trail_verifies(audited: tuple[str, Catalog], capsys: pytest.CaptureFixture[str]) -> None:
    path, catalog = audited
    code, payload, said = _run(capsys, "audit", "verify", "--config", path)
    events = len(_events(catalog))
    assert code == 0 and payload["intact"] and payload["findings"] == [] and payload["events"] == events
    assert [head["chain"] for head in payload["heads"]] == ["customers"]
    assert f"audit trail intact: 1 chain(s), {events} event(s) checked" in said


@pytest.mark.parametrize("tamper", ["edited", "deleted", "inserted"])
def test_verify_names_the_tampered_event(
    audited: tuple[str, Catalog], capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    path, catalog = audited
    events = _events(catalog)
    target = next(event for event in events if event["action"] == "skipped")
    if tamper == "edited":
        _sql(catalog, "UPDATE audit_events SET change = :c WHERE id = :id", c='{"reason": "fine"}', id=target["id"])
        expected = ("edited", target["id"], target["seq"])
    elif tamper == "deleted":
        _sql(catalog, "DELETE FROM audit_events WHERE id = :id", id=target["id"])
        after = events[events.index(target) + 1]
        expected = ("deleted", after["id"], after["seq"])
    else:  # a forged approval slipped in after the skip: later events move up one seq
        _sql(
            catalog, "UPDATE audit_events SET seq = seq + 1000 WHERE chain = 'customers' AND seq > :s", s=target["seq"]
        )
        _sql(catalog, "UPDATE audit_events SET seq = seq - 999 WHERE chain = 'customers' AND seq > 1000")
        forged = {
            "chain": "customers",
            "seq": target["seq"] + 1,
            "entity_type": "version",
            "entity_id": "customers/2",
            "action": "approved",
            "actor": "mallory",
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "change": {},
            "dagster_run_id": None,
        }
        at = forged["at"] if catalog.url.startswith("postgres") else "2026-01-01 00:00:00.000000"
        _sql(
            catalog,
            "INSERT INTO audit_events (entity_type, entity_id, action, actor, at, change, chain, seq, prev_hash, hash) "
            "VALUES ('version', 'customers/2', 'approved', 'mallory', :at, '{}', 'customers', :seq, :prev, :h)",
            at=at,
            seq=target["seq"] + 1,
            prev=target["hash"],
            h=event_hash(forged, target["hash"]),
        )
        forged_id = max(event["id"] for event in _events(catalog))
        expected = ("inserted_out_of_order", forged_id, target["seq"] + 1)
    code, payload, said = _run(capsys, "audit", "verify", "--config", path)
    assert code == 1 and not payload["intact"]
    (finding,) = payload["findings"]
    assert (finding["breach"], finding["event_id"], finding["seq"]) == expected
    assert "audit trail BROKEN: 1 of 1 chain(s) broken" in said
    assert f"customers: {expected[0]} at seq {expected[2]}, event id {expected[1]}" in said


def test_audit_log_filters_by_version_file_and_time(
    audited: tuple[str, Catalog], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = audited
    code, everything, said = _run(capsys, "audit", "log", "customers", "--config", path)
    assert code == 0 and len(everything["events"]) == len(said.strip().splitlines()) - 1
    seqs = [event["seq"] for event in everything["events"]]
    assert seqs == sorted(seqs), "newest last"
    assert {event["actor"] for event in everything["events"]} == {"ann"}
    assert "skipped" in said and "bad export, resent tomorrow" in said and "superseded by v2" in said
    _, first, _ = _run(capsys, "audit", "log", "customers", "--version", "1", "--config", path)
    assert first["events"] and all(e["entity_id"].split("/")[1] == "1" for e in first["events"])
    assert {"registered", "excluded"} <= {e["action"] for e in first["events"]}
    _, file_c, _ = _run(capsys, "audit", "log", "customers", "--file", "c.csv", "--config", path)
    assert [(e["action"], e["why"]) for e in file_c["events"]][-1] == ("skipped", "bad export, resent tomorrow")
    assert {e["entity_id"] for e in file_c["events"]} == {"customers/2/c.csv"}
    _, file_a, _ = _run(capsys, "audit", "log", "customers", "--file", "a.csv", "--version", "2", "--config", path)
    assert {e["entity_id"] for e in file_a["events"]} == {"customers/2/a.csv"}
    _, future, _ = _run(capsys, "audit", "log", "customers", "--since", "2999-01-01", "--config", path)
    assert future["events"] == []
    _, past, _ = _run(capsys, "audit", "log", "customers", "--since", "2020-01-01T00:00:00+02:00", "--config", path)
    assert len(past["events"]) == len(everything["events"])
    code, bad, _ = _run(capsys, "audit", "log", "customers", "--since", "yesterday", "--config", path)
    assert code == 2 and "--since 'yesterday' is not an ISO date or time" in bad["error"]


def _rewrite_chain(catalog: Catalog, seq: int, actor: str) -> None:
    """What someone with write access could do: change one event and recompute every hash after it, and the head."""
    with Session(catalog.engine) as session, session.begin():
        events = list(
            session.scalars(select(AuditEvent).where(AuditEvent.chain == "customers").order_by(AuditEvent.seq))
        )
        prev = GENESIS
        for event in events:
            if event.seq == seq:
                event.actor = actor
            fields = {
                name: getattr(event, name)
                for name in (
                    "chain",
                    "seq",
                    "entity_type",
                    "entity_id",
                    "action",
                    "actor",
                    "at",
                    "change",
                    "dagster_run_id",
                )
            }
            event.prev_hash, event.hash = prev, event_hash(fields, prev)
            prev = event.hash
        head = session.get(AuditChain, "customers")
        assert head is not None
        head.hash = prev


def test_an_anchor_catches_a_chain_rewritten_whole(
    audited: tuple[str, Catalog], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, catalog = audited
    code = main(["audit", "verify", "--json", "--config", path])
    anchor = tmp_path / "anchor.json"
    anchor.write_text(capsys.readouterr().out)
    assert code == 0
    _rewrite_chain(catalog, 2, "mallory")
    code, plain, _ = _run(capsys, "audit", "verify", "--config", path)
    assert code == 0 and plain["intact"], "a consistent rewrite passes the chain's own checks"
    code, anchored, said = _run(capsys, "audit", "verify", "--anchor", str(anchor), "--config", path)
    assert code == 1
    (finding,) = anchored["findings"]
    assert finding["breach"] == "rewritten" and finding["seq"] == plain["heads"][0]["seq"]
    assert "the chain was rewritten" in said
    code, bad, _ = _run(capsys, "audit", "verify", "--anchor", str(tmp_path / "none.json"), "--config", path)
    assert code == 2 and "not the output of `platform-assets audit verify --json`" in bad["error"]
