"""One error root: what a user can cause is a PlatformError on its branch; schema disagreements are one family."""

from __future__ import annotations

import pytest

from platform_assets.catalog.errors import CannotSkip, UnknownProduct, VersionNotFound, VersionNotReady
from platform_assets.errors import EXIT_FAILED, EXIT_NOTHING_TO_DO, EXIT_USAGE, PlatformError, SchemaMismatch
from platform_assets.ingest.parsing import InferenceError
from platform_assets.ingest.table_schema import TableSchemaMismatch
from platform_assets.merge.errors import MergeSchemaMismatch
from platform_assets.replication.errors import ReplicaSchemaMismatch
from platform_assets.storage.db_errors import (
    DatabaseLoginRefused,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnavailable,
    DatabaseUnreachable,
    ValueOutOfRange,
)
from platform_assets.storage.globs import GlobError
from platform_assets.storage.object_store import StoreNotWritable, StoreUrlError
from platform_assets.versions.exclusion import ReasonRequired
from platform_assets.versions.resolution import NothingToProcess


@pytest.mark.parametrize("error", [TableSchemaMismatch, MergeSchemaMismatch, ReplicaSchemaMismatch])
def test_every_schema_disagreement_is_a_schema_mismatch(error: type[PlatformError]) -> None:
    assert issubclass(error, SchemaMismatch) and (error.kind, error.exit_code) == ("user", EXIT_FAILED)


@pytest.mark.parametrize(
    ("error", "kind", "exit_code"),
    [
        (UnknownProduct, "user", EXIT_FAILED),
        (VersionNotFound, "user", EXIT_FAILED),
        (VersionNotReady, "user", EXIT_FAILED),
        (CannotSkip, "user", EXIT_FAILED),
        (ReasonRequired, "user", EXIT_FAILED),
        (InferenceError, "user", EXIT_FAILED),
        (NothingToProcess, "nothing_to_do", EXIT_NOTHING_TO_DO),
        (StoreUrlError, "config", EXIT_USAGE),
        (GlobError, "config", EXIT_USAGE),
        (DatabaseUnreachable, "transient", EXIT_FAILED),
        (DatabaseMissing, "config", EXIT_USAGE),
        (DatabaseLoginRefused, "config", EXIT_USAGE),
        (DatabaseReadOnly, "user", EXIT_FAILED),
        (DatabaseUnavailable, "user", EXIT_FAILED),
        (ValueOutOfRange, "user", EXIT_FAILED),
        (StoreNotWritable, "user", EXIT_FAILED),
    ],
)
def test_errors_a_user_can_cause_are_platform_errors(error: type[PlatformError], kind: str, exit_code: int) -> None:
    assert issubclass(error, PlatformError) and (error.kind, error.exit_code) == (kind, exit_code)
