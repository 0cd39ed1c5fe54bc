"""platform.yaml: valid configs load; each kind of mistake is named with key, value and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from platform_assets.column_types import ColumnType
from platform_assets.config import ConfigError, load_config, mask_url, parse_config

BASE: dict[str, Any] = {
    "platform": {
        "name": "alpha",
        "state_db": "postgresql://app:${PGPASSWORD}@db.internal/state",
        "raw_zone": "s3://raw-bucket/zone",
        "warehouse": "file:///data/warehouse",
        "merge_store": "sqlite:///merge.db",
        "s3": {"endpoint_url": "http://127.0.0.1:9000", "region": "us-east-1"},
        "engine": "arrow",
        "spark": {"master": "local[*]"},
    },
    "platforms": {"beta": {"merge_store": "postgresql://replicator:${BETA_PW}@beta-db/merge"}},
    "products": [
        {
            "name": "customers",
            "source": {"url": "file:///landing/customers", "glob": "**/*.csv", "format": "csv"},
            "schema": {
                "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                "primary_key": ["id"],
            },
            "mode": "snapshot",
            "milestone": "forensic",
            "primary_platforms": ["alpha"],
            "max_bad_row_fraction": 0,
            "max_delete_fraction": 0.2,
            "replication": {"chunk_size": 50000, "max_batches_per_sync": 100, "max_lag_batches": 5},
        }
    ],
}
ENV = {"PGPASSWORD": "s3cret", "BETA_PW": "b3ta"}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with the value at a dotted path ("products.0.mode") replaced (or removed for ...)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return data


def test_full_config_loads_with_env_interpolation() -> None:
    config = parse_config(BASE, environ=ENV)
    assert config.platform.state_db == "postgresql://app:s3cret@db.internal/state"
    product = config.product("customers")
    assert product.table_schema is not None
    assert product.table_schema.columns["amount"] == ColumnType.decimal(12, 2)
    assert config.masked()["products"][0]["schema"]["columns"]["amount"] == "decimal(12,2)"
    assert product.replication.chunk_size == 50000
    assert config.is_primary(product)
    assert config.parser_name(product) == "arrow"


def test_load_from_file_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(BASE))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert load_config(path).platform.name == "alpha"
    monkeypatch.setenv("PLATFORM_CONFIG", str(path))
    assert load_config().platform.name == "alpha"


def test_passwords_are_masked() -> None:
    config = parse_config(BASE, environ=ENV)
    shown = str(config.masked())
    assert "s3cret" not in shown and "b3ta" not in shown
    assert "app:***@db.internal" in shown
    assert mask_url("postgresql://u:p@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_error_message_never_shows_the_password() -> None:
    data = with_change("platform.state_db", "mysql://app:${PGPASSWORD}@db/state")
    with pytest.raises(ConfigError) as error:
        parse_config(data, environ=ENV)
    assert "s3cret" not in str(error.value)
    assert "platform.state_db" in str(error.value)


def test_missing_env_var_names_key_and_variable() -> None:
    with pytest.raises(ConfigError, match=r"platform\.state_db: environment variable PGPASSWORD is not set"):
        parse_config(BASE, environ={"BETA_PW": "x"})


def test_env_default() -> None:
    data = with_change("platform.merge_store", "sqlite:///${MERGE_DIR:-/tmp}/merge.db")
    assert parse_config(data, environ=ENV).platform.merge_store == "sqlite:////tmp/merge.db"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("platform.engine_typo", "x", r"platform\.engine_typo: unknown key; allowed here: name, state_db"),
        ("products.0.mdoe", "snapshot", r"products\[0\] \(customers\)\.mdoe: unknown key; allowed here: .*mode"),
        (
            "products.0.name",
            "Customers",
            r"products\[0\] \(Customers\)\.name: product name 'Customers' must match \[a-z\]\[a-z0-9_\]\*",
        ),
        ("products.0.name", "9lives", r"product name '9lives' must match"),
        (
            "products.0.source.format",
            "xlsx",
            r"products\[0\] \(customers\)\.source\.format: 'xlsx' is not allowed; "
            r"use one of: 'csv', 'json' or 'parquet'",
        ),
        (
            "products.0.mode",
            "snapshots",
            r"products\[0\] \(customers\)\.mode: 'snapshots' is not allowed; use one of: 'snapshot' or 'incremental'",
        ),
        (
            "products.0.milestone",
            "history",
            r"\.milestone: 'history' is not allowed; use one of: 'forensic' or 'live_only'",
        ),
        ("products.0.source.glob", "data/[abc.csv", r"\.source\.glob: glob 'data/\[abc\.csv'.*no closing"),
        ("products.0.source.glob", "a**b/*.csv", r"'\*\*' must be a whole path segment"),
        ("products.0.source.url", "ftp://host/x", r"\.source\.url: 'ftp://host/x' must be a file:// or s3:// URL"),
        ("platform.engine", "flink", r"platform\.engine: 'flink' is not allowed; use one of: 'arrow' or 'spark'"),
        ("products.0.schema.columns", {"id": "varchar"}, r"unknown column type 'varchar'; allowed: string, int"),
        (
            "products.0.schema.primary_key",
            ["nope"],
            r"primary_key column\(s\) \['nope'\] are not among the declared columns",
        ),
        (
            "products.0.schema.evolution",
            "evolve",
            r"schema\.evolution: 'evolve' is not allowed; use one of: 'add_columns', 'rescue' or 'strict'",
        ),
        ("products.0.schema.widen_types", "sometimes", r"schema\.widen_types: .*valid boolean"),
        ("products.0.primary_platforms", ["gamma"], r"primary_platforms \['gamma'\] are neither this platform"),
        ("products.0.max_delete_fraction", 1.5, r"max_delete_fraction: Input should be less than or equal to 1"),
        ("platform.name", ..., r"platform\.name: required key is missing"),
        ("products.0.owners", ["carol"], r"\.owners: owner 'carol' must be an email address or a team as team:<name>"),
        ("products.0.owners", ["team:"], r"owner 'team:' must be an email address or a team"),
        ("products.0.owners", ["team:a", "team:a"], r"owners lists someone twice"),
        ("products.0.freshness", {"max_lag_minutes": 0}, r"freshness\.max_lag_minutes: Input should be greater"),
        (
            "products.0.freshness",
            {"max_lag_minutes": 60, "warn_lag_minutes": 60},
            r"\.freshness: warn_lag_minutes must be below max_lag_minutes",
        ),
        (
            "products.0.schema.columns",
            {"id": {"type": "string", "doc": "x"}},
            r"\.schema: column 'id': give a type, or a mapping with the keys type and description",
        ),
        (
            "products.0.schema.descriptions",
            {"nope": "x"},
            r"\.schema: descriptions of \['nope'\], which are not among the declared columns",
        ),
    ],
)
def test_each_config_error_is_named(path: str, value: Any, expected: str) -> None:
    data = with_change(path, value)
    with pytest.raises(ConfigError, match=expected):
        parse_config(data, environ=ENV)


def test_duplicate_product_names_rejected() -> None:
    data = copy.deepcopy(BASE)
    data["products"].append(copy.deepcopy(data["products"][0]))
    with pytest.raises(ConfigError, match=r"product names must be unique; repeated: \['customers'\]"):
        parse_config(data, environ=ENV)


def test_unreadable_and_invalid_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("platform: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="no config given"):
        load_config(None, environ={})


def test_replica_product_is_not_primary() -> None:
    data = with_change("products.0.primary_platforms", ["beta"])
    config = parse_config(data, environ=ENV)
    assert config.is_replica(config.product("customers"))


def test_unknown_product_lists_known_ones() -> None:
    config = parse_config(BASE, environ=ENV)
    with pytest.raises(ConfigError, match="no product 'orders' in the config; products: customers"):
        config.product("orders")


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "platform_assets" / "examples" / "platform.yaml"
    config = load_config(example, environ={})
    assert [product.name for product in config.products] == ["customers", "orders", "ledger"]


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        (
            "platform: {name: alpha}\nproducts: []\nplatforms: {}\nproducts:\n  - name: other\n",
            "'products'",
            "lines 2 and 4",
        ),
        (
            "platform: {name: alpha}\nproducts:\n  - name: customers\n    source: {url: 'file:///l'}\n"
            "    mode: snapshot\n    mode: incremental\n",
            "'mode'",
            "lines 5 and 6",
        ),
        ("platform: {name: alpha, name: beta, engine: arrow}\n", "'name'", "line 1"),
    ],
)
def test_a_key_given_twice_is_a_config_error(tmp_path: Path, text: str, key: str, lines: str) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=rf"{path}: key {key} is given more than once in the same mapping \({lines}\)"
    ):
        load_config(path, environ={})


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text(
        "platform: {name: alpha}\n"
        "products:\n"
        "  - &base {name: customers, source: {url: 'file:///l', format: csv}, mode: snapshot}\n"
        "  - <<: *base\n    name: orders\n    mode: incremental\n"
    )
    orders = load_config(path, environ={}).product("orders")
    assert (orders.mode, orders.source.url) == ("incremental", "file:///l")


def test_a_yaml_error_names_the_place_without_quoting_the_file(tmp_path: Path) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text("platform:\n  name: alpha\n  state_db: postgresql://app:Hunter2-secret@db/x\n\tbad: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 4, column 1: .*") as error:
        load_config(path, environ={})
    assert "Hunter2-secret" not in str(error.value)


@pytest.mark.parametrize("name", ["jsonl", "ndjson", "json"])
def test_json_lines_has_three_names(name: str) -> None:
    config = parse_config(with_change("products.0.source.format", name), environ=ENV)
    assert config.product("customers").source.format == "json"


def test_schema_evolution_defaults_to_strict_without_widening() -> None:
    schema = parse_config(BASE, environ=ENV).products[0].table_schema
    assert schema is not None
    assert (schema.evolution, schema.widen_types) == ("strict", False)
    changed = with_change("products.0.schema.evolution", "add_columns")
    changed["products"][0]["schema"]["widen_types"] = True
    schema = parse_config(changed, environ=ENV).products[0].table_schema
    assert schema is not None
    assert (schema.evolution, schema.widen_types) == ("add_columns", True)


def test_owners_freshness_and_column_descriptions() -> None:
    """Owners are emails or team:<name>; a column is a type or {type, description}; the two forms mix."""
    data = with_change("products.0.owners", ["team:data-eng", "carol@example.com"])
    data["products"][0]["freshness"] = {"max_lag_minutes": 90, "warn_lag_minutes": 30}
    data["products"][0]["schema"]["columns"] = {
        "id": {"type": "string", "description": "customer id, stable across sources"},
        "name": "string",
        "amount": {"type": "decimal(12,2)"},
    }
    product = parse_config(data, environ=ENV).products[0]
    assert product.owners == ["team:data-eng", "carol@example.com"]
    assert product.freshness is not None
    assert (product.freshness.max_lag_minutes, product.freshness.warn_lag_minutes) == (90, 30)
    schema = product.table_schema
    assert schema is not None
    assert schema.columns == {
        "id": ColumnType.parse("string"),
        "name": ColumnType.parse("string"),
        "amount": ColumnType.parse("decimal(12,2)"),
    }
    assert schema.descriptions == {"id": "customer id, stable across sources"}
    plain = parse_config(BASE, environ=ENV).products[0]
    assert plain.table_schema is not None and plain.table_schema.descriptions == {}
    assert (plain.owners, plain.freshness, plain.description) == ([], None, None)


def with_review(review: dict[str, Any], roles: dict[str, Any] | None) -> dict[str, Any]:
    data = with_change("products.0.review", review)
    if roles is not None:
        data["roles"] = roles
    return data


def test_review_and_roles_load() -> None:
    review = {"required": True, "approver_role": "data_owner", "four_eyes": True, "sla_hours": 24}
    config = parse_config(with_review(review, {"data_owner": ["carol", "dave"], "steward": ["erin"]}), environ=ENV)
    product = config.product("customers")
    assert product.under_review and product.review.four_eyes and product.review.sla_hours == 24
    assert config.holders("data_owner") == ["carol", "dave"] and config.holders("nobody") == []
    plain = parse_config(copy.deepcopy(BASE), environ=ENV).product("customers")
    assert not plain.under_review and plain.review.approver_role is None


@pytest.mark.parametrize(
    ("review", "roles", "expected"),
    [
        ({"required": True, "approver_role": "owner"}, {"steward": ["erin"]}, "'owner' is not a role under roles"),
        ({"required": True, "approver_role": "owner"}, None, "'owner' is not a role under roles: (roles: none)"),
        ({"required": True, "approver_role": "owner"}, {"owner": []}, "nobody holds review.approver_role 'owner'"),
        ({"required": True}, {"owner": ["carol"]}, "review.required needs approver_role"),
        ({"required": True, "approver_role": "owner", "sla_hours": 0}, {"owner": ["c"]}, "greater than 0"),
        ({"required": True, "approver_role": "owner", "four_eye": True}, {"owner": ["c"]}, "unknown key"),
        ({"approver_role": "owner"}, {"owner": ["carol", "carol"]}, "roles.owner lists someone twice"),
        ({"approver_role": "owner"}, {"Owner": ["carol"]}, "role name under roles 'Owner'"),
    ],
)
def test_review_mistakes_are_config_errors(review: dict[str, Any], roles: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(with_review(review, roles), environ=ENV)
    assert expected in str(raised.value)
