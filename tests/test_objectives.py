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

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("value", "lang", "cur", "expected"),
    [
        (1_200_000, "en", "USD", "$1.2M"),
        (1_234_567, "en", "$", "$1.23M"),
        (950_000, "en", "USD", "$950K"),
        (4_321, "en", "USD", "$4,321"),  # small amounts in full, not "$4.32K"
        (1_200_000, "fr", "€", f"1,2{NBSP}M{NBSP}€"),
        (950_000, "fr", "EUR", f"950{NBSP}k{NBSP}€"),
        (4_321, "fr", "EUR", f"4{NNBSP}321{NBSP}€"),
        (4_321, "fr", "USD", f"4{NNBSP}321{NBSP}$US"),  # the currency is the data's, not the
    ],                                                   # language's
)
def test_format_money(value: float, lang: str, cur: str, expected: str) -> None:
    assert format_money(value, lang, cur) == expected


def test_format_range_percent_and_date() -> None:
    # A no-break space before the dash: a narrow column wraps after it, never before.
    fr = format_range(900_000, 1_500_000, "fr", "€")
    assert fr == f"900{NBSP}k{NBSP}€{NBSP}– 1,5{NBSP}M{NBSP}€"
    assert format_range(900_000, 1_500_000, "en") == f"$900K{NBSP}– $1.5M"
    assert format_range(50_000, 1_500_000, "en") == f"$50K{NBSP}– $1.5M"
    assert format_percent(0.6, "fr") == f"60{NBSP}%"
    assert format_percent(0.6, "en") == "60%"
    assert format_percent(0.004, "en") == "0.4%"  # never a bare "0%" for a small chance
    assert format_date(pd.Timestamp("2027-12-31"), "fr") == "31 décembre 2027"
    assert format_date(pd.Timestamp("2027-12-31"), "en") == "December 31, 2027"
    with pytest.raises(ConfigError, match="--currency"):
        format_money(1.0, "en", "dollars")


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
        f"Atteindre 1,2{NBSP}M{NBSP}€ de chiffre d'affaires signé sur PME (au moins 80 "
        f"affaires gagnées) d'ici le 31 décembre 2027 : probabilité 60{NBSP}%, fourchette "
        f"900{NBSP}k{NBSP}€{NBSP}– 1,5{NBSP}M{NBSP}€."
    )
    assert expected in text
    assert "# Objectifs exercice 2027 (scénario Référence" in text
    assert "OKR" in text and "SMART" in text and "pipeline ouvert" in text
    assert "T1 2027 2,5×" in text  # coverage from the indicators, decimal comma
    # No deal count is known for the company: the sentence leaves it out instead of "–".
    assert "pour l'entreprise d'ici le 31 décembre 2027" in text and "au moins –" not in text
    # No quarterly rows: no dangling "trimestre par trimestre".
    assert "trimestre par trimestre" not in text
    for english in ("Reach", "Book ", "deals won", "December", "Baseline", "by "):
        assert english not in text


def test_english_objectives_have_smart_okr_and_coverage() -> None:
    targets, indicators = _one_segment_tables()
    text = write_objectives(targets, indicators, scenario="baseline", probability=0.6,
                            horizon_end=pd.Timestamp("2027-12-31"))
    assert ("Book $1.2M in PME (at least 80 deals won) by December 31, 2027: probability "
            f"60%, range $900K{NBSP}– $1.5M.") in text
    assert "KR3: create at least 120 new opportunities over the year (2.3 a week)." in text
    assert "worth at least this multiple of its quota: Q1 2027 2.5×" in text
    assert "The company number is the target reached with probability 60%" in text


def test_full_objectives_from_a_cube_cover_scenarios_and_collective_targets() -> None:
    cal = calibrate(make_cube(n_draws=200), probability=0.6, company_target=400_000)
    text = cal.objectives
    for needle in ("## SMART targets (FY2027)", "## OKRs per segment",
                   "### Objective: A books", "### Individual quotas (reps)",
                   "## Collective and individual targets", "The 3 rep quotas add up to",
                   "## Growth and tension scenarios", "- Tension (no change of the market)",
                   "### Which Baseline targets still hold under the other scenarios?",
                   "## Top-down meets bottom-up: the board's number of $400K",
                   "The company number is the board's $400K"):
        assert needle in text, needle
    # Quarterly milestones of a segment add up to its year (the quota plan's rule).
    t = cal.targets
    a = t[(t.scenario == "baseline") & (t.level == "segment") & (t.name == "A")
          & (t.metric == "bookings")]
    assert a[a.period != "FY"].quota.sum() == pytest.approx(a[a.period == "FY"].quota.iloc[0])
    fr = calibrate(make_cube(n_draws=200), lang="fr").objectives
    assert "## Objectifs collectifs et individuels" in fr
    assert "- Tension (marché inchangé) : objectif de l'entreprise" in fr
    assert "## Objectifs SMART (exercice 2027)" in fr and "T1 2027" in fr


def test_unknown_language_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--lang"):
        calibrate(make_cube(n_draws=20), lang="de")
