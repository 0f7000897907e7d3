"""Amounts as CRMs export them: formatted text, several currencies, placeholders.

* :func:`clean_amount_text` reads what a CRM report writes in an amount cell
  (``USD 12,000.00``, ``$1,250``, ``1250.5``) and leaves anything ambiguous (``1,5``,
  ``1.234,50``) as it was, for validation to report: a decimal comma is never guessed.
* :func:`convert_currencies` puts amounts of several currencies on one scale with the
  user's rates (``--fx EUR=1.08``), or refuses to add up euros and dollars.
* :func:`resolve_placeholder_amounts` treats a won amount that is the same placeholder
  everywhere (a lead funnel's ``1`` on converted leads) as unknown, so the plan gives
  deals-won targets instead of bookings of a dollar a deal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from targetsim.data.funnel import Opportunities
from targetsim.errors import ConfigError, DataError

#: Currency symbols a report may put before or after an amount.
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
#: A number as written with each decimal mark (``--decimal``): thousands separators, then
#: the decimal part.
_NUMBERS = {
    ".": r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?",
    ",": r"(?:\d{1,3}(?:[.\u00a0\u202f ]\d{3})+|\d+)(?:,\d+)?",
}
_AMOUNTS = {
    mark: re.compile(
        rf"^(?P<neg>-)?\s*(?P<pre>[A-Z]{{3}}|[$€£¥₹])?\s*(?P<num>{number})\s*"
        rf"(?P<post>[A-Z]{{3}}|[$€£¥₹])?$"
    )
    for mark, number in _NUMBERS.items()
}
#: ``--amounts`` choices.
AMOUNT_MODES = ("auto", "keep", "unknown")
#: Placeholder values: a won "amount" of 0 or 1 on every won deal is a flag, not a value.
PLACEHOLDER_MAX = 1.0
#: Won deals needed before identical amounts are read as a placeholder.
PLACEHOLDER_MIN_WON = 3
#: Won deals needed before identical amounts above ``PLACEHOLDER_MAX`` are pointed out.
IDENTICAL_MIN_WON = 5


def clean_amount_text(col: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Read formatted amount cells; return (cells, currency code found in the cell).

    A cell ``USD 12,000.00``, ``12,000.00 EUR`` or ``$12,000`` becomes the float 12000.0
    and its currency (``USD``, ``EUR``); numbers pass through. A cell that does not match
    the form of ``decimal`` exactly (digits, optional thousands separators, optional
    decimal part) is returned unchanged, so validation names it: ``1,5`` may be one and a
    half or fifteen, and guessing would misread it. With ``decimal=","`` (``--decimal ,``)
    ``EUR 12.000,50`` and ``12 000,50 €`` are read.
    """
    pattern = _AMOUNTS[decimal]
    values: list[object] = []
    codes: list[object] = []
    for v in col:
        if isinstance(v, str):
            m = pattern.match(v.strip())
            if m and not (m["pre"] and m["post"]):
                num = m["num"]
                if decimal == ",":
                    num = re.sub(r"[.\u00a0\u202f ]", "", num).replace(",", ".")
                else:
                    num = num.replace(",", "")
                x = float(num)
                values.append(-x if m["neg"] else x)
                sym = m["pre"] or m["post"]
                codes.append(SYMBOLS.get(sym, sym) if sym else None)
                continue
        values.append(v)
        codes.append(None)
    return (pd.Series(values, index=col.index, dtype=object),
            pd.Series(codes, index=col.index, dtype=object))


def parse_fx(items: str | Sequence[str] | None) -> dict[str, float]:
    """``"EUR=1.08,GBP=1.27"`` (or repeated items) → ``{"EUR": 1.08, "GBP": 1.27}``.

    A rate is the value of one unit of that currency in the plan's currency.

    Raises
    ------
    ConfigError
        An item is not ``CODE=rate`` with a positive rate.
    """
    if not items:
        return {}
    parts: list[str] = []
    for item in [items] if isinstance(items, str) else list(items):
        parts += [p.strip() for p in str(item).split(",") if p.strip()]
    out: dict[str, float] = {}
    for p in parts:
        code, sep, rate = p.partition("=")
        code = code.strip().upper()
        try:
            value = float(rate)
        except ValueError:
            value = math.nan
        if not sep or not code or not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"--fx {p!r}: expected CODE=rate with a positive rate, e.g. --fx EUR=1.08 "
                "(one euro is worth 1.08 in the plan's currency)."
            )
        out[code] = value
    return out


