"""One home for escaping text that comes from data, wherever it lands.

A CRM export is typed by hundreds of people: a segment or owner name can be a spreadsheet
formula (``=HYPERLINK(...)``), HTML (``<script>``), Markdown or rich console markup
(``[link=...]``). Every output writer passes data text through the function for its
destination, never its own ad-hoc escaping:

* spreadsheets (xlsx) and CSV: :func:`neutralise_formula` (OWASP "CSV injection": a cell
  that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  apostrophe, so no spreadsheet evaluates it), and :func:`xlsx_text_cell` writes such a
  value as a text cell, never as a formula. A cell that already starts with apostrophes
  followed by one of those characters gets one apostrophe more, so that
  :func:`restore_formula` (used when targetsim reads its own CSV outputs back) gives every
  value exactly as it was;
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
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
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
    if isinstance(value, str) and value.lstrip("'").startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore_formula(value: Any) -> Any:
    """Undo :func:`neutralise_formula`: ``restore_formula(neutralise_formula(v)) == v``.

    Examples
    --------
    >>> restore_formula("'=1+1")
    '=1+1'
    >>> restore_formula("'quoted")
    "'quoted"
    """
    if (
        isinstance(value, str)
        and value.startswith("'")
        and value.lstrip("'").startswith(FORMULA_PREFIXES)
    ):
        return value[1:]
    return value


def _map_text(df, fn, columns):  # noqa: ANN001, ANN202 (pandas types, lazy import)
    """A copy of ``df`` with ``fn`` applied to the cells of its text ``columns`` (default all)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = df.copy()
    for col in columns if columns is not None else out.columns:
        if is_object_dtype(out[col]) or is_string_dtype(out[col]):
            out[col] = out[col].map(fn)
    return out


def neutralise_frame(df, columns=None):  # noqa: ANN001, ANN201 (pandas types, lazy import)
    """A copy of ``df`` whose text cells (``columns``, default all) are neutralised."""
    return _map_text(df, neutralise_formula, columns)


def restore_frame(df, columns=None):  # noqa: ANN001, ANN201 (pandas types, lazy import)
    """A copy of ``df`` whose text cells (``columns``, default all) are restored."""
    return _map_text(df, restore_formula, columns)


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
    """Escape rich console markup (``[bold]``, ``[link=...]``, ``[/]``) in ``text``.

    Control characters other than line feed and tab (an ANSI escape sequence in a name
    could clear the screen or plant a terminal hyperlink) are shown as ``\\xNN``.

    Examples
    --------
    >>> print(escape_console("[/] [bold]x"))
    \\[/] \\[bold]x
    >>> print(escape_console("a\\x1b[2Jb"))
    a\\x1b[2Jb
    """
    return _rich_escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text)))
