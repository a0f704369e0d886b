"""The synthetic world in motion: its day-by-day dynamics (`dynamics`: who comes, what they see,
how creators and users respond), its own user-side feed (`feed`), their settings from the config
(`settings`), and the nightly evaluation's control (`control`: what that feed would have shown in
the plan's slots). The closed loop (`jobs.simulation`) and the evaluate step both build on it,
which is why it sits below the steps and not inside the simulation."""
