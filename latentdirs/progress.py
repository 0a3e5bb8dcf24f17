"""Progress bars that suit where they are shown.

On a terminal (or in a notebook) this is plain ``tqdm``. When the bar's stream is a file or a pipe (a job
under ``nohup``, a CI log, ``2> train.log``), tqdm's carriage-return redraws would pile up into one
endless line, so the bar writes a whole line instead, at most once every ``LINE_INTERVAL_S`` seconds, plus
its final state when it closes — also for a bar made with ``leave=False`` (on a terminal it vanishes; in a
log its last line would otherwise be the first one, ``0%| 0/1``). ``LATENTDIRS_PROGRESS_INTERVAL`` in the
environment, in seconds, changes the interval: ``latentdirs study`` sets it for the runs it starts, to follow
their progress.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm as terminal_tqdm
from tqdm.auto import tqdm as auto_tqdm
from tqdm.notebook import tqdm as notebook_tqdm

LINE_INTERVAL_S = 30.0
INTERVAL_VARIABLE = "LATENTDIRS_PROGRESS_INTERVAL"
_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # tqdm moving between stacked bars: no meaning in lines


def line_interval() -> float:
    """Seconds between a line-mode bar's lines: ``$LATENTDIRS_PROGRESS_INTERVAL`` when it is a number ≥ 0,
    else :data:`LINE_INTERVAL_S`."""
    try:
        value = float(os.environ.get(INTERVAL_VARIABLE, ""))
    except ValueError:
        return LINE_INTERVAL_S
    return value if value >= 0 else LINE_INTERVAL_S


class LineStream:
    """A file-like target for tqdm that turns its redraws into rate-limited lines on ``stream``."""

    def __init__(self, stream: TextIO, interval_s: float | None = None) -> None:
        self.stream = stream
        self.interval_s = line_interval() if interval_s is None else interval_s
        self._pending = ""
        self._last_emit = -float("inf")

    def write(self, text: str) -> int:
        status = _CURSOR_MOVES.sub("", text.replace("\r", "")).strip()
        if status:
            self._pending = status
            if time.monotonic() - self._last_emit >= self.interval_s:
                self._emit()
        elif "\n" in text:  # tqdm closing a bar that stays: its final state must not be lost
            self._emit()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def _emit(self) -> None:
        if self._pending:
            self.stream.write(self._pending + "\n")
            self.stream.flush()
            self._pending = ""
            self._last_emit = time.monotonic()


def progress_bar(iterable: Any = None, *, file: TextIO | None = None, **kwargs: Any) -> terminal_tqdm:
    """``tqdm(iterable, **kwargs)`` writing to ``file`` (default stderr): resizing with the terminal on one,
    in line mode off one."""
    stream = file if file is not None else sys.stderr
    if file is None and issubclass(auto_tqdm, notebook_tqdm):  # in a notebook: its widget bar
        return auto_tqdm(iterable, **kwargs)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return terminal_tqdm(iterable, file=stream, **{"dynamic_ncols": True, **kwargs})
    kwargs.update(dynamic_ncols=False, ncols=120, ascii=True, leave=True)  # a log keeps the final state
    return terminal_tqdm(iterable, file=LineStream(stream, line_interval()), **kwargs)
