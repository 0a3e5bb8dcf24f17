"""A job's progress from its output: the commands' progress-bar lines and their ``error:`` line.

Off a terminal the commands write one whole progress line at a time (:mod:`latentdirs.progress`; the
server asks for one a second with ``LATENTDIRS_PROGRESS_INTERVAL``), in tqdm's format::

    discover reconstructor:  45%|#####    | 450/1000 [00:10<00:12, 45.0it/s, loss=0.3, accuracy=0.5]
    train-vae:  10%|##     | 100/1000 [00:10<01:30,  9.9it/s, loss=123 recon=100 kl=23]

which gives the stage, steps done and total, elapsed time, ETA and the logged values (the loss among them).
"""

from __future__ import annotations

import re
from typing import Any

_BAR = re.compile(r"^(?P<stage>.*?):\s*(?P<percent>\d+)%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
                  r"\[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:?]+)(?:,\s*(?P<rate>[^,\]]*))?(?:,\s*(?P<postfix>.*))?\]\s*$")
_VALUE = re.compile(r"([A-Za-z_][\w/.-]*)=([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))")


def seconds(clock: str) -> float | None:
    """``"01:30"`` → 90, ``"1:02:03"`` → 3723, ``"?"`` → None."""
    if not re.fullmatch(r"\d+(:\d+){0,2}", clock):
        return None
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


def parse_progress(line: str) -> dict[str, Any] | None:
    """The progress a line reports (``stage``, ``step``, ``total``, ``elapsed_s``, ``eta_s``, ``values`` and
    ``loss`` when logged), or None when it is not a progress line."""
    match = _BAR.match(line.strip())
    if match is None:
        return None
    values = {key: float(value) for key, value in _VALUE.findall(match.group("postfix") or "")}
    progress: dict[str, Any] = {
        "stage": match.group("stage").strip(), "step": int(match.group("n")), "total": int(match.group("total")),
        "elapsed_s": seconds(match.group("elapsed")), "eta_s": seconds(match.group("remaining")), "values": values,
    }
    if "loss" in values:
        progress["loss"] = values["loss"]
    return progress


def error_line(lines: list[str]) -> str | None:
    """The message of the last ``error: …`` line (what the CLI prints for bad input), if any."""
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: "):].strip()
    return None
