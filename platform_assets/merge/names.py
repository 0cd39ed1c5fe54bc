"""Identifier quoting and the names of the merge store's tables.

Contract: every identifier that reaches merge-store SQL goes through
:func:`quote_ident`, which accepts only ``[A-Za-z_][A-Za-z0-9_$]*`` (at most 63
characters, PostgreSQL's limit) and returns it double-quoted. Values never go
through here: they are bound parameters or travel through COPY.

Internal objects use a ``$`` in their names (``customers_merge$live``), a
character product names cannot contain, so they never collide with another
product's tables or views.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")

BATCH_LOG_TABLE = "merge_batches"
META_TABLE = "merge_store_meta"
STAGE_TABLE = "_pa_merge_stage"
CHANGES_TABLE = "_pa_merge_changes"


def quote_ident(name: str) -> str:
    """``name`` double-quoted; ValueError if it is not a plain identifier."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.match(name):
        raise ValueError(f"{name!r} is not a valid identifier: use [A-Za-z_][A-Za-z0-9_]* (at most 63 characters)")
    return f'"{name}"'


def quote_list(names: Sequence[str], prefix: str = "") -> str:
    """``"a", "b"`` (or ``p."a", p."b"`` with ``prefix="p."``)."""
    return ", ".join(prefix + quote_ident(name) for name in names)


def merge_table(product: str) -> str:
    """The product's milestoned table: ``<product>_merge``."""
    return f"{product}_merge"


def live_view(product: str) -> str:
    """The view of the product's live rows: ``<product>_live``."""
    return f"{product}_live"


def live_partition(product: str) -> str:
    """PostgreSQL forensic tables: the partition that holds the live rows."""
    return f"{product}_merge$live"


def history_partition(product: str) -> str:
    """PostgreSQL forensic tables: the partition that holds the closed rows."""
    return f"{product}_merge$hist"


def index_name(product: str, purpose: str) -> str:
    """An index of the product's merge table, e.g. ``customers_merge$key``."""
    return f"{product}_merge${purpose}"
