"""One process at a time per run: an exclusive ``flock`` held while a command writes a run folder or output.

Two ``train-vae --out X --resume`` started together both trained and interleaved their rows in
``X/log.csv``. A command that writes a run folder holds an advisory lock on the folder itself
(``flock(2)`` on a descriptor of the directory: no lock file to clean up or to trip the "folder is not
empty" checks) from before it reads what the folder holds until it has written its last file; a second
command on the same folder stops at once with one ``error:`` line. Outputs that are files beside each
other (``train-factor-classifier --out STEM``) lock ``STEM.lock``, removed again on release.

The kernel drops the lock when the process ends, however it ends (a SIGKILL too), so a stale lock
cannot block a later run. Folders created only to be locked are removed again when the command wrote
nothing into them (a command refused for a bad option leaves no empty folder behind). On systems
without ``fcntl`` (Windows) runs are not locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def _busy(what: str, path: Path) -> UserError:
    return UserError(f"{what} {path} is in use by another latentdirs process (a run is writing there); wait for it "
                     "to finish, or choose another --out")


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, what: str = "run folder") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created when missing); a one-line UserError when another process
    holds it. Nested use in one process on the same folder is refused too (each call is its own lock)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file; expected a folder for the run")
    created = _missing_folders(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {folder}: a file stands where one of its folders should be") from None
    except OSError as exc:
        raise UserError(f"cannot write {folder}: {exc.strerror or exc}") from None
    if fcntl is None:  # pragma: no cover
        yield folder
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(what, folder) from None
        try:
            yield folder
        finally:
            _remove_empty(created)
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def output_lock(stem: str | os.PathLike, what: str = "output") -> Iterator[Path]:
    """Hold an exclusive lock on ``STEM.lock`` (for outputs that are files, not a folder); the file is removed
    on release. A lock file replaced while we waited (removed by its holder) is locked again, never shared."""
    lock = Path(f"{stem}.lock")
    if fcntl is None:  # pragma: no cover
        yield lock
        return
    created = _missing_folders(lock.parent)
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot write {lock}: {exc.strerror or exc}") from None
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write {lock}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(what, Path(stem)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed it between our open and our lock: take the new one
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty: made only to hold a lock, they held nothing."""
    for path in folders:
        try:
            path.rmdir()
        except OSError:
            break
