"""The CLI answers before importing the heavy stacks: ``--help``, every command's help and argument errors need
neither torch nor scikit-learn (nor numpy, nor Ray); and the names copied into ``commands/_choices.py`` for that stay
equal to the modules that define them."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
from click.testing import CliRunner
import latentdirs.cli as cli_module
cli = cli_module.cli
HEAVY = ("torch", "sklearn", "numpy", "scipy", "ray")
imported = {"import": sorted(m for m in HEAVY if m in sys.modules)}
runner = CliRunner()
codes = {"--help": runner.invoke(cli, ["--help"]).exit_code}
for name in sorted(cli.commands):
    codes[name] = runner.invoke(cli, [name, "--help"]).exit_code
    for sub in sorted(getattr(cli.commands[name], "commands", {})):
        codes[f"{name} {sub}"] = runner.invoke(cli, [name, sub, "--help"]).exit_code
try:
    cli_module.main(["metrics", "--bogus"])
except SystemExit as exc:
    codes["metrics --bogus"] = exc.code
imported["help"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({"imported": imported, "codes": codes, "commands": sorted(cli.commands)}))
"""


def test_cli_import_and_every_help_import_no_heavy_stack():
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    modules = [p for p in (ROOT / "latentdirs" / "commands").glob("*.py") if not p.stem.startswith("_")]
    assert len(report["commands"]) == len(modules), report["commands"]  # every command module was loaded
    assert report["imported"] == {"import": [], "help": []}, report["imported"]
    assert set(report["codes"].values()) == {0, 2} and report["codes"]["metrics --bogus"] == 2, report["codes"]
    assert all(code == 0 for name, code in report["codes"].items() if name != "metrics --bogus"), report["codes"]


def test_choice_copies_equal_their_sources():
    from latentdirs import executors
    from latentdirs.commands import _choices
    from latentdirs.directions import editing, evaluation, formats, model, reconstructor, spaces
    from latentdirs.metrics import suite
    from latentdirs.vae import reconstruction

    assert _choices.ARRAY_METRICS == suite.ARRAY_METRICS
    assert _choices.ALL_METRICS == suite.ALL_METRICS
    assert _choices.DEFAULT_EVALUATE_METRICS == suite.DEFAULT_EVALUATE_METRICS
    assert _choices.LEARNED_PARAMETERIZATIONS == tuple(p for p in model.PARAMETERIZATIONS if p != "fixed")
    assert _choices.UNITS == editing.UNITS
    assert _choices.EXCHANGE_FORMATS == formats.FORMATS
    assert _choices.RECONSTRUCTIONS == tuple(sorted(reconstruction.RECONSTRUCTIONS))
    assert _choices.SPACES == spaces.SPACE_KINDS
    assert _choices.RECONSTRUCTOR_NETS == reconstructor.NETS
    assert _choices.RCA_CHECKPOINT == evaluation.RCA_CHECKPOINT
    assert _choices.EXECUTORS == executors.EXECUTORS
