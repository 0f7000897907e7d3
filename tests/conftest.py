"""Shared fixtures: where the public datasets live, a scratch directory per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: ``../shared`` beside the repository (read-only in CI); overridable for other layouts.
SHARED = Path(os.environ.get("TARGETSIM_SHARED", REPO.parent / "shared"))
MAVEN_DIR = SHARED / "data" / "maven-crm-sales-opportunities"
UCI_BANK = SHARED / "data" / "uci-bank-marketing" / "bank-additional.csv"


@pytest.fixture(scope="session")
def maven_dir() -> Path:
    if not (MAVEN_DIR / "sales_pipeline.csv").exists():
        pytest.skip(f"Maven CRM data not found at {MAVEN_DIR}")
    return MAVEN_DIR
