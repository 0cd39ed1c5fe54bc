"""Raw copies checked before parsing: a missing or altered copy is never read by a parser."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path
from urllib.parse import unquote

from platform_assets.actions import skip_job_name
from platform_assets.catalog.records import ClaimedFile, FileOutcome
from platform_assets.catalog.states import FileStatus
from platform_assets.ingest.capture import raw_key
from platform_assets.ingest.parsing import InputFile
from platform_assets.ingest.threads import map_in_slices
from platform_assets.storage.object_store import ObjectStore

CHECK_THREADS = 8  # raw copies read (or downloaded) and hashed at once


def check_raw_copies(
    raw_zone: ObjectStore, product_name: str, version: int, items: list[ClaimedFile], scratch: Path
) -> list[InputFile | FileOutcome]:
    """:func:`check_raw_copy` of each item, in order; files are read and hashed on parallel threads."""

    def check(item: ClaimedFile) -> InputFile | FileOutcome:
        return check_raw_copy(raw_zone, product_name, version, item, scratch)

    if len(items) < 2:
        return [check(item) for item in items]
    return map_in_slices(check, items, CHECK_THREADS)


def stored_key(product_name: str, version: int, item: ClaimedFile) -> str:
    """The raw-zone key of the item's copy: under its own version, or, for a file a child version carries by
    reference (``catalog/queries/review.py``), under the version whose copy it is (read from ``raw_location``,
    which ends in ``/<product>/v<N>/<key>``; string tests, not a pattern per key: thousands of files a batch)."""
    location, suffix = unquote(item.raw_location), "/" + item.key
    found = _VERSION_FOLDER.search(location, 0, len(location) - len(suffix)) if location.endswith(suffix) else None
    carried = found is not None and found.group(1) == product_name and found.end() == len(location) - len(suffix)
    return raw_key(product_name, int(found.group(2)) if found and carried else version, item.key)


_VERSION_FOLDER = re.compile(r"/([^/]+)/v([0-9]+)$")


def check_raw_copy(
    raw_zone: ObjectStore, product_name: str, version: int, item: ClaimedFile, scratch: Path
) -> InputFile | FileOutcome:
    """A local path to the verified raw copy of ``item``, or the FAILED outcome saying what is wrong."""
    key = stored_key(product_name, version, item)
    path = raw_zone.local_path(key)
    if path is None and not raw_zone.exists(key):
        return _missing(product_name, version, item)
    try:
        # a local copy is hashed where it lies (a missing one fails the open: no separate stat)
        path = path if path is not None else local_copy(raw_zone, key, scratch)
        actual = _sha256_of(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return _missing(product_name, version, item)
    if actual != item.sha256:
        message = (
            f"raw copy of {item.key!r} at {item.raw_location} does not match its catalogued checksum: "
            f"catalog sha256 {item.sha256}, raw copy sha256 {actual}; the raw zone was altered: restore the file or "
            f"give it up with {_give_up(product_name, version, item)}"
        )
        return FileOutcome(item, FileStatus.FAILED, error_type="checksum_mismatch", error_message=message)
    return InputFile(key=item.key, path=str(path), sha256=item.sha256)


def _missing(product_name: str, version: int, item: ClaimedFile) -> FileOutcome:
    message = (
        f"raw copy of {item.key!r} is missing at {item.raw_location}; restore it, or give the file up with "
        f"{_give_up(product_name, version, item)}"
    )
    return FileOutcome(item, FileStatus.FAILED, error_type="missing", error_message=message)


def _give_up(product_name: str, version: int, item: ClaimedFile) -> str:
    return (
        f"the job {skip_job_name(product_name)} on partition v{version} (key {item.key!r}, a reason), or "
        f"`platform-assets skip {product_name} {version} {shlex.quote(item.key)} --reason TEXT`"
    )


def local_copy(raw_zone: ObjectStore, key: str, scratch: Path) -> Path:
    """A local path of the raw object ``key``: itself on a local store, else a download to ``scratch``."""
    path = raw_zone.local_path(key)
    if path is not None:
        return path
    target = scratch / hashlib.sha1(key.encode()).hexdigest()
    raw_zone.download_to(key, target)
    return target


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        digest = hashlib.sha256(handle.read(1 << 20))  # a small file in one read
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
