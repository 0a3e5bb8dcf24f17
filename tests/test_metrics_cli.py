"""``latentdirs metrics`` and ``latentdirs evaluate`` through the real CLI entry point."""

import json

import numpy as np
import pytest

import latentdirs.metrics as M
from latentdirs.cli import main


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codes")
    rs = np.random.RandomState(0)
    factors = np.stack([rs.randint(3, size=600), rs.randint(5, size=600)], axis=1)
    codes = np.concatenate([factors[:, ::-1] * [0.5, -2.0] + 0.05 * rs.randn(600, 2), rs.randn(600, 1)], axis=1)
    paths = {}
    for name, value in {"z": codes[:400], "y": factors[:400], "zt": codes[400:], "yt": factors[400:],
                        "z_all": codes, "y_all": factors, "flat": codes[:, 0], "nan": codes * np.nan}.items():
        paths[name] = folder / f"{name}.npy"
        np.save(paths[name], value)
    (folder / "junk.npy").write_bytes(b"not an array")
    paths["junk"] = folder / "junk.npy"
    np.savez(folder / "archive.npz", codes=np.zeros((4, 2)))
    paths["archive"] = folder / "archive.npz"
    return paths, codes, factors


def run_cli(capsys, *args):
    main([str(arg) for arg in args])
    return capsys.readouterr().out


def test_metrics_json_has_the_documented_keys_and_the_library_numbers(arrays, capsys):
    paths, codes, factors = arrays
    out = run_cli(capsys, "metrics", "--codes", paths["z"], "--factors", paths["y"], "--test-codes", paths["zt"],
                  "--test-factors", paths["yt"], "--json", "--n-jobs", "2")
    got = json.loads(out)
    assert set(got) >= {"mig", "sap", "dci", "modularity", "explicitness_train", "explicitness_test", "unsupervised"}
    assert set(got["dci"]) == {"disentanglement", "completeness", "informativeness_train", "informativeness_test"}
    expected = M.compute_metrics(codes[:400], factors[:400], codes[400:], factors[400:])
    assert got == json.loads(json.dumps(expected))
    assert got["mig"] > 0.8


def test_metrics_without_test_split_and_table(arrays, capsys, tmp_path):
    paths, codes, factors = arrays
    out = run_cli(capsys, "metrics", "--codes", paths["z_all"], "--factors", paths["y_all"], "--metrics", "mig,sap",
                  "--out", tmp_path / "m.json")
    assert out.splitlines()[0].split() == ["metric", "value"]
    assert {line.split()[0] for line in out.splitlines()[1:]} == {"mig", "sap"}
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["mig"] == M.mig(codes, factors)  # label-only metrics use every row
    assert saved["sap"] == M.sap(codes[:400], factors[:400], codes[400:], factors[400:])  # first 2/3 train


@pytest.mark.parametrize(
    "args, message",
    [
        (["--codes", "missing.npy", "--factors", "{y}"], "codes file not found"),
        (["--codes", "{junk}", "--factors", "{y}"], "is not a readable .npy codes"),
        (["--codes", "{archive}", "--factors", "{y}"], "is a .npz archive of arrays; expected one .npy codes"),
        (["--codes", "{flat}", "--factors", "{y}"], "2-D array"),
        (["--codes", "{nan}", "--factors", "{y_all}"], "NaN"),
        (["--codes", "{z}", "--factors", "{y_all}"], "600 rows but the codes have 400"),
        (["--codes", "{z}", "--factors", "{y}", "--test-codes", "{zt}"], "both --test-codes and --test-factors"),
        (["--codes", "{z}", "--factors", "{y}", "--metrics", "mig,foo"], "unknown metric"),
    ],
)
def test_metrics_bad_input_is_one_error_line(arrays, capsys, args, message):
    paths = {key: str(value) for key, value in arrays[0].items()}
    with pytest.raises(SystemExit) as exit_info:
        main(["metrics", *[arg.format(**paths) for arg in args]])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_evaluate_a_trained_run_writes_metrics_json(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train-vae", "--out", str(run), "--steps", "2", "--batch-size", "4", "--device", "cpu", "--quiet",
          "--latent-dim", "4"])
    capsys.readouterr()
    out = run_cli(capsys, "evaluate", "--run", run, "--metrics", "mig,dci,unsupervised", "--num-train", "120",
                  "--num-test", "60", "--fast", "--device", "cpu", "--json")
    got = json.loads(out)
    assert set(got) == {"mig", "dci", "unsupervised"}
    record = json.loads((run / "metrics.json").read_text())
    assert record["results"] == got
    assert record["protocol"]["num_train"] == 120 and record["protocol"]["dci_estimator"] == "hist_gbt"
    assert len(record["details"]["dci_importance_matrix"]) == 4

    from latentdirs.vae.runs import load_trained

    trained = load_trained(run)
    again = M.evaluate_representation(trained.dataset, trained.encode_mean, ["mig"], num_train=120, num_test=60)
    assert again["mig"] == pytest.approx(got["mig"], abs=1e-12)

    elsewhere = tmp_path / "elsewhere" / "m.json"  # --out leaves the run (e.g. a bundled model) untouched
    (run / "metrics.json").unlink()
    run_cli(capsys, "evaluate", "--run", run, "--metrics", "mig", "--num-train", "120", "--num-test", "60",
            "--device", "cpu", "--json", "--out", elsewhere)
    assert json.loads(elsewhere.read_text())["results"]["mig"] == pytest.approx(got["mig"], abs=1e-12)
    assert not (run / "metrics.json").exists()

    with pytest.raises(SystemExit):
        main(["evaluate", "--run", str(tmp_path / "nope")])
    assert "error: run directory not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--run", str(elsewhere)])
    assert "is a file; expected a train-vae run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --out onto one of the run's own files
        main(["evaluate", "--run", str(run), "--out", str(run / "config.json")])
    assert "is one of this command's inputs" in capsys.readouterr().err
