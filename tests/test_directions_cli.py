"""The direction commands end to end on a tiny generator: discover, edit, export, import, evaluate."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import run_cli
from directions_support import tiny_generator, tiny_generator_file
from PIL import Image

from latentdirs.data import get_dataset
from latentdirs.directions.dirfile import load_directions
from latentdirs.directions.editing import seed_latent, to_unit_range
from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.spaces import SpaceRenderer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def generators(tmp_path):
    """Two tiny generators (weights from seeds 0 and 1) saved in latentdirs' format."""
    return [tiny_generator_file(tmp_path, seed) for seed in (0, 1)]


def run(argv, capsys):
    code, out, err = run_cli(argv, capsys)
    return code, out + err


def _png(path):
    return np.asarray(Image.open(path))


def test_discover_edit_export_import_evaluate(tmp_path, generators, capsys):
    g0, g1 = generators
    out = tmp_path / "run"
    code, text = run(["discover", "--generator", g0, "--method", "reconstructor", "-k", "3", "--steps", "3",
                      "--batch-size", "8", "--lr", "0.01", "--stats-samples", "128", "--grid-samples", "2",
                      "--grid-steps", "3", "--out", str(out), "--quiet", "--device", "cpu"], capsys)
    assert code == 0, text
    dfile = out / "directions.safetensors"
    assert dfile.is_file() and (out / "report.html").is_file() and (out / "traversals" / "direction_02.png").is_file()

    # edit with strength 0 reproduces the original image exactly
    code, text = run(["edit", "--generator", g0, "--directions", str(dfile), "--seed", "5", "-d", "1", "-s", "0",
                      "--out", str(tmp_path / "e0.png"), "--device", "cpu"], capsys)
    assert code == 0, text
    handle = GeneratorHandle(tiny_generator(seed=0))
    dset = load_directions(dfile)
    renderer = SpaceRenderer(handle, dset.space)
    batch = seed_latent(5, renderer)
    with torch.no_grad():
        original = handle.synthesis(handle.mapping(batch.z))
    expected = np.clip(to_unit_range(original)[0] * 255 + 0.5, 0, 255).astype(np.uint8)[0]
    assert np.array_equal(_png(tmp_path / "e0.png"), expected)
    code, text = run(["edit", "--generator", g0, "--directions", str(dfile), "--seed", "5", "-d", "1",
                      "--traverse", "-2:2:5", "--out", str(tmp_path / "strip.png"), "--device", "cpu"], capsys)
    assert code == 0, text
    strip = _png(tmp_path / "strip.png")
    assert strip.shape == (2 + 18, 2 + 5 * 18)
    middle = strip[2:18, 2 + 2 * 18 : 2 + 2 * 18 + 16]
    assert np.array_equal(middle, expected)
    assert not np.array_equal(strip[2:18, 2:18], expected)

    # export → import round trips, for every format
    for fmt, target in [("ganspace", "g.npz"), ("interfacegan", "ifg"), ("sefa", "s.npz")]:
        code, text = run(["export", str(dfile), "--format", fmt, "--out", str(tmp_path / target)], capsys)
        assert code == 0 and ("note:" not in text or fmt == "interfacegan" and "--centred" in text), text
        code, text = run(["import", str(tmp_path / target), "--format", fmt, "--generator", g0, "--stats-samples",
                          "64", "--out", str(tmp_path / f"back_{fmt}.safetensors"), "--device", "cpu"], capsys)
        assert code == 0, text
        back = load_directions(tmp_path / f"back_{fmt}.safetensors", handle)
        assert torch.allclose(back.directions, dset.directions, atol=1e-6)
        assert back.space == dset.space
        if fmt == "ganspace":
            assert torch.equal(back.scales, dset.scales) and torch.equal(back.mean, dset.mean)

    # a direction file for another generator is refused, in one line
    code, text = run(["edit", "--generator", g1, "--directions", str(dfile), "--seed", "5", "-d", "0", "-s", "1",
                      "--out", str(tmp_path / "x.png"), "--device", "cpu"], capsys)
    assert code == 2 and text.startswith("error:") and "another generator" in text and len(text.splitlines()) == 1
    code, text = run(["import", str(tmp_path / "g.npz"), "--format", "ganspace", "--generator", g0, "--space", "z",
                      "--out", str(tmp_path / "bad.safetensors")], capsys)
    assert code == 2 and "the directions live in W, not in --space z" in text, text  # z_dim == w_dim, yet W ≠ Z

    # GANSpace statistics of truncated codes: σ is ψ times the untruncated one, and the export says so
    stdevs = {}
    for psi in ("1", "0.5"):
        code, text = run(["discover", "--generator", g0, "--method", "ganspace", "-k", "2", "--pca-samples", "256",
                          "--stats-samples", "128", "--trunc", psi, "--grid-samples", "1", "--grid-steps", "2",
                          "--out", str(tmp_path / f"gs{psi}"), "--quiet", "--device", "cpu"], capsys)
        assert code == 0, text
        code, text = run(["export", str(tmp_path / f"gs{psi}" / "directions.safetensors"), "--format", "ganspace",
                          "--out", str(tmp_path / f"gs{psi}.npz")], capsys)
        assert code == 0 and ("note: lat_stdev and lat_mean were measured on ψ = 0.5" in text) == (psi == "0.5")
        stdevs[psi] = np.load(tmp_path / f"gs{psi}.npz")["lat_stdev"]
    np.testing.assert_allclose(stdevs["0.5"], 0.5 * stdevs["1"], rtol=1e-4)

    # evaluation writes scores into evaluation.json and the report
    code, text = run(["evaluate-directions", str(dfile), "--generator", g0, "--rca-steps", "3", "--rca-batch", "8",
                      "--rca-eval-batches", "2", "--lpips-samples", "2", "--traverse", "0:2:3", "--quiet",
                      "--device", "cpu", "--out", str(tmp_path / "eval")], capsys)
    assert code == 0, text
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert 0 <= result["rca"]["accuracy"] <= 1 and len(result["per_direction"]["RCA"]) == 3
    assert result["rca"]["net"] == "resnet18" and result["rca"]["input_size"] == 16  # the paper's, full resolution
    assert "note: RCA: a fresh resnet18 reconstructor (11.18 M parameters, 16 px input)" in text
    assert not (tmp_path / "eval" / "rca_checkpoint.pt").exists()  # removed once evaluation.json is written
    assert len(result["lpips"]["effect"]) == 3 and all(v >= 0 for v in result["lpips"]["effect"])
    assert all(1 / 2 - 1e-9 <= v <= 1 + 1e-9 for v in result["lpips"]["smoothness"])
    report = (tmp_path / "eval" / "report.html").read_text()
    assert "RCA" in report and "LPIPS" in report
    assert "from 0σ to\n2σ" in report  # the report shows the strengths that were scored
    strip = np.asarray(Image.open(tmp_path / "eval" / "traversals" / "direction_00.png"))
    assert strip.shape[1] / strip.shape[0] == pytest.approx(3 / 4, abs=0.05)  # 3 strengths × 4 sample rows
    if not result["lpips"]["pretrained_backbone"]:
        assert "RANDOM" in text and "RANDOM" in report


