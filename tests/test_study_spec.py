"""Study specs: every mistake is one ``error:`` line (exit 2) before anything starts; spec options become the
commands' own command lines; the statistics and the report's numbers."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_support import run_cli
from scipy import stats

from latentdirs.study.argv import option_argv
from latentdirs.study.cells import plan_cells, record_stage
from latentdirs.study.kinds import click_command
from latentdirs.study.report import write_report
from latentdirs.study.results import collect
from latentdirs.study.spec import spec_from_dict
from latentdirs.study.stats import MANN_WHITNEY, WILCOXON, compare, summarise

BASE = {"command": "train-vae", "options": {"steps": 5, "batch-size": 4, "device": "cpu"},
        "settings": {"plain": {}, "beta4": {"objective": "beta-vae:beta=4"}}, "seeds": [0, 1], "baseline": "plain",
        "evaluate": {"metrics": "mig"}}




def error_of(tmp_path, capsys, spec, suffix=".json") -> str:
    path = tmp_path / f"spec{suffix}"
    path.write_text(yaml.safe_dump(spec) if suffix == ".yaml" else json.dumps(spec))
    out = tmp_path / "study"
    code, stdout, err = run_cli(["study", "run", str(path), "--out", str(out)], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, stdout, err)
    assert not out.exists()  # nothing started, nothing written
    return lines[0]


def with_changes(**changes):
    spec = json.loads(json.dumps(BASE))
    spec.update(changes)
    return spec


@pytest.mark.parametrize("spec, expected", [
    (with_changes(options={"stepz": 5}), "setting 'plain': No such option '--stepz'"),
    (with_changes(options={"steps": "many"}),
     "setting 'plain': Invalid value for '--steps': 'many' is not a whole number"),
    (with_changes(settings={"plain": {}, "tc": {"objective": "beta-tcvae:gama=2"}}),
     "setting 'tc': beta-tcvae: unknown parameter(s) gama"),
    (with_changes(settings={"plain": {}, "x": {"reg": ["nope:gamma=1"]}}),
     "setting 'x': unknown regularizer for vae 'nope'"),
    (with_changes(baseline="plian"), "baseline 'plian' is not a setting; settings: plain, beta4"),
    (with_changes(baseline={"beta4": "missing"}), "baseline of 'beta4' 'missing' is not a setting"),
    (with_changes(seeds=[0, 0, 1]), "seeds must be distinct; given twice: 0"),
    (with_changes(seeds=[]), "seeds must be a non-empty list"),
    (with_changes(seeds=[1.5]), "seed 1.5 is not an integer"),
    (with_changes(settings={}), "settings must be a non-empty object"),
    (with_changes(settings={"a/b": {}}), "setting name 'a/b' must be letters"),
    (with_changes(settings={"plain": {"steps": {"nested": 1}}}), "option steps must be a string, a number"),
    (with_changes(settings={"plain": {"steps": [1, 2]}}), "spec.json: setting 'plain': option steps takes one value"),
    (with_changes(options={"seed": 3}), "options: option seed is set by the study"),
    (with_changes(evaluate={"metrics": "mig,bogus"}), "evaluate: unknown metric(s) bogus"),
    (with_changes(evaluate={"num-train": 1}), "evaluate: Invalid value for '--num-train': 1 is not in [2, 100000000]"),
    (with_changes(metrics=["dci.disentanglement"]), "metric 'dci.disentanglement' is not one the evaluation writes"),
    (with_changes(command="train-gan"), "command must be one of train-vae, discover"),
    (with_changes(grid=[1, 2]), "unknown key(s) grid"),
    (with_changes(resources={"cpus": 0}), "resources.cpus: 0 is not in (0, 4096]"),
    (with_changes(resources={"gpus": -1}), "resources.gpus: -1 is not in [0, 64]"),
    (with_changes(resources={"cpus": True}), "resources.cpus: True is not a number"),
    (with_changes(resources={"memory": 4}), "resources must be an object with cpus and/or gpus"),
    ({k: v for k, v in BASE.items() if k != "seeds"}, "missing key 'seeds'"),
])
def test_malformed_spec_is_one_line_and_starts_nothing(tmp_path, capsys, spec, expected):
    assert expected in error_of(tmp_path, capsys, spec)


def test_yaml_errors_and_missing_generator(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("command: train-vae\nsettings: {a: [}\n")
    code, _, err = run_cli(["study", "run", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.startswith("error: study spec") and "not valid YAML at line 2" in err
    spec = {"command": "discover", "options": {"generator": str(tmp_path / "none.json"), "method": "random"},
            "settings": {"r": {}, "s": {"method": "sefa"}}, "seeds": 2, "baseline": "r"}
    assert "generator file not found" in error_of(tmp_path, capsys, spec, ".yaml")
    spec["options"]["method"] = "nonsense"
    assert "unknown direction objective 'nonsense'" in error_of(tmp_path, capsys, spec, ".yaml")


def test_a_folder_that_is_no_study_is_refused(tmp_path, capsys):
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "notes.txt").write_text("mine")
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(BASE))
    code, _, err = run_cli(["study", "run", str(path), "--out", str(tmp_path / "study")], capsys)
    assert code == 2 and "is not empty and holds no study" in err
    assert sorted(p.name for p in (tmp_path / "study").iterdir()) == ["notes.txt"]


def test_options_become_the_commands_own_flags():
    train = click_command("train-vae")
    argv = option_argv(train, {"decoder": False, "reg": ["topdis:gamma=5", "gmg"], "lr": 1e-05, "steps": 3},
                       "here")
    assert argv == ["--no-decoder", "--reg", "topdis:gamma=5", "--reg", "gmg", "--lr", "1e-05", "--steps", "3"]
    assert option_argv(train, {"no-decoder": True}, "here") == ["--no-decoder"]
    assert option_argv(train, {"no-decoder": False}, "here") == ["--decoder"]
    evaluate = click_command("evaluate")
    assert option_argv(evaluate, {"fast": True}, "x") == ["--fast"]
    assert option_argv(evaluate, {"fast": False}, "x") == []


def test_settings_override_and_drop_base_options(tmp_path):
    spec = spec_from_dict(with_changes(settings={"plain": {"steps": 9}, "nobatch": {"batch_size": None}}),
                          "spec")
    cells = plan_cells(spec, tmp_path)
    assert [c.key for c in cells] == ["plain/seed_0", "plain/seed_1", "nobatch/seed_0", "nobatch/seed_1"]
    first, last = cells[0].argv["run"], cells[-1].argv["run"]
    assert first[:7] == ("train-vae", "--steps", "9", "--batch-size", "4", "--device", "cpu")
    assert "--batch-size" not in last and last[-4:] == ("--seed", "1", "--out", str(tmp_path / "nobatch" / "seed_1"))
    assert cells[0].argv["evaluate"] == ("evaluate", "--run", str(tmp_path / "plain" / "seed_0"), "--n-jobs", "1",
                                         "--metrics", "mig")
    assert cells[0].identity("run")[-1] == "<cell>"


def test_resources_per_run_set_threads_and_what_the_executor_reserves(tmp_path):
    from latentdirs.executors.base import Resources
    from latentdirs.study.kinds import KINDS
    from latentdirs.study.runner import _job

    spec = spec_from_dict(with_changes(resources={"cpus": 2.5, "gpus": 0.5}), "spec")
    assert spec.resources == Resources(2.5, 0.5) and spec.resources.threads == 2
    assert spec_from_dict(spec.to_dict(), "study.json") == spec
    assert "resources" not in spec_from_dict(BASE, "spec").to_dict()  # a spec without them records what it did
    assert spec_from_dict(with_changes(resources={"gpus": 1}), "spec").resources == Resources(1.0, 1.0)
    cell = plan_cells(spec, tmp_path)[0]
    job = _job(cell, ("-m", "latentdirs", "--threads", "2"), KINDS["train-vae"], spec.resources)
    assert job.resources == spec.resources and job.env["OMP_NUM_THREADS"] == "2"
    assert [stage.argv[:5] for stage in job.stages] == [("-m", "latentdirs", "--threads", "2", "train-vae"),
                                                        ("-m", "latentdirs", "--threads", "2", "evaluate")]


def test_statistics_against_scipy():
    a = {0: 0.10, 1: 0.30, 2: 0.25, 3: 0.40, 4: 0.22, 5: 0.31}
    b = {0: 0.05, 1: 0.20, 2: 0.27, 3: 0.29, 4: 0.10, 5: 0.11}
    paired = compare(a, b, "b")
    seeds = sorted(a)
    expected = stats.wilcoxon([a[s] - b[s] for s in seeds])
    assert paired.test == WILCOXON and paired.p_value == pytest.approx(expected.pvalue)
    assert paired.p_value == pytest.approx(4 / 64)  # one negative difference, the smallest: 2·P(T ≤ 1) = 2·2/64
    assert paired.mean_difference == pytest.approx(np.mean(list(a.values())) - np.mean(list(b.values())))
    assert paired.smallest_p == pytest.approx(2 / 64)
    assert (paired.higher, paired.pairs) == (5, 6)  # seed 2 is the one below its baseline
    unpaired = compare({s: v for s, v in a.items() if s < 5}, b, "b")  # seed 5 missing: not paired
    assert unpaired.test == MANN_WHITNEY and unpaired.higher is None  # no seed-by-seed count without pairs
    assert unpaired.p_value == pytest.approx(stats.mannwhitneyu([a[s] for s in range(5)], list(b.values())).pvalue)
    assert compare({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, "b").p_value == 1.0
    assert compare({0: 1.0}, {0: 2.0}, "b").test is None
    s = summarise([1.0, 2.0, 4.0])
    assert (s.n, s.mean, s.median) == (3, pytest.approx(7 / 3), 2.0)
    assert s.std == pytest.approx(np.std([1, 2, 4], ddof=1))
    assert math.isnan(summarise([3.0]).std)


def fake_study(out: Path, values: dict[tuple[str, int], float | None]) -> None:
    """A study folder whose cells' evaluation files hold ``values`` (None: a cell not finished)."""
    spec = spec_from_dict(BASE, "spec")
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"format": "latentdirs-study", "spec_file": "s.json",
                                                "spec": spec.to_dict()}))
    for cell in plan_cells(spec, out):
        value = values[(cell.setting, cell.seed)]
        if value is None:
            continue
        cell.folder.mkdir(parents=True)
        (cell.folder / "model.safetensors").write_bytes(b"weights")
        (cell.folder / "metrics.json").write_text(json.dumps({"results": {"mig": value, "dci": {"d": 2 * value}}}))
        record_stage(cell, "run", 10.0, 9.0)
        record_stage(cell, "evaluate", 2.0, 1.5)


