"""Schema changes as values: added and widened columns are accepted, every other difference refused and explained."""

from __future__ import annotations

import pytest

from platform_assets.column_types import BIGINT, DOUBLE, INT, STRING, ColumnType
from platform_assets.schema_change import AddedColumn, Refusal, SchemaChange, WidenedColumn, schema_change

DEC_10_2 = ColumnType.decimal(10, 2)
DEC_12_2 = ColumnType.decimal(12, 2)
BEFORE = {"id": STRING, "n": INT, "amount": DEC_10_2}


def test_the_same_columns_are_no_change() -> None:
    change = schema_change(BEFORE, dict(BEFORE), widen_types=False)
    assert change == SchemaChange()
    assert change.is_empty and change.accepted
    assert change.describe() == "no change"


def test_columns_added_at_the_end_are_accepted_as_nullable() -> None:
    change = schema_change(BEFORE, {**BEFORE, "email": STRING, "score": DOUBLE}, widen_types=False)
    assert change.added == (AddedColumn("email", STRING), AddedColumn("score", DOUBLE))
    assert all(column.nullable for column in change.added)
    assert change.accepted and not change.is_empty
    assert "'email' (string) is added at the end" in change.describe()
    assert "'score' (double)" in change.describe()


def test_widenings_are_accepted_only_with_widen_types() -> None:
    after = {"id": STRING, "n": BIGINT, "amount": DEC_12_2}
    widened = schema_change(BEFORE, after, widen_types=True)
    assert widened.widened == (WidenedColumn("n", INT, BIGINT), WidenedColumn("amount", DEC_10_2, DEC_12_2))
    assert widened.accepted
    assert "'n' widens from int to bigint" in widened.describe()
    refused = schema_change(BEFORE, after, widen_types=False)
    assert not refused.accepted
    assert [(item.reason, item.column) for item in refused.refused] == [
        (Refusal.WIDENING_OFF, "n"),
        (Refusal.WIDENING_OFF, "amount"),
    ]
    assert "set schema.widen_types: true" in refused.describe()


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        (BIGINT, INT, Refusal.NARROWED),
        (INT, STRING, Refusal.RETYPED),
        (INT, DOUBLE, Refusal.RETYPED),
        (DEC_10_2, ColumnType.decimal(20, 0), Refusal.RETYPED),
    ],
)
def test_narrowing_and_incompatible_retypes_are_refused_under_every_setting(
    before: ColumnType, after: ColumnType, reason: Refusal
) -> None:
    for widen_types in (False, True):
        change = schema_change({"id": STRING, "v": before}, {"id": STRING, "v": after}, widen_types=widen_types)
        assert [(item.reason, item.column) for item in change.refused] == [(reason, "v")]
        assert f"declare v: {before} again" in change.describe()


def test_a_narrower_decimal_is_refused() -> None:
    change = schema_change(BEFORE, {**BEFORE, "amount": ColumnType.decimal(8, 2)}, widen_types=True)
    assert [item.reason for item in change.refused] == [Refusal.NARROWED]
    assert "narrows from decimal(10,2) to decimal(8,2)" in change.describe()


def test_a_missing_column_beside_an_added_one_of_its_type_is_a_drop_and_an_add_never_a_rename() -> None:
    change = schema_change(BEFORE, {"id": STRING, "amount": DEC_10_2, "count": INT}, widen_types=True)
    assert change.added == (AddedColumn("count", INT),)
    assert [(item.reason, item.column) for item in change.refused] == [(Refusal.DROPPED, "n")]
    text = change.describe()
    assert text.startswith("refused: column 'n' (int) is missing")
    assert "declare n: int again" in text
    assert "never taken for a rename" in text and "keep n declared and add count at the end" in text
    assert "accepted: column 'count'" in text


def test_a_missing_column_alone_is_refused_without_a_rename_hint() -> None:
    change = schema_change(BEFORE, {"id": STRING, "n": INT}, widen_types=False)
    assert [item.reason for item in change.refused] == [Refusal.DROPPED]
    assert "rename" not in change.describe()


def test_a_column_added_before_existing_ones_is_refused() -> None:
    change = schema_change(BEFORE, {"id": STRING, "email": STRING, "n": INT, "amount": DEC_10_2}, widen_types=False)
    assert [(item.reason, item.column) for item in change.refused] == [(Refusal.NOT_AT_END, "email")]
    assert "before the existing column 'n'" in change.describe()
    assert "move email after amount" in change.describe()


def test_existing_columns_in_another_order_are_refused() -> None:
    change = schema_change(BEFORE, {"n": INT, "id": STRING, "amount": DEC_10_2}, widen_types=False)
    assert [item.reason for item in change.refused] == [Refusal.REORDERED]
    assert "earlier order (id, n, amount)" in change.describe()


def test_a_new_key_column_is_refused() -> None:
    change = schema_change(BEFORE, {**BEFORE, "region": STRING}, widen_types=False, key=("id", "region"))
    assert [(item.reason, item.column) for item in change.refused] == [(Refusal.KEY_ADDED, "region")]
    assert "leave region out of schema.primary_key" in change.describe()


def test_describe_names_every_changed_column() -> None:
    after = {"id": STRING, "n": BIGINT, "amount": STRING, "email": STRING}
    change = schema_change(BEFORE, after, widen_types=True)
    assert change.changed_columns == ("amount", "email", "n")
    for name in ("'amount'", "'email'", "'n'"):
        assert name in change.describe()
