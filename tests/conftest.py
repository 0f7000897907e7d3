"""Shared fixtures: the bundled Maven demo data, a scratch directory per test.

Every test runs on a bare clone: the Maven CRM export ships inside the package
(``targetsim/demo_data``, byte for byte the published files), so no test depends on a
``../shared`` folder beside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def maven_dir() -> Path:
    """The Maven CRM Sales Opportunities folder bundled with the package."""
    from targetsim.data import demo_data_path

    path = Path(demo_data_path())
    assert (path / "sales_pipeline.csv").exists(), f"bundled demo data missing at {path}"
    return path
