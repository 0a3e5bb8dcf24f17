"""Ctrl-C in a long training loop: the step in flight finishes, a checkpoint is written, the run stops.

Inside ``with StopRequest() as stop:`` the first SIGINT only sets ``stop.requested`` (and says so on
stderr); the loop checks it between steps, saves its checkpoint and raises :class:`Interrupted`,
which the CLI prints as one ``interrupted: …`` line (exit status 130). The checkpoint is written at
a step boundary, so ``--resume`` continues exactly as if the run had never stopped. A second Ctrl-C
raises ``KeyboardInterrupt`` at once (the last periodic checkpoint stays). Signal handlers can only
be installed from the main thread, and a process that ignores SIGINT keeps ignoring it; there the
context changes nothing.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType


class Interrupted(Exception):
    """A run stopped by Ctrl-C after saving its checkpoint; the message says how to continue."""

    @classmethod
    def at(cls, position: str, saved: object) -> Interrupted:
        """``stopped at POSITION; checkpoint saved in SAVED; continue with --resume``."""
        return cls(f"stopped at {position}; checkpoint saved in {saved}; continue with --resume")


class StopRequest:
    """Defers the first SIGINT to the next step boundary (see the module docstring)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: signal.Handlers | None = None
        self._installed = False

    def __enter__(self) -> StopRequest:
        # a process that ignores SIGINT (started in the background by a shell, say) keeps ignoring it
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to abort)\n")
