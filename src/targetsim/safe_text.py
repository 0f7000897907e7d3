"""One home for escaping text that comes from data, wherever it lands.

A CRM export is typed by hundreds of people: a segment or owner name can be a spreadsheet
formula (``=HYPERLINK(...)``), HTML (``<script>``), Markdown or rich console markup
(``[link=...]``). Every output writer passes data text through the function for its
destination, never its own ad-hoc escaping:

* spreadsheets (xlsx) and CSV: :func:`neutralise_formula` (OWASP "CSV injection": a cell
  that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  apostrophe, so no spreadsheet evaluates it), and :func:`xlsx_text_cell` writes such a
  value as a text cell, never as a formula;
* Markdown: :func:`escape_markdown`;
* the terminal (rich): :func:`escape_console`;
* HTML is escaped by jinja2's autoescape and :func:`html.escape` in the report code.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape as _rich_escape

#: First characters a spreadsheet may read as the start of a formula (OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~])")


def neutralise_formula(value: Any) -> Any:
    """Prefix text that a spreadsheet would evaluate with an apostrophe.

    Non-text values (numbers, dates, None) are returned unchanged: only text from data can
    carry a formula, and numbers must stay numbers.

    Examples
    --------
    >>> neutralise_formula('=HYPERLINK("http://x","y")')
    '\\'=HYPERLINK("http://x","y")'
    >>> neutralise_formula("Acme")
    'Acme'
    >>> neutralise_formula(-2)
    -2
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(df, columns=None):  # noqa: ANN001, ANN201 (pandas types, lazy import)
    """A copy of ``df`` whose text cells (``columns``, default all) are neutralised."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = df.copy()
    for col in columns if columns is not None else out.columns:
        if is_object_dtype(out[col]) or is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_formula)
    return out


def xlsx_text_cell(cell, value: Any) -> None:  # noqa: ANN001 (openpyxl Cell)
    """Set an openpyxl cell to ``value``, text from data always as text, never a formula."""
    if isinstance(value, str):
        cell.value = neutralise_formula(value)
        cell.data_type = "s"
    else:
        cell.value = value


def escape_markdown(text: Any) -> str:
    """Backslash-escape Markdown and inline-HTML characters of ``text``."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def escape_console(text: Any) -> str:
    """Escape rich console markup (``[bold]``, ``[link=...]``, ``[/]``) in ``text``."""
    return _rich_escape(str(text))
