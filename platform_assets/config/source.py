"""A product's ``source:``: where its files land and how they are read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from platform_assets.config.base import Strict, check_store_url

JSON_LINES_NAMES = ("jsonl", "ndjson")  # other names of format: json (JSON lines)


class SourceSettings(Strict):
    url: str
    glob: str = "**/*"
    format: Literal["csv", "json", "parquet"] = "csv"  # 'jsonl' and 'ndjson' are read as 'json'
    header: bool = True
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    encoding: str = "utf-8"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_store_url(value)

    @field_validator("format", mode="before")
    @classmethod
    def _json_lines_names(cls, value: Any) -> Any:
        return "json" if value in JSON_LINES_NAMES else value

    @field_validator("glob")
    @classmethod
    def _glob(cls, value: str) -> str:
        from platform_assets.storage.globs import compile_glob

        compile_glob(value)
        return value

    @field_validator("delimiter", "quote")
    @classmethod
    def _single_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"{value!r} must be exactly one character")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value
