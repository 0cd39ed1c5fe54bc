"""The platform's SparkSession: local master, a cluster, or Spark Connect.

Contract: :func:`get_spark_session` returns ``SparkSession.builder...getOrCreate()``,
so a process has one session and later settings are ignored by Spark (tests use
one session-scoped fixture). Defaults: session time zone UTC (the parsers
rely on it); without Spark Connect also UI off, no console progress
bar, driver memory and result size for collecting a parse result, Arrow
transfers for pandas, and for a local master a shuffle partition count sized
to the machine; ``conf`` overrides them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession

APP_NAME = "platform_assets"
RUNTIME_DEFAULTS = {"spark.sql.session.timeZone": "UTC"}
LOCAL_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # a parse collects its rows to the driver as Arrow (about 70 bytes a row of four short
    # columns: a 300 MB CSV file gives about 0.5 GB), within spark.driver.maxResultSize
    "spark.driver.memory": "4g",
    "spark.driver.maxResultSize": "2g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
LOCAL_MASTER_DEFAULTS = {"spark.sql.shuffle.partitions": str(max(2, 2 * (os.cpu_count() or 1)))}


def get_spark_session(settings: Mapping[str, Any] | Any | None = None) -> SparkSession:
    """A session for ``settings`` (keys: master, remote ``sc://...``, conf), or the running one.

    ``settings`` may also be a ``config.SparkSettings``. With ``remote`` set,
    only ``conf`` and the runtime defaults are sent (a Spark Connect server
    owns its static settings).
    """
    values = _as_dict(settings)
    remote = values.get("remote")
    master = values.get("master") or "local[*]"
    defaults = {} if remote else {**LOCAL_DEFAULTS, **(LOCAL_MASTER_DEFAULTS if master.startswith("local") else {})}
    conf = {**RUNTIME_DEFAULTS, **defaults, **dict(values.get("conf") or {})}
    builder = SparkSession.builder.appName(APP_NAME)
    builder = builder.remote(remote) if remote else builder.master(master)
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
