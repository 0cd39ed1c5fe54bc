"""Does the merge table hold what a version staged? (the ``live_rows_match_staged`` check of ``<product>/merge``)

Contract of :func:`check_live_rows` for version v:
- Not committed in the batch log (never merged, failed, excluded): not passed, saying so.
- Snapshot mode: the rows live as of batch v equal the version's staged rows
  (the catalog's ``rows_written``). As of v means the live view when v is the
  newest committed batch; a forensic table answers for older batches too
  (``_batch_in <= v <= _batch_out``); a live-only table cannot, and an older
  batch passes as superseded.
- Incremental mode (an upsert): every key the version staged is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from platform_assets.config import ProductConfig
from platform_assets.merge.batch_log import batch_log
from platform_assets.merge.names import quote_ident, quote_list
from platform_assets.merge.spec import merge_spec
from platform_assets.merge.states import BatchStatus

if TYPE_CHECKING:
    from platform_assets.services import Services


@dataclass(frozen=True)
class LiveRowsCheck:
    """The outcome for one version (``batch``): figures and a sentence that says what was compared."""

    batch: int
    passed: bool
    detail: str
    live_rows: int = 0
    staged_rows: int = 0
    missing_keys: int = 0
    newest_batch: int | None = None


def check_live_rows(services: Services, product: ProductConfig, version: int) -> LiveRowsCheck:
    """Compare the merge table with version ``version``'s staged rows (see the module's contract)."""
    store = services.merge_store
    spec = merge_spec(product)
    entries = {entry.batch: entry for entry in batch_log(store, product.name)}
    committed = [batch for batch, entry in entries.items() if entry.status == BatchStatus.COMMITTED]
    newest = max(committed) if committed else None
    entry = entries.get(version)
    if entry is None or entry.status != BatchStatus.COMMITTED:
        state = entry.status if entry else "never merged"
        return LiveRowsCheck(version, False, f"v{version} is not merged ({state})", newest_batch=newest)
    staged = services.catalog.rows_written(product.name, version)
    store.ensure_spec_tables(spec)
    if spec.snapshot:
        if version != newest and not spec.forensic:
            return LiveRowsCheck(
                version,
                True,
                f"v{version}: superseded by batch {newest} (a live-only table keeps no history)",
                staged_rows=staged,
                newest_batch=newest,
            )
        live = _rows_live_at(services, product, version, newest)
        passed = live == staged
        detail = f"v{version}: {live} rows live as of batch {version}, {staged} staged"
        return LiveRowsCheck(version, passed, detail, live, staged, newest_batch=newest)
    missing = _missing_keys(services, product, version)
    detail = f"v{version}: every staged key is live" if not missing else f"v{version}: {missing} staged key(s) not live"
    return LiveRowsCheck(version, not missing, detail, staged_rows=staged, missing_keys=missing, newest_batch=newest)


def _rows_live_at(services: Services, product: ProductConfig, batch: int, newest: int | None) -> int:
    spec = merge_spec(product)
    with services.merge_store.engine.connect() as connection:
        if batch == newest or not spec.forensic:
            query = text(f"SELECT COUNT(*) FROM {quote_ident(spec.view)}")
            return int(connection.execute(query).scalar_one())
        query = text(
            f"SELECT COUNT(*) FROM {quote_ident(spec.table)} WHERE {quote_ident('_batch_in')} <= :batch "
            f"AND {quote_ident('_batch_out')} >= :batch"
        )
        return int(connection.execute(query, {"batch": batch}).scalar_one())


def _missing_keys(services: Services, product: ProductConfig, version: int) -> int:
    """How many distinct keys of the version's staged rows the live view lacks."""
    spec = merge_spec(product)
    staged = services.iceberg.version_rows(product.name, version, list(spec.key))
    wanted = {tuple(row[name] for name in spec.key) for row in staged.to_pylist()}
    if not wanted:
        return 0
    with services.merge_store.engine.connect() as connection:
        live = connection.execute(text(f"SELECT {quote_list(spec.key)} FROM {quote_ident(spec.view)}"))
        found = {tuple(row) for row in live}
    return len(wanted - {key for key in found if key in wanted})
