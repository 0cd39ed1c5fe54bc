"""Declared column types are parsed once into values: canonical text, equality, errors, widening."""

from __future__ import annotations

import pytest

from platform_assets.column_types import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    INT,
    SIMPLE_TYPES,
    STRING,
    TIMESTAMP,
    ColumnType,
    TypeKind,
    parse_columns,
)
from platform_assets.config import SchemaSettings


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("string", STRING, "string"),
        (" BigInt ", BIGINT, "bigint"),
        ("TIMESTAMP", TIMESTAMP, "timestamp"),
        ("decimal(12,2)", ColumnType(TypeKind.DECIMAL, 12, 2), "decimal(12,2)"),
        ("Decimal( 38 , 0 )", ColumnType.decimal(38, 0), "decimal(38,0)"),
        ("decimal(1,1)", ColumnType.decimal(1, 1), "decimal(1,1)"),
    ],
)
def test_parse_gives_a_value_whose_text_is_canonical(text: str, expected: ColumnType, canonical: str) -> None:
    parsed = ColumnType.parse(text)
    assert parsed == expected and str(parsed) == canonical
    assert ColumnType.parse(str(parsed)) == parsed and hash(ColumnType.parse(canonical)) == hash(parsed)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("varchar", r"unknown column type 'varchar'; allowed: string, int, bigint, double, boolean, date, timestamp, "),
        ("decimal", r"unknown column type 'decimal'"),
        ("decimal(12)", r"unknown column type 'decimal\(12\)'"),
        ("decimal(39,2)", r"decimal\(39,2\) needs 1 <= precision <= 38 and scale <= precision"),
        ("decimal(0,0)", r"decimal\(0,0\) needs 1 <= precision"),
        ("decimal(5,6)", r"decimal\(5,6\) needs .* scale <= precision"),
    ],
)
def test_parse_names_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnType.parse(text)


def test_values_are_frozen_and_never_equal_text() -> None:
    assert ColumnType.parse("int") is INT  # the simple types are the module constants
    texts: list[object] = ["int", "decimal(12,2)"]
    assert INT != texts[0] and ColumnType.decimal(12, 2) != texts[1]
    assert ColumnType.decimal(12, 2) != ColumnType.decimal(12, 3)
    assert len({ColumnType.decimal(12, 2), ColumnType.parse("decimal(12, 2)"), INT}) == 2
    with pytest.raises(AttributeError):
        INT.kind = TypeKind.BIGINT  # type: ignore[misc]  # the assignment to a frozen field is what is tested
    with pytest.raises(ValueError, match="takes no precision"):
        ColumnType(TypeKind.INT, 10, 0)
    with pytest.raises(ValueError, match="needs a precision and a scale"):
        ColumnType(TypeKind.DECIMAL)
    assert ColumnType.of("Date") is DATE and ColumnType.of(DATE) is DATE
    assert parse_columns({"a": "bigint", "b": DOUBLE}) == {"a": BIGINT, "b": DOUBLE}


def test_helpers_callers_need() -> None:
    amount = ColumnType.decimal(12, 2)
    assert amount.is_decimal and amount.is_numeric and not amount.is_integer
    assert amount.integer_digits == 10 and amount.precision == 12 and amount.scale == 2
    assert INT.integer_digits == 10 and BIGINT.integer_digits == 19 and DOUBLE.integer_digits is None
    assert [column_type.is_numeric for column_type in SIMPLE_TYPES] == [False, True, True, True, False, False, False]
    assert (INT.article, amount.article, BOOLEAN.article) == ("an", "a", "a")


@pytest.mark.parametrize(
    ("before", "after", "widens"),
    [
        ("int", "bigint", True),
        ("decimal(10,2)", "decimal(12,2)", True),
        ("decimal(10,2)", "decimal(10,2)", False),  # the same type is no widening
        ("decimal(12,2)", "decimal(10,2)", False),  # narrower
        ("decimal(10,2)", "decimal(12,3)", False),  # the scale must stay
        ("bigint", "int", False),
        ("int", "double", False),
        ("int", "decimal(12,0)", False),
        ("int", "int", False),
        ("date", "timestamp", False),
        ("string", "bigint", False),
    ],
)
def test_widens_to(before: str, after: str, widens: bool) -> None:
    assert ColumnType.parse(before).widens_to(ColumnType.parse(after)) is widens


def test_config_holds_values_and_dumps_text() -> None:
    schema = SchemaSettings(columns={"id": "String", "amount": "decimal( 12 , 2 )", "n": INT})
    assert schema.columns == {"id": STRING, "amount": ColumnType.decimal(12, 2), "n": INT}
    assert schema.model_dump()["columns"] == {"id": "string", "amount": "decimal(12,2)", "n": "int"}
    assert SchemaSettings.model_validate_json(schema.model_dump_json()) == schema
