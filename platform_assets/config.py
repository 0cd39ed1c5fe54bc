"""The platform.yaml schema: parsing, ``${ENV}`` interpolation and validation.

Contract: :func:`load_config` either returns a fully validated
:class:`PlatformConfig` or raises :class:`ConfigError` whose message names the
file, the key, the offending value and what is allowed. It never lets a
pydantic or YAML traceback reach the user, and never shows a secret: URL
passwords are masked, values under secret keys are not echoed, and every secret
the document holds is scrubbed from the message. A key given twice in one YAML
mapping is an error, not a silent overwrite. A loaded config registers its
secrets with :mod:`platform_assets.secrets`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from platform_assets import secrets
from platform_assets.column_types import ColumnType
from platform_assets.errors import ConfigError
from platform_assets.urls import (
    DB_SCHEMES,
    MASK,
    authority_userinfo_span,
    db_backend,
    db_url_is_ambiguous,
    mask_url,
    url_scheme,
)

CONFIG_ENV_VAR = "PLATFORM_CONFIG"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OWNER_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}")  # Dagster's own test of an email
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
RESERVED_COLUMNS = frozenset(
    {"_version", "_source_file", "_source_sha256", "_ingested_at", "_batch_in", "_batch_out", "_batch_id"}
)
MAX_NAME_LENGTH = 48
JSON_LINES_NAMES = ("jsonl", "ndjson")  # other names of format: json (JSON lines)

__all__ = ["ConfigError", "PlatformConfig", "ProductConfig", "load_config", "mask_url", "parse_config"]


def _column_type(value: Any) -> ColumnType:
    return value if isinstance(value, ColumnType) else ColumnType.parse(str(value))


DeclaredType = Annotated[ColumnType, PlainValidator(_column_type), PlainSerializer(str, return_type=str)]
"""A column type in the config: parsed from its text, dumped as its canonical text (``decimal(12,2)``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Settings(_Strict):
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None


class SparkSettings(_Strict):
    master: str | None = "local[*]"
    remote: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)
    s3a_direct: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> SparkSettings:
        if self.remote and self.master and self.master != "local[*]":
            raise ValueError("give either spark.master or spark.remote, not both")
        return self


MAX_LINE_BYTES_DEFAULT = 256 << 20
"""``platform.processing.max_line_bytes`` when it is not set: 256 MiB."""


class ProcessingSettings(_Strict):
    """``platform.processing``: how files are claimed, retried and read.

    ``max_line_bytes`` (default 256 MiB, at least 1 KiB) bounds how far the Arrow
    engine's CSV reader grows its block: the reader starts with blocks of
    16 MiB (4 MiB when it reads one file on several threads) and doubles the
    block, up to ``max_line_bytes``, while a record (a line, or the lines of a
    quoted value that spans them) does not fit. A record of up to
    ``max_line_bytes`` bytes always parses; a file with a longer one that does
    not fit fails with a message that names the file, the record's line and
    this key. The block is memory the reader holds per file it reads at once.
    JSON lines are read line by line and the Spark parser reads lines of any
    length (see ``ingest/parsing/spark_parser.py``): neither needs the key.
    """

    claim_batch_size: int = Field(default=64, ge=1)
    lease_seconds: int = Field(default=300, ge=5)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_seconds: float = Field(default=30.0, ge=0)
    snapshot_retention_seconds: int = Field(default=3600, ge=0)
    max_line_bytes: int = Field(default=MAX_LINE_BYTES_DEFAULT, ge=1 << 10)

    @model_validator(mode="after")
    def _retention_covers_leases(self) -> ProcessingSettings:
        if self.snapshot_retention_seconds < self.lease_seconds:
            raise ValueError(
                f"snapshot_retention_seconds ({self.snapshot_retention_seconds}) must be at least lease_seconds "
                f"({self.lease_seconds}): "
                "a reclaimed file needs the commit markers of its lease window"
            )
        return self