def test_report_numbers_are_recomputed_from_the_run_folders(tmp_path):
    values = {("plain", 0): 0.1, ("plain", 1): 0.3, ("beta4", 0): 0.2, ("beta4", 1): None}
    out = tmp_path / "study"
    fake_study(out, values)
    report = write_report(out)
    rows = {(r["metric"], r["setting"]): r for r in csv.DictReader((out / "report" / "summary.csv").open())}
    assert float(rows["mig", "plain"]["mean"]) == pytest.approx(0.2)
    assert float(rows["mig", "plain"]["std"]) == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert rows["mig", "beta4"]["n"] == "1" and rows["mig", "beta4"]["test"] == ""  # one value: no test
    assert float(rows["dci.d", "plain"]["median"]) == pytest.approx(0.4)
    assert "Not finished (left out): beta4/seed_1" in report.markdown
    assert "| plain | 2 | 0.2 ± 0.1414 | 0.2 |" in report.markdown
    html = (out / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<td>0.2 ± 0.1414</td>" in html
    assert {p.name for p in report.files} >= {"mig.png", "dci.d.png", "report.html", "values.csv"}

    # change a number in a run folder: the next report shows it (nothing is cached)
    metrics = out / "plain" / "seed_1" / "metrics.json"
    metrics.write_text(json.dumps({"results": {"mig": 0.5, "dci": {"d": 1.0}}}))
    write_report(out)
    rows = {(r["metric"], r["setting"]): r for r in csv.DictReader((out / "report" / "summary.csv").open())}
    assert float(rows["mig", "plain"]["mean"]) == pytest.approx(0.3)
    finished = collect(out).finished
    assert len(finished) == 3 and finished[0].cpu_seconds == 0.0  # no attempt counted by these fakes


def test_a_setting_that_does_not_vary_with_the_seed_is_said_to(tmp_path):
    """Identical values over seeds (a closed-form method) are one result counted n times: the report says so, for
    that setting only."""
    out = tmp_path / "study"
    fake_study(out, {("plain", 0): 0.1, ("plain", 1): 0.3, ("beta4", 0): 0.2, ("beta4", 1): 0.2})
    markdown = write_report(out).markdown
    assert "- beta4: its 2 values are identical" in markdown and "plain: its 2 values" not in markdown
    # paired by seed: above plain in seed 0 (0.2 > 0.1), below in seed 1 (0.2 < 0.3)
    assert "| beta4 | 2 | 0.2 ± 0 | 0.2 | plain | +0 | 1 of 2 | Wilcoxon" in markdown
    rows = {(r["metric"], r["setting"]): r for r in csv.DictReader((out / "report" / "summary.csv").open())}
    assert (rows["mig", "beta4"]["higher"], rows["mig", "beta4"]["pairs"]) == ("1", "2")
    assert "<td>1 of 2</td>" in (out / "report" / "report.html").read_text()


def test_direction_study_counts_the_factor_each_direction_changes_most(tmp_path):
    """A discover study's report counts, per setting over its seeds, each direction's main factor as the cells'
    evaluation files name it; a study without them has no such table."""
    spec = spec_from_dict({"command": "discover", "options": {"generator": "g.json", "num-directions": 3},
                           "settings": {"random": {"method": "random"}, "sefa": {"method": "sefa"},
                                        "ganspace": {"method": "ganspace"}},
                           "seeds": [0, 1], "baseline": "random", "evaluate": {"lpips": False}}, "spec")
    out = tmp_path / "study"
    out.mkdir()
    (out / "study.json").write_text(json.dumps({"format": "latentdirs-study", "spec": spec.to_dict()}))
    factors = {("random", 0): ["posX", "scale", "posX"], ("random", 1): ["scale", "shape", "posX"],
               ("sefa", 0): ["shape", "shape", "scale"], ("sefa", 1): [],  # a cell read without a classifier
               ("ganspace", 0): [], ("ganspace", 1): []}
    for cell in plan_cells(spec, out):
        cell.folder.mkdir(parents=True)
        (cell.folder / "directions.safetensors").write_bytes(b"directions")
        record = {"summary": {"RCA (fresh reconstructor)": 0.5 + cell.seed / 10}}
        if factors[cell.setting, cell.seed]:
            record["ground_truth"] = {"main_factor": factors[cell.setting, cell.seed]}
        (cell.folder / "evaluation.json").write_text(json.dumps(record))
        record_stage(cell, "run", 1.0, 1.0)
        record_stage(cell, "evaluate", 1.0, 1.0)
    report = write_report(out)
    assert "| random | 6 | posX 3, scale 2, shape 1 |" in report.markdown
    assert "| sefa | 3 | shape 2, scale 1 |" in report.markdown and "| ganspace | 0 | — |" in report.markdown
    assert "<td>posX 3, scale 2, shape 1</td>" in (out / "report" / "report.html").read_text()
    rows = list(csv.DictReader((out / "report" / "labels.csv").open()))
    assert len(rows) == 9 and rows[1] == {"setting": "random", "seed": "0", "direction": "1", "label": "scale"}
    for evaluation in out.glob("*/seed_*/evaluation.json"):  # re-read without a classifier: no stale labels.csv
        record = json.loads(evaluation.read_text())
        record.pop("ground_truth", None)
        evaluation.write_text(json.dumps(record))
    assert "changes most" not in write_report(out).markdown and not (out / "report" / "labels.csv").exists()

    vae_study = tmp_path / "vae"
    fake_study(vae_study, {("plain", 0): 0.1, ("plain", 1): 0.3, ("beta4", 0): 0.2, ("beta4", 1): 0.4})
    report = write_report(vae_study)
    assert "changes most" not in report.markdown and not (vae_study / "report" / "labels.csv").exists()


def test_a_metric_no_cell_has_is_one_error_line(tmp_path, capsys):
    out = tmp_path / "study"
    fake_study(out, {("plain", 0): 0.1, ("plain", 1): 0.3, ("beta4", 0): 0.2, ("beta4", 1): 0.4})
    record = json.loads((out / "study.json").read_text())
    record["spec"]["metrics"] = ["mig", "local_mig.1.0"]  # evaluate writes the locality 1.0 as "1"
    (out / "study.json").write_text(json.dumps(record))
    code, _, err = run_cli(["study", "report", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "no finished cell has the metric(s) local_mig.1.0" in err and "mig, dci.d" in err
    assert not (out / "report").exists()


STUDIES = Path(__file__).resolve().parents[1] / "scripts" / "studies"


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_specs_pass_every_check(path, tmp_path, monkeypatch):
    from latentdirs.study.runner import prepare

    monkeypatch.chdir(STUDIES.parents[1])  # their paths are relative to the repository root
    spec, cells = prepare(path, tmp_path / "out")
    assert len(cells) == len(spec.settings) * len(spec.seeds) and not (tmp_path / "out").exists()
    twin = STUDIES / path.name.replace("_cpu", "_paper") if "_cpu" in path.name else STUDIES / path.name.replace(
        "_paper", "_cpu")
    other = spec_from_dict(yaml.safe_load(twin.read_text()), str(twin))
    # the two scales compare the same settings in the same way (the CPU scale may leave some out)
    small, large = (spec, other) if "_cpu" in path.name else (other, spec)
    assert set(small.settings) <= set(large.settings) and small.metrics == large.metrics
    assert small.baselines == {k: v for k, v in large.baselines.items() if k in small.settings}
    assert small.evaluate.get("metrics") == large.evaluate.get("metrics")
