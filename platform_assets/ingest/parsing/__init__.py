"""Parsing engines: files of one version into Arrow tables of good rows and rejects.

Two engines honour one contract (``result.py``, rules in ``types.py``) and give
the same rows and rejects for the same input: :class:`ArrowEngine` (pyarrow,
in process; the default) and :class:`SparkEngine` (a given SparkSession).

Modules, each importing (at run time) only those listed before it:

- ``types``: declared types' Arrow types and text rules; ``text``: encodings,
  line breaks, the CSV dialect, header lines, JSON lines; ``result``: the
  contract's inputs, results and file errors; ``drift``: schema drift lines.
- ``arrow_casting`` (text to typed columns), then ``arrow_csv``,
  ``arrow_json``, ``arrow_parquet`` and ``arrow_engine``; ``inference``
  (schemas of products that declare none) uses the casting, not the engine.
- ``spark_files`` (driver-side file work), ``spark_rules`` (Spark SQL rules),
  ``spark_frames``, ``spark_text`` (the passes over CSV and JSON lines) and
  ``spark_engine``.
"""

from __future__ import annotations

from typing import Any

from platform_assets.ingest.parsing.arrow_engine import ArrowEngine
from platform_assets.ingest.parsing.drift import header_differences, parquet_differences, schema_differences
from platform_assets.ingest.parsing.inference import InferenceError, infer_schema
from platform_assets.ingest.parsing.result import (
    ENCODING_ERROR,
    PARSE_ERROR,
    READ_ERROR,
    REJECTS_SCHEMA,
    SCHEMA_DRIFT,
    FileError,
    InputFile,
    ParseResult,
    ParsingEngine,
)
from platform_assets.ingest.parsing.types import arrow_type, declared_arrow_schema, rows_arrow_schema


def make_engine(name: str, spark: Any = None) -> ParsingEngine:
    """The engine called ``name`` ("arrow" or "spark"; spark needs a SparkSession)."""
    if name == "arrow":
        return ArrowEngine()
    if name == "spark":
        if spark is None:
            raise ValueError("the spark engine needs a SparkSession (see platform_assets.ingest.spark_session)")
        from platform_assets.ingest.parsing.spark_engine import SparkEngine

        return SparkEngine(spark)
    raise ValueError(f"unknown parsing engine {name!r}; use arrow or spark")


def __getattr__(name: str) -> Any:
    if name == "SparkEngine":  # imported lazily: pyspark is heavy
        from platform_assets.ingest.parsing.spark_engine import SparkEngine

        return SparkEngine
    raise AttributeError(name)


__all__ = [
    "ArrowEngine",
    "ENCODING_ERROR",
    "FileError",
    "InferenceError",
    "InputFile",
    "PARSE_ERROR",
    "ParseResult",
    "ParsingEngine",
    "READ_ERROR",
    "REJECTS_SCHEMA",
    "SCHEMA_DRIFT",
    "SparkEngine",
    "arrow_type",
    "declared_arrow_schema",
    "header_differences",
    "infer_schema",
    "make_engine",
    "parquet_differences",
    "rows_arrow_schema",
    "schema_differences",
]
