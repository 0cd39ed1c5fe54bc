"""Parsers: files of one version into Arrow tables of good rows and rejects.

Two parsers honour one contract (``result.py``, rules in ``types.py``) and give
the same rows and rejects for the same input: :class:`ArrowParser` (pyarrow,
in process; the default) and :class:`SparkParser` (a given SparkSession).

Modules, each importing (at run time) only those listed before it:

- ``types``: declared types' Arrow types and text rules; ``text``: encodings,
  line breaks, the CSV dialect, header lines, JSON lines; ``result``: the
  contract's inputs, results and file errors; ``drift``: schema drift lines.
- ``arrow_casting`` (text to typed columns), then ``arrow_csv``,
  ``arrow_json``, ``arrow_parquet``, ``arrow_joined`` (many small plain CSV
  files read and cast as one) and ``arrow_parser``; ``inference``
  (schemas of products that declare none) uses the casting, not the parser.
- ``spark_files`` (driver-side file work), ``spark_rules`` (Spark SQL rules),
  ``spark_frames``, ``spark_text`` (the passes over CSV and JSON lines) and
  ``spark_parser``.
"""

from __future__ import annotations

from typing import Any

from platform_assets.ingest.parsing.arrow_parser import ArrowParser
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
    Parser,
    ParseResult,
)
from platform_assets.ingest.parsing.types import arrow_type, declared_arrow_schema, rows_arrow_schema


def make_parser(name: str, spark: Any = None) -> Parser:
    """The parser called ``name`` ("arrow" or "spark"; spark needs a SparkSession)."""
    if name == "arrow":
        return ArrowParser()
    if name == "spark":
        if spark is None:
            raise ValueError("the spark parser needs a SparkSession (see platform_assets.ingest.spark_session)")
        from platform_assets.ingest.parsing.spark_parser import SparkParser

        return SparkParser(spark)
    raise ValueError(f"unknown parser {name!r}; use arrow or spark")


def __getattr__(name: str) -> Any:
    if name == "SparkParser":  # imported lazily: pyspark is heavy
        from platform_assets.ingest.parsing.spark_parser import SparkParser

        return SparkParser
    raise AttributeError(name)


__all__ = [
    "ArrowParser",
    "ENCODING_ERROR",
    "FileError",
    "InferenceError",
    "InputFile",
    "PARSE_ERROR",
    "ParseResult",
    "Parser",
    "READ_ERROR",
    "REJECTS_SCHEMA",
    "SCHEMA_DRIFT",
    "SparkParser",
    "arrow_type",
    "declared_arrow_schema",
    "header_differences",
    "infer_schema",
    "make_parser",
    "parquet_differences",
    "rows_arrow_schema",
    "schema_differences",
]
