"""How every asset reports its domain result and its failure, so commands read both back the same way.

Contract:
- A materialization (or asset observation) whose step ran a domain step
  carries :data:`RESULT_KEY`: the step's typed result as JSON (its
  ``as_json()``).
- A step that fails with a :class:`~platform_assets.errors.PlatformError`
  raises ``dg.Failure`` whose metadata carries the error's kind
  (:data:`ERROR_KIND_KEY`), exit code (:data:`EXIT_CODE_KEY`) and message
  (:data:`ERROR_MESSAGE_KEY`); the description is the message. Any other
  exception is left to Dagster as it is: it is a bug.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import dagster as dg

from platform_assets.errors import PlatformError

RESULT_KEY = "platform/result"
ERROR_KIND_KEY = "platform/error_kind"
EXIT_CODE_KEY = "platform/exit_code"
ERROR_MESSAGE_KEY = "platform/error"


class Reportable(Protocol):
    """A typed domain result (CaptureResult, ProcessReport, BatchResult, ReplicationResult)."""

    def as_json(self) -> dict[str, Any]: ...


def result_json(result: Reportable) -> dict[str, Any]:
    """The result as a JSON object (enums as their text, other non-JSON values as text)."""
    return json.loads(json.dumps(result.as_json(), default=str))


def result_metadata(result: Reportable) -> dict[str, dg.MetadataValue]:
    return {RESULT_KEY: dg.MetadataValue.json(result_json(result))}


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a PlatformError raised inside into a ``dg.Failure`` that carries its kind, exit code and message."""
    try:
        yield
    except PlatformError as error:
        raise dg.Failure(
            description=str(error),
            metadata={
                ERROR_KIND_KEY: dg.MetadataValue.text(error.kind),
                EXIT_CODE_KEY: dg.MetadataValue.int(error.exit_code),
                ERROR_MESSAGE_KEY: dg.MetadataValue.text(str(error)),
            },
            allow_retries=False,
        ) from error
