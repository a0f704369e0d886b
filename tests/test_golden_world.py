"""The tiny world's tables, digest by digest, against the digests kept in tests/golden/.

A refactor, a dependency upgrade or a faster kernel must not change what the nightly job decides;
this is the test that says so, table by table. A change that means to alter the plans rewrites
the file (`make golden`) and the diff shows which tables moved."""
from __future__ import annotations

import json
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "tiny_world.json"


def test_the_tiny_world_publishes_what_the_golden_digests_say(published_world, request):
    digests = request.config.world_digests
    assert all({"gold.allocations", "silver.candidates"} <= set(digests[ds]) for ds in digests), digests
    if request.config.getoption("--update-golden"):
        GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    moved = [f"{ds} {key}: {expected[ds].get(key)} -> {digests[ds].get(key)}"
             for ds in sorted(set(expected) | set(digests))
             for key in sorted(set(expected.get(ds, {})) | set(digests.get(ds, {})))
             if expected.get(ds, {}).get(key) != digests.get(ds, {}).get(key)]
    assert not moved, "tables whose content changed (`make golden` if meant):\n" + "\n".join(moved)