def test_cli_bad_input_is_one_line(tmp_path, generators, capsys):
    g0 = generators[0]
    foreign = tmp_path / "vae_run"  # another tool's run folder is never written into
    foreign.mkdir()
    (foreign / "config.json").write_text('{"dataset": "dsprites"}')
    cases = [
        ["discover", "--generator", g0, "--method", "sefa", "-k", "2", "--out", str(foreign), "--device", "cpu"],
        ["edit", "--generator", g0, "--directions", str(tmp_path / "none.safetensors"), "--seed", "1", "-d", "0",
         "-s", "1", "--out", str(tmp_path / "a.png")],
        ["export", str(tmp_path / "none.safetensors"), "--format", "ganspace", "--out", str(tmp_path / "a.npz")],
        ["discover", "--generator", g0, "--method", "nonsense", "--out", str(tmp_path / "r"), "--device", "cpu"],
        ["discover", "--generator", g0, "--layers", "0-99", "--out", str(tmp_path / "r"), "--device", "cpu"],
        ["discover", "--generator", g0, "--shift-range", "x:y", "--out", str(tmp_path / "r"), "--device", "cpu"],
        ["discover", "--generator", g0, "--resume", "--out", str(tmp_path / "r2"), "--device", "cpu", "--steps", "1"],
    ]
    for argv in cases:
        code, text = run(argv, capsys)
        assert code == 2 and text.startswith("error:") and len(text.strip().splitlines()) == 1, (argv, text)
    assert (foreign / "config.json").read_text() == '{"dataset": "dsprites"}'


