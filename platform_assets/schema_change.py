"""Schema changes as values: how a product's columns differ from before, and which differences are accepted.

Contract of :func:`schema_change` (README, "Schema evolution"): it compares two ordered column
mappings (name -> :class:`~platform_assets.column_types.ColumnType`), the
columns before and after, and returns a :class:`SchemaChange`; it never
raises. Names compare exactly. Every difference is one of:

- an :class:`AddedColumn`: a name only in the new columns, standing after
  every column the two share (new columns go at the end), not in ``key``.
  An added column is nullable: rows written before it read it as NULL.
- a :class:`WidenedColumn`: a shared name whose type widens
  (:meth:`ColumnType.widens_to`: int to bigint, decimal(p,s) to decimal(p2>p,s)),
  accepted when ``widen_types`` is true.
- a :class:`RefusedChange` (its :class:`Refusal` says which), under every
  ``schema.evolution`` mode: a column missing from the new columns (columns
  are never dropped; a missing column next to an added one of the same type is
  a drop plus an add, never taken for a rename), a narrowing, a change to a
  type that is not a widening, a widening while ``widen_types`` is false, an
  added column before a shared one, shared columns in another order, and an
  added column in the primary key.

``schema.evolution`` does not enter here: it decides whether a file may add
columns to the product's schema; this module judges any change of the
columns, also one the user declares. :meth:`SchemaChange.describe` names
every column that changes; the text of a refused change also names the
config change that would accept it. Callers raise their own layer's error
with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from platform_assets.column_types import ColumnType


class Refusal(StrEnum):
    """Why a difference between two schemas is not accepted."""

    DROPPED = "dropped"
    NARROWED = "narrowed"
    RETYPED = "retyped"
    WIDENING_OFF = "widening_off"
    NOT_AT_END = "not_at_end"
    REORDERED = "reordered"
    KEY_ADDED = "key_added"


@dataclass(frozen=True)
class AddedColumn:
    """A new column, nullable, after every earlier column."""

    name: str
    column_type: ColumnType
    nullable: bool = True

    def describe(self) -> str:
        return f"column {self.name!r} ({self.column_type}) is added at the end, nullable (earlier rows read NULL)"


@dataclass(frozen=True)
class WidenedColumn:
    """A column whose type widens: every value it holds keeps its exact value in the new type."""

    name: str
    old: ColumnType
    new: ColumnType

    def describe(self) -> str:
        return f"column {self.name!r} widens from {self.old} to {self.new}"


@dataclass(frozen=True)
class RefusedChange:
    """A difference no mode accepts as it stands; ``message`` says why and which config change would accept it."""

    reason: Refusal
    column: str
    message: str

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class SchemaChange:
    """Every difference between two schemas (see the module contract); empty when they are the same."""

    added: tuple[AddedColumn, ...] = ()
    widened: tuple[WidenedColumn, ...] = ()
    refused: tuple[RefusedChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when the two schemas are the same."""
        return not (self.added or self.widened or self.refused)

    @property
    def accepted(self) -> bool:
        """True when nothing is refused (an empty change is accepted too)."""
        return not self.refused

    @property
    def changed_columns(self) -> tuple[str, ...]:
        """The names of every column that changes, refused ones first."""
        names = [item.column for item in self.refused]
        names += [item.name for item in self.added] + [item.name for item in self.widened]
        return tuple(dict.fromkeys(names))

    def describe(self) -> str:
        """Each change in one sentence, refused ones first; ``no change`` when empty."""
        if self.is_empty:
            return "no change"
        refused = [item.describe() for item in self.refused]
        accepted = [item.describe() for item in self.added] + [item.describe() for item in self.widened]
        parts = []
        if refused:
            parts.append("refused: " + "; ".join(refused))
        if accepted:
            parts.append(("accepted: " if refused else "") + "; ".join(accepted))
        return ". ".join(parts)


