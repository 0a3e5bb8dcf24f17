"""Runs several ``latentdirs`` commands in one process (plain, or one process of ``torchrun``) and records which
files under a watched folder this process created, wrote, renamed or removed (``tests/test_distributed.py``).

    python tests/distributed_support.py AUDIT_DIR WATCHED_DIR ARGS… [--next ARGS…]…

Each ``ARGS…`` is one command line of ``latentdirs`` (the process group of torchrun is joined once and serves
them all); ``AUDIT_DIR/writes-RANK.json`` gets the list of ``[event, path]`` this process made under
``WATCHED_DIR`` (Python's audit hooks see every ``open`` for writing, ``os.open`` with write flags, renames,
removals and new folders).
"""

from __future__ import annotations

import json
import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {"os.rename": 2, "os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "shutil.rmtree": 1, "os.chmod": 1,
                "os.truncate": 1, "os.link": 2, "os.symlink": 2}


def _audit(root: str, events: list[list[str]]):
    busy = []

    def hook(event: str, args: tuple) -> None:
        if busy:
            return
        if event == "open":
            path, mode, flags = args
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            paths = [path] if writing else []
        elif event in _PATH_EVENTS:
            paths = list(args[:_PATH_EVENTS[event]])
        else:
            return
        busy.append(1)
        try:
            for path in paths:
                if isinstance(path, (str, bytes, os.PathLike)):
                    real = os.path.realpath(os.fsdecode(path))
                    if real == root or real.startswith(root + os.sep):
                        events.append([event, real])
        finally:
            busy.pop()

    return hook


def main() -> None:
    audit_dir, watched, *rest = sys.argv[1:]
    commands: list[list[str]] = [[]]
    for arg in rest:
        if arg == "--next":
            commands.append([])
        else:
            commands[-1].append(arg)
    events: list[list[str]] = []
    sys.addaudithook(_audit(os.path.realpath(watched), events))
    from latentdirs.cli import main as latentdirs

    try:
        for args in commands:
            latentdirs(args)
    finally:
        recorded = list(events)
        events.clear()
        with open(os.path.join(audit_dir, f"writes-{os.environ.get('RANK', '0')}.json"), "w") as handle:
            json.dump(recorded, handle)


if __name__ == "__main__":
    main()
