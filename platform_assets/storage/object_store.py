"""Object stores: one interface over a local directory and an S3 (or MinIO) prefix.

A store has a root URL (``file:///abs/dir`` or ``s3://bucket/prefix``); keys are
relative to it and ``/``-separated. Contracts every store keeps:

- Listings (:meth:`ObjectStore.list_page`, :meth:`ObjectStore.iter_objects`)
  return keys in ascending code-point order (the same as S3's UTF-8 byte order),
  strictly after ``start_after``, filtered by a glob (:mod:`.globs`). They return
  keys as they are, unsafe ones included; the caller decides what to do with them.
- Every method that takes a key validates it (:func:`.keys.validate_key`) and
  raises :class:`UnsafeKey` before touching storage.
- Writes are atomic: a reader never sees a half-written object.
- Reading a key that does not exist raises :class:`ObjectNotFound` (an
  :class:`ObjectVanished`); :meth:`ObjectStore.stat` returns None instead.
- A destination that refuses :func:`copy_object`'s write (permission denied,
  a read-only filesystem, S3's AccessDenied) raises :class:`StoreNotWritable`.
- ``etag`` is S3's ETag without quotes, or for a local file the cheap
  fingerprint ``f"{st_size:x}-{st_mtime_ns:x}-{st_ctime_ns:x}-{st_ino:x}"``;
  ``last_modified`` is timezone-aware UTC.

:func:`copy_object` copies one object between any two stores and returns the
SHA-256 of the bytes it copied; :func:`open_store` builds a store from a URL.
"""

from __future__ import annotations

import errno
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from platform_assets.errors import ConfigError, UserError
from platform_assets.storage.keys import UnsafeKey, validate_key

__all__ = [
    "CHUNK_SIZE",
    "ByteReader",
    "CopyResult",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectVanished",
    "PinnedRead",
    "StoreNotWritable",
    "StoreUrlError",
    "UnsafeKey",
    "copy_object",
]

CHUNK_SIZE = 1024 * 1024  # bytes per read when streaming


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as listed or stat'ed."""

    key: str  # relative to the store's root, '/'-separated
    size: int
    etag: str | None  # S3: ETag without quotes; local: size, mtime, ctime and inode (see the module docstring)
    last_modified: datetime | None  # timezone-aware UTC


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What :func:`copy_object` wrote: the destination key, its size and etag, and the SHA-256 of the bytes."""

    key: str
    size: int
    etag: str | None
    sha256: str  # hex


class ObjectVanished(Exception):
    """The object no longer exists, or changed (its etag is not the expected one). The message names it."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __reduce__(self) -> tuple[type[ObjectVanished], tuple[str, str | None]]:
        return (type(self), (str(self), self.key))


class ObjectNotFound(ObjectVanished):
    """No object exists at the key (the read-side error of every store)."""


class StoreUrlError(ConfigError):
    """A store URL that cannot be opened; the message says what is accepted (a ValueError too)."""


class ByteReader(Protocol):
    """What :meth:`ObjectStore.put_stream` reads from: ``read(size)``, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


class StoreNotWritable(UserError):
    """A store refused a write: permission denied, a read-only filesystem, S3's AccessDenied."""


_REFUSED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
_REFUSED_S3_CODES = frozenset({"AccessDenied", "AllAccessDisabled"})


def write_refused(error: BaseException) -> bool:
    """True when ``error`` says the store refuses writes (not that the data or the key is wrong)."""
    if isinstance(error, OSError) and error.errno in _REFUSED_ERRNOS:
        return True
    response = getattr(error, "response", None)  # botocore's ClientError
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in _REFUSED_S3_CODES


class PinnedRead(Protocol):
    """A read of one object version, for :func:`copy_object`.

    ``info`` describes the version being read; ``verify()`` raises
    :class:`ObjectVanished` when the bytes read may not be that version (a local
    file changed while it was read).
    """

    info: ObjectInfo

    def read(self, size: int = -1, /) -> bytes: ...

    def verify(self) -> None: ...

    def close(self) -> None: ...