def test_training_against_a_random_lpips_backbone_says_so_in_one_line(tmp_path, generators, capsys, monkeypatch):
    """Without torchvision's AlexNet weights on the machine, features=lpips trains against a random backbone:
    discover says so (and how to get LPIPS proper) as one ``warning:`` line, and still runs."""
    monkeypatch.setattr("latentdirs.directions.features.alexnet_weights_path", lambda: None)
    code, text = run(["discover", "--generator", generators[0], "--method", "gmg:features=lpips,points=4", "-k", "2",
                      "--steps", "1", "--batch-size", "4", "--stats-samples", "16", "--grid-samples", "1",
                      "--grid-steps", "2", "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu"], capsys)
    assert code == 0, text
    warned = [line for line in text.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "RANDOM AlexNet backbone" in warned[0] and "alexnet-owt-7be5be79.pth" in warned[0]
    assert "UserWarning" not in text and "features.py" not in text


def test_evaluate_with_ground_truth_factors(tmp_path, generators, capsys):
    """The ground-truth wiring with an untrained dSprites factor classifier (values are meaningless)."""
    from latentdirs.factors import build_factor_classifier, save_factor_classifier

    g0 = generators[0]
    save_factor_classifier(tmp_path / "clf", build_factor_classifier(get_dataset("dsprites")))
    code, text = run(["discover", "--generator", g0, "--method", "sefa", "-k", "3", "--stats-samples", "64",
                      "--grid-samples", "1", "--grid-steps", "2", "--out", str(tmp_path / "s"), "--device", "cpu"],
                     capsys)
    assert code == 0, text
    code, text = run(["evaluate-directions", str(tmp_path / "s" / "directions.safetensors"), "--generator", g0,
                      "--no-rca", "--no-lpips", "--dataset", "dsprites", "--classifier", str(tmp_path / "clf"),
                      "--gt-samples", "3", "--traverse", "-2:2:3", "--device", "cpu", "--quiet"], capsys)
    assert code == 0, text
    result = json.loads((tmp_path / "s" / "evaluation.json").read_text())
    truth = result["ground_truth"]
    assert len(truth["matrix"]) == 3 and all(len(row) == 5 for row in truth["matrix"])
    assert truth["factor_names"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert 0 <= truth["disentanglement"] <= 1 and 0 <= truth["completeness"] <= 1 and 0 <= truth["gap"] <= 1
    assert "Directions × factors" in (tmp_path / "s" / "report.html").read_text()
    # --quiet still prints the table: each direction, the factor it changes most and that factor's share
    lines = text.splitlines()
    header = lines.index("  direction  main factor  its share")
    assert lines[header - 1].startswith("per direction (main factor: the ground-truth factor it changes most")
    rows = [line.split() for line in lines[header + 1:header + 4]]
    assert rows == [[str(k), truth["main_factor"][k], f"{truth['main_share'][k]:.3f}"] for k in range(3)]


def test_numeric_options_out_of_range_are_one_line(tmp_path, generators, capsys):
    g0 = generators[0]
    code, text = run(["discover", "--generator", g0, "--method", "sefa", "-k", "2", "--stats-samples", "64",
                      "--grid-samples", "1", "--grid-steps", "2", "--out", str(tmp_path / "s"), "--device", "cpu"],
                     capsys)
    assert code == 0, text
    dfile = str(tmp_path / "s" / "directions.safetensors")
    np.savez(tmp_path / "b.npz", b=np.ones((1, 8), np.float32))
    np.save(tmp_path / "b.npy", np.ones((1, 8), np.float32))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    sefa = ["discover", "--generator", g0, "--method", "sefa", "--out", str(tmp_path / "x")]
    for argv in ([*sefa, "--grid-samples", "0"], [*sefa, "--grid-range", "nan"],
                 ["evaluate-directions", dfile, "--generator", g0, "--no-rca", "--lpips-samples", "0"],
                 ["evaluate-directions", dfile, "--generator", g0, "--no-rca", "--gt-samples", "0"],
                 ["evaluate-directions", dfile, "--generator", g0, "--no-rca", "--traverse", "0:0:1"],
                 ["evaluate-directions", dfile, "--generator", g0, "--rca-net", "vgg"],
                 ["evaluate-directions", dfile, "--generator", g0, "--rca-size", "-1"],
                 ["evaluate-directions", dfile, "--generator", g0, "--no-rca", "--resume"],
                 ["evaluate-directions", dfile, "--generator", g0, "--resume", "--out", str(tmp_path / "e")],
                 ["import", str(tmp_path / "b.npz"), "--format", "interfacegan", "--generator", g0,
                  "--out", str(tmp_path / "i.safetensors")],
                 ["import", dfile, "--format", "ganspace", "--generator", g0, "--stats-samples", "0",
                  "--out", str(tmp_path / "i.safetensors")],
                 ["score-generator", "--generator", g0, "--trunc", "nan"],
                 ["score-generator", "--generator", g0, "--seed", "-1"],
                 ["score-generator", "--generator", g0, "--pairs", str(tmp_path / "b.npz" / "p.png")],
                 ["train-factor-classifier", "--lr", "nan", "--out", str(tmp_path / "c")],
                 ["train-factor-classifier", "--width", "0", "--out", str(tmp_path / "c")],
                 ["train-factor-classifier", "--noise", "-1", "--out", str(tmp_path / "c")],
                 ["train-factor-classifier", "--eval-samples", "0", "--out", str(tmp_path / "c")],
                 ["train-gan", "--quality-samples", "0", "--out", str(tmp_path / "g")],
                 ["train-vae", "--lr", "inf", "--out", str(tmp_path / "v")],
                 ["import", str(tmp_path / "b.npy"), "--format", "interfacegan", "--generator", g0,
                  "--out", str(Path(g0).with_suffix(".safetensors"))],  # onto the generator it reads
                 ["convert", g0, dfile]):  # a generator over a direction file
        code, text = run([*argv, "--device", "cpu"] if argv[0] != "convert" else argv, capsys)
        assert code == 2 and text.startswith("error:") and len(text.strip().splitlines()) == 1, (argv, text)
        assert "No such option" not in text, text
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing written


def test_edit_from_latent_files(tmp_path, generators, capsys):
    g0 = generators[0]
    code, text = run(["discover", "--generator", g0, "--method", "ganspace", "-k", "2", "--pca-samples", "256",
                      "--stats-samples", "64", "--grid-samples", "1", "--grid-steps", "2", "--out", str(tmp_path / "p"),
                      "--device", "cpu"], capsys)
    assert code == 0, text
    dfile = str(tmp_path / "p" / "directions.safetensors")
    handle = GeneratorHandle(tiny_generator(seed=0))
    ws = handle.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(3))).detach()
    with torch.no_grad():
        original = handle.synthesis(ws)
    expected = np.clip(to_unit_range(original)[0] * 255 + 0.5, 0, 255).astype(np.uint8)[0]
    for name, array in [("wplus.npy", ws.numpy()), ("w.npy", ws[:, 0].numpy())]:
        np.save(tmp_path / name, array)
        code, text = run(["edit", "--generator", g0, "--directions", dfile, "--latent", str(tmp_path / name),
                          "-d", "0", "-s", "0", "--out", str(tmp_path / "o.png"), "--device", "cpu"], capsys)
        assert code == 0, text
        assert np.array_equal(_png(tmp_path / "o.png"), expected)
    code, text = run(["edit", "--generator", g0, "--directions", dfile, "--latent", str(tmp_path / "w.npy"),
                      "-d", "0", "-s", "2", "--layers", "0-1", "--out", str(tmp_path / "o2.png"), "--device", "cpu"],
                     capsys)
    assert code == 0, text
    assert not np.array_equal(_png(tmp_path / "o2.png"), expected)
    np.save(tmp_path / "bad.npy", np.zeros((1, 5), np.float32))
    np.savez(tmp_path / "w.npz", w=ws[:, 0].numpy())
    for argv in (["--latent", str(tmp_path / "bad.npy"), "-s", "1"], ["--seed", "1", "-s", "1", "-d", "9"],
                 ["--seed", "1", "--latent", str(tmp_path / "w.npy"), "-s", "1"], ["--seed", "1"],
                 ["--seed", "1", "-s", "nan"], ["--seed", "1", "--traverse", "-inf:2:3"],
                 ["--latent", str(tmp_path / "w.npz"), "-s", "1"], ["--seed", "-1", "-s", "1"],
                 ["--seed", "4294967296", "-s", "1"], ["--seed", "1", "-s", "1", "--trunc", "nan"],
                 ["--seed", "1", "-s", "1", "--scale", "100000"], ["--seed", "1", "-s", "1", "--scale", "0"]):
        full = ["edit", "--generator", g0, "--directions", dfile, "-d", "0", "--out", str(tmp_path / "x.png"), *argv]
        code, text = run(full, capsys)
        assert code == 2 and text.startswith("error:") and len(text.strip().splitlines()) == 1, (argv, text)


