"""Secrets in a hostile alphabet (``/#?@:%``, spaces, unicode): URL placeholders, masking, scrubbing, config errors."""

from __future__ import annotations

import io
import logging
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from platform_assets import secrets
from platform_assets.config import ConfigError, load_config, mask_url, parse_config
from platform_assets.secrets import SecretFilter, install_log_filter, scrub, scrub_payload, secret_forms
from platform_assets.storage.db_errors import DatabaseUnreachable
from platform_assets.storage.sql import create_db_engine
from platform_assets_tests.conftest import PG_ADMIN_URL

HOSTILE = ["p@ss/w#rd?:%x", "pä ss@ wörd/#?:%", "ü/ß@€:#?", "%41%/@:#?", "::@@//##??%%"]


def _document(state_db: str, **platform: Any) -> dict[str, Any]:
    return {
        "platform": {"name": "alpha", "state_db": state_db, "raw_zone": "file:///data/raw", **platform},
        "products": [{"name": "customers", "source": {"url": "file:///landing", "format": "csv"}}],
    }


def leaked(shown: str, secret: str) -> list[str]:
    """The forms of ``secret``, and its pieces of four characters or more, that ``shown`` contains."""
    pieces = {secret[start:end] for start in range(len(secret)) for end in range(start + 4, len(secret) + 1)}
    return sorted(piece for piece in pieces | secret_forms(secret) if piece in shown)


@pytest.mark.parametrize("password", HOSTILE)
def test_mask_url_hides_hostile_passwords_written_raw_or_encoded(password: str) -> None:
    encoded = quote(password, safe="")
    for template in (
        "postgresql://app:{}@db-host:5432/platform",
        "postgresql+psycopg2://app:{}@db-host/platform?sslmode=require",
        "ftp://bob:{}@host/data/x.csv",
        "s3://key:{}@bucket/prefix",
        "sc://spark-host:15002/;user_id=bob;token={}",
    ):
        for written in (password, encoded):
            url = template.format(written)
            masked = mask_url(url)
            assert masked == template.format("***"), url
            assert leaked(masked, password) == []


def test_mask_url_of_text_it_cannot_parse_is_masked_not_returned() -> None:
    assert mask_url("ftp://bob:p[w@host") == "ftp://bob:***@host"  # urlsplit raises 'Invalid IPv6 URL' here
    assert mask_url("postgresql://app:s3cr#t@db:notaport/x") == "postgresql://app:***@db:notaport/x"
    assert mask_url("app:hunter22@db-host/x") == "app:***@db-host/x"
    assert mask_url("postgresql://u:p@h/d?options=a:b@c") == "postgresql://u:***@c"  # ambiguous: mask to the last '@'


def test_mask_url_keeps_urls_without_passwords() -> None:
    for url in ("sqlite:///x.db", "sqlite:////abs/state.db", "s3://bucket/a@b.csv", "file:///data/raw", "hello"):
        assert mask_url(url) == url
    assert mask_url("postgresql://postgres@127.0.0.1:5432/db") == "postgresql://postgres@127.0.0.1:5432/db"
    assert mask_url("postgresql://u@h/d?password=hunter22") == "postgresql://u@h/d?password=***"


@pytest.mark.parametrize("password", HOSTILE)
def test_a_placeholder_in_the_user_info_is_filled_in_percent_encoded(password: str) -> None:
    document = _document(
        "postgresql://${PGUSER}:${PGPASSWORD}@db-host:5432/platform",
        merge_store="postgresql://platform:${PW2:-" + "d/e@f" + "}@db-host/merge",
        warehouse="file://${HOME_DIR}/warehouse",
    )
    environ = {"PGUSER": "pl@tform:user", "PGPASSWORD": password, "HOME_DIR": "/tmp/a b#c"}
    config = parse_config(document, environ=environ)
    url = make_url(config.platform.state_db)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "pl@tform:user",
        password,
        "db-host",
        5432,
        "platform",
    )
    merge = make_url(config.platform.merge_store)
    assert (merge.password, merge.host) == ("d/e@f", "db-host")  # a default in the user-info is encoded as well
    assert config.platform.warehouse == "file:///tmp/a b#c/warehouse"  # outside the user-info: as it is


