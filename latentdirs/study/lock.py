"""One ``study run`` at a time per study folder: an exclusive ``flock`` on ``OUT/.study.lock``.

The runs a study starts inherit the locked descriptor, so runs left behind by a study process that died
keep the folder locked until they end; a second ``study run`` says so instead of running the same cells
twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from ..errors import UserError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None


class StudyLock:
    """``with StudyLock(out) as lock:`` holds the lock; ``lock.fd`` is the descriptor to pass to runs."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / ".study.lock"
        self.fd: int | None = None

    def __enter__(self) -> StudyLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise UserError(f"{self.path.parent} is being run by another `study run` (pid {holder}) or by runs "
                                "it left behind; wait for them or stop them first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
