"""scripts/ground_truth_leakage.py: with the bundled ellipses reader, half a grid step of each factor reads as
that factor more than as any other; --split-by prints one more table per value of the factor, and a factor the
dataset does not have is a usage error."""

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "ground_truth_leakage.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def tables(text: str) -> list[tuple[list[str], dict[str, np.ndarray]]]:
    """Each printed table: its factor names and change → effects."""
    found = []
    for block in text.split("change")[1:]:
        lines = [line for line in block.splitlines() if line.strip()]
        names = lines[0].split()
        rows = {}
        for line in lines[1:]:
            parts = line.rsplit(None, len(names))
            if len(parts) != len(names) + 1:
                break
            try:
                rows[parts[0]] = np.array([float(p) for p in parts[1:]])
            except ValueError:
                break
        found.append((names, rows))
    return found


def test_half_steps_read_as_their_own_factor_and_split_tables():
    done = run("--dataset", "ellipses", "--samples", "96", "--split-by", "background")
    assert done.returncode == 0, done.stderr
    printed = tables(done.stdout)
    names, rows = printed[0]
    for j, name in enumerate(names):
        effects = rows[f"{name} ½ step"]
        assert effects[j] == effects.max() and effects[j] > 0, (name, effects)
    assert len(printed) == 1 + done.stdout.count("background = ")
    assert done.stdout.count("background = ") >= 2


def test_an_unknown_split_factor_is_a_usage_error():
    done = run("--dataset", "dsprites", "--samples", "8", "--split-by", "colour")
    assert done.returncode == 2 and "--split-by colour: not a factor of dsprites" in done.stderr
