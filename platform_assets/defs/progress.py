"""Progress of a run's long steps: throttled lines in the run's log, every update to this process's listeners.

Contract: :func:`run_progress` gives the :data:`~platform_assets.progress.Progress`
a step hands to domain code. Each task's first update, then at most one every
:data:`PROGRESS_LOG_SECONDS` seconds, and its last, become ``context.log.info``
lines (:meth:`~platform_assets.progress.ProgressUpdate.line`; the step's log is
scrubbed of secrets, see ``defs/results.py``), so a long run shows a line every
few seconds, not one per file. Every update also goes to the listeners of this
process (:func:`platform_assets.progress.to_listeners`): a command executes its
runs in its own process (``commands.py``) and renders them there.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.progress import Progress, ProgressUpdate, Throttled, to_listeners

PROGRESS_LOG_SECONDS = 5.0


def run_progress(
    context: dg.AssetExecutionContext | dg.OpExecutionContext | dg.AssetCheckExecutionContext,
) -> Progress:
    """The progress of a step of ``context``'s run (see the module docstring)."""
    logged = Throttled(lambda update: context.log.info(update.line()), PROGRESS_LOG_SECONDS)

    def report(update: ProgressUpdate) -> None:
        logged(update)
        to_listeners(update)

    return report
