"""The arms of a simulation: what serves the creator-side slots in each.

Every arm lives in the same world, forked from the same history, and draws from the same random
streams, so their differences are the policies' alone:
- `control`: the user-side feed alone (always simulated; every other arm is read against it);
- `treatment`: the feed with fairshot's plan in its creator-side slots, the nightly job run under
  the config on the arm's own logs;
- a variant, `NAME:KEY=VALUE[,KEY=VALUE...]`: the same, the nightly job run under the config with
  those overrides (e.g. `w0:allocation.creator_weight=0`, `age2:features.plan_window=age`);
- the baselines, served without a nightly job in the same slots, over the items the plan may hold
  (posted before the day, no older than the plan's window): `boost`, the feed's own ranking of
  them (what "boost new items" means in most feeds), and `explore`, uniformly at random.
A baseline never reads a plan: it is what a team gets without fairshot's models and optimiser.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.errors import ConfigError

CONTROL, TREATMENT = "control", "treatment"
BASELINES = ("boost", "explore")
# A variant changes the nightly job, never the world it runs in: every arm must share the world.
WORLD_SECTIONS = ("sample.", "simulation.", "seed", "storage.", "source.")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str                        # control | plan | boost | explore
    overrides: tuple[str, ...] = ()  # plan arms: config overrides of the nightly job

    @property
    def runs_nightly_job(self) -> bool:
        return self.kind == "plan"


def parse_arms(specs: list[str] | None) -> list[Arm]:
    """The arms `--arm` names, control first; none named: control and treatment."""
    arms = [Arm(CONTROL, "control")]
    for spec in specs or [TREATMENT]:
        name, _, overrides = spec.partition(":")
        name = name.strip()
        if not NAME.match(name):
            raise ConfigError(f"--arm {spec!r}: an arm's name is lower-case letters, digits, - or _ (at most 32)")
        if name == CONTROL:
            continue
        if name in BASELINES or name == TREATMENT:
            if overrides:
                raise ConfigError(f"--arm {spec!r}: {name} takes no overrides; name a variant instead "
                                  f"(e.g. --arm mine:{overrides})")
            arms.append(Arm(name, name if name in BASELINES else "plan"))
            continue
        pairs = tuple(part.strip() for part in overrides.split(",") if part.strip())
        if not pairs or any("=" not in pair for pair in pairs):
            raise ConfigError(f"--arm {spec!r}: a variant is NAME:KEY=VALUE[,KEY=VALUE...], e.g. "
                              "w0:allocation.creator_weight=0; the arms without overrides are treatment, boost, explore")
        world = [pair for pair in pairs if pair.split("=", 1)[0].startswith(WORLD_SECTIONS)]
        if world:
            raise ConfigError(f"--arm {spec!r}: {', '.join(world)} would change the world, not the nightly job; "
                              "every arm must share one world (set it for the whole run with --set)")
        arms.append(Arm(name, "plan", pairs))
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise ConfigError(f"--arm: arm names must differ, got {names}")
    return arms
