"""The SELECTs a replica runs on a primary's forensic merge table.

Contract: every builder returns a :class:`Select` whose SQL has ``:name``
bound parameters only (identifiers quoted by ``quote_ident``; the one literal
is the constant ``2147483647``), whose output columns are the replica-side
column names in ``columns``, and whose leading ``keyset`` columns identify a
row within the query (for keyset pagination, never OFFSET).

Seed parts are keyset-paginated over sets of rows that do not change while
the primary merges later batches (so a seed resumed later, as of the same Y,
neither misses nor repeats a row):

- ``live_at``: the rows live at Y (``_batch_in <= Y <= _batch_out``), by key.
  Two branches, each ordered and limited on its own, then merged: rows live
  now (PostgreSQL: the live partition's unique key index; SQLite: the partial
  unique key index) and rows closed since Y (``Y <= _batch_out < 2147483647``,
  the ``_batch_out`` index). A row moving from one branch to the other between
  two chunks keeps its key, so the keyset still places it once. A mirror shows
  these rows live.
- ``history`` (mirror only): rows closed by Y-1 (``_batch_out < Y``), by
  ``(_batch_out, key)`` (the ``_batch_out`` index, then an incremental sort).
  Closed rows never change again.

Delta (X, Y]: rows that began in (X, Y] (the ``_batch_in`` index) and rows
that began by X and ended in [X, Y-1] (the ``_batch_out`` index); disjoint.

Together the seed parts are exactly what a replica as of Y holds: a
live-only replica the rows live at Y, a mirror every row with ``_batch_in <= Y``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from platform_assets.merge.dialect import POSTGRESQL
from platform_assets.merge.names import quote_ident
from platform_assets.merge.spec import LIVE_BATCH_OUT, MergeSpec

LIVE = f"{LIVE_BATCH_OUT:d}"
BATCH_IN, BATCH_OUT, BATCH_ID = "_batch_in", "_batch_out", "_batch_id"


@dataclass(frozen=True)
class Select:
    """One SELECT on the primary: SQL with ``:name`` parameters, output column names, keyset columns and their types.

    ``keyset_types`` are the keyset columns' PostgreSQL types (as ``CAST`` spells them).
    """

    sql: str
    params: dict[str, Any]
    columns: tuple[str, ...]
    keyset: tuple[str, ...] = ()
    keyset_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class SeedPart:
    """One keyset-paginated part of a seed; :meth:`chunk` gives the SELECT of its next chunk.

    ``branches`` are WHERE clauses over disjoint sets of rows with the same
    outputs; each is ordered and limited by itself, then their union is.
    """

    name: str
    outputs: tuple[tuple[str, str], ...]  # (SQL expression on the primary table, replica column)
    branches: tuple[str, ...]
    keyset: tuple[str, ...]
    keyset_types: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for _, column in self.outputs)

    def chunk(self, table: str, batch: int, last_key: Sequence[Any] | None, limit: int, cast_keys: bool) -> Select:
        """Up to ``limit`` rows after ``last_key`` (from the start when None), in keyset order."""
        params: dict[str, Any] = {"y": batch, "limit": limit}
        after = ""
        if last_key is not None:
            after = " AND " + keyset_after(self.keyset, self.keyset_types, cast_keys)
            params.update({f"k{index}": value for index, value in enumerate(last_key)})
        select_list = ", ".join(f"{expression} AS {quote_ident(column)}" for expression, column in self.outputs)
        order = ", ".join(quote_ident(column) for column in self.keyset)
        selects = [
            f"SELECT {select_list} FROM {quote_ident(table)} WHERE {where}{after} ORDER BY {order} LIMIT :limit"
            for where in self.branches
        ]
        if len(selects) == 1:
            return Select(selects[0], params, self.columns, self.keyset, self.keyset_types)
        union = " UNION ALL ".join(f"SELECT * FROM ({branch}) AS b{index}" for index, branch in enumerate(selects))
        return Select(f"{union} ORDER BY {order} LIMIT :limit", params, self.columns, self.keyset, self.keyset_types)


def keyset_after(columns: Sequence[str], types: Sequence[str], cast: bool) -> str:
    """``(a, b) > (:k0, :k1)`` with the redundant ``a >= :k0`` that lets an index on ``a`` seek.

    With ``cast`` (PostgreSQL, where keys are kept as text) each parameter is
    cast to its column's type, so the comparison is by value in that type.
    """
    params = [f"CAST(:k{index} AS {column_type})" if cast else f":k{index}" for index, column_type in enumerate(types)]
    quoted = [quote_ident(column) for column in columns]
    if len(columns) == 1:
        return f"{quoted[0]} > {params[0]}"
    return f"{quoted[0]} >= {params[0]} AND ({', '.join(quoted)}) > ({', '.join(params)})"


def _column(name: str) -> tuple[str, str]:
    return quote_ident(name), name


def _product_outputs(spec: MergeSpec) -> list[tuple[str, str]]:
    """Key columns first (they lead the keyset), then the other product columns."""
    return [_column(name) for name in spec.key + spec.non_key]


def _key_types(spec: MergeSpec) -> tuple[str, ...]:
    types = dict(spec.columns)
    return tuple(POSTGRESQL.column_type(types[name]) for name in spec.key)


def seed_parts(spec: MergeSpec) -> list[SeedPart]:
    """The parts of a seed into a replica of ``spec.milestone`` (see the module contract)."""
    batch_in, batch_out = quote_ident(BATCH_IN), quote_ident(BATCH_OUT)
    live_at = (
        f"{batch_out} = {LIVE} AND {batch_in} <= :y",
        f"{batch_out} >= :y AND {batch_out} < {LIVE} AND {batch_in} <= :y",
    )
    key_types = _key_types(spec)
    if not spec.forensic:
        outputs = tuple(_product_outputs(spec) + [(batch_in, BATCH_ID)])
        return [SeedPart("live_at", outputs, live_at, spec.key, key_types)]
    as_live = tuple(_product_outputs(spec) + [_column(BATCH_IN), (LIVE, BATCH_OUT)])
    history = tuple([_column(BATCH_OUT)] + _product_outputs(spec) + [_column(BATCH_IN)])
    history_where = (f"{batch_out} < :y AND {batch_out} < {LIVE}",)
    return [
        SeedPart("live_at", as_live, live_at, spec.key, key_types),
        SeedPart("history", history, history_where, (BATCH_OUT,) + spec.key, ("integer",) + key_types),
    ]


def delta_select(spec: MergeSpec, from_batch: int, to_batch: int) -> Select:
    """The primary's rows that changed in (X, Y]: every product column plus ``_batch_in``, ``_batch_out``.

    Two disjoint branches, each on its own index, in one statement (one COPY).
    The rows that began by X and ended by Y-1 are the replica's rows as of X
    that end: the replica finds them by key (and ``_batch_in``), so that branch
    sends the key and batch columns with NULL for the other product columns
    (fewer bytes to copy per changed key; nothing reads those values).
    """
    batch_in, batch_out = quote_ident(BATCH_IN), quote_ident(BATCH_OUT)
    outputs = _product_outputs(spec) + [_column(BATCH_IN), _column(BATCH_OUT)]
    select_list = ", ".join(f"{expression} AS {quote_ident(column)}" for expression, column in outputs)
    non_key = set(spec.non_key)
    ended_list = ", ".join(
        f"{'NULL' if column in non_key else expression} AS {quote_ident(column)}" for expression, column in outputs
    )
    table = quote_ident(spec.table)
    began = f"SELECT {select_list} FROM {table} WHERE {batch_in} > :x AND {batch_in} <= :y"
    ended = (
        f"SELECT {ended_list} FROM {table} WHERE {batch_out} >= :x AND {batch_out} <= :y_before "
        f"AND {batch_out} < {LIVE} AND {batch_in} <= :x"
    )
    params = {"x": from_batch, "y": to_batch, "y_before": to_batch - 1}
    return Select(f"{began} UNION ALL {ended}", params, tuple(column for _, column in outputs))
