"""Progress bars for the steps that take more than a couple of seconds.

One look for every step (``report``, ``track``, the top-down levers of ``calibrate``): a
rich bar on stderr, removed when the step ends, so stdout keeps only the results. The
simulator and the sampler have their own bars (draws, MCMC iterations).

Examples
--------
>>> with StepBar("track", total=3, enabled=False) as bar:
...     bar.step("read the plan")
...     bar.step("simulate the rest of the year")
...     bar.step("early warnings")
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from targetsim.safe_text import escape_console


class StepBar:
    """A bar of ``total`` units for one command, labelled ``"{name}: {what}"``.

    Parameters
    ----------
    name : str
        The command or step (``report``, ``track``, ``top-down levers``).
    total : int
        Units of work (steps, or simulations for the levers).
    enabled : bool
        False makes every method a no-op (``--no-progress``, tests).
    """

    def __init__(self, name: str, total: int, *, enabled: bool = True) -> None:
        self.name = name
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), transient=True,
            disable=not enabled,
        )
        self._task = self._progress.add_task(escape_console(name), total=max(int(total), 1))

    @property
    def console(self) -> Console:
        """The stderr console the bar draws on (print notes through it, not around it)."""
        return self._progress.console

    def __enter__(self) -> StepBar:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def describe(self, what: str) -> None:
        """Say what is being done now, without advancing.

        The description may carry data (a scenario's name): the bar renders rich markup, so
        it is escaped (:func:`targetsim.safe_text.escape_console`).
        """
        self._progress.update(self._task, description=escape_console(f"{self.name}: {what}"))

    def step(self, what: str | None = None, advance: int = 1) -> None:
        """Count ``advance`` units as done; then say what comes next (if given)."""
        self._progress.advance(self._task, advance)
        if what is not None:
            self.describe(what)

    def complete_to(self, done: int) -> None:
        """Move to ``done`` units (a part that finished in fewer units than budgeted)."""
        self._progress.update(self._task, completed=done)