class DiscoverySettings(_Strict):
    tick_seconds_budget: float = Field(default=40.0, gt=0)
    page_size: int = Field(default=1000, ge=1, le=1000)


class PlatformSection(_Strict):
    name: str
    state_db: str = "sqlite:///state.db"
    raw_zone: str = "file:///data/raw"
    warehouse: str = "file:///data/warehouse"
    merge_store: str = "sqlite:///merge.db"
    s3: S3Settings | None = None
    engine: Literal["arrow", "spark"] = "arrow"
    spark: SparkSettings = Field(default_factory=SparkSettings)
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "platform name")

    @field_validator("raw_zone", "warehouse")
    @classmethod
    def _store_url(cls, value: str) -> str:
        return _check_store_url(value)

    @field_validator("state_db", "merge_store")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return _check_db_url(value)


class RemotePlatform(_Strict):
    merge_store: str

    @field_validator("merge_store")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return _check_db_url(value)


class SourceSettings(_Strict):
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
        return _check_store_url(value)

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


SchemaEvolution = Literal["add_columns", "rescue", "strict"]
"""What a file whose columns differ from the product's schema does to it (``schema.evolution``)."""


class SchemaSettings(_Strict):
    """A product's declared schema (``schema:`` in platform.yaml).

    - ``columns``: name -> type, in order; ``primary_key``: the key's columns.
    - ``evolution`` (default ``strict``): what a file with columns the schema
      does not hold does. ``add_columns``: the new columns are added to the
      product's schema, nullable, at the end (earlier rows read NULL).
      ``rescue``: nothing is added; the unknown columns go into one
      ``_rescued`` JSON column per row. ``strict``: the version fails, naming
      the new, missing or retyped columns and the config change that would
      accept them.
    - ``widen_types`` (default false, the safe choice: a type changes only when
      someone says so): a column may widen, int to bigint or decimal(p,s) to
      decimal(p2>p,s), in every layer (Iceberg, merge table, replicas).

    Under every mode a column absent from a file stays in the schema (NULL for
    that file's rows), and a narrowing, an incompatible retype or a rename is
    refused (:mod:`platform_assets.schema_change` judges each change). Adding a
    column to ``columns`` at the end is accepted under every mode.

    A column may carry a description (shown in the Dagster UI's column schema):
    ``columns: {id: {type: string, description: "customer id"}, name: string}``;
    the two forms mix freely. The descriptions land in ``descriptions``
    (column -> text), which may also be given directly.
    """

    columns: dict[str, DeclaredType]
    primary_key: list[str] = Field(default_factory=list)
    evolution: SchemaEvolution = "strict"
    widen_types: bool = False
    descriptions: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _described_columns(cls, data: Any) -> Any:
        """``{name: {type: T, description: D}}`` entries of ``columns`` become ``{name: T}`` plus a description."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            return data
        columns, descriptions = {}, dict(data.get("descriptions") or {})
        for name, entry in data["columns"].items():
            if not isinstance(entry, dict):
                columns[name] = entry
                continue
            if "type" not in entry or set(entry) - {"type", "description"}:
                raise ValueError(f"column {name!r}: give a type, or a mapping with the keys type and description")
            columns[name] = entry["type"]
            if entry.get("description"):
                descriptions[name] = str(entry["description"])
        return {**data, "columns": columns, "descriptions": descriptions}

    @field_validator("columns")
    @classmethod
    def _columns(cls, value: dict[str, ColumnType]) -> dict[str, ColumnType]:
        if not value:
            raise ValueError("declare at least one column")
        checked = {}
        for name, column_type in value.items():
            if not COLUMN_PATTERN.match(name) or len(name) > 63:
                raise ValueError(f"column name {name!r} must match [A-Za-z_][A-Za-z0-9_]* (at most 63 characters)")
            if name.lower() in RESERVED_COLUMNS:
                raise ValueError(f"column name {name!r} is reserved for the platform's lineage and batch columns")
            checked[name] = column_type
        lowered = [name.lower() for name in checked]
        if len(set(lowered)) != len(lowered):
            raise ValueError("column names must differ by more than case")
        return checked

    @model_validator(mode="after")
    def _key_in_columns(self) -> SchemaSettings:
        missing = [key for key in self.primary_key if key not in self.columns]
        if missing:
            raise ValueError(f"primary_key column(s) {missing} are not among the declared columns {list(self.columns)}")
        if len(set(self.primary_key)) != len(self.primary_key):
            raise ValueError("primary_key lists a column twice")
        undeclared = [name for name in self.descriptions if name not in self.columns]
        if undeclared:
            raise ValueError(f"descriptions of {undeclared}, which are not among the declared columns")
        return self


class ReplicationSettings(_Strict):
    chunk_size: int = Field(default=50_000, ge=1)
    max_batches_per_sync: int = Field(default=100, ge=1)
    max_lag_batches: int = Field(default=5, ge=0)


class FreshnessSettings(_Strict):
    """``freshness``: ``<product>/merge`` should have merged a version within ``max_lag_minutes`` (Dagster's
    freshness policy: failing after that, warning after ``warn_lag_minutes`` when given)."""

    max_lag_minutes: int = Field(ge=1)
    warn_lag_minutes: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessSettings:
        if self.warn_lag_minutes is not None and self.warn_lag_minutes >= self.max_lag_minutes:
            raise ValueError("warn_lag_minutes must be below max_lag_minutes")
        return self


class ProductConfig(_Strict):
    """One product. Besides its data keys: ``description`` (shown with each of its Dagster assets), ``owners``
    (Dagster owners of its assets: emails or ``team:<name>``) and ``freshness`` (see FreshnessSettings)."""

    name: str
    description: str | None = None
    owners: list[str] = Field(default_factory=list)
    freshness: FreshnessSettings | None = None
    source: SourceSettings
    schema_: SchemaSettings | None = Field(default=None, alias="schema")
    mode: Literal["snapshot", "incremental"] = "snapshot"
    milestone: Literal["forensic", "live_only"] = "forensic"
    primary_platforms: list[str] = Field(default_factory=list)
    engine: Literal["arrow", "spark"] | None = None
    max_bad_row_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    max_delete_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    replication: ReplicationSettings = Field(default_factory=ReplicationSettings)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value, "product name")

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            team = owner.startswith("team:") and len(owner) > len("team:")
            if not team and not OWNER_EMAIL.fullmatch(owner):
                raise ValueError(f"owner {owner!r} must be an email address or a team as team:<name>")
        if len(set(value)) != len(value):
            raise ValueError("owners lists someone twice")
        return value

    @property
    def table_schema(self) -> SchemaSettings | None:
        """The declared schema (``schema`` in YAML), or None to infer it."""
        return self.schema_


class PlatformConfig(_Strict):
    platform: PlatformSection
    platforms: dict[str, RemotePlatform] = Field(default_factory=dict)
    products: list[ProductConfig] = Field(default_factory=list)
    source_path: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlatformConfig:
        names = [product.name for product in self.products]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"product names must be unique; repeated: {duplicated}")
        for platform_name in self.platforms:
            _check_name(platform_name, "platform name under platforms")
        known = set(self.platforms) | {self.platform.name}
        for product in self.products:
            unknown = [name for name in product.primary_platforms if name not in known]
            if unknown:
                raise ValueError(
                    f"product {product.name!r}: primary_platforms {unknown} are neither this platform "
                    f"({self.platform.name!r}) nor listed under platforms: {sorted(self.platforms)}"
                )
            if product.table_schema is None and self.is_replica(product):
                raise ValueError(f"product {product.name!r} is replicated here and needs a declared schema")
        return self

    def product(self, name: str) -> ProductConfig:
        """The product called ``name``; ConfigError listing the known ones otherwise."""
        for product in self.products:
            if product.name == name:
                return product
        known = ", ".join(product.name for product in self.products) or "none"
        raise ConfigError(f"no product {name!r} in the config; products: {known}")

    def is_primary(self, product: ProductConfig) -> bool:
        """True where this platform ingests ``product`` from its source.

        An empty ``primary_platforms`` means every platform ingests it itself.
        """
        return not product.primary_platforms or self.platform.name in product.primary_platforms

    def is_replica(self, product: ProductConfig) -> bool:
        return not self.is_primary(product)

    def parser_name(self, product: ProductConfig) -> str:
        """The parser the product uses: its own `engine` key, else the platform's ("arrow" or "spark")."""
        return product.engine or self.platform.engine

    def masked(self) -> dict[str, Any]:
        """The config as a dict with every password in a URL masked."""
        return _mask_tree(self.model_dump(by_alias=True, exclude={"source_path"}))


