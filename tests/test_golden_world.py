"""The tiny world's tables, digest by digest, against the digests kept in tests/golden/.

A refactor, a dependency upgrade or a faster kernel must not change what the nightly job decides;
this is the test that says so, table by table. A change that means to alter the plans rewrites
the file (`make golden`) and the diff shows which tables moved.

The digests hold on one kind of machine only. Spark's BLAS (the ALS fit, the ranking heads'
logistic regressions) sums with the JVM's vector API, and numpy with its SIMD kernels, both as
wide as the CPU allows; the iterative fits carry the last bits into the six decimals the digests
keep. So there is one file per SIMD width (`arithmetic()`), and a machine with none recorded skips
the comparison with that reason instead of failing on arithmetic. The AVX2 file can be written on
an AVX-512 machine by narrowing both to AVX2 (this is how it was checked against the AVX2
machines' file):

    FAIRSHOT_GOLDEN_ARITHMETIC=x86-avx2 JAVA_TOOL_OPTIONS=-XX:UseAVX=2 \\
        NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" make golden
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def arithmetic() -> str:
    """The machine's widest SIMD (x86: AVX-512 or AVX2), which sets how the JVM and numpy sum;
    FAIRSHOT_GOLDEN_ARITHMETIC overrides it when both were narrowed on purpose (above)."""
    if os.environ.get("FAIRSHOT_GOLDEN_ARITHMETIC"):
        return os.environ["FAIRSHOT_GOLDEN_ARITHMETIC"]
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return machine
    try:
        flags = set(next(line for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("flags")).split(":", 1)[1].split())
    except (OSError, StopIteration):
        return "x86-unknown"
    return "x86-avx512" if "avx512f" in flags else "x86-avx2" if "avx2" in flags else "x86"


def test_the_tiny_world_publishes_what_the_golden_digests_say(published_world, request):
    digests = request.config.world_digests
    assert all({"gold.allocations", "silver.candidates"} <= set(digests[ds]) for ds in digests), digests
    golden = GOLDEN / f"tiny_world.{arithmetic()}.json"
    if request.config.getoption("--update-golden"):
        golden.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    if not golden.exists():
        pytest.skip(f"no golden digests for this machine's arithmetic ({arithmetic()}): "
                    f"{sorted(p.name for p in GOLDEN.glob('tiny_world.*.json'))} are kept")
    expected = json.loads(golden.read_text())
    moved = [f"{ds} {key}: {expected[ds].get(key)} -> {digests[ds].get(key)}"
             for ds in sorted(set(expected) | set(digests))
             for key in sorted(set(expected.get(ds, {})) | set(digests.get(ds, {})))
             if expected.get(ds, {}).get(key) != digests.get(ds, {}).get(key)]
    assert not moved, f"tables whose content changed against {golden.name} (`make golden` if meant):\n" + "\n".join(moved)
