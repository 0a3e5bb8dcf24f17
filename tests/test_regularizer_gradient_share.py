"""scripts/regularizer_gradient_share.py: the share of a regularizer's gradient scales with its weight, and a
term that is still off has none."""

import importlib.util
import json
from pathlib import Path

import pytest

from latentdirs.vae.config import TrainConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regularizer_gradient_share.py"


def load_script():
    spec = importlib.util.spec_from_file_location("regularizer_gradient_share", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_folder(tmp_path: Path, name: str, regularizer: dict) -> str:
    config = TrainConfig.from_dict({"dataset": "dsprites", "objective": {"name": "beta-vae", "beta": 4.0},
                                    "regularizers": [regularizer], "steps": 30, "batch_size": 16, "seed": 3,
                                    "device": "cpu"})
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    return str(folder)


def test_share_is_proportional_to_the_weight_and_zero_while_off(tmp_path):
    script = load_script()
    jl1 = {"name": "jacobian_l1", "ramp_steps": "0"}
    (_, low_gamma, low, low_cos), = script.shares(run_folder(tmp_path, "a", {**jl1, "gamma": 0.1}), "init", 2)
    (_, high_gamma, high, high_cos), = script.shares(run_folder(tmp_path, "b", {**jl1, "gamma": 0.3}), "init", 2)
    assert (low_gamma, high_gamma) == (0.1, 0.3) and len(low) == 2
    assert all(h / lo == pytest.approx(3.0, rel=1e-4) for h, lo in zip(high, low, strict=True))
    assert high_cos == pytest.approx(low_cos, abs=1e-4) and all(s > 0 for s in low)
    (label, _, share, cosine), = script.shares(run_folder(tmp_path, "c", {**jl1, "delay": "10"}), "init", 2)
    assert label == "jacobian_l1" and share == [] and cosine == []
