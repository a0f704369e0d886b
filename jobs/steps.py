"""What every step shares: its output record and the helpers that name runs and count rows."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from jobs.config import Config


@dataclass
class StepOutput:
    """What a step wrote: table key -> Delta version, plus free-form figures for the CLI."""

    step: str
    ds: str
    versions: dict[str, int] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)


def run_id(config: Config, ds: str) -> str:
    """Deterministic: the same ds and config name the same run, so a rerun replaces its own rows."""
    return f"{ds}-{config.hash[:10]}"


def code_version() -> str:
    """The git commit the code runs from (or the package version outside a checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import version

        return f"fairshot-{version('fairshot')}"
