"""Steps after the fit read saved draws: importing them must not load the sampler.

Importing PyMC and PyTensor costs seconds (JAX and nutpie more): a what-if, a report or a
re-forecast must not pay it. Each step is imported in a fresh interpreter and
``sys.modules`` inspected.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SAMPLER_PACKAGES = ("pymc", "pytensor", "jax", "nutpie")


@pytest.mark.parametrize("step", ["simulate", "calibrate", "report", "track", "serve"])
def test_step_imports_no_sampler(step: str) -> None:
    probe = (
        "import sys\n"
        f"import targetsim.{step}\n"
        f"print(sorted(m for m in {SAMPLER_PACKAGES!r} if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.strip().splitlines()[-1]
    assert loaded == "[]", f"import targetsim.{step} loaded {loaded}"
