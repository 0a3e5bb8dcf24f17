"""``scripts/demo.sh`` end to end on a tiny schedule: a tiny (random) StyleGAN2 that records the ellipses
dataset, the bundled ellipses factor classifier, 2 discovery and 2 RCA steps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from directions_support import tiny_generator
from PIL import Image

from latentdirs.data import get_dataset
from latentdirs.gan import save_generator
from latentdirs.pretrained import bundled_factor_classifier

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment running the tests: its `latentdirs`, no set-up


def _demo(generator: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LATENTDIRS_SKIP_SETUP": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
           "DEMO_GENERATOR": str(generator), "DEMO_OUT": str(out), "DEMO_STEPS": "2", "DEMO_RCA_STEPS": "2"}
    env.pop("DEMO_FRESH", None)
    env.pop("DEMO_METHOD", None)
    return subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), *args], env=env, capture_output=True,
                          text=True, timeout=900, cwd=ROOT)


@pytest.mark.slow  # five CLI processes: 50 s on the shared 2-core machine
@pytest.mark.skipif(bundled_factor_classifier("ellipses") is None, reason="no bundled ellipses factor classifier")
@pytest.mark.skipif(shutil.which("latentdirs", path=str(BIN)) is None, reason=f"no latentdirs command in {BIN}")
def test_demo_writes_grids_report_exports_and_prints_the_ground_truth_table(tmp_path):
    factors = get_dataset("ellipses").factor_names
    generator = save_generator(tiny_generator(0, img_channels=3), tmp_path / "tiny_ellipses",
                               provenance={"training": {"dataset": "ellipses"}})  # as train-gan records it
    out = tmp_path / "demo"
    done = _demo(generator, out, "--batch-size", "4", "--stats-samples", "64", "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    for k in range(6):  # one traversal grid and one InterFaceGAN boundary per direction
        with Image.open(out / "traversals" / f"direction_{k:02d}.png") as grid:
            assert grid.size[0] > 16 and grid.size[1] > 16
        assert np.load(out / "export" / "interfacegan" / f"boundary_{k:02d}.npy").shape == (1, 8)
    assert np.load(out / "export" / "ganspace.npz")["lat_comp"].shape == (6, 1, 8)
    assert np.load(out / "export" / "sefa.npz")["boundaries"].shape == (6, 8)
    report = (out / "report.html").read_text()
    assert "Directions × factors" in report and report.count("data:image/png;base64,") == 6  # one grid each
    truth = json.loads((out / "evaluation.json").read_text())["ground_truth"]
    # the factors this random generator varies (one it never varies is left out), in the dataset's order
    assert truth["factor_names"] == [name for name in factors if name in truth["factor_names"]] != []
    assert len(truth["main_factor"]) == 6

    # the printed table names the factor each direction moves (as evaluation.json records it), then the
    # demo ends by saying where the grids, exports and report are
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["direction", "main", "factor"])
    rows = [line.split() for line in lines[header + 1:header + 7]]
    assert [row[0] for row in rows] == [str(k) for k in range(6)]
    assert [row[1] for row in rows] == truth["main_factor"] and set(truth["main_factor"]) <= set(factors)
    assert "per direction (main factor:" in lines[header - 1]
    tail = "\n".join(lines[header + 7:])
    for where in (f"traversal grids:  {out}/traversals/", f"exports:          {out}/export/ganspace.npz",
                  f"{out}/export/interfacegan/", f"{out}/export/sefa.npz", f"report:           {out}/report.html"):
        assert where in tail, where

    # the folder holds this generator's run: the demo does not resume it with another generator
    other = save_generator(tiny_generator(1, img_channels=3), tmp_path / "other",
                           provenance={"training": {"dataset": "ellipses"}})
    refused = _demo(other, out)
    assert refused.returncode == 2 and refused.stderr.startswith("error:") and "DEMO_FRESH=1" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