class ObjectStore(ABC):
    """A flat namespace of objects under a root URL. See the module docstring for the contracts."""

    url: str  # the root URL, e.g. file:///data/raw or s3://bucket/prefix
    natural_page_size: int = 1000  # the listing page a backend serves best (S3's cap)

    @abstractmethod
    def list_page(
        self, glob: str, start_after: str | None, max_keys: int = 1000
    ) -> tuple[list[ObjectInfo], str | None]:
        """One page of objects matching ``glob``, keys ascending and strictly after ``start_after``.

        Returns ``(objects, next_start_after)``; ``next_start_after`` is None when
        the listing is complete, else the value to pass as ``start_after`` for the
        next page. A page may hold fewer than ``max_keys`` objects, even none,
        while the listing is not complete (S3 filters one listing call by the glob).
        """

    def iter_objects(self, glob: str) -> Iterator[ObjectInfo]:
        """Every object matching ``glob``, keys ascending (all pages)."""
        start_after: str | None = None
        while True:
            page, start_after = self.list_page(glob, start_after)
            yield from page
            if start_after is None:
                return

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """The object at ``key``, or None when there is none."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A binary stream of the object (close it); :class:`ObjectNotFound` when missing."""

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as stream:
            return stream.read()

    @abstractmethod
    def open_pinned(self, key: str, expected_etag: str | None = None) -> PinnedRead:
        """Open the current version of ``key`` for a consistent read.

        :class:`ObjectNotFound` when missing; :class:`ObjectVanished` when
        ``expected_etag`` is given and differs from the object's etag.
        """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        """Write ``data`` at ``key`` atomically (replacing any object there)."""

    @abstractmethod
    def put_stream(
        self,
        key: str,
        stream: ByteReader,
        before_commit: Callable[[], None] | None = None,
        size_hint: int | None = None,
    ) -> ObjectInfo:
        """Write ``stream`` (read to its end) at ``key`` atomically.

        ``before_commit`` runs after every byte is stored and before the object
        becomes visible; if it (or anything else) raises, nothing is written.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at ``key``; no error when there is none."""

    def local_path(self, key: str) -> Path | None:
        """A real filesystem path of ``key`` for local stores; None for remote ones."""
        validate_key(key)
        return None

    @abstractmethod
    def download_to(self, key: str, path: Path) -> None:
        """Write the object to the local file ``path`` atomically (temp file, then rename)."""

    def sha256(self, key: str) -> str:
        """Hex SHA-256 of the object, streamed."""
        digest = hashlib.sha256()
        with self.open_read(key) as stream:
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def etag_is_content_hash(self, etag: str) -> bool:
        """Whether two objects with different etags ``etag`` and another surely differ in content (default: no)."""
        return False

    @abstractmethod
    def uri(self, key: str) -> str:
        """The full URL of ``key``, e.g. ``s3://bucket/prefix/key`` or ``file:///root/key``."""

    def _server_side_copy(
        self, source: ObjectStore, source_key: str, dest_key: str, expected_etag: str | None
    ) -> CopyResult | None:
        """Copy from ``source`` without moving the bytes through this process, or None when this store can't."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def _not_writable(store: ObjectStore, key: str, error: BaseException) -> StoreNotWritable:
    reason = getattr(error, "strerror", None) or str(error)
    return StoreNotWritable(
        f"cannot write {store.uri(key)} ({reason}): give this process write access to {store.url}, then run the "
        "command again"
    )


class _HashingReader:
    """Reads a pinned object, hashing and counting bytes. Exposes only ``read`` (not seekable)."""

    def __init__(self, pinned: PinnedRead) -> None:
        self._pinned = pinned
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._pinned.read(size)
        self._digest.update(data)
        self.size += len(data)
        return data

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def copy_object(
    source: ObjectStore,
    source_key: str,
    dest: ObjectStore,
    dest_key: str,
    expected_etag: str | None = None,
) -> CopyResult:
    """Copy ``source_key`` of ``source`` to ``dest_key`` of ``dest``; return the destination and the bytes' SHA-256.

    - S3 to S3 on the same service: server-side CopyObject pinned to the source
      etag (``CopySourceIfMatch``); the SHA-256 comes from the checksum S3
      computes on the copy, else from streaming the copy back.
    - Otherwise the bytes stream through this process, hashed on the way, into
      an atomic write: a local destination is a temp file in the destination
      directory, fsynced and renamed; an S3 destination is a single PUT or a
      multipart upload completed only after the source checked out.

    ``expected_etag`` pins the source version. A missing source raises
    :class:`ObjectNotFound`; an etag that differs from ``expected_etag`` (or a
    local source that changed during the copy) raises :class:`ObjectVanished`.
    Either way the destination is left as it was.
    """
    validate_key(source_key)
    validate_key(dest_key)
    try:
        done = dest._server_side_copy(source, source_key, dest_key, expected_etag)
    except Exception as error:
        if write_refused(error):
            raise _not_writable(dest, dest_key, error) from error
        raise
    if done is not None:
        return done
    pinned = source.open_pinned(source_key, expected_etag)
    try:
        reader = _HashingReader(pinned)

        def check_source() -> None:
            if reader.size != pinned.info.size:
                raise ObjectVanished(
                    f"{source.uri(source_key)}: read {reader.size} bytes but the object has {pinned.info.size}; "
                    "it changed during the copy, list it again",
                    source_key,
                )
            pinned.verify()

        info = dest.put_stream(dest_key, reader, before_commit=check_source, size_hint=pinned.info.size)
    except Exception as error:
        if write_refused(error):
            raise _not_writable(dest, dest_key, error) from error
        raise
    finally:
        pinned.close()
    return CopyResult(key=dest_key, size=info.size, etag=info.etag, sha256=reader.hexdigest())


def pinned_sha256(store: ObjectStore, key: str, expected_etag: str | None) -> str:
    """Hex SHA-256 of the version ``expected_etag`` of ``key``; ObjectVanished if it is gone or changed meanwhile."""
    pinned = store.open_pinned(key, expected_etag)
    try:
        reader = _HashingReader(pinned)
        while reader.read(CHUNK_SIZE):
            pass
        if reader.size != pinned.info.size:
            raise ObjectVanished(f"{store.uri(key)}: it changed while it was read", key)
        pinned.verify()
    finally:
        pinned.close()
    return reader.hexdigest()
