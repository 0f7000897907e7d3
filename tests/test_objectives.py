"""SMART / OKR wording in English and French, and number formatting."""

from __future__ import annotations

import pandas as pd
import pytest

from targetsim.calibrate import calibrate
from targetsim.calibrate.objectives import (
    NNBSP,
    format_date,
    format_money,
    format_percent,
    format_range,
    write_objectives,
)
from targetsim.errors import ConfigError
from test_calibrate_cubes import make_cube


@pytest.mark.parametrize(
    ("value", "lang", "cur", "expected"),
    [
        (1_200_000, "en", "$", "$1.2M"),
        (1_234_567, "en", "$", "$1.23M"),
        (950_000, "en", "$", "$950k"),
        (4_321, "en", "$", "$4,321"),
        (1_200_000, "fr", "€", f"1,2{NNBSP}M€"),
        (950_000, "fr", "€", f"950{NNBSP}k€"),
        (4_321, "fr", "€", f"4{NNBSP}321{NNBSP}€"),
    ],
)
def test_format_money(value: float, lang: str, cur: str, expected: str) -> None:
    assert format_money(value, lang, cur) == expected


def test_format_range_percent_and_date() -> None:
    assert format_range(900_000, 1_500_000, "fr", "€") == f"0,9–1,5{NNBSP}M€"
    assert format_range(900_000, 1_500_000, "en") == "$0.9–1.5M"
    assert format_range(50_000, 1_500_000, "en") == "$50k–$1.5M"
    assert format_percent(0.6, "fr") == f"60{NNBSP}%"
    assert format_percent(0.6, "en") == "60%"
    assert format_date(pd.Timestamp("2027-12-31"), "fr") == "31/12/2027"
    assert format_date(pd.Timestamp("2027-12-31"), "en") == "December 31, 2027"


def _one_segment_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        ("baseline", "total", "total", "FY", "bookings", 1_200_000, 0.6, 900_000, 1.25e6, 1.5e6),
        ("baseline", "segment", "PME", "FY", "bookings", 1_200_000, 0.6, 900_000, 1.25e6, 1.5e6),
        ("baseline", "segment", "PME", "FY", "deals_won", 80, 0.62, 60, 85, 100),
    ]
    targets = pd.DataFrame(rows, columns=[
        "scenario", "level", "name", "period", "metric", "target",
        "attainment_probability", "p10", "p50", "p90"])
    indicators = pd.DataFrame(
        [("baseline", "PME", "2027-Q1", 280_000, 120, 18, 700_000, 2.5, 9.23, 1.38)],
        columns=["scenario", "segment", "period", "target", "new_opportunities",
                 "wins_needed", "pipeline_at_quarter_start", "pipeline_coverage",
                 "weekly_new_opportunities", "weekly_wins"])
    return targets, indicators


def test_french_smart_statement_reads_like_the_product_example() -> None:
    targets, indicators = _one_segment_tables()
    text = write_objectives(targets, indicators, scenario="baseline", probability=0.6,
                            horizon_end=pd.Timestamp("2027-12-31"), lang="fr", currency="€")
    expected = (
        f"Atteindre 1,2{NNBSP}M€ de chiffre d'affaires signé sur le segment PME (au moins 80 "
        f"affaires gagnées) d'ici le 31/12/2027 (probabilité 60{NNBSP}%, fourchette "
        f"0,9–1,5{NNBSP}M€)."
    )
    assert expected in text
    assert "OKR" in text and "SMART" in text and "couverture du pipeline" in text
    assert "2,50x" in text  # coverage from the indicators, decimal comma


def test_english_objectives_have_smart_okr_and_coverage() -> None:
    targets, indicators = _one_segment_tables()
    text = write_objectives(targets, indicators, scenario="baseline", probability=0.6,
                            horizon_end=pd.Timestamp("2027-12-31"))
    assert ("Reach $1.2M of signed bookings in segment PME (at least 80 deals won) by "
            "December 31, 2027 (probability 60%, range $0.9–1.5M).") in text
    assert "KR3: create at least 120 new opportunities" in text
    assert "pipeline coverage (open pipeline ÷ quarter target) of at least 2027-Q1 2.50x" in text


def test_full_objectives_from_a_cube_cover_scenarios_and_collective_targets() -> None:
    cal = calibrate(make_cube(n_draws=200), probability=0.6, company_target=400_000)
    text = cal.objectives
    for needle in ("## SMART targets", "## OKRs per segment", "Objective: make A",
                   "## Collective vs individual targets", "Team vs sum",
                   "## Growth vs tension scenarios", "Under **tension**",
                   "## Top-down meets bottom-up"):
        assert needle in text
    fr = calibrate(make_cube(n_draws=200), lang="fr").objectives
    assert "Objectifs collectifs et individuels" in fr and "Dans le scénario **tension**" in fr


def test_unknown_language_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--lang"):
        calibrate(make_cube(n_draws=20), lang="de")
