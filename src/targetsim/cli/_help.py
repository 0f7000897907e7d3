"""How ``--help`` shows options: flags as flags, values as a word for what they take.

Typer prints a Python type after every option (``--json <bool>``, ``--as-of <str>``), which
makes a flag look as if it took a value. Here a flag shows nothing, and an option without
an explicit ``metavar`` shows a plain word for its kind of value (``TEXT``, ``N``, ``X``,
``PATH``). Commands give their options a precise ``metavar`` (``DATE``, ``FILE``, ``P``)
where it helps.
"""

from __future__ import annotations

from importlib import metadata

import typer
from typer.core import TyperArgument, TyperOption

_WORDS = {"int": "N", "float": "X", "str": "TEXT", "Path": "PATH", "list[str]": "TEXT",
          "list[Path]": "PATH"}


def _display(self: TyperOption, ctx) -> str | None:  # noqa: ANN001 - click.Context
    if self.metavar is not None:
        return self.metavar
    if self.is_flag or self.is_bool_flag:
        return ""
    raw = self.display_type(ctx).strip("<>")
    return _WORDS.get(raw, raw.upper())


def _arg_display(self: TyperArgument, ctx) -> str | None:  # noqa: ANN001 - click.Context
    return self.metavar if self.metavar is not None else ""


def install() -> None:
    """Patch Typer's option display (idempotent)."""
    TyperOption.display_type_rich = _display  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _arg_display  # type: ignore[method-assign]


def version() -> str:
    """The installed targetsim version."""
    try:
        return metadata.version("targetsim")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        from targetsim import __version__

        return __version__


def version_callback(value: bool) -> None:
    """``--version``: print the version and stop."""
    if value:
        typer.echo(f"targetsim {version()}")
        raise typer.Exit()