@pytest.mark.postgres
@pytest.mark.parametrize("password", HOSTILE)
def test_a_role_with_a_hostile_password_connects_through_a_placeholder(
    password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = f"pa_secret_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # SUPERUSER: it may take a reserved slot when parallel suites fill the server
        connection.execute(text(f'CREATE ROLE "{role}" SUPERUSER LOGIN PASSWORD :password'), {"password": password})
    try:
        path = tmp_path / "platform.yaml"
        path.write_text(yaml.safe_dump(_document("postgresql://${PGROLE}:${PGPASSWORD}@127.0.0.1:5432/postgres")))
        monkeypatch.setenv("PGROLE", role)
        monkeypatch.setenv("PGPASSWORD", password)
        config = load_config(path)
        engine = create_db_engine(config.platform.state_db)
        try:
            assert (engine.url.username, engine.url.password, engine.url.host) == (role, password, "127.0.0.1")
            with engine.connect() as connection:
                assert connection.execute(text("SELECT current_user")).scalar_one() == role
        finally:
            engine.dispose()
        assert password in secrets.registered()
        assert leaked(scrub(f"connecting as {role} with {password!r} ({config.platform.state_db})"), password) == []
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.mark.parametrize("password", HOSTILE[:3])
def test_the_driver_error_names_the_real_host_and_scrubs_clean(password: str) -> None:
    document = _document("postgresql://platform:${PGPASSWORD}@db-host.invalid:5432/platform")
    config = parse_config(document, environ={"PGPASSWORD": password})
    engine = create_db_engine(config.platform.state_db)
    try:
        with pytest.raises(DatabaseUnreachable) as error, engine.connect():
            pass
    finally:
        engine.dispose()
    message = str(error.value)
    assert 'could not translate host name "db-host.invalid"' in message
    assert leaked(scrub(message), password) == []
    # Whole forms of the password in a driver's or library's text are scrubbed. (Only the URL encoding above keeps
    # a piece of it from becoming the "host name": psycopg2 used to print the tail after the password's '@'.)
    text = (
        f'could not translate host name "db-host" to address; url={config.platform.state_db}; '
        f"password={password!r}; escaped={password.encode('unicode_escape').decode()}; plus={quote_plus(password)}"
    )
    scrubbed = scrub(text)
    escaped = password.encode("unicode_escape").decode()
    assert [form for form in secret_forms(password) | {password, escaped} if form in scrubbed] == []
    assert scrubbed.startswith('could not translate host name "db-host" to address; url=postgresql://platform:***@')


@pytest.mark.parametrize("password", HOSTILE)
def test_config_errors_never_show_a_hostile_password(password: str) -> None:
    environ = {"PGPASSWORD": password}
    placeholder = "postgresql://app:${PGPASSWORD}@db/state"
    cases = [
        _document("mysql://app:${PGPASSWORD}@db/state"),  # the scheme check
        _document(placeholder.replace("@db/", "@db:notaport/")),  # a port that is not a number
        _document(f"postgresql://app:{password}@db/state"),  # written raw into the URL
        _document(placeholder, raw_zone="ftp://bob:${PGPASSWORD}@host/raw"),  # the store URL check
        _document(placeholder, raw_zone=f"ftp://bob:{password}@host/raw"),
        _document(placeholder, engine="flink"),  # an unrelated error while the config holds the password
        _document(placeholder, s3={"secret_access_key": ["${PGPASSWORD}"]}),
        _document(placeholder, s3={"secret_access_key": password, "surprise": password}),
    ]
    source = _document(placeholder)
    source["products"][0]["source"]["url"] = f"ftp://bob:{password}@host/landing"
    cases.append(source)
    for index, document in enumerate(cases):
        try:
            parse_config(document, environ=environ)
        except ConfigError as error:
            message = str(error)
        else:
            assert index == 2 and "@" not in password, document  # written raw, and still unambiguous
            continue
        assert "invalid config" in message
        assert leaked(message, password) == [], message


def test_a_numeric_secret_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_document("sqlite:///x.db", s3={"secret_access_key": 123456789}), environ={})
    message = str(error.value)
    assert "123456789" not in message
    assert "platform.s3.secret_access_key: Input should be a valid string (got a value of type int" in message


