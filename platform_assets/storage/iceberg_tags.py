"""Publication in the product's Iceberg table, visible to every engine that reads it.

Contract: :func:`publish_snapshot` moves the tag ``published`` to the snapshot
that holds version v (the newest append of v's rows; the current snapshot when
v appended nothing) and sets the table property ``platform.published_version``
to v, in ONE commit. Publishing the same version again changes nothing.
"""

from __future__ import annotations

from pyiceberg.table import Table
from pyiceberg.table.update.snapshot import ManageSnapshots

from platform_assets.storage.iceberg import IcebergTables, commit_markers, with_commit_retries

PUBLISHED_TAG = "published"
PUBLISHED_PROPERTY = "platform.published_version"


def snapshot_holding(table: Table, version: int) -> int | None:
    """The snapshot whose commit last appended ``version``'s rows, else the current one (None: no snapshot)."""
    appends = [marker for marker in commit_markers(table) if marker.kind == "append" and marker.version == version]
    if appends:
        return appends[-1].snapshot_id
    current = table.current_snapshot()
    return current.snapshot_id if current is not None else None


def published_state(table: Table) -> tuple[int | None, int | None]:
    """(the version the table property names, the snapshot the ``published`` tag points at)."""
    value = table.properties.get(PUBLISHED_PROPERTY)
    ref = table.metadata.refs.get(PUBLISHED_TAG)
    return (int(value) if value is not None else None, ref.snapshot_id if ref is not None else None)


def publish_snapshot(tables: IcebergTables, product_name: str, version: int) -> int | None:
    """Tag the snapshot holding ``version`` ``published`` and set ``platform.published_version``; its id."""
    identifier = tables.data_table(product_name)
    if not tables.iceberg_catalog.table_exists(identifier):
        return None
    chosen: list[int | None] = [None]

    def attempt(table: Table) -> None:
        snapshot_id = snapshot_holding(table, version)
        chosen[0] = snapshot_id
        if snapshot_id is None or published_state(table) == (version, snapshot_id):
            return
        transaction = table.transaction()
        ManageSnapshots(transaction).create_tag(snapshot_id, PUBLISHED_TAG).commit()
        transaction.set_properties({PUBLISHED_PROPERTY: str(version)})
        transaction.commit_transaction()

    with_commit_retries(tables.iceberg_catalog, identifier, attempt)
    return chosen[0]
