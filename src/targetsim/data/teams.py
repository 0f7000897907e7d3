"""The teams file (``--teams FILE``): who manages each rep, and in which region.

One row per rep with columns ``owner, manager, region`` (DESIGN.md, "Extending the
contracts"). Common spellings are recognised, so an export can be used as it is: Maven's
``sales_teams.csv`` (``sales_agent, manager, regional_office``) reads without a mapping.
CSV, Parquet or Excel. The quota sheet and the report group reps by manager and region; reps
the file does not name are shown under "unassigned" (never dropped).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from targetsim.errors import DataError

#: Column of the teams file → accepted spellings (case and spaces ignored).
TEAM_ALIASES = {
    "owner": ("owner", "sales_agent", "agent", "rep", "sales_rep", "salesperson", "owner_name",
              "opportunity_owner"),
    "manager": ("manager", "sales_manager", "team_lead"),
    "region": ("region", "regional_office", "office", "territory"),
}
TEAM_COLUMNS = ("owner", "manager", "region")


def _norm(name: object) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def read_teams(path: str | Path) -> pd.DataFrame:
    """Read and check a teams file.

    Returns
    -------
    pandas.DataFrame
        ``owner, manager, region`` as strings (``manager``/``region`` empty when the file
        has no such column), one row per owner.

    Raises
    ------
    DataError
        The file is missing or unreadable, has no owner column, or names an owner twice
        (the message names the file, the spreadsheet row and the value).
    """
    from targetsim.data.readers import read_table
    from targetsim.data.schema import parse_text

    p = Path(path)
    if not p.is_file():
        raise DataError(f"--teams {p}: file not found.")
    try:
        # the export reader's rules: encodings, separators, a name used twice in the header,
        # rows as a spreadsheet numbers them
        raw = read_table(p)
    except DataError as exc:
        raise DataError(f"--teams {exc}") from None
    found: dict[str, str] = {}
    normed = {_norm(c): c for c in raw.columns}
    for canon, aliases in TEAM_ALIASES.items():
        for a in aliases:
            if a in normed:
                found[canon] = normed[a]
                break
    if "owner" not in found:
        raise DataError(
            f"--teams {p}: no owner column; expected one of {', '.join(TEAM_ALIASES['owner'])} "
            f"(columns found: {', '.join(map(str, raw.columns))})."
        )
    out = pd.DataFrame({
        c: (parse_text(raw[found[c]]).fillna("").astype(str) if c in found else "")
        for c in TEAM_COLUMNS
    }, index=raw.index)
    blank = out.index[out["owner"].eq("")]
    if len(blank):
        raise DataError(f"--teams {p}: row {int(blank[0])}, column {found['owner']!r}: "
                        "empty owner name.")
    dup = out.index[out["owner"].duplicated()]
    if len(dup):
        i = int(dup[0])
        raise DataError(f"--teams {p}: row {i}, column {found['owner']!r}: owner "
                        f"{out.loc[i, 'owner']!r} is listed twice.")
    return out.reset_index(drop=True)
