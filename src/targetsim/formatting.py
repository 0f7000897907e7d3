"""Numbers, money, percentages and dates in the reader's language, through Babel.

The one home for how a figure is written (console, objectives.md, report.html, track.html,
targets.xlsx headers). English follows ``en_US`` (``$7.51M``, ``1,234,567``, ``60%``,
``December 31, 2018``); French follows ``fr_FR`` (``7,51 M €``, ``1 234 567``, ``60 %``,
``31 décembre 2018``). The currency is a property of the data (``--currency``, an ISO 4217
code, default ``USD``), never inferred from the language: a French report on dollar data
says ``$US``.

Amounts in sentences and headlines are compact with three significant figures, like the
targets themselves (rounded down to three significant figures by the calibrate step), so a
band never shows more precision than the target it surrounds.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
from babel.dates import format_date, get_month_names
from babel.numbers import (
    format_compact_currency,
    format_compact_decimal,
    format_currency,
    format_decimal,
    format_percent,
    get_currency_symbol,
    list_currencies,
)

from targetsim.errors import ConfigError

#: Languages every output is written in.
LANGUAGES = ("en", "fr")
LOCALES = {"en": "en_US", "fr": "fr_FR"}
#: Symbols accepted by ``--currency`` for convenience, and the code they stand for.
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
#: Text for a missing value.
MISSING = "–"


def check_lang(lang: str) -> str:
    """Validate a language code (``--lang``)."""
    if lang not in LOCALES:
        raise ConfigError(f"--lang {lang!r} is not supported: choose one of "
                          f"{', '.join(LANGUAGES)}.")
    return lang


def check_currency(currency: str) -> str:
    """``--currency``: an ISO 4217 code (``EUR``) or one of the symbols ``$ € £ ¥``."""
    text = str(currency).strip()
    code = SYMBOLS.get(text, text.upper())
    if code not in list_currencies():
        raise ConfigError(
            f"--currency {currency!r}: expected an ISO 4217 code such as USD, EUR or GBP."
        )
    return code


def currency_symbol(currency: str, lang: str) -> str:
    """The symbol a reader of ``lang`` knows for ``currency`` (``USD`` -> ``$``, ``EUR`` -> ``€``);
    a symbol given as it is (plans written before codes) stays itself."""
    text = str(currency).strip()
    if text in SYMBOLS:
        return text
    return get_currency_symbol(check_currency(text), locale=_loc(lang))


def _loc(lang: str) -> str:
    return LOCALES[check_lang(lang)]


def _bad(x: object) -> bool:
    try:
        return x is None or not math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def _sig_digits(v: float) -> int:
    """Fraction digits that leave three significant figures of a compact mantissa."""
    a = abs(v)
    for scale in (1e9, 1e6, 1e3):
        if a >= scale:
            a /= scale
            break
    return 2 if a < 10 else 1 if a < 100 else 0


def number(x: float | None, lang: str, decimals: int = 0) -> str:
    """``1,234,567`` / ``1 234 567`` (``decimals`` fixed fraction digits)."""
    if _bad(x):
        return MISSING
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(float(x), format=pattern, locale=_loc(lang))  # type: ignore[arg-type]


def compact(x: float | None, lang: str) -> str:
    """``7.51M`` / ``7,51 M`` (three significant figures)."""
    if _bad(x):
        return MISSING
    v = float(x)  # type: ignore[arg-type]
    if abs(v) < 1000:
        return number(v, lang)
    return format_compact_decimal(v, locale=_loc(lang), fraction_digits=_sig_digits(v))


def money(x: float | None, lang: str, currency: str = "USD") -> str:
    """A whole amount: ``$1,234,567`` / ``1 234 567 €``."""
    if _bad(x):
        return MISSING
    pattern = "¤#,##0" if lang == "en" else "#,##0\u00a0¤"
    return format_currency(round(float(x)), currency, format=pattern,  # type: ignore[arg-type]
                           locale=_loc(lang), currency_digits=False)


#: Amounts below this are written in full (``$4,321``, not ``$4.32K``).
COMPACT_FROM = 10_000


def money_compact(x: float | None, lang: str, currency: str = "USD") -> str:
    """``$7.51M`` / ``7,51 M €``; amounts under ten thousand in full (``$4,321``)."""
    if _bad(x):
        return MISSING
    v = float(x)  # type: ignore[arg-type]
    if abs(v) < COMPACT_FROM:
        return money(v, lang, currency)
    return format_compact_currency(v, currency, locale=_loc(lang),
                                   fraction_digits=_sig_digits(v))


def money_range(lo: float | None, hi: float | None, lang: str, currency: str = "USD") -> str:
    """A band, both ends compact: ``$6.55M – $9.13M`` / ``6,55 M € – 9,13 M €``.

    A no-break space before the dash: a narrow column wraps the band after it, never
    before (``$6.55M –`` / ``$9.13M``, not a line starting with the dash)."""
    return span(money_compact(lo, lang, currency), money_compact(hi, lang, currency))


def span(lo: str, hi: str) -> str:
    """Two written figures as a range, ``lo – hi``, wrapping only after the dash."""
    return f"{lo}\u00a0– {hi}"


def percent(p: float | None, lang: str, decimals: int = 0) -> str:
    """``60%`` / ``60 %``; one decimal below 1 % and above 99 % when ``decimals`` is 0."""
    if _bad(p):
        return MISSING
    v = float(p)  # type: ignore[arg-type]
    if decimals == 0 and (0 < v < 0.01 or 0.99 < v < 1):
        decimals = 1
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    pattern += "%" if lang == "en" else "\u00a0%"
    return format_percent(v, format=pattern, locale=_loc(lang))


def growth(g: float | None, lang: str) -> str:
    """Signed change: ``+12%`` / ``−25 %`` (a true minus sign)."""
    if _bad(g):
        return MISSING
    v = float(g)  # type: ignore[arg-type]
    text = percent(abs(v), lang)
    return ("+" if v >= 0 else "\u2212") + text


def long_date(ts: date | pd.Timestamp | str, lang: str) -> str:
    """``December 31, 2018`` / ``31 décembre 2018``."""
    return format_date(pd.Timestamp(ts).date(), format="long", locale=_loc(lang))


def month_abbr(month: int, lang: str) -> str:
    """Short month name (1 = January): ``Jan`` / ``janv.``."""
    return str(get_month_names("abbreviated", locale=_loc(lang))[month])


def month_year(ts: date | pd.Timestamp | str, lang: str) -> str:
    """``Jan 2018`` / ``janv. 2018``."""
    t = pd.Timestamp(ts)
    return f"{month_abbr(t.month, lang)} {t.year}"


def fiscal_year(start: str | pd.Timestamp, months: int, lang: str) -> str:
    """The horizon's name: ``FY2018`` / ``exercice 2018`` for a calendar year, else
    ``FY Jul 2018 – Jun 2019`` / ``exercice juil. 2018 – juin 2019``."""
    s = pd.Timestamp(start)
    e = s + pd.DateOffset(months=int(months) - 1)
    word = "FY" if lang == "en" else "exercice"
    if s.month == 1 and int(months) == 12:
        return f"{word}{'' if lang == 'en' else ' '}{s.year}"
    return f"{word} {month_year(s, lang)} – {month_year(e, lang)}"


def quarter(period: str, lang: str) -> str:
    """``2018-Q1`` → ``Q1 2018`` / ``T1 2018``."""
    if len(period) == 7 and period[4:6] == "-Q":
        return f"{'Q' if lang == 'en' else 'T'}{period[6]} {period[:4]}"
    return period


#: Names of the bundled scenarios in words; other scenarios keep the name their file gives.
SCENARIO_LABELS = {
    "en": {"baseline": "Baseline", "growth": "Growth", "tension": "Tension",
           "hiring-freeze": "Hiring freeze"},
    "fr": {"baseline": "Référence", "growth": "Croissance", "tension": "Tension",
           "hiring-freeze": "Gel des embauches"},
}
_LEVERS = {
    "en": {"lead_volume": "leads", "win_rate": "win rate", "deal_size": "deal size",
           "cycle_length": "sales cycles", "none": "no change of the market",
           "capacity": "{reps} reps, {slots} open deals each, {attr} leave a year",
           "hires": "{n} hire(s)", "seg": "{name}: {what}"},
    "fr": {"lead_volume": "leads", "win_rate": "taux de transformation",
           "deal_size": "taille des affaires", "cycle_length": "cycles de vente",
           "none": "marché inchangé",
           "capacity": "{reps} commerciaux, {slots} affaires ouvertes chacun, {attr} de "
           "départs par an", "hires": "{n} recrutement(s)", "seg": "{name} : {what}"},
}


def scenario_label(name: str, lang: str) -> str:
    """``baseline`` → ``Baseline`` / ``Référence``; other names unchanged."""
    return SCENARIO_LABELS[check_lang(lang)].get(str(name), str(name))


def _market_words(market: dict[str, float], lang: str) -> list[str]:
    w = _LEVERS[lang]
    out = []
    for key in ("lead_volume", "win_rate", "deal_size", "cycle_length"):
        v = market.get(key)
        if v is None or _bad(v) or abs(float(v) - 1.0) < 1e-9:
            continue
        out.append(f"{growth(float(v) - 1.0, lang)} {w[key]}")
    return out


def scenario_assumptions(scenario: dict, lang: str) -> str:
    """A scenario's assumptions in words: ``+20% leads, +5% win rate, +5% deal size``.

    Parameters
    ----------
    scenario : dict
        The scenario as saved in the projection (``market``, ``segments``, ``capacity``).
    """
    w = _LEVERS[check_lang(lang)]
    parts = _market_words(scenario.get("market") or {}, lang)
    for name, over in (scenario.get("segments") or {}).items():
        words = _market_words(over or {}, lang)
        if words:
            parts.append(w["seg"].format(name=name, what=", ".join(words)))
    cap = scenario.get("capacity")
    if cap:
        reps = cap.get("reps")
        reps_text = (number(reps, lang) if isinstance(reps, int | float)
                     else number(sum((reps or {}).values()), lang))
        parts.append(w["capacity"].format(
            reps=reps_text, slots=number(cap.get("max_open_deals_per_rep"), lang),
            attr=percent(cap.get("attrition_per_year", 0.0), lang)))
        hires = sum(int(h.get("count", 0)) for h in cap.get("hires") or [])
        if hires:
            parts.append(w["hires"].format(n=hires))
    return ", ".join(parts) if parts else w["none"]
