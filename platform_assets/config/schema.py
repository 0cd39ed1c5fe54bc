"""A product's declared ``schema:``: columns and their types, key, evolution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator

from platform_assets.column_types import ColumnType
from platform_assets.config.base import COLUMN_PATTERN, RESERVED_COLUMNS, Strict


def _column_type(value: Any) -> ColumnType:
    return value if isinstance(value, ColumnType) else ColumnType.parse(str(value))


DeclaredType = Annotated[ColumnType, PlainValidator(_column_type), PlainSerializer(str, return_type=str)]
"""A column type in the config: parsed from its text, dumped as its canonical text (``decimal(12,2)``)."""


SchemaEvolution = Literal["add_columns", "rescue", "strict"]
"""What a file whose columns differ from the product's schema does to it (``schema.evolution``)."""


class SchemaSettings(Strict):
    """A product's declared schema (``schema:`` in platform.yaml).

    - ``columns``: name -> type, in order; ``primary_key``: the key's columns.
    - ``evolution`` (default ``strict``): what a file with columns the schema
      does not hold does. ``add_columns``: the new columns are added to the
      product's schema, nullable, at the end (earlier rows read NULL).
      ``rescue``: nothing is added; the unknown columns go into one
      ``_rescued`` JSON column per row. ``strict``: the version fails, naming
      the new, missing or retyped columns and the config change that would
      accept them.
    - ``widen_types`` (default false, the safe choice: a type changes only when
      someone says so): a column may widen, int to bigint or decimal(p,s) to
      decimal(p2>p,s), in every layer (Iceberg, merge table, replicas).

    Under every mode a column absent from a file stays in the schema (NULL for
    that file's rows), and a narrowing, an incompatible retype or a rename is
    refused (:mod:`platform_assets.schema_change` judges each change). Adding a
    column to ``columns`` at the end is accepted under every mode.

    A column may carry a description (shown in the Dagster UI's column schema):
    ``columns: {id: {type: string, description: "customer id"}, name: string}``;
    the two forms mix freely. The descriptions land in ``descriptions``
    (column -> text), which may also be given directly.
    """

    columns: dict[str, DeclaredType]
    primary_key: list[str] = Field(default_factory=list)
    evolution: SchemaEvolution = "strict"
    widen_types: bool = False
    descriptions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _described_columns(cls, data: Any) -> Any:
        """``{name: {type: T, description: D}}`` entries of ``columns`` become ``{name: T}`` plus a description."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            return data
        columns, descriptions = {}, dict(data.get("descriptions") or {})
        for name, entry in data["columns"].items():
            if not isinstance(entry, dict):
                columns[name] = entry
                continue
            if "type" not in entry or set(entry) - {"type", "description"}:
                raise ValueError(f"column {name!r}: give a type, or a mapping with the keys type and description")
            columns[name] = entry["type"]
            if entry.get("description"):
                descriptions[name] = str(entry["description"])
        return {**data, "columns": columns, "descriptions": descriptions}

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, ColumnType]) -> dict[str, ColumnType]:
        if not value:
            raise ValueError("declare at least one column")
        checked = {}
        for name, column_type in value.items():
            if not COLUMN_PATTERN.match(name) or len(name) > 63:
                raise ValueError(f"column name {name!r} must match [A-Za-z_][A-Za-z0-9_]* (at most 63 characters)")
            if name.lower() in RESERVED_COLUMNS:
                raise ValueError(f"column name {name!r} is reserved for the platform's lineage and batch columns")
            checked[name] = column_type
        lowered = [name.lower() for name in checked]
        if len(set(lowered)) != len(lowered):
            raise ValueError("column names must differ by more than case")
        return checked

    @model_validator(mode="after")
    def _key_in_columns(self) -> SchemaSettings:
        missing = [key for key in self.primary_key if key not in self.columns]
        if missing:
            raise ValueError(f"primary_key column(s) {missing} are not among the declared columns {list(self.columns)}")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError("primary_key lists a column twice")
        undeclared = [name for name in self.descriptions if name not in self.columns]
        if undeclared:
            raise ValueError(f"descriptions of {undeclared}, which are not among the declared columns")
        return self
