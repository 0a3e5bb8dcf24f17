"""How long the CLI takes to answer before any work: ``--help``, every command's ``--help``, an argument error.

Each case runs as a fresh process (``python -m latentdirs ...``, what a user waits for), alternating with the
reference measured in the same run, ``python -c "import torch"`` (the import the CLI no longer does before
parsing); the table shows median wall times and the ratio case / reference. The target is ≤ 0.5 s per case.

    python scripts/bench_cli.py            # 5 rounds, about 30 s on a 2-core machine
    python scripts/bench_cli.py --quick    # 2 rounds, --help / metrics --bogus / import torch only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # this checkout's latentdirs, here and in the timed processes
from _timing import alternating  # noqa: E402


def run(argv: list[str]) -> int:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Two rounds, three cases.")
    parser.add_argument("--rounds", type=int, default=None, help="Timed rounds (default 5, --quick 2).")
    args = parser.parse_args()
    from latentdirs.cli import cli

    cases = {"latentdirs --help": ["--help"], "latentdirs metrics --bogus": ["metrics", "--bogus"]}
    if not args.quick:
        cases["latentdirs generate --trunc nan"] = ["generate", "--generator", "g.json", "--trunc", "nan"]
        cases.update({f"latentdirs {name} --help": [name, "--help"] for name in sorted(cli.commands)})
    runs = {name: (lambda a=argv: run(["-m", "latentdirs", *a]), lambda: None) for name, argv in cases.items()}
    runs["python -c 'import torch' (reference)"] = (lambda: run(["-c", "import torch"]), lambda: None)
    results = alternating(runs, rounds=args.rounds or (2 if args.quick else 5))
    reference = results.pop("python -c 'import torch' (reference)")[0]
    width = max(map(len, results))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of fresh processes; "
          f"reference python -c 'import torch': {reference:.3f} s")
    print(f"{'case':<{width}}  seconds  × reference  ≤ 0.5 s")
    for name, (seconds, code) in results.items():
        expected = 0 if name.endswith("--help") else 2
        status = "" if code == expected else f"  (exit {code}, expected {expected})"
        print(f"{name:<{width}}  {seconds:7.3f}  {seconds / reference:11.2f}  {'yes' if seconds <= 0.5 else 'NO'}"
              f"{status}")


if __name__ == "__main__":
    main()
