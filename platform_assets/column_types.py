"""Declared column types as values: ``decimal(12,2)`` is parsed once, then held as a :class:`ColumnType`.

Contract:

- :meth:`ColumnType.parse` accepts a type as ``platform.yaml`` spells it (any
  case, spaces inside ``decimal( p , s )``) and returns the value, or raises
  ValueError naming the types that are allowed.
- ``str(column_type)`` is the canonical spelling (``bigint``, ``decimal(12,2)``):
  what config dumps, messages and Spark SQL use, and what :meth:`parse` reads back.
- Values are frozen and hashable; two values are equal when kind, precision and
  scale are. A value never equals a string: compare with the constants below
  (``column_type == DOUBLE``) or parse the text first.

The module knows no storage: Arrow, Spark and SQL mappings live with their users
(``ingest/parsing/types.py``, ``merge/spec.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

MAX_DECIMAL_PRECISION = 38
_DECIMAL_TEXT = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


class TypeKind(StrEnum):
    """The family of a declared type; all but ``decimal`` are a whole type by themselves."""

    STRING = "string"
    INT = "int"
    BIGINT = "bigint"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    DECIMAL = "decimal"


_INTEGER_DIGITS = {TypeKind.INT: 10, TypeKind.BIGINT: 19}
"""Decimal digits of the largest value of each integer kind (2147483647, 9223372036854775807)."""


@dataclass(frozen=True)
class ColumnType:
    """One declared column type; ``precision`` and ``scale`` are set for decimals only.

    Build it with :meth:`parse`, :meth:`decimal` or the module constants.
    """

    kind: TypeKind
    precision: int | None = None
    scale: int | None = None

    def __post_init__(self) -> None:
        if self.kind is TypeKind.DECIMAL:
            precision, scale = self.precision, self.scale
            if precision is None or scale is None:
                raise ValueError("a decimal type needs a precision and a scale: decimal(p,s)")
            if not 1 <= precision <= MAX_DECIMAL_PRECISION or not 0 <= scale <= precision:
                raise ValueError(
                    f"decimal({precision},{scale}) needs 1 <= precision <= {MAX_DECIMAL_PRECISION} "
                    "and scale <= precision"
                )
        elif self.precision is not None or self.scale is not None:
            raise ValueError(f"{self.kind} takes no precision or scale")

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        """The type ``text`` names (case and spaces around it ignored); ValueError naming what is allowed."""
        normalized = text.strip().lower()
        simple = _SIMPLE_BY_NAME.get(normalized)
        if simple is not None:
            return simple
        match = _DECIMAL_TEXT.match(normalized)
        if match:
            return cls.decimal(int(match.group(1)), int(match.group(2)))
        allowed = ", ".join(SIMPLE_TYPE_NAMES)
        raise ValueError(f"unknown column type {text!r}; allowed: {allowed}, decimal(p,s)")

    @classmethod
    def of(cls, value: ColumnType | str) -> ColumnType:
        """``value`` itself, or the type it names (see :meth:`parse`)."""
        return value if isinstance(value, ColumnType) else cls.parse(value)

    @classmethod
    def decimal(cls, precision: int, scale: int) -> ColumnType:
        return cls(TypeKind.DECIMAL, precision, scale)

    def __str__(self) -> str:
        if self.kind is TypeKind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        return self.kind.value

    def __repr__(self) -> str:
        return f"ColumnType({str(self)!r})"

    @property
    def is_decimal(self) -> bool:
        return self.kind is TypeKind.DECIMAL

    @property
    def is_integer(self) -> bool:
        """True for int and bigint."""
        return self.kind in _INTEGER_DIGITS

    @property
    def is_numeric(self) -> bool:
        """True for the types a number is written to: int, bigint, double and decimals."""
        return self.is_integer or self.kind in (TypeKind.DOUBLE, TypeKind.DECIMAL)

    @property
    def integer_digits(self) -> int | None:
        """How many digits the type holds before the point: p - s of a decimal, 10 (int), 19 (bigint); else None."""
        if self.kind is TypeKind.DECIMAL:
            assert self.precision is not None and self.scale is not None
            return self.precision - self.scale
        return _INTEGER_DIGITS.get(self.kind)

    @property
    def article(self) -> str:
        """ "an" or "a", as messages put it before the type's name ("an int", "a decimal(12,2)")."""
        return "an" if str(self)[0] in "aeiou" else "a"

    def widens_to(self, other: ColumnType) -> bool:
        """True when a column of this type may become ``other`` and keep every value exactly.

        The widenings: int to bigint, and decimal(p,s) to decimal(p2,s) with
        p2 > p (the same scale, more integer digits). A type does not widen to
        itself, and nothing else widens (not int to double, nor to a decimal).
        """
        if self.kind is TypeKind.INT:
            return other.kind is TypeKind.BIGINT
        if self.is_decimal and other.is_decimal:
            assert self.precision is not None and other.precision is not None
            return other.scale == self.scale and other.precision > self.precision
        return False


STRING = ColumnType(TypeKind.STRING)
INT = ColumnType(TypeKind.INT)
BIGINT = ColumnType(TypeKind.BIGINT)
DOUBLE = ColumnType(TypeKind.DOUBLE)
BOOLEAN = ColumnType(TypeKind.BOOLEAN)
DATE = ColumnType(TypeKind.DATE)
TIMESTAMP = ColumnType(TypeKind.TIMESTAMP)

SIMPLE_TYPES = (STRING, INT, BIGINT, DOUBLE, BOOLEAN, DATE, TIMESTAMP)
"""Every type that takes no parameters, in the order messages list them."""
SIMPLE_TYPE_NAMES = tuple(str(column_type) for column_type in SIMPLE_TYPES)
_SIMPLE_BY_NAME = {str(column_type): column_type for column_type in SIMPLE_TYPES}


def parse_columns(columns: Mapping[str, ColumnType | str]) -> dict[str, ColumnType]:
    """``columns`` (name -> type or its text) with every type parsed, in the same order."""
    return {name: ColumnType.of(column_type) for name, column_type in columns.items()}
