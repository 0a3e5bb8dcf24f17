"""Progress bars off a terminal write whole, rate-limited lines instead of carriage-return redraws."""

from __future__ import annotations

import io

from latentdirs.progress import LineStream, progress_bar


def _run_bar(stream: io.StringIO, steps: int = 200, **kwargs: object) -> None:
    bar = progress_bar(total=steps, desc="demo", file=stream, **kwargs)
    for i in range(steps):
        bar.update(1)
        bar.set_postfix_str(f"loss {i}")  # refreshes immediately, as our loops do
    bar.close()


def test_file_stream_gets_first_and_final_line_only() -> None:
    out = io.StringIO()
    _run_bar(out)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 2, lines  # the bar's start, then (within 30 s) nothing until it closes
    assert lines[0].startswith("demo:   0%") and "200/200" in lines[1] and "loss 199" in lines[1]


def test_transient_bar_leaves_no_blank_lines() -> None:
    out = io.StringIO()
    _run_bar(out, leave=False)
    assert all(line.strip() for line in out.getvalue().splitlines())


def test_line_stream_rate_limit() -> None:
    every, never = io.StringIO(), io.StringIO()
    for stream, interval in ((every, 0.0), (never, 1e9)):
        lines = LineStream(stream, interval_s=interval)
        for i in range(5):
            lines.write(f"\rstep {i}   ")
        lines.write("\n")
    assert every.getvalue().splitlines() == [f"step {i}" for i in range(5)]
    assert never.getvalue().splitlines() == ["step 0", "step 4"]  # first at once, last on close


def test_line_interval_from_the_environment(monkeypatch):
    """``latentdirs study`` follows its runs' progress by asking them for lines more often."""
    from latentdirs.progress import LINE_INTERVAL_S, line_interval

    monkeypatch.setenv("LATENTDIRS_PROGRESS_INTERVAL", "0")
    out = io.StringIO()
    _run_bar(out, steps=5)
    assert len(out.getvalue().splitlines()) >= 6  # each step's redraw is a line (2 at the default interval)
    for text, expected in (("2.5", 2.5), ("-1", LINE_INTERVAL_S), ("soon", LINE_INTERVAL_S)):
        monkeypatch.setenv("LATENTDIRS_PROGRESS_INTERVAL", text)
        assert line_interval() == expected


def test_cursor_moves_of_stacked_bars_are_not_lines():
    out = io.StringIO()
    lines = LineStream(out, interval_s=0.0)
    lines.write("\x1b[A")
    lines.write("\rstep 3\x1b[A")
    assert out.getvalue() == "step 3\n"


def test_transient_bar_off_a_terminal_ends_on_its_final_state() -> None:
    """generate and evaluate (leave=False) ended their logs on `0%| 0/1`."""
    out = io.StringIO()
    with progress_bar(range(3), desc="generate", unit="batch", leave=False, file=out) as bar:
        for _ in bar:
            pass
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("generate:   0%") and lines[-1].startswith("generate: 100%") and "3/3" in lines[-1]
    assert all(line.strip() for line in lines)
