"""What every step shares: its output record and the helpers that name runs and count rows."""
from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.config import Config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class StepOutput:
    """What a step wrote: table key -> Delta version, plus free-form figures for the CLI."""

    step: str
    ds: str
    versions: dict[str, int] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)


def job_id(config: Config, ds: str) -> str:
    """The nightly job's run of ds under this config: names step timings and commit metadata, so a
    rerun of a step replaces its own rows."""
    return f"{ds}-{config.hash[:10]}"


def plan_run_id(config: Config, ds: str, inputs_fingerprint: str) -> str:
    """The id of one plan: the same ds, config and inputs give the same id (and, the job being
    deterministic, the same rows), so re-publishing a run can only rewrite identical rows; anything
    that changes the plan changes the id, and a new plan lands beside the published one."""
    digest = hashlib.sha256(f"{config.hash}:{inputs_fingerprint}".encode()).hexdigest()
    return f"{ds}-{digest[:12]}"


def staged_run_id(spark: SparkSession, config: Config, ds: str) -> str:
    """The run `allocate` last staged for ds: what publish, evaluate and report work on."""
    from jobs.errors import FairshotError
    from jobs.warehouse import io

    rows = io.read_table(spark, config, "staging.allocation_runs", ds=ds).select("run_id").distinct().collect()
    if len(rows) != 1:
        raise FairshotError(f"staging.allocation_runs: {len(rows)} staged runs for ds={ds} (expected one); "
                            f"run `fairshot allocate --ds {ds}` first")
    return str(rows[0]["run_id"])


def code_version() -> str:
    """The git commit the code runs from (or the package version outside a checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"fairshot-{version('fairshot')}"
