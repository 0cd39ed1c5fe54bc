"""The platform's SparkSession: local master, a cluster, or Spark Connect.

Contract: :func:`get_spark_session` returns ``SparkSession.builder...getOrCreate()``,
so a process has one session and later settings are ignored by Spark (tests use
one session-scoped fixture). Defaults: session time zone UTC (the parsing
engines rely on it), UI off, modest driver memory; ``conf`` overrides them.
"""

from __future__ import annotations

from typing import Any, Mapping

from pyspark.sql import SparkSession

APP_NAME = "platform_assets"
RUNTIME_DEFAULTS = {"spark.sql.session.timeZone": "UTC"}
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": "false",
}


def get_spark_session(settings: Mapping[str, Any] | Any | None = None) -> SparkSession:
    """A session for ``settings`` (keys: master, remote ``sc://...``, conf), or the running one.

    ``settings`` may also be a ``config.SparkSettings``. With ``remote`` set,
    only ``conf`` and the runtime defaults are sent (a Spark Connect server
    owns its static settings).
    """
    values = _as_dict(settings)
    remote = values.get("remote")
    conf = {**RUNTIME_DEFAULTS, **({} if remote else LOCAL_DEFAULTS), **dict(values.get("conf") or {})}
    builder = SparkSession.builder.appName(APP_NAME)
    builder = builder.remote(remote) if remote else builder.master(values.get("master") or "local[*]")
    for key, value in conf.items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.conf.set("spark.sql.session.timeZone", conf["spark.sql.session.timeZone"])
    return session


def _as_dict(settings: Mapping[str, Any] | Any | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if hasattr(settings, "model_dump"):
        return dict(settings.model_dump())
    return dict(settings)
