"""An S3 (or MinIO) bucket prefix as an object store (``s3://bucket`` or ``s3://bucket/prefix``).

Keys are relative to the root prefix. ETags are returned without quotes.
Writes are atomic by S3's nature: one PUT, or a multipart upload that is
completed only after every part (and the caller's ``before_commit``) succeeded,
and aborted otherwise. One boto3 client per store; clients are thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from botocore.config import Config
from botocore.exceptions import ClientError

from platform_assets.config import S3Settings
from platform_assets.storage.globs import compile_glob, literal_prefix
from platform_assets.storage.keys import unsafe_reason, validate_key
from platform_assets.storage.local_store import atomic_write
from platform_assets.storage.object_store import (
    ByteReader,
    CopyResult,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectVanished,
    StoreUrlError,
)

MIB = 1024 * 1024
UPLOAD_PART_SIZE = 8 * MIB  # streams up to this size are one PUT; larger ones go multipart
UPLOAD_CONCURRENCY = 4  # parts in flight per upload
COPY_OBJECT_LIMIT = 5 * 1024 * MIB  # CopyObject's maximum source size
COPY_PART_SIZE = 512 * MIB
COPY_CONCURRENCY = 8
MAX_PARTS = 10_000

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,254}\Z")
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CHANGED = frozenset({"412", "PreconditionFailed"})
_utc = UTC


_session_lock = threading.Lock()
_session: Any = None


def s3_client_config(endpoint_url: str | None, max_attempts: int = 5) -> Config:
    """How the platform's S3 clients behave: standard retries, a pool for parallel copies, path-style on MinIO/moto."""
    return Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=32,
        # Custom endpoints (MinIO, moto) rarely resolve bucket subdomains.
        s3={"addressing_style": "path"} if endpoint_url else None,
    )


def make_s3_client(
    settings: S3Settings | None = None,
    *,
    session_token: str | None = None,
    profile: str | None = None,
    max_attempts: int = 5,
    use_ssl: bool = True,
    verify: bool | None = None,
) -> Any:
    """A boto3 S3 client from ``settings``: endpoint (MinIO, moto), region, and keys or the default credential chain.

    Without keys boto3's standard chain finds them (environment, ``profile`` or
    AWS_PROFILE, instance role). Clients come from one shared boto3 session
    (under a lock: sessions are not thread-safe, clients are), which makes the
    second and later ones ~10x cheaper; a named ``profile`` gets a session of its own.
    """
    import boto3

    global _session
    settings = settings or S3Settings()
    if bool(settings.access_key_id) != bool(settings.secret_access_key):
        raise StoreUrlError(
            "s3.access_key_id and s3.secret_access_key go together: give both, or neither to use the default "
            "AWS credential chain (environment, profile, instance role)"
        )
    with _session_lock:
        if profile:
            session = boto3.session.Session(profile_name=profile)
        else:
            if _session is None:
                _session = boto3.session.Session()
            session = _session
        return session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id or None,
            aws_secret_access_key=settings.secret_access_key or None,
            aws_session_token=session_token or None,
            use_ssl=use_ssl,
            verify=verify,
            config=s3_client_config(settings.endpoint_url, max_attempts),
        )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _utc_time(value: datetime | None) -> datetime | None:
    return value.astimezone(_utc) if value is not None else None


