"""A directory on the local filesystem as an object store (``file:///abs/dir``).

Keys map to paths under the root. Beyond :func:`.keys.validate_key`, every key
operation checks that the fully resolved path (symlinks followed) stays under
the resolved root, else :class:`UnsafeKey`.

Writes go to a temp file ``.<name>.tmp-<32 hex>`` in the destination directory,
are fsynced and renamed over the target (``os.replace``), so no reader ever
sees a half-written file; listings skip such temp files. Listings do not
descend into symlinked directories (no loops, no escapes); symlinked files are
listed, and reading one that points outside the root raises UnsafeKey.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import fields
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from stat import S_ISREG as _is_regular  # noqa: N811 - a local name for a hot loop
from typing import BinaryIO
from urllib.parse import quote, unquote, urlsplit

from platform_assets.storage.globs import compile_glob, literal_prefix
from platform_assets.storage.keys import UnsafeKey, unsafe_reason, validate_key
from platform_assets.storage.object_store import (
    CHUNK_SIZE,
    ByteReader,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectVanished,
    StoreUrlError,
)

_TEMP_SUFFIX = re.compile(r"\.tmp-[0-9a-f]{32}\Z")
_URI_SAFE = "/!$&'()*+,;=:@~"  # RFC 3986 path characters kept as they are
_utc = UTC
_fromtimestamp = datetime.fromtimestamp


def temp_path(path: str) -> str:
    """A fresh temp-file path next to ``path`` that listings skip."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name[:120]}.tmp-{uuid.uuid4().hex}")


def is_temp_name(name: str) -> bool:
    """True for the names :func:`temp_path` makes."""
    return name[:1] == "." and _TEMP_SUFFIX.search(name) is not None


def atomic_write(path: str, stream: ByteReader, before_commit: Callable[[], None] | None = None) -> int:
    """Copy ``stream`` to the file ``path`` atomically; return the byte count.

    Writes a temp file in the same directory (created if needed), fsyncs it,
    runs ``before_commit`` and renames it over ``path``. On any error the temp
    file is removed and ``path`` is left as it was.
    """
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    temp = temp_path(path)
    size = 0
    try:
        with open(temp, "xb") as out:
            while True:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if before_commit is not None:
            before_commit()
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(directory)
    return size


def _fsync_dir(directory: str) -> None:
    # Makes the rename durable; not every filesystem allows fsync on a directory.
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _etag(st: os.stat_result) -> str:
    """The local etag: size, mtime, ctime (nanoseconds) and inode, hex (a cheap fingerprint, not a content hash).

    ctime and the inode catch what size and mtime miss: a file rewritten at the
    same size with its mtime put back (``touch -r``, ``os.utime``), or replaced by
    a rename. They also move on a chmod or a new hard link, which then reads as a
    change. What stat cannot show stays unseen: an in-place rewrite at the same
    size within one tick of the filesystem's timestamps.
    """
    return f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}-{st.st_ino:x}"


def _info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(key, st.st_size, _etag(st), _fromtimestamp(st.st_mtime, _utc))


class _PinnedFile:
    """An open local file plus the stat it had when opened; ``verify`` re-checks it."""

    def __init__(self, store: LocalStore, key: str, handle: BinaryIO, info: ObjectInfo) -> None:
        self._store = store
        self._key = key
        self._handle = handle
        self.info = info

    def read(self, size: int = -1, /) -> bytes:
        return self._handle.read(size)

    def verify(self) -> None:
        now = _etag(os.fstat(self._handle.fileno()))
        if now != self.info.etag:
            raise ObjectVanished(
                f"{self._store.uri(self._key)}: the file changed while it was read (etag {self.info.etag} -> {now}); "
                "list it again",
                self._key,
            )

    def close(self) -> None:
        self._handle.close()


