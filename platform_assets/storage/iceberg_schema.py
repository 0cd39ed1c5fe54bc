"""Schema evolution of a product's Iceberg table, committed together with a version's data.

Contract (README, "Schema evolution": in the same commit as the version's data, so a reader
never sees data without its columns or the reverse):

- :func:`plan_schema_update` compares the table's schema with ``target``, the
  Arrow schema the table must have (the product's columns then the lineage
  columns, as :func:`platform_assets.storage.iceberg.product_arrow_schema`
  gives it) and returns an :class:`IcebergSchemaUpdate`: each target column the
  table lacks is added, optional, right after the target column before it (so
  product columns stay before the lineage columns); each column whose type
  differs is widened where Iceberg promotes the type and every value keeps its
  exact value: int to long, float to double, decimal(p,s) to decimal(p2>p,s).
  A table column that ``target`` lacks stays (rows without it read NULL). Any
  other difference raises :class:`IcebergSchemaRefused` naming the column;
  which changes a product accepts is decided before, by
  :func:`platform_assets.schema_change.schema_change`.
- :func:`staged_table` is the table as the update will leave it (its metadata
  with the evolved schema; nothing is committed): the version's data files are
  written against it (:func:`platform_assets.storage.data_files.write_partition_files`),
  so they carry the new columns' field ids.
- :func:`commit_evolved_files` commits ONE snapshot: the schema update (when
  the table still needs it) and the append of the files with their snapshot
  summary markers (and an expiry), in one transaction, exactly as
  :func:`platform_assets.storage.iceberg.commit_files` appends. Field ids are
  given in order from the table's last column id, so a concurrent writer that
  evolved the table the same way gave the same ids; when the table now has
  other ids (or a narrower type) for the columns the files were written with,
  :class:`StaleWriteSchema` says so before anything is committed, and the
  caller writes the files again against a fresh :func:`staged_table`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import Table, Transaction
from pyiceberg.table.update.schema import UpdateSchema
from pyiceberg.types import DecimalType, DoubleType, FloatType, IcebergType, IntegerType, LongType, NestedField

from platform_assets.errors import SchemaMismatch
from platform_assets.storage.iceberg import commit_files


class IcebergSchemaRefused(SchemaMismatch):
    """The table's schema cannot become the target by adding columns and widening types; nothing was committed."""


class StaleWriteSchema(Exception):
    """The table's schema moved on since the data files were written: write them again against a fresh staged table."""


@dataclass(frozen=True)
class AddedField:
    """A column to add, optional, after ``after`` (None: first)."""

    name: str
    field_type: IcebergType
    after: str | None


@dataclass(frozen=True)
class WidenedField:
    """A column whose type widens."""

    name: str
    old: IcebergType
    new: IcebergType


@dataclass(frozen=True)
class IcebergSchemaUpdate:
    """What :func:`plan_schema_update` found; empty when the table already has the target's columns and types."""

    added: tuple[AddedField, ...] = ()
    widened: tuple[WidenedField, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.widened)

    def stage(self, update: UpdateSchema) -> None:
        """Put the additions and widenings into ``update`` (an UpdateSchema of a transaction)."""
        for field in self.added:
            update.add_column(field.name, field.field_type, required=False)
            if field.after is None:
                update.move_first(field.name)
            else:
                update.move_after(field.name, field.after)
        for widened in self.widened:
            update.update_column(widened.name, field_type=widened.new)


def widens(old: IcebergType, new: IcebergType) -> bool:
    """True when Iceberg reads ``old`` data as ``new`` with every value unchanged (and the types differ)."""
    if isinstance(old, IntegerType):
        return isinstance(new, LongType)
    if isinstance(old, FloatType):
        return isinstance(new, DoubleType)
    if isinstance(old, DecimalType) and isinstance(new, DecimalType):
        return new.scale == old.scale and new.precision > old.precision
    return False