def _check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} {value!r} must match [a-z][a-z0-9_]* (lowercase letter first, at most {MAX_NAME_LENGTH} "
            "characters)"
        )
    return value


def _check_store_url(value: str) -> str:
    if url_scheme(value) not in ("file", "s3"):
        raise ValueError(f"{mask_url(value)!r} must be a file:// or s3:// URL")
    return value


def _check_db_url(value: str) -> str:
    """A database URL that SQLAlchemy reads as written: a numeric port, one unambiguous user-info."""
    shown = repr(mask_url(value))
    if db_backend(value) not in DB_SCHEMES:
        raise ValueError(f"{shown} must be a sqlite:/// or postgresql:// URL")
    try:
        make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"{shown} is not a database URL SQLAlchemy can read; check that the port is a number and that the user "
            "name and password are percent-encoded"
        ) from None
    if db_url_is_ambiguous(value):
        raise ValueError(
            f"{shown} can be read in more than one way, so the password would not reach the database as written: "
            "percent-encode the user name and password (%40 for '@', %2F for '/', %23 for '#', %3F for '?'), or take "
            "the password from a ${VAR} placeholder, which is filled in percent-encoded"
        )
    return value


def _mask_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (MASK if secrets.is_secret_key(key) and item not in (None, "") else _mask_tree(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_tree(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def interpolate_env(value: Any, environ: Mapping[str, str] | None = None, path: str = "") -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string of ``value``.

    A placeholder that stands in the user-info of a URL (between ``scheme://``
    and the ``@`` before the host, as the template reads with its placeholders
    taken as opaque) is filled in percent-encoded, so that a password with
    ``/#?@:%``, spaces or non-ASCII characters gives a valid URL that the
    driver decodes back to the password. Elsewhere the text goes in as it is.

    Raises ConfigError naming the key when a variable is unset and has no default.
    """
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {key: interpolate_env(item, env, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_env(item, env, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    userinfo = _template_userinfo(value)

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            text = env[name]
        elif default is not None:
            text = default
        else:
            raise ConfigError(
                f"{path}: environment variable {name} is not set (used as ${{{name}}}); export it or give a default "
                f"as ${{{name}:-value}}"
            )
        if userinfo is not None and userinfo[0] <= match.start() and match.end() <= userinfo[1]:
            return quote(text, safe="")
        return text

    return ENV_PATTERN.sub(replace, value)


def _template_userinfo(template: str) -> tuple[int, int] | None:
    """Where the user-info of a URL template lies, each placeholder read as an opaque run of letters."""
    neutral = ENV_PATTERN.sub(lambda match: "x" * len(match.group(0)), template)
    return authority_userinfo_span(neutral)


def parse_config(raw: Any, source: str = "platform.yaml", environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """Validate an already-loaded YAML document and register its secrets (see the module contract)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with the keys platform, platforms, products")
    env = os.environ if environ is None else environ
    data = interpolate_env(raw, env)
    try:
        config = PlatformConfig.model_validate({**data, "source_path": source})
    except ValidationError as error:
        hidden = secrets.secrets_in(data) | secrets.environment_secrets(env)
        raise ConfigError(secrets.scrub(_describe(error, data, source), hidden)) from None
    secrets.register_config(config.model_dump(by_alias=True, exclude={"source_path"}), env)
    return config


def load_config(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> PlatformConfig:
    """Load ``path``, else the file named by $PLATFORM_CONFIG."""
    env = os.environ if environ is None else environ
    chosen = path or env.get(CONFIG_ENV_VAR)
    if not chosen:
        raise ConfigError(f"no config given: pass --config PATH or set {CONFIG_ENV_VAR}")
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{file}: cannot read the config ({error.strerror or error}); check the path") from None
    raw = _read_yaml(text, file)
    return parse_config(raw, str(file), env)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, lines: list[int]) -> None:
        super().__init__(f"key {key!r} given {len(lines)} times")
        self.key = key
        self.lines = lines


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key given twice in one mapping raises _DuplicateKey.

    PyYAML keeps the last value silently; YAML itself requires unique keys. Keys
    merged in with ``<<`` may be overridden, as YAML allows.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, list[int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                lines.setdefault(key, []).append(key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base class reports it
        for key, where in lines.items():
            if len(where) > 1:
                raise _DuplicateKey(key, where)
        return super().construct_mapping(node, deep)


def _read_yaml(text: str, file: Path) -> Any:
    """The YAML document in ``text``; ConfigError for bad YAML, without quoting the file's text."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except _DuplicateKey as error:
        lines = sorted(set(error.lines))
        where = f"line {lines[0]}" if len(lines) == 1 else "lines " + " and ".join(str(line) for line in lines)
        raise ConfigError(
            f"{file}: key {error.key!r} is given more than once in the same mapping ({where}); keep one: "
            "YAML does not merge repeated keys"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise ConfigError(f"{file}: not valid YAML{where}: {reason}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {type(error).__name__}") from None


def _describe(error: ValidationError, data: dict[str, Any], source: str) -> str:
    lines = [f"{source}: invalid config"]
    for item in error.errors():
        location = _location(item["loc"], data)
        kind = item["type"]
        value = item.get("input")
        secret = any(secrets.is_secret_key(part) for part in item["loc"])
        if secret:
            value = _SecretValue(value)
        elif isinstance(value, str):
            value = mask_url(value)
        if kind == "extra_forbidden":
            allowed = _allowed_keys(item["loc"])
            lines.append(f"  {location}: unknown key; allowed here: {allowed}")
        elif kind == "missing":
            lines.append(f"  {location}: required key is missing")
        elif kind == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            lines.append(f"  {location}: {value!r} is not allowed; use one of: {expected}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            shown = f" (got {value!r})" if _is_scalar(value) and repr(value) not in message else ""
            lines.append(f"  {location}: {message}{shown}")
    return "\n".join(lines)


class _SecretValue:
    """Stands for a value under a secret key in a message: its type shows, never its text."""

    def __init__(self, value: object) -> None:
        self._type = type(value).__name__

    def __repr__(self) -> str:
        return f"a value of type {self._type}, not shown: it is a secret"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, _SecretValue)) and not isinstance(value, dict)


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for index, part in enumerate(loc):
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node) and isinstance(node[part], dict) and "name" in node[part]:
                label = f"[{part}] ({node[part]['name']})"
            parts.append(label)
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            name = "schema" if part == "schema_" else str(part)
            if part in ("function-after", "function-before"):
                continue
            parts.append(("." if index else "") + name)
            node = node.get(name) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = PlatformConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get("schema_" if part == "schema" else str(part))
        if field is None:
            model = None
            break
        model = _model_of(field.annotation)
    if model is None:
        return "see the README's platform.yaml example"
    names = [(field.alias or name) for name, field in model.model_fields.items() if name != "source_path"]
    return ", ".join(names)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