class LocalStore(ObjectStore):
    """Objects as files under an absolute root directory (created on the first write)."""

    natural_page_size = 50_000  # a page re-walks its directories: few large pages beat many small ones

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root_text = os.fspath(root)
        if not os.path.isabs(root_text):
            raise StoreUrlError(f"local store root {root_text!r} must be an absolute path")
        self._root = os.path.normpath(root_text)
        self.root = Path(self._root)
        real_root = os.path.realpath(self._root)
        self._real_root = real_root
        self._real_prefix = real_root if real_root.endswith(os.sep) else real_root + os.sep
        self.url = "file://" + quote(self._root, safe=_URI_SAFE)

    @classmethod
    def from_url(cls, url: str) -> LocalStore:
        """``file:///abs/dir`` (percent-encoded like any URL; host empty or ``localhost``)."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise StoreUrlError(f"{url!r} is not a local directory URL; use file:///absolute/dir")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise StoreUrlError(f"{url!r}: the directory must be absolute, as in file:///data/raw")
        return cls(path)

    # keys -> paths

    def _path(self, key: str) -> str:
        validate_key(key)
        path = os.path.join(self._root, key)
        real = os.path.realpath(path)
        if real != self._real_root and not real.startswith(self._real_prefix):
            raise UnsafeKey(
                key, f"it resolves to {real!r} (through a symlink), outside the store root {self._real_root!r}"
            )
        return path

    def local_path(self, key: str) -> Path | None:
        return Path(self._path(key))

    def uri(self, key: str) -> str:
        validate_key(key)
        return "file://" + quote(os.path.join(self._root, key), safe=_URI_SAFE)

    # listing

    def list_page(
        self, glob: str, start_after: str | None, max_keys: int = 1000
    ) -> tuple[list[ObjectInfo], str | None]:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        walk = self._walk(glob, start_after)
        page = list(islice(walk, max_keys))
        if len(page) == max_keys and next(walk, None) is not None:
            return page, page[-1].key
        return page, None

    def iter_objects(self, glob: str) -> Iterator[ObjectInfo]:
        return self._walk(glob, None)

    def _walk(self, glob: str, start_after: str | None) -> Iterator[ObjectInfo]:
        """Matching regular files in key order; a bad glob raises GlobError here, before any I/O."""
        plan = _plan(glob)
        start_dir = self._start_dir(plan.prefix)
        if start_dir is None:
            return iter(())
        return _sorted_walk(plan, start_dir, start_after)

    def _start_dir(self, prefix: str) -> str | None:
        """The directory of the glob's literal prefix, or None when it can't hold a listed key."""
        if not prefix:
            return self._root
        if unsafe_reason(prefix[:-1]) is not None:
            return None  # a walk never yields '..', '.' or empty segments
        path = self._root
        for segment in prefix[:-1].split("/"):
            path = os.path.join(path, segment)
            if os.path.islink(path):
                return None  # the walk does not follow directory symlinks
        return path

    # reading

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not _is_regular(st.st_mode):
            return None
        return _info(key, st)

    def open_read(self, key: str) -> BinaryIO:
        return self._open(key)

    def _open(self, key: str) -> io.BufferedReader:
        path = self._path(key)
        try:
            handle = open(path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(f"{self.uri(key)}: no such object", key) from None
        if not _is_regular(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise ObjectNotFound(f"{self.uri(key)}: not a regular file", key)
        return handle

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as handle:
            return handle.read()

    def open_pinned(self, key: str, expected_etag: str | None = None) -> _PinnedFile:
        handle = self.open_read(key)
        info = _info(key, os.fstat(handle.fileno()))
        if expected_etag is not None and info.etag != expected_etag:
            handle.close()
            raise ObjectVanished(
                f"{self.uri(key)}: the file changed (etag {info.etag}, expected {expected_etag}); list it again",
                key,
            )
        return _PinnedFile(self, key, handle, info)

    def sha256(self, key: str) -> str:
        with self._open(key) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()

    def download_to(self, key: str, path: Path) -> None:
        with self.open_read(key) as handle:
            atomic_write(os.path.abspath(path), handle)

    # writing

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        return self.put_stream(key, io.BytesIO(data))

    def put_stream(
        self,
        key: str,
        stream: ByteReader,
        before_commit: Callable[[], None] | None = None,
        size_hint: int | None = None,
    ) -> ObjectInfo:
        path = self._path(key)
        atomic_write(path, stream, before_commit)
        return _info(key, os.stat(path))

    def delete(self, key: str) -> None:
        with suppress(FileNotFoundError):
            os.unlink(self._path(key))


def _sorted_walk(plan: _Plan, start_dir: str, start_after: str | None) -> Iterator[ObjectInfo]:
    """A depth-first walk, each directory's entries sorted by key.

    Sorting a directory's entries by ``name`` for files and ``name + '/'`` for
    directories yields keys in global order, as every key under directory ``d``
    starts with ``d/``. Directories whose keys all sort at or before
    ``start_after``, or that the glob's segments exclude, are not entered.
    """
    scan = plan.scan
    depth = plan.prefix.count("/")
    stack = [(*scan(start_dir, plan.prefix, depth, start_after), depth)]
    # Hot loop: ObjectInfo is built through its slots (what its __init__ does, at half the cost).
    new = object.__new__
    info_type = ObjectInfo
    set_key, set_size, set_etag, set_modified = _SLOT_SETTERS
    utc = _utc
    fromtimestamp = _fromtimestamp
    is_reg = _is_regular
    while stack:
        keys, found, depth = stack[-1]
        for key in keys:
            if key[-1] == "/":
                stack.append((*scan(found[key].path, key, depth + 1, start_after), depth + 1))
                break
            try:
                st = found[key].stat()
            except FileNotFoundError:  # deleted during the walk, or a broken symlink
                continue
            if not is_reg(st.st_mode):
                continue
            info = new(info_type)
            set_key(info, key)
            set_size(info, st.st_size)
            set_etag(info, f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}-{st.st_ino:x}")  # _etag, inlined
            set_modified(info, fromtimestamp(st.st_mtime, utc))
            yield info
        else:
            stack.pop()


# The slot setters of ObjectInfo's fields, in field order (the walk builds ObjectInfo through them).
_FIELDS = ("key", "size", "etag", "last_modified")
assert tuple(field.name for field in fields(ObjectInfo)) == _FIELDS, "update _sorted_walk with ObjectInfo's fields"
_SLOT_SETTERS = tuple(ObjectInfo.__dict__[name].__set__ for name in _FIELDS)


class _Plan:
    """How to walk for one glob: where to start, which directories to enter, which files match.

    ``depth`` counts the segments before an entry's name (0 at the root). When
    the glob is ``fixed/segments/[**/]last`` the directory test and the depth
    guarantee the leading segments, so a file needs only its name matched
    against ``last``; other globs match the whole key.
    """

    def __init__(self, glob: str) -> None:
        full = compile_glob(glob).match
        self.prefix = literal_prefix(glob)
        segments = glob.split("/")
        dirs, last = segments[:-1], segments[-1]
        if last == "**":  # 'a/**' matches what 'a/**/*' matches
            dirs, last = segments, "*"
        self.full_match: Callable[[str], object] | None = None
        self.name_match: Callable[[str], object] = compile_glob(last).match
        # '*.csv' (a star, then no wildcard): a suffix test is the same match, cheaper
        tail = last[1:]
        self.name_suffix = tail if last[:1] == "*" and not any(char in tail for char in "*?[") else None
        self.dir_limit: int | None = None
        if "**" not in dirs:  # files exactly one level below the fixed directories
            fixed = dirs
            self.file_depths: tuple[int, int | None] = (len(dirs), len(dirs))
            self.dir_limit = len(dirs)
        elif dirs.index("**") == len(dirs) - 1:  # 'fixed/**/last': files at any depth below the fixed part
            fixed = dirs[:-1]
            self.file_depths = (len(fixed), None)
        else:  # '**' in the middle: only the segments before it prune, the whole key decides
            fixed = dirs[: dirs.index("**")]
            self.file_depths = (0, None)
            self.full_match = full
        self.fixed = [compile_glob(segment).match if segment else _never for segment in fixed]

    def dir_ok(self, depth: int, name: str) -> bool:
        if self.dir_limit is not None and depth >= self.dir_limit:
            return False
        return depth >= len(self.fixed) or self.fixed[depth](name) is not None

    def files_at(self, depth: int) -> bool:
        low, high = self.file_depths
        return depth >= low and (high is None or depth <= high)

    def scan(
        self, path: str, prefix: str, depth: int, start_after: str | None
    ) -> tuple[Iterator[str], dict[str, os.DirEntry[str]]]:
        """The entries of one directory worth visiting: an iterator over their sorted keys, and key -> entry.

        A directory's key is ``prefix + name + '/'``; it is kept when the glob
        allows it at this depth and some key under it can sort after
        ``start_after``. A file is kept when the glob matches and its key sorts
        after ``start_after``; temp files of atomic writes are skipped.
        """
        try:
            entries = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            return iter(()), {}  # the source prefix does not exist (yet), or went away during the walk
        found: dict[str, os.DirEntry[str]] = {}
        files_here = self.files_at(depth)
        name_match, suffix, full_match = self.name_match, self.name_suffix, self.full_match
        dir_ok = self.dir_ok
        with entries:
            for entry in entries:
                name = entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not dir_ok(depth, name):
                        continue
                    key = prefix + name + "/"
                    if start_after is not None and key < start_after and not start_after.startswith(key):
                        continue  # every key under it sorts before start_after
                elif full_match is None:
                    if not files_here:
                        continue
                    key = prefix + name
                    if start_after is not None and key <= start_after:
                        continue
                    if suffix is not None:
                        if not name.endswith(suffix):
                            continue
                    elif name_match(name) is None:
                        continue
                    if name[0] == "." and _TEMP_SUFFIX.search(name):
                        continue
                else:
                    key = prefix + name
                    if full_match(key) is None or (start_after is not None and key <= start_after):
                        continue
                    if name[0] == "." and _TEMP_SUFFIX.search(name):
                        continue
                found[key] = entry
        return iter(sorted(found)), found


@lru_cache(maxsize=64)
def _plan(glob: str) -> _Plan:
    return _Plan(glob)


def _never(name: str) -> None:
    return None