def plan_schema_update(current: Schema, target: pa.Schema, table_name: str = "the table") -> IcebergSchemaUpdate:
    """The additions and widenings that turn ``current`` into a schema holding ``target`` (see the module contract)."""
    wanted = Catalog._convert_schema_if_needed(target)
    added: list[AddedField] = []
    widened: list[WidenedField] = []
    before: str | None = None
    for field in wanted.fields:
        existing = _find(current, field.name)
        if existing is None:
            added.append(AddedField(field.name, field.field_type, before))
        elif existing.field_type != field.field_type:
            if not widens(existing.field_type, field.field_type):
                raise IcebergSchemaRefused(
                    f"column {field.name!r} of {table_name} is {existing.field_type}; it cannot become "
                    f"{field.field_type} (Iceberg widens int to long, float to double and decimal(p,s) to "
                    "decimal(p2>p,s) only); nothing was committed: keep the column's type, or add a column of the new "
                    "type under another name"
                )
            widened.append(WidenedField(field.name, existing.field_type, field.field_type))
        before = field.name
    return IcebergSchemaUpdate(tuple(added), tuple(widened))


def _find(schema: Schema, name: str) -> NestedField | None:
    try:
        return schema.find_field(name)
    except ValueError:
        return None


def staged_table(table: Table, target: pa.Schema) -> Table:
    """``table`` with the evolved schema in its metadata (nothing committed): write the version's files against it."""
    update = plan_schema_update(table.schema(), target, _name(table))
    if update.is_empty:
        return table
    transaction = Transaction(table)
    _stage_update(transaction, update)
    return Table(
        identifier=table.name(),
        metadata=transaction.table_metadata,
        metadata_location=table.metadata_location,
        io=table.io,
        catalog=table.catalog,
    )


def _stage_update(transaction: Transaction, update: IcebergSchemaUpdate) -> None:
    schema_update = transaction.update_schema()
    update.stage(schema_update)
    schema_update.commit()  # stages it in the transaction; the transaction commits nothing yet


def commit_evolved_files(
    table: Table,
    target: pa.Schema,
    written: Schema,
    files: list[DataFile],
    properties: dict[str, str],
    expire: list[int] | None = None,
    table_properties: dict[str, str] | None = None,
) -> None:
    """One commit of the schema update ``target`` needs and the append of ``files`` (see the module contract).

    ``written``: the schema the files were written with (``staged_table(...).schema()``);
    ``table_properties``: table properties set in the same commit (those whose value differs).
    """

    def evolve(transaction: Transaction) -> None:
        update = plan_schema_update(transaction.table_metadata.schema(), target, _name(table))
        if not update.is_empty:
            _stage_update(transaction, update)
        _check_written(transaction.table_metadata.schema(), written, _name(table))
        current = transaction.table_metadata.properties
        changed = {key: value for key, value in (table_properties or {}).items() if current.get(key) != value}
        if changed:
            transaction.set_properties(changed)

    commit_files(table, files, properties, expire=expire, schema_update=evolve)


def add_missing_columns(iceberg_catalog: Catalog, identifier: str, fields: list[pa.Field]) -> Table:
    """The table with each of ``fields`` it lacks added (optional, last), by :func:`plan_schema_update`.

    For platform columns a newer release adds to existing tables (``_source_line``): their older rows read
    NULL. A commit that loses to a concurrent writer is retried on the reloaded table.
    """
    for _ in range(_ADD_ATTEMPTS):
        table = iceberg_catalog.load_table(identifier)
        current = table.schema().as_arrow()
        missing = [field for field in fields if field.name not in current.names]
        if not missing:
            return table
        update = plan_schema_update(table.schema(), pa.schema([*current, *missing]), _name(table))
        transaction = table.transaction()
        _stage_update(transaction, update)
        try:
            return transaction.commit_transaction()
        except CommitFailedException:
            continue
    raise CommitFailedException(f"{identifier}: could not add columns {[field.name for field in fields]}")


_ADD_ATTEMPTS = 10


def _check_written(committing: Schema, written: Schema, table_name: str) -> None:
    """StaleWriteSchema unless every column of ``written`` has its field id, name and type (or a wider one) here."""
    by_id = {field.field_id: field for field in committing.fields}
    for field in written.fields:
        now = by_id.get(field.field_id)
        if now is None or now.name != field.name:
            raise StaleWriteSchema(
                f"{table_name}: field id {field.field_id} ({field.name}) of the written files is "
                f"{'gone' if now is None else now.name!r} in the table's schema now"
            )
        if now.field_type != field.field_type and not widens(field.field_type, now.field_type):
            raise StaleWriteSchema(
                f"{table_name}: column {field.name!r} was written as {field.field_type}, the table holds "
                f"{now.field_type} now"
            )


def _name(table: Table) -> str:
    return "table " + ".".join(table.name())