def _full_sha256(result: dict[str, Any]) -> str | None:
    """Hex SHA-256 from an S3 full-object ``ChecksumSHA256``; None when absent or composite (multipart)."""
    value = result.get("ChecksumSHA256")
    if not value or "-" in value or result.get("ChecksumType") not in (None, "FULL_OBJECT"):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _read_full(stream: ByteReader, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the stream."""
    chunks: list[bytes] = []
    wanted = size
    while wanted > 0:
        chunk = stream.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _part_size(total: int | None, minimum: int) -> int:
    if total is None:
        return minimum
    return max(minimum, -(-total // MAX_PARTS))


class _PinnedObject:
    """One GET of one object version (a single GET is consistent; ``IfMatch`` pins the etag)."""

    def __init__(self, body: Any, info: ObjectInfo) -> None:
        self._body = body
        self.info = info

    def read(self, size: int = -1, /) -> bytes:
        return self._body.read(None if size < 0 else size)

    def verify(self) -> None:
        return None

    def close(self) -> None:
        self._body.close()


class S3Store(ObjectStore):
    """Objects under ``s3://bucket/prefix``; keys are relative to the prefix."""

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None, client: Any = None) -> None:
        if not _BUCKET.match(bucket):
            raise StoreUrlError(f"S3 bucket name {bucket!r} is not valid; use s3://bucket/prefix")
        prefix = prefix.strip("/")
        if prefix and (reason := unsafe_reason(prefix)) is not None:
            raise StoreUrlError(f"S3 prefix {prefix!r} is not usable: {reason}")
        self.bucket = bucket
        self.prefix = prefix
        self._root = prefix + "/" if prefix else ""
        self.settings = settings or S3Settings()
        self.client = client if client is not None else make_s3_client(self.settings)
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    @classmethod
    def from_url(cls, url: str, settings: S3Settings | None = None, client: Any = None) -> S3Store:
        """``s3://bucket`` or ``s3://bucket/some/prefix`` (a trailing '/' is ignored; no percent-decoding).

        ``client``: a boto3 S3 client to use (else one is made from ``settings``).
        """
        if not url[:5].lower() == "s3://":
            raise StoreUrlError(f"{url!r} is not an S3 URL; use s3://bucket/prefix")
        bucket, _, prefix = url[5:].partition("/")
        return cls(bucket, prefix, settings, client)

    def same_service(self, other: S3Store) -> bool:
        """True when one server-side copy can read ``other`` and write here (same endpoint and credentials)."""
        mine, theirs = self.settings, other.settings
        return (mine.endpoint_url, mine.access_key_id) == (theirs.endpoint_url, theirs.access_key_id)

    def _full(self, key: str) -> str:
        return self._root + validate_key(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def _missing(self, key: str) -> NoReturn:
        raise ObjectNotFound(f"{self.uri(key)}: no such object", key) from None

    def _changed(self, key: str, actual: str | None, expected: str) -> NoReturn:
        raise ObjectVanished(
            f"{self.uri(key)}: the object changed (etag {actual or 'unknown'}, expected {expected}); list it again",
            key,
        ) from None

    # listing

    def list_page(
        self, glob: str, start_after: str | None, max_keys: int = 1000
    ) -> tuple[list[ObjectInfo], str | None]:
        """One ``list_objects_v2`` call narrowed to the glob's literal prefix, filtered by the glob."""
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys}")
        match = compile_glob(glob).match
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._root + literal_prefix(glob),
            "MaxKeys": max_keys,
        }
        if start_after is not None:
            params["StartAfter"] = self._root + start_after
        response = self.client.list_objects_v2(**params)
        contents = response.get("Contents") or []
        cut = len(self._root)
        page = []
        for item in contents:
            key = item["Key"][cut:]
            if match(key) is not None:
                page.append(ObjectInfo(key, item["Size"], _etag(item.get("ETag")), _utc_time(item.get("LastModified"))))
        if not response.get("IsTruncated"):
            return page, None
        if not contents:
            raise RuntimeError(f"{self.url}: S3 returned an empty truncated listing page; retry the listing")
        return page, contents[-1]["Key"][cut:]

    # reading

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as error:
            if _code(error) in _MISSING:
                return None
            raise

    def stat(self, key: str) -> ObjectInfo | None:
        head = self._head(key)
        if head is None:
            return None
        return ObjectInfo(key, head["ContentLength"], _etag(head.get("ETag")), _utc_time(head.get("LastModified")))

    def etag_is_content_hash(self, etag: str) -> bool:
        """A single-part upload's etag is the MD5 of its bytes; a multipart one's (``...-N``) is not."""
        return "-" not in etag

    def _get(self, key: str, expected_etag: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._full(key)}
        if expected_etag is not None:
            params["IfMatch"] = _quoted(expected_etag)
        try:
            return self.client.get_object(**params)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                self._missing(key)
            if code in _CHANGED and expected_etag is not None:
                current = self.stat(key)
                self._changed(key, current.etag if current else None, expected_etag)
            raise

    def open_read(self, key: str) -> BinaryIO:
        return self._get(key)["Body"]

    def open_pinned(self, key: str, expected_etag: str | None = None) -> _PinnedObject:
        response = self._get(key, expected_etag)
        info = ObjectInfo(
            key, response["ContentLength"], _etag(response.get("ETag")), _utc_time(response.get("LastModified"))
        )
        if expected_etag is not None and info.etag != expected_etag.strip('"'):
            response["Body"].close()
            self._changed(key, info.etag, expected_etag)
        return _PinnedObject(response["Body"], info)

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        body = self._get(key)["Body"]
        with body:
            for chunk in body.iter_chunks(MIB):
                digest.update(chunk)
        return digest.hexdigest()

    def download_to(self, key: str, path: Path) -> None:
        # botocore raises on a body shorter than its Content-Length, before the rename.
        with self._get(key)["Body"] as body:
            atomic_write(os.path.abspath(path), body)

    # writing

    def put_bytes(self, key: str, data: bytes) -> ObjectInfo:
        response = self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)
        return ObjectInfo(key, len(data), _etag(response.get("ETag")), None)

    def put_stream(
        self,
        key: str,
        stream: ByteReader,
        before_commit: Callable[[], None] | None = None,
        size_hint: int | None = None,
    ) -> ObjectInfo:
        """One PUT for streams up to UPLOAD_PART_SIZE, else a multipart upload completed after ``before_commit``.

        ``last_modified`` of the result is None (S3 does not return it on write; use stat).
        """
        full = self._full(key)
        part_size = _part_size(size_hint, UPLOAD_PART_SIZE)
        first = _read_full(stream, part_size)
        if len(first) < part_size:
            if before_commit is not None:
                before_commit()
            return self.put_bytes(key, first)
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        try:
            parts, total = self._upload_parts(full, upload_id, first, stream, part_size)
            if before_commit is not None:
                before_commit()
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise
        return ObjectInfo(key, total, _etag(response.get("ETag")), None)

    def _upload_parts(
        self, full: str, upload_id: str, first: bytes, stream: ByteReader, part_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Upload ``first`` and the rest of ``stream`` as parts, at most UPLOAD_CONCURRENCY in flight."""

        def upload(number: int, data: bytes) -> dict[str, Any]:
            response = self.client.upload_part(
                Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
            )
            return {"PartNumber": number, "ETag": response["ETag"]}

        parts: list[dict[str, Any]] = []
        pending: deque[Future[dict[str, Any]]] = deque()
        total = 0
        with ThreadPoolExecutor(UPLOAD_CONCURRENCY) as pool:
            try:
                number, data = 1, first
                while data:
                    if number > MAX_PARTS:
                        raise ValueError(f"{full}: the stream is larger than {MAX_PARTS} parts of {part_size} bytes")
                    total += len(data)
                    pending.append(pool.submit(upload, number, data))
                    if len(pending) >= UPLOAD_CONCURRENCY:
                        parts.append(pending.popleft().result())
                    number, data = number + 1, _read_full(stream, part_size)
                while pending:
                    parts.append(pending.popleft().result())
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return parts, total

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    # server-side copy

    def _server_side_copy(
        self, source: ObjectStore, source_key: str, dest_key: str, expected_etag: str | None
    ) -> CopyResult | None:
        if not isinstance(source, S3Store) or not self.same_service(source):
            return None
        head = source._head(source_key)
        if head is None:
            source._missing(source_key)
        etag = _etag(head.get("ETag")) or ""
        if expected_etag is not None and etag != expected_etag.strip('"'):
            source._changed(source_key, etag, expected_etag)
        size = head["ContentLength"]
        copy_source = {"Bucket": source.bucket, "Key": source._full(source_key)}
        dest_full = self._full(dest_key)
        try:
            if size <= COPY_OBJECT_LIMIT:
                response = self.client.copy_object(
                    Bucket=self.bucket,
                    Key=dest_full,
                    CopySource=copy_source,
                    CopySourceIfMatch=_quoted(etag),
                    ChecksumAlgorithm="SHA256",
                )
                result = response.get("CopyObjectResult", {})
                dest_etag, sha256 = _etag(result.get("ETag")), _full_sha256(result)
            else:
                dest_etag, sha256 = (
                    self._multipart_copy(copy_source, dest_full, etag, size, head.get("ContentType")),
                    None,
                )
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                source._missing(source_key)
            if code in _CHANGED:
                current = source.stat(source_key)
                source._changed(source_key, current.etag if current else None, etag)
            raise
        if sha256 is None:
            sha256 = self.sha256(dest_key)
        return CopyResult(key=dest_key, size=size, etag=dest_etag, sha256=sha256)

    def _multipart_copy(
        self, copy_source: dict[str, str], dest_full: str, etag: str, size: int, content_type: str | None
    ) -> str | None:
        """UploadPartCopy in ranges, each pinned to ``etag``; the upload is aborted on any error."""
        part_size = _part_size(size, COPY_PART_SIZE)
        extra = {"ContentType": content_type} if content_type else {}
        upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=dest_full, **extra)["UploadId"]

        def copy_part(number: int) -> dict[str, Any]:
            start = (number - 1) * part_size
            end = min(start + part_size, size) - 1
            response = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=dest_full,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={start}-{end}",
                CopySourceIfMatch=_quoted(etag),
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(COPY_CONCURRENCY) as pool:
                parts = list(pool.map(copy_part, range(1, -(-size // part_size) + 1)))
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=dest_full, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=dest_full, UploadId=upload_id)
            raise
        return _etag(response.get("ETag"))
