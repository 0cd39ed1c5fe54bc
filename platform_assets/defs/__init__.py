"""The Dagster layer: asset factories, sensors, jobs, resources and checks built from the config."""

import warnings

import dagster as dg

# backfill_policy (single-run backfills keep versions in order) is marked beta; it is relied on deliberately.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
