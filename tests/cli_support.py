"""Running ``latentdirs`` in the test process: its exit status and what it printed."""

from latentdirs.cli import main


def exit_code(argv: list[str]) -> int:
    """Run ``latentdirs ARGV`` in this process; its exit status."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``latentdirs ARGV``; ``(exit status, stdout, stderr)`` captured by pytest's ``capsys``."""
    code = exit_code(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err
