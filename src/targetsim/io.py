"""Output files and folders: atomic writes, CSV outputs, the output-folder lock, interruption.

Rules every writer of the package follows (one home for each):

* **Atomic files.** Every file is written to a hidden temporary sibling
  (``.<name>.<random>.tmp``), then renamed into place (:func:`atomic_path`): a run that fails
  or is interrupted half-way never leaves a half-written ``targets.csv`` behind. A run killed
  outright (``kill -9``, power cut) can leave such a temporary file; the next run that takes
  the folder's lock removes it (:func:`output_folder`).
* **CSV outputs** go through :func:`write_csv_atomic`, which neutralises text cells that a
  spreadsheet would run as a formula (:func:`targetsim.safe_text.neutralise_frame`, OWASP);
  targetsim reads its own CSV outputs back with :func:`read_csv_output`, which undoes exactly
  that neutralisation, so a segment named ``-North`` keeps its name from plan to track.
* **One run per output folder.** :func:`output_folder` checks an ``--out`` folder (not a
  file, not under a file, writable), creates it and holds ``.targetsim.lock`` (holding the
  pid of the run) while the command runs: a second run into the same folder stops with a
  :class:`~targetsim.errors.ConfigError` (exit 2). The lock is an OS lock (``flock`` /
  ``msvcrt.locking``) on that file, released by the system when its process dies, so the lock
  file of a killed run is simply taken over.
* **Interruption.** The CLI routes Ctrl-C (SIGINT) to :func:`handle_sigint`: the run is
  marked interrupted and :class:`KeyboardInterrupt` raised. Libraries that swallow the
  interrupt (nutpie returns the draws sampled so far) cannot turn it into outputs:
  :func:`atomic_path` refuses to put any file in place once the run was interrupted.
* **All or nothing.** :func:`staged_outputs` lets a multi-step command (``plan``) write into a
  hidden staging folder and move every file into place only at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from targetsim.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

#: Name of the lock file :func:`output_folder` holds in an output folder.
LOCK_NAME = ".targetsim.lock"
#: Prefix of the staging folders of :func:`staged_outputs`.
STAGE_PREFIX = ".targetsim-stage-"
# ``.<name>.<8 random characters of mkstemp>.tmp``: the temporary files of atomic_path.
_TMP_RE = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")

# ---------------------------------------------------------------- interruption

_interrupted = False
_defer_depth = 0


def handle_sigint(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    """SIGINT handler installed by the CLI: mark the run interrupted, raise KeyboardInterrupt.

    Inside :func:`deferred_interrupt` the exception is held back until the block ends, so
    that a set of files being moved into place is moved completely.
    """
    global _interrupted
    _interrupted = True
    if _defer_depth == 0:
        raise KeyboardInterrupt


def was_interrupted() -> bool:
    """True once Ctrl-C was pressed during this run (see :func:`handle_sigint`)."""
    return _interrupted


def reset_interrupted() -> None:
    """Forget an interruption (the CLI calls it when a command starts)."""
    global _interrupted
    _interrupted = False


def check_interrupted() -> None:
    """Raise :class:`KeyboardInterrupt` if the run was interrupted, even if someone caught it."""
    if _interrupted:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold a Ctrl-C back until the block is done, then raise it."""
    global _defer_depth
    _defer_depth += 1
    try:
        yield
    finally:
        _defer_depth -= 1
    if _defer_depth == 0:
        check_interrupted()


