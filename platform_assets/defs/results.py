"""How every asset reports its domain result and its failure, so commands read both back the same way.

Contract:
- A materialization (or asset observation) whose step ran a domain step
  carries :data:`RESULT_KEY`: the step's typed result as JSON (its
  ``as_json()``).
- A step whose version ends failed (CAPTURE_FAILED, FAILED) raises
  :func:`version_failed`: a ``dg.Failure`` whose description names each
  failed file and why, and whose metadata carries the step's result under
  :data:`RESULT_KEY` (the run is red in the UI; commands read the result as
  they read a materialization's).
- A step that fails with a :class:`~platform_assets.errors.PlatformError`
  raises ``dg.Failure`` whose metadata carries the error's kind
  (:data:`ERROR_KIND_KEY`), exit code (:data:`EXIT_CODE_KEY`) and message
  (:data:`ERROR_MESSAGE_KEY`); the description is the message. Any other
  exception is left to Dagster as it is: it is a bug.
- Nothing handed to Dagster holds a secret of the config
  (:mod:`platform_assets.secrets`): results, failure descriptions and
  messages are scrubbed; while a step runs in :func:`scrubbed` (which
  :func:`reported_errors` enters), its log, stdout and stderr (the compute
  logs) are scrubbed, and an exception whose text holds a secret leaves as a
  scrubbed stand-in, without the original as its cause.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar, cast

import dagster as dg

from platform_assets.errors import PlatformError
from platform_assets.secrets import install_log_filter, scrub, scrub_payload, scrubbed_exception, scrubbed_output

F = TypeVar("F", bound=Callable[..., Any])
AnyContext = (
    dg.OpExecutionContext | dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.SensorEvaluationContext
)
CONTEXTS = (dg.OpExecutionContext, dg.AssetExecutionContext, dg.AssetCheckExecutionContext, dg.SensorEvaluationContext)

RESULT_KEY = "platform/result"
ERROR_KIND_KEY = "platform/error_kind"
EXIT_CODE_KEY = "platform/exit_code"
ERROR_MESSAGE_KEY = "platform/error"
RESULT_ASSET_KEY = "platform/asset"


class Reportable(Protocol):
    """A typed domain result (CaptureResult, ProcessReport, BatchResult, ReplicationResult)."""

    def as_json(self) -> dict[str, Any]: ...


def result_json(result: Reportable) -> dict[str, Any]:
    """The result as a JSON object (enums as their text, other non-JSON values as text), secrets scrubbed."""
    return scrub_payload(json.loads(json.dumps(result.as_json(), default=str)))


def result_metadata(result: Reportable) -> dict[str, dg.MetadataValue]:
    return {RESULT_KEY: dg.MetadataValue.json(result_json(result))}


@contextmanager
def scrubbed(context: AnyContext | None = None) -> Iterator[None]:
    """Run the block with the step's log, stdout and stderr scrubbed; an error that shows a secret leaves scrubbed."""
    if context is not None:
        install_log_filter(context.log)
        for handler in context.log.handlers:  # the records of managed python loggers reach Dagster here
            install_log_filter(handler)
    with scrubbed_output():
        try:
            yield
        except Exception as error:
            clean = scrubbed_exception(error)
            if clean is None:
                raise
            raise clean from None


@contextmanager
def reported_errors(context: AnyContext | None = None) -> Iterator[None]:
    """Turn a PlatformError raised inside into a ``dg.Failure`` that carries its kind, exit code and message.

    The block runs :func:`scrubbed` (with ``context``'s log when given).
    """
    with scrubbed(context):
        try:
            yield
        except PlatformError as error:
            shown = scrubbed_exception(error) or error
            raise dg.Failure(
                description=str(shown),
                metadata={
                    ERROR_KIND_KEY: dg.MetadataValue.text(error.kind),
                    EXIT_CODE_KEY: dg.MetadataValue.int(error.exit_code),
                    ERROR_MESSAGE_KEY: dg.MetadataValue.text(str(shown)),
                },
                allow_retries=False,
            ) from shown


def _context_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AnyContext | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, CONTEXTS):  # an asset's context is no OpExecutionContext
            return value
    return None


def _guarded(function: F, guard: Callable[[AnyContext | None], AbstractContextManager[None]]) -> F:
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with guard(_context_of(args, kwargs)):
                yield from function(*args, **kwargs)

        return cast(F, generator)

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with guard(_context_of(args, kwargs)):
            return function(*args, **kwargs)

    return cast(F, call)


def scrubbed_step(function: F) -> F:
    """Decorate an op or asset body (under ``@dg.asset``/``@dg.op``): all of it runs in :func:`reported_errors`.

    Dagster still reads the body's own signature (``functools.wraps``).
    """
    return _guarded(function, reported_errors)


def scrubbed_sensor(function: F) -> F:
    """Decorate a sensor body (under ``@dg.sensor``): all of it runs in :func:`scrubbed`."""
    return _guarded(function, scrubbed)


def version_failed(
    asset: dg.AssetKey, description: str, results: list[Reportable], metadata: Mapping[str, dg.MetadataValue]
) -> dg.Failure:
    """The failure of ``asset``'s step, whose version(s) ended failed.

    ``description`` names each failed file and why; the metadata carries each result under RESULT_KEY and
    the asset under :data:`RESULT_ASSET_KEY`.
    """
    payload = [result_json(result) for result in results]
    return dg.Failure(
        description=scrub(description),
        metadata={
            **metadata,
            RESULT_KEY: dg.MetadataValue.json(payload[0] if len(payload) == 1 else payload),
            RESULT_ASSET_KEY: dg.MetadataValue.text(asset.to_user_string()),
        },
        allow_retries=False,
    )
