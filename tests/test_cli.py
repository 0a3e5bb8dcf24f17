"""The command line as a newcomer meets it: help with no argument, tidy option help, one name per meaning."""

import re

import pytest
from cli_support import run_cli
from directions_support import tiny_generator_file

from latentdirs.cli import cli


def test_no_argument_prints_the_help(capsys):
    """`latentdirs` alone printed the whole help squashed into one `error:` line."""
    code, out, err = run_cli([], capsys)
    text = out + err
    assert code in (0, 2) and not text.startswith("error:")
    assert text.startswith("Usage: latentdirs") and "\nCommands:\n" in text and len(text.splitlines()) > 20


def _option_help(name, capsys) -> str:
    code, out, _ = run_cli([name, "--help"], capsys)
    assert code == 0
    return out.split("Options:", 1)[1]


def _option_rows(name) -> list[str]:
    """The option rows of `latentdirs NAME --help`, each on one line (a very wide terminal)."""
    command = cli.commands[name]
    with command.context_class(command, info_name=name, parent=cli.make_context("latentdirs", [name]),
                               terminal_width=100_000, max_content_width=100_000) as ctx:
        text = command.get_help(ctx)
    options = text.split("Options:", 1)[1].split("\nCommands:", 1)[0]  # a group (study) lists commands after
    return [line.strip() for line in options.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_option_help_has_one_bracket_and_no_none(name):
    """`[x<=None]` (a range with no bounds) and doubled brackets (`[default: 0]  [0<=x<=4294967295]`). A range
    belongs to the value's type (`--seed INTEGER [0, 4294967295]  [default: 0]`), not to the help's brackets."""
    rows = _option_rows(name)
    assert rows[-1].startswith("-h, --help")
    for row in rows:
        assert "None]" not in row and "x<=None" not in row, row
        text = _TYPE_RANGE.sub(r"\1", row)
        assert not re.search(r"\]\s+\[[^\]]*\]$", text), row  # two brackets at the end of an option's help


_TYPE_RANGE = re.compile(r"\b(INTEGER|FLOAT) (?:\S+ or )?[\[(][^\])]*[\])]")  # the metavar's range: [1, 4096], (0, 1]


def test_one_name_per_meaning(capsys):
    """--data-path (train-vae) vs --dataset-path, --class-idx (generate) vs --class-index: one shown name each."""
    shown = {name: _option_help(name, capsys) for name in sorted(cli.commands)}
    for name, text in shown.items():
        assert "--data-path" not in text and "--class-idx" not in text, name
    assert "--dataset-path" in shown["train-vae"] and "--class-index" in shown["generate"]


def test_old_names_still_work(tmp_path, capsys):
    generator = tiny_generator_file(tmp_path)
    code, out, err = run_cli(["generate", "--generator", generator, "--seeds", "0", "--class-idx", "1",
                           "--out", str(tmp_path / "g.png"), "--device", "cpu"], capsys)
    assert code == 0 and "note: --class-index ignored" in out + err and (tmp_path / "g.png").is_file()
    code, _, err = run_cli(["train-vae", "--out", str(tmp_path / "v"), "--dataset", "3dshapes",
                         "--data-path", str(tmp_path / "missing.h5"), "--steps", "1"], capsys)
    assert code == 2 and "missing.h5" in err


SHORT_GAN = ["--resolution", "16", "--kimg", "0.004", "--batch", "4", "--classifier", "none", "--device", "cpu",
             "--quiet"]  # were the value taken (it was: as 1 thread), a run of seconds, not 100 kimg


@pytest.mark.parametrize("argv", [["train-gan", "--threads", "0", "--out", "x", *SHORT_GAN],
                                  ["train-gan", "--threads", "-2", "--out", "x", *SHORT_GAN],
                                  ["train-factor-classifier", "--threads", "0", "--steps", "1", "--eval-samples", "2",
                                   "--out", "x"]])
def test_threads_must_be_at_least_one(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.startswith("error: ") and "--threads" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_a_service_argv_check_keeps_the_commands_short_help_option(tmp_path):
    """The service checks a job's argv with the command's own ``make_context``. click ≥ 8.2 caches a command's
    help option from the first context that asks, so a check made under a parent without ``-h`` left
    ``latentdirs train-vae -h`` an unknown option for the rest of the process (seen in the suite: the one-bracket
    test lost ``-h`` on the four job commands once the serve tests had run before it)."""
    from latentdirs.serve.jobspec import JobArgv, check_argv

    check_argv(cli.commands["train-vae"], JobArgv("train-vae", ["--steps=1"], []), tmp_path / "run")
    assert _option_rows("train-vae")[-1].startswith("-h, --help")