# ---------------------------------------------------------------- atomic files


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    Nothing is renamed into place after an interruption (:func:`was_interrupted`).

    Examples
    --------
    >>> with atomic_path(out / "targets.csv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp, index=False)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; outputs are shared reports, so honour the umask like open() does
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        if _defer_depth == 0:  # inside deferred_interrupt the whole set is written first
            check_interrupted()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv_atomic(
    df: pd.DataFrame, path: str | os.PathLike[str], *, float_format: str | None = None
) -> Path:
    """Write a CSV output atomically, text cells neutralised against formula injection.

    Parameters
    ----------
    df : pandas.DataFrame
        Written without its index, ``\\n`` line ends (same bytes on every platform).
    path : path
    float_format : str, optional
        ``to_csv``'s float format (e.g. ``"%.10g"``); default Python's shortest repr.

    Returns
    -------
    Path
    """
    from targetsim.safe_text import neutralise_frame

    with atomic_path(path) as tmp:
        neutralise_frame(df).to_csv(tmp, index=False, float_format=float_format,
                                    lineterminator="\n")
    return Path(path)


def read_csv_output(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV written by :func:`write_csv_atomic`, names exactly as they were.

    ``kwargs`` go to :func:`pandas.read_csv`; text columns then lose the apostrophe that
    :func:`write_csv_atomic` put before formula-like cells
    (:func:`targetsim.safe_text.restore_frame`).
    """
    import pandas as pd

    from targetsim.safe_text import restore_frame

    return restore_frame(pd.read_csv(path, **kwargs))


# ---------------------------------------------------------------- output folders


def prepare_output_dir(
    path: str | os.PathLike[str], option: str = "--out", *, create: bool = True
) -> Path:
    """Create the output folder ``path`` (and parents) or explain why it cannot be.

    With ``create=False`` only check that it could be (nothing is created).

    Raises
    ------
    ConfigError
        ``path`` is a file, lies under a file, or cannot be created or written to.
    """
    if str(path) == "":
        raise ConfigError(f"{option}: give a folder name")
    try:
        return _prepare(Path(path), option, create)
    except OSError as exc:  # e.g. a parent folder that cannot even be looked into
        raise ConfigError(f"{option} {path}: cannot use this folder ({_reason(exc)})") from None


def _prepare(p: Path, option: str, create: bool) -> Path:
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{option} {p}: is a file, not a folder; give a folder for the outputs")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(
                    f"{option} {p}: {parent} is a file, so no folder can be made under it"
                )
            if not create and not p.exists() and not os.access(parent, os.W_OK | os.X_OK):
                raise ConfigError(f"{option} {p}: cannot create a folder in {parent} "
                                  "(permission denied)")
            break
    if not create:
        if p.exists() and not os.access(p, os.W_OK | os.X_OK):
            raise ConfigError(f"{option} {p}: cannot write in this folder (permission denied)")
        return p
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{option} {p}: cannot create the folder ({_reason(exc)}); choose another place"
        ) from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {p}: cannot write in this folder (permission denied)")
    return p


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# Locks this process holds: resolved folder -> [fd, depth] (a plan holds its folder while
# the steps it calls take it again).
_held: dict[str, list[int]] = {}


def _holder(lock: Path) -> str:
    try:
        lines = lock.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "another targetsim run"
    pid = lines[0].strip() if lines else "?"
    cmd = lines[2].strip() if len(lines) > 2 else ""
    since = lines[3].strip() if len(lines) > 3 else ""
    parts = [f"pid {pid}"] + ([f"`{cmd}`"] if cmd else []) + ([f"since {since}"] if since else [])
    return "another targetsim run (" + ", ".join(parts) + ")"


def _acquire(folder: Path, option: str) -> int:
    lock = folder / LOCK_NAME
    for _ in range(20):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(
                f"{option} {folder}: cannot write in this folder ({_reason(exc)})"
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            raise ConfigError(
                f"{option} {folder} is in use by {_holder(lock)}: wait for it to finish or "
                f"choose another {option}"
            )
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except OSError:
            same = False
        if not same:  # the holder removed the file between our open and lock: try again
            _unlock(fd)
            os.close(fd)
            continue
        # Ours now (a lock file left by a dead run is taken over: the OS freed its lock).
        info = (
            f"{os.getpid()}\n{socket.gethostname()}\n"
            f"{' '.join(['targetsim', *sys.argv[1:]])[:200]}\n{time.strftime('%Y-%m-%d %H:%M')}\n"
        )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, info.encode("utf-8", errors="replace"))
        return fd
    raise ConfigError(f"{option} {folder}: could not take the folder's lock; try again")


def _release(folder: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(folder / LOCK_NAME)  # while still locked: no one can lock a removed file
    with contextlib.suppress(OSError):
        _unlock(fd)
    os.close(fd)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove what killed runs left in ``folder``: atomic-write temporaries, staging folders.

    Only safe while holding the folder's lock (:func:`output_folder` calls it).
    """
    removed = []
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.name.startswith(STAGE_PREFIX) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
            elif _TMP_RE.match(entry.name) and entry.is_file():
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed.append(entry)
    return removed


@contextlib.contextmanager
def output_folder(path: str | os.PathLike[str], option: str = "--out") -> Iterator[Path]:
    """Hold output folder ``path`` for the duration of a command.

    Checks and creates the folder (:func:`prepare_output_dir`), takes its lock (a second run
    into the same folder gets a :class:`ConfigError` naming the holder), removes the
    temporaries of killed runs, and releases the lock at the end (a folder this call created
    is removed again if the command fails and left it empty). Re-entrant within one
    process.

    Parameters
    ----------
    path : path
        The folder.
    option : str
        How the user named it (``--out``, ``DIR``), for messages.
    """
    created = not os.path.exists(path)  # (False, not an error, when it cannot be looked at)
    folder = prepare_output_dir(path, option)
    key = os.path.realpath(folder)
    if key in _held:
        _held[key][1] += 1
        try:
            yield folder
        finally:
            _held[key][1] -= 1
        return
    fd = _acquire(folder, option)
    _held[key] = [fd, 1]
    ok = False
    try:
        remove_stale_temporaries(folder)
        yield folder
        ok = True
    finally:
        del _held[key]
        _release(folder, fd)
        if created and not ok:  # a failed first run leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def staged_outputs(
    folder: str | os.PathLike[str], commit_on: tuple[type[BaseException], ...] = ()
) -> Iterator[Path]:
    """Write into a hidden staging folder inside ``folder``; move every file in at the end.

    On success (or on one of the ``commit_on`` exceptions, e.g. the convergence error after
    which outputs are still written) every file of the staging folder replaces its namesake
    in ``folder``, a Ctrl-C meanwhile being held back until the move is done; on any other
    exception (Ctrl-C included) the staging folder is removed and ``folder`` keeps what it
    had.
    """
    out = Path(folder)
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=out))
    try:
        try:
            yield stage
        except commit_on:
            _commit(stage, out)
            raise
        check_interrupted()
        _commit(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out: Path) -> None:
    with deferred_interrupt():
        for f in sorted(stage.iterdir()):
            if f.is_file() and not _TMP_RE.match(f.name):
                os.replace(f, out / f.name)
