"""DataFrame and session helpers of the Spark parser: reading local files, telling rows' files apart, settings.

Rows carry the hash of their file's ``input_file_name()`` (``_fh``); the
driver hashes the paths Spark reports to map each row back to its file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from platform_assets.ingest.parsing.spark_files import spark_xxhash64


def union(frames: list[DataFrame]) -> DataFrame:
    """The rows of every frame (same columns), in order."""
    result = frames[0]
    for frame in frames[1:]:
        result = result.union(frame)
    return result


def file_hashes(frame: DataFrame, paths: list[str]) -> dict[int, int]:
    """{hash of a file's ``input_file_name()``: its index in ``paths``} for the files ``frame`` reads."""
    wanted = {path: index for index, path in enumerate(paths)}
    found: dict[int, int] = {}
    for uri in _input_files(frame):
        local = unquote(urlsplit(uri).path) if uri.startswith("file:") else uri
        index = wanted.get(local)
        if index is None:
            index = wanted.get(os.path.realpath(local))
        if index is None:
            raise RuntimeError(f"spark reads {uri!r}, which is none of the files asked for")
        path_hash = spark_xxhash64(uri)
        if found.get(path_hash, index) != index:
            raise RuntimeError(f"two files of one call have the same path hash ({uri!r})")
        found[path_hash] = index
    return found


def file_indexes(data: pa.Table, file_of: dict[int, int]) -> np.ndarray:
    """The index of each row's file, from its ``_fh`` path hash."""
    if not data.num_rows:
        return np.zeros(0, np.int64)
    position = pc.index_in(data.column("_fh"), value_set=pa.array(list(file_of), pa.int64()))
    if position.null_count:
        raise RuntimeError("spark returned rows of a file it did not name")
    indexes = np.asarray(list(file_of.values()), dtype=np.int64)
    return indexes[position.to_numpy(zero_copy_only=False).astype(np.int64)]


def file_order(data: pa.Table, file_of: dict[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
    """(the permutation that orders ``data`` by file, then ``_bs``, or None if it is in order; file per row).

    ``_bs`` is the offset of a row's block (text) or its row number (Parquet);
    the sort is stable, as Spark returns the rows of a block in order.
    """
    file_index = file_indexes(data, file_of)
    if len(file_index) < 2:
        return None, file_index
    offsets = data.column("_bs").to_numpy(zero_copy_only=False).astype(np.int64)
    if offsets.max() < (1 << 40):
        key = (file_index << 40) | offsets
        if (np.diff(key) >= 0).all():
            return None, file_index
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((offsets, file_index))
    return order, file_index[order]


@contextmanager
def sql_settings(session: SparkSession, values: dict[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set SQL settings of ``session`` for the duration (and unset ``unset``), then restore them."""
    previous = {key: session.conf.get(key, None) for key in [*values, *unset]}
    try:
        for key, value in values.items():
            session.conf.set(key, value)
        for key in unset:
            session.conf.unset(key)
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, old)


def read_text(session: SparkSession, paths: list[str]) -> DataFrame:
    """``session.read.text(paths)``; on classic Spark the path list reaches the JVM in one string.

    (pyspark sends a list with one py4j round trip per path.) Paths hold no
    NUL character, which separates them.
    """
    jvm = getattr(session, "_jvm", None)
    if jvm is None or len(paths) < 2:
        return session.read.text(paths)
    names = jvm.java.util.regex.Pattern.compile("\0").splitAsStream("\0".join(paths)).toList()
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    return ClassicDataFrame(session._jsparkSession.read().text(jvm.PythonUtils.toSeq(names)), session)


def _input_files(frame: DataFrame) -> list[str]:
    """``frame.inputFiles()``; on classic Spark in one py4j round trip (pyspark makes one per file)."""
    jdf = getattr(frame, "_jdf", None)
    jvm = getattr(frame.sparkSession, "_jvm", None)
    if jdf is None or jvm is None:
        return frame.inputFiles()
    joined = jvm.scala.collection.immutable.ArraySeq.unsafeWrapArray(jdf.inputFiles()).mkString("\0")
    return joined.split("\0") if joined else []


def glob_escape(path: str) -> str:
    """``path`` with Hadoop glob characters escaped, so it names exactly one file."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)
