"""How to read a CRM export: the options a user gives about its dates, numbers and sheet.

One validated object carried from the command line (``--date-format``, ``--dayfirst`` /
``--monthfirst``, ``--decimal``, ``--sheet``) through :func:`targetsim.data.load_opportunities`
to the reader and the validator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from targetsim.errors import ConfigError

#: Decimal marks ``--decimal`` accepts.
DECIMALS = (".", ",")


@dataclass(frozen=True)
class ReadOptions:
    """Options about the file's dates, numbers and sheet.

    Attributes
    ----------
    date_format : str or None
        A ``strftime`` pattern every date cell follows (``%d/%m/%Y``); None = detect the
        format of each column on the whole column.
    dayfirst : bool or None
        For numeric dates like ``05/01/2017``: True = day first, False = month first,
        None = decide from the data (a column where every such date could be read both ways
        stops with an error asking for this option).
    decimal : {".", ","}
        Decimal mark of amounts. With ``,`` the thousands separator is ``.`` or a space
        (``1.234,50``); with ``.`` it is ``,`` or a space (``1,234.50``).
    sheet : str or None
        Excel sheet to read; None = the first sheet that has the needed columns.
    """

    date_format: str | None = None
    dayfirst: bool | None = None
    decimal: str = "."
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.decimal not in DECIMALS:
            raise ConfigError(
                f"--decimal {self.decimal!r}: use '.' (1,234.50) or ',' (1.234,50)"
            )
        if self.date_format is not None:
            check_date_format(self.date_format)
            if self.dayfirst is not None:
                raise ConfigError(
                    "--date-format already says where the day is: leave out --dayfirst / "
                    "--monthfirst"
                )


def check_date_format(fmt: str) -> str:
    """Validate a ``--date-format`` pattern: it must name the year, month and day."""
    if not fmt or not fmt.strip():
        raise ConfigError("--date-format: give a pattern such as %d/%m/%Y")
    directives = set(re.findall(r"%(.)", fmt))
    if not ({"Y", "y"} & directives and {"m", "b", "B"} & directives and "d" in directives):
        raise ConfigError(
            f"--date-format {fmt!r}: the pattern needs a year (%Y or %y), a month (%m, %b or "
            "%B) and a day (%d), e.g. %d/%m/%Y"
        )
    try:
        datetime(2017, 1, 31).strftime(fmt)
    except ValueError as exc:
        raise ConfigError(f"--date-format {fmt!r}: not a valid pattern ({exc})") from None
    return fmt