def schema_change(
    old: Mapping[str, ColumnType],
    new: Mapping[str, ColumnType],
    *,
    widen_types: bool,
    key: Sequence[str] = (),
) -> SchemaChange:
    """The change from columns ``old`` to columns ``new`` (see the module contract)."""
    shared_in_new = [name for name in new if name in old]
    refused = _reordered(old, shared_in_new)
    added: list[AddedColumn] = []
    last_shared = max((list(new).index(name) for name in shared_in_new), default=-1)
    for position, (name, column_type) in enumerate(new.items()):
        if name in old:
            continue
        if position < last_shared:
            refused.append(_not_at_end(name, column_type, new, old, position))
        elif name in key:
            refused.append(_key_added(name, column_type))
        else:
            added.append(AddedColumn(name, column_type))
    for name, column_type in old.items():
        if name not in new:
            refused.append(_dropped(name, column_type, new, old))
    widened: list[WidenedColumn] = []
    for name in shared_in_new:
        before, after = old[name], new[name]
        if before == after:
            continue
        if before.widens_to(after):
            if widen_types:
                widened.append(WidenedColumn(name, before, after))
            else:
                refused.append(_widening_off(name, before, after))
        elif after.widens_to(before):
            refused.append(_narrowed(name, before, after))
        else:
            refused.append(_retyped(name, before, after))
    return SchemaChange(tuple(added), tuple(widened), tuple(refused))


def _reordered(old: Mapping[str, ColumnType], shared_in_new: list[str]) -> list[RefusedChange]:
    shared_in_old = [name for name in old if name in shared_in_new]
    if shared_in_old == shared_in_new:
        return []
    moved = next(new for new, was in zip(shared_in_new, shared_in_old) if new != was)
    return [
        RefusedChange(
            Refusal.REORDERED,
            moved,
            f"existing columns change order ({', '.join(shared_in_old)} becomes {', '.join(shared_in_new)}): "
            f"columns keep their places; declare them in their earlier order ({', '.join(shared_in_old)}) in "
            "schema.columns, with new columns after them",
        )
    ]


def _not_at_end(
    name: str, column_type: ColumnType, new: Mapping[str, ColumnType], old: Mapping[str, ColumnType], position: int
) -> RefusedChange:
    following = next(other for other in list(new)[position + 1 :] if other in old)
    last = [other for other in new if other in old][-1]
    return RefusedChange(
        Refusal.NOT_AT_END,
        name,
        f"column {name!r} ({column_type}) is added before the existing column {following!r}: new columns go at the "
        f"end; move {name} after {last} in schema.columns",
    )


def _key_added(name: str, column_type: ColumnType) -> RefusedChange:
    return RefusedChange(
        Refusal.KEY_ADDED,
        name,
        f"column {name!r} ({column_type}) is added as part of the primary key: the rows already stored have no value "
        f"for it; leave {name} out of schema.primary_key (add it as a plain column), or move the product's tables "
        "aside and build them again under the new key",
    )


def _dropped(
    name: str, column_type: ColumnType, new: Mapping[str, ColumnType], old: Mapping[str, ColumnType]
) -> RefusedChange:
    message = (
        f"column {name!r} ({column_type}) is missing: columns are never dropped (the values stored stay; a file "
        f"without the column gives NULL); declare {name}: {column_type} again in schema.columns"
    )
    look_alike = next(
        (other for other, other_type in new.items() if other not in old and other_type == column_type), None
    )
    if look_alike is not None:
        message += (
            f". Column {look_alike!r} ({column_type}) is added at the same time: that is a drop plus an add, never "
            f"taken for a rename; renames cannot be declared yet. To go on, keep {name} declared and add "
            f"{look_alike} at the end (both stay; {name} is NULL for new rows), or move the product's tables aside "
            "and build them again under the new name"
        )
    return RefusedChange(Refusal.DROPPED, name, message)


def _widening_off(name: str, old: ColumnType, new: ColumnType) -> RefusedChange:
    return RefusedChange(
        Refusal.WIDENING_OFF,
        name,
        f"column {name!r} widens from {old} to {new}, but schema.widen_types is false: set schema.widen_types: true "
        f"to accept widenings, or declare {name}: {old} again",
    )


def _narrowed(name: str, old: ColumnType, new: ColumnType) -> RefusedChange:
    return RefusedChange(
        Refusal.NARROWED,
        name,
        f"column {name!r} narrows from {old} to {new}: stored values may not fit, so no mode accepts it; declare "
        f"{name}: {old} again",
    )


def _retyped(name: str, old: ColumnType, new: ColumnType) -> RefusedChange:
    return RefusedChange(
        Refusal.RETYPED,
        name,
        f"column {name!r} changes from {old} to {new}, which is not a widening (only int to bigint and "
        f"decimal(p,s) to decimal(p2>p,s) are): declare {name}: {old} again, and add a column of type {new} under "
        "another name at the end if the source really changed",
    )
