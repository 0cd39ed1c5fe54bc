"""The Dagster layer: asset factories, sensors, jobs, resources and checks built from the config."""

import warnings

import dagster as dg

# backfill_policy (single-run backfills keep versions in order) is marked beta; it is relied on deliberately.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# Checks are partitioned by version (a check says which version it checked): a preview feature, used deliberately.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
# <product>_capture_to_merge mixes one-version-per-run backfills (capture, process) with the merge's single run;
# a backfill of that job runs one version per run, and the merge refuses a version whose predecessors are not merged.
warnings.filterwarnings("ignore", message="Asset job .* materializes assets with varying BackfillPolicies")