def test_evaluate_directions_checks_dataset_and_classifier_before_the_long_work(tmp_path, generators, capsys,
                                                                                 monkeypatch):
    """A bad --dataset/--classifier was reported only after minutes of RCA training."""
    g0 = generators[0]
    code, text = run(["discover", "--generator", g0, "--method", "sefa", "-k", "2", "--stats-samples", "64",
                      "--grid-samples", "1", "--grid-steps", "2", "--out", str(tmp_path / "s"), "--device", "cpu",
                      "--quiet"], capsys)
    assert code == 0, text

    def too_late(*_args, **_kwargs):
        raise AssertionError("the long work started before --dataset and --classifier were checked")

    for module in ("latentdirs.commands.evaluate_directions", "latentdirs.directions.evaluation"):
        monkeypatch.setattr(f"{module}.reconstructor_accuracy", too_late, raising=False)
        monkeypatch.setattr(f"{module}.lpips_scores", too_late, raising=False)
    dfile = str(tmp_path / "s" / "directions.safetensors")
    for extra, message in ((["--dataset", "no-such-data"], "no-such-data"),
                           (["--dataset", "dsprites", "--classifier", str(tmp_path / "nowhere" / "clf")], "nowhere")):
        code, text = run(["evaluate-directions", dfile, "--generator", g0, "--rca-steps", "100000", *extra,
                          "--device", "cpu", "--quiet"], capsys)
        assert code == 2 and text.startswith("error:") and message in text and len(text.splitlines()) == 1, text
