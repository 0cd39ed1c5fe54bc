"""What the merge needs to know about a product, and how its column types map.

Contract: :func:`merge_spec` turns a :class:`ProductConfig` into an immutable
:class:`MergeSpec` or raises :class:`MergeError` (no declared schema, no primary
key). Type mappings (the store's types are spelled by :mod:`platform_assets.merge.dialect`):

============  ===========================  ========================  ===========================================
declared      Arrow (what the merge takes)  PostgreSQL column         SQLite column (storage)
============  ===========================  ========================  ===========================================
string        string                        text                      TEXT
int           int32                         integer                   INTEGER
bigint        int64                         bigint                    BIGINT (integer)
double        float64                       double precision          REAL
boolean       bool                          boolean                   BOOLEAN (0/1)
date          date32                        date                      DATE_TEXT ('YYYY-MM-DD')
timestamp     timestamp('us', tz='UTC')     timestamp with time zone  TIMESTAMP_TEXT ('YYYY-MM-DD HH:MM:SS.ffffffZ')
decimal(p,s)  decimal128(p,s)               numeric(p,s)              DECIMAL_TEXT(p,s) (exact text, scale digits)
============  ===========================  ========================  ===========================================

SQLite has no decimal, date or timestamp type: those are stored as canonical
text (TEXT affinity), which keeps equality exact and order correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from platform_assets.column_types import ColumnType, parse_columns
from platform_assets.config import ProductConfig
from platform_assets.ingest.parsing.types import arrow_type as arrow_type  # the merge takes the parsers' Arrow types
from platform_assets.merge.errors import MergeError
from platform_assets.merge.names import live_view, merge_table

LIVE_BATCH_OUT = 2147483647
"""``_batch_out`` of a live row in a forensic table."""

FORENSIC = "forensic"
LIVE_ONLY = "live_only"
SNAPSHOT = "snapshot"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class MergeSpec:
    """A product as the merge sees it: columns in declared order, key, modes, guard, whether types may widen."""

    product: str
    columns: tuple[tuple[str, ColumnType], ...]
    key: tuple[str, ...]
    milestone: str
    mode: str
    max_delete_fraction: float | None = None
    widen_types: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def non_key(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns if name not in self.key)

    @property
    def forensic(self) -> bool:
        return self.milestone == FORENSIC

    @property
    def snapshot(self) -> bool:
        return self.mode == SNAPSHOT

    @property
    def table(self) -> str:
        return merge_table(self.product)

    @property
    def view(self) -> str:
        return live_view(self.product)


def merge_spec(product: ProductConfig, columns: Mapping[str, ColumnType] | None = None) -> MergeSpec:
    """The product's MergeSpec; MergeError if it has no declared schema or no primary key.

    ``columns`` (in order) replace the declared ones: a schema version of the
    catalog, which may hold columns the files added or widened; the key must be
    among them.
    """
    schema = product.table_schema
    if schema is None:
        raise MergeError(
            f"product {product.name!r} has no declared schema; the merge needs one: "
            "declare schema.columns and schema.primary_key in platform.yaml"
        )
    if not schema.primary_key:
        raise MergeError(
            f"product {product.name!r} has no primary_key; the merge matches rows by key: "
            "declare schema.primary_key in platform.yaml"
        )
    held = parse_columns(columns if columns is not None else schema.columns)  # a model_copy may hold unparsed text
    missing = [name for name in schema.primary_key if name not in held]
    if missing:
        raise MergeError(
            f"product {product.name!r}: primary_key column(s) {missing} are not among the columns {list(held)} its "
            "data was processed under; declare the key the product's table has"
        )
    return MergeSpec(
        product=product.name,
        columns=tuple(held.items()),
        key=tuple(schema.primary_key),
        milestone=product.milestone,
        mode=product.mode,
        max_delete_fraction=product.max_delete_fraction,
        widen_types=schema.widen_types,
    )


def arrow_schema(spec: MergeSpec) -> pa.Schema:
    """The schema of the rows :func:`merge_batch` takes, in declared column order."""
    return pa.schema([pa.field(name, arrow_type(column_type)) for name, column_type in spec.columns])