def convert_currencies(
    amount: pd.Series,
    currency: pd.Series,
    fx: dict[str, float],
    *,
    source: str,
    column: str,
    row_numbers: np.ndarray,
) -> tuple[pd.Series, list[str]]:
    """Amounts on one scale: as they are in one currency, converted with ``fx`` otherwise.

    Parameters
    ----------
    amount : pandas.Series
        Parsed amounts (float, NaN when empty).
    currency : pandas.Series
        Currency code per row (None when unknown).
    fx : dict
        Rates to the plan's currency, from :func:`parse_fx`.
    source, column : str
        File and currency column, for messages.
    row_numbers : numpy.ndarray
        Spreadsheet row number of each row.

    Returns
    -------
    (amounts, warnings)

    Raises
    ------
    DataError
        Several currencies without rates, a currency without a rate, or an amount without
        a currency among several.
    """
    code = currency.astype(object).where(currency.notna(), None).map(
        lambda c: str(c).strip().upper() if c is not None and str(c).strip() else None
    )
    has_amount = amount.notna().to_numpy()
    counts = code[has_amount].value_counts()
    if not fx:
        if len(counts) <= 1:
            note = (
                [f"{source}: amounts are in {counts.index[0]} (column {column!r})."]
                if len(counts) == 1 else []
            )
            return amount, note
        shown = ", ".join(f"{c} {n:,} rows" for c, n in counts.items())
        raise DataError(
            f"{source}: column {column!r}: amounts are in {len(counts)} currencies ({shown}); "
            "they cannot be added up as they are. Give the rates to one currency, e.g. --fx "
            + ",".join(f"{c}=1.0" for c in counts.index[:3])
            + " (value of one unit in the plan's currency), or export the CRM's converted "
            "amount column."
        )
    missing = [c for c in counts.index if c not in fx]
    if missing:
        raise DataError(
            f"{source}: column {column!r}: no --fx rate for {', '.join(missing)} "
            f"({', '.join(f'{counts[c]:,} rows' for c in missing)}); rates given for "
            f"{', '.join(sorted(fx))}."
        )
    no_code = has_amount & code.isna().to_numpy()
    if no_code.any():
        rows = ", ".join(str(r) for r in row_numbers[no_code][:5])
        raise DataError(
            f"{source}: column {column!r}: {int(no_code.sum()):,} rows have an amount but no "
            f"currency (e.g. row {rows}); with --fx every amount needs its currency."
        )
    rate = code.map(lambda c: fx.get(c, np.nan) if c is not None else np.nan).astype(float)
    converted = amount * rate.where(has_amount, 1.0)
    used = ", ".join(f"{c}×{fx[c]:g}" for c in counts.index)
    return converted, [f"{source}: amounts converted to the plan's currency ({used})."]


def resolve_placeholder_amounts(opps: Opportunities, mode: str = "auto") -> Opportunities:
    """Treat placeholder won amounts as unknown (NaN), saying so.

    Parameters
    ----------
    opps : Opportunities
        Validated opportunities.
    mode : {"auto", "keep", "unknown"}
        ``auto``: a segment (or the whole file) where every won deal has the same amount of
        0 or 1 (at least :data:`PLACEHOLDER_MIN_WON` of them) has placeholders: its amounts
        become unknown; identical larger amounts are only pointed out (a fixed price is
        plausible). ``keep``: amounts as they are. ``unknown``: every amount unknown.

    Returns
    -------
    Opportunities
        With ``amount`` NaN where unknown and a warning for each decision.
    """
    if mode not in AMOUNT_MODES:
        raise ConfigError(f"--amounts {mode!r}: choose one of {', '.join(AMOUNT_MODES)}.")
    t = opps.table
    if mode == "keep":
        return opps
    warn = list(opps.warnings)
    source = opps.source
    won = t["outcome"].eq("won").to_numpy()
    if mode == "unknown":
        if t["amount"].notna().any():
            warn.append(
                f"{source}: amounts treated as unknown (--amounts unknown): targets are in "
                "deals won only."
            )
        table = t.assign(amount=np.nan)
        return replace(opps, table=table, warnings=tuple(warn))

    unknown = np.zeros(len(t), dtype=bool)
    whole = _identical(t.loc[won, "amount"])
    if whole is not None and whole <= PLACEHOLDER_MAX:
        unknown[:] = True
        warn.append(
            f"{source}: every won deal ({int(won.sum()):,}) has the amount {whole:g}: a "
            "placeholder, not a contract value. Amounts are treated as unknown, so bookings "
            "cannot be planned: targets are in deals won only (--amounts keep uses the "
            "amounts as they are)."
        )
    else:
        for seg, idx in t.groupby("segment", sort=True).groups.items():
            sub = t.loc[idx]
            value = _identical(sub.loc[sub["outcome"].eq("won"), "amount"])
            if value is None:
                continue
            n_won = int(sub["outcome"].eq("won").sum())
            if value <= PLACEHOLDER_MAX:
                unknown[t.index.get_indexer(idx)] = True
                warn.append(
                    f"{source}: segment {seg!r}: every won deal ({n_won:,}) has the amount "
                    f"{value:g}, a placeholder; its amounts are treated as unknown (deals-won "
                    "targets only; --amounts keep uses them as they are)."
                )
            elif n_won >= IDENTICAL_MIN_WON:
                warn.append(
                    f"{source}: segment {seg!r}: every won deal ({n_won:,}) has the amount "
                    f"{value:,.2f}; kept as a fixed price (if it is a placeholder, rerun with "
                    "--amounts unknown)."
                )
    if not unknown.any():
        return replace(opps, warnings=tuple(warn))
    table = t.assign(amount=t["amount"].where(~unknown))
    return replace(opps, table=table, warnings=tuple(warn))


def _identical(won_amounts: pd.Series) -> float | None:
    """The one value every won amount has, when there are enough of them."""
    a = won_amounts.dropna().to_numpy(dtype=float)
    if a.size < PLACEHOLDER_MIN_WON:
        return None
    return float(a[0]) if np.all(a == a[0]) else None