def test_the_config_and_environment_secrets_are_registered_and_scrubbed() -> None:
    secret_key, dagster_pw = "aws/Key+with@odd:chars", "dagster#pw ü"
    environ = {"AWS_SECRET_ACCESS_KEY": secret_key, "DAGSTER_PG_PASSWORD": dagster_pw, "SPARK_TOKEN": "tok-42x"}
    document = _document(
        "sqlite:///x.db",
        s3={"secret_access_key": "s3-secret-value"},
        spark={"remote": "sc://spark:15002/;token=${SPARK_TOKEN}"},
    )
    parse_config(document, environ=environ)
    for value in (secret_key, dagster_pw, "s3-secret-value", "tok-42x"):
        assert value in secrets.registered()
        for form in secret_forms(value):
            assert scrub(f"before {form} after") == "before *** after"


def test_scrub_payload_hides_secrets_in_nested_data() -> None:
    secrets.register(["payload-pw/@#", "987654321"])
    payload = {
        "url": f"postgresql://u:{quote('payload-pw/@#', safe='')}@h/d",
        "nested": [{"error": "failed with 'payload-pw/@#'"}, ("payload-pw/@#",), 987654321, 5],
        "password": "anything",
        "token": None,
        "payload-pw/@#": 1,
    }
    assert scrub_payload(payload) == {
        "url": "postgresql://u:***@h/d",
        "nested": [{"error": "failed with '***'"}, ["***"], "***", 5],
        "password": "***",
        "token": None,
        "***": 1,
    }


def test_the_log_filter_scrubs_message_arguments_and_traceback() -> None:
    secrets.register(["log-pw:@/#?ü"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    assert install_log_filter(handler) is install_log_filter(handler)  # installed once
    logger = logging.getLogger(f"platform_assets.test_secrets.{uuid.uuid4().hex}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise RuntimeError("connect failed for password log-pw:@/#?ü")
    except RuntimeError:
        logger.exception("retrying with %s and %r", "log-pw:@/#?ü", {"password": "log-pw:@/#?ü"})
    logger.removeHandler(handler)
    output = stream.getvalue()
    assert "Traceback" in output and "retrying with ***" in output
    assert leaked(output, "log-pw:@/#?ü") == []
    assert isinstance(handler.filters[0], SecretFilter)


def test_registration_is_safe_from_many_threads() -> None:
    values = [f"thread-secret-{index:03d}" for index in range(64)]
    barrier = threading.Barrier(8)

    def work(chunk: list[str]) -> None:
        barrier.wait()
        for value in chunk:
            secrets.register([value])
            assert scrub(value) == "***"

    threads = [threading.Thread(target=work, args=(values[index::8],)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(values) <= secrets.registered()
    assert scrub(" ".join(values)) == " ".join(["***"] * len(values))


def test_scrubbed_output_scrubs_a_secret_split_over_writes_and_restores_the_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets.register(["stream-pw/@#ü"])
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    import sys

    with secrets.scrubbed_output():
        with secrets.scrubbed_output():  # nested: wrapped once
            sys.stdout.write("one stream-")
            sys.stdout.write("pw/@#ü two\nthree stream-pw/@#ü")
        print("partial", end="", file=sys.stderr)
        print(" stream-pw/@#ü", file=sys.stderr)
        assert isinstance(sys.stdout, secrets.ScrubbingStream)
    restored: tuple[object, object] = (sys.stdout, sys.stderr)  # (typed anew: the block narrowed sys.stdout)
    assert restored == (out, err)
    assert out.getvalue() == "one *** two\nthree ***"  # held text is written when the block ends
    assert err.getvalue() == "partial ***\n"
