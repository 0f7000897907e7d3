"""Project exceptions.

Every error a user can cause is one of these, and its message names what to fix:
the file, the row (as a spreadsheet shows it), the column, the segment or the value.
The CLI turns them into a one-paragraph message and an exit code, never a traceback.
"""

from __future__ import annotations


class TargetsimError(Exception):
    """Base class of every error targetsim raises on purpose."""

    exit_code: int = 2


class DataError(TargetsimError):
    """The input data (CRM export, leads, actuals) is missing, unreadable or invalid."""


class ScenarioError(TargetsimError):
    """A scenario file is invalid: bad YAML, unknown key, bad value, unknown segment."""


class ConfigError(TargetsimError):
    """A model or prior configuration, or a command-line option, is invalid."""


class ModelMismatchError(TargetsimError):
    """A saved fit or projection was made by another model version or configuration."""


class ConvergenceError(TargetsimError):
    """The sampler did not converge; outputs are written but flagged."""

    exit_code = 3


class NotFittedError(TargetsimError):
    """A posterior quantity was asked for before ``fit`` was called."""

    exit_code = 1
