"""``study report``: per metric a table (setting, n, mean ± std, median; against the baseline the mean difference,
in how many paired seeds the setting is higher, and the test) as Markdown and CSV, one PNG per metric, and one
self-contained HTML page with all of it, in ``OUT/report/``. For direction studies read by a factor classifier,
one more table counts, per setting over its seeds, the factor each direction changes most (``labels.csv``: each
direction's).

Every number is recomputed from the run folders' evaluation files (:mod:`latentdirs.study.results`);
``values.csv`` lists each cell's values, so any row can be checked by hand.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..io import write_text
from .plots import metric_plot
from .results import StudyResults, collect, load_study
from .stats import Comparison, Summary, compare, summarise

REPORT_FOLDER = "report"


@dataclass(frozen=True)
class Row:
    setting: str
    summary: Summary
    comparison: Comparison | None  # None for a setting compared with nothing (a baseline)


@dataclass(frozen=True)
class Report:
    markdown: str
    files: list[Path]


def metric_rows(results: StudyResults, metric: str) -> list[Row]:
    """One row per setting, in the spec's order."""
    rows = []
    for setting in results.spec.settings:
        values = results.values(metric, setting)
        baseline = results.spec.baselines.get(setting)
        comparison = compare(values, results.values(metric, baseline), baseline) if baseline else None
        rows.append(Row(setting, summarise(list(values.values())), comparison))
    return rows


@dataclass(frozen=True)
class LabelRow:
    setting: str
    units: int  # labelled directions over the setting's finished seeds
    counts: list[tuple[str, int]]  # label → how many of them, most frequent first (ties by name)

    @property
    def text(self) -> str:
        return ", ".join(f"{label} {count}" for label, count in self.counts) or "—"


def label_rows(results: StudyResults) -> list[LabelRow]:
    """Per setting, in the spec's order, the labels of its finished cells counted over seeds; empty when no cell
    has labels."""
    if not any(cell.labels for cell in results.finished):
        return []
    rows = []
    for setting in results.spec.settings:
        counts = Counter(label for cell in results.finished if cell.setting == setting for label in cell.labels)
        rows.append(LabelRow(setting, sum(counts.values()), sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))
    return rows


LABEL_TITLE = "Factor each direction changes most"
LABEL_HEADINGS = ("setting", "directions", "factor: how many directions")


def number(value: float, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def slug(metric: str) -> str:
    """A file name for ``metric``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_.") or "metric"


def write_report(out: str | Path) -> Report:
    """Write the report of the study in ``out`` into ``out/report/``."""
    out = Path(out)
    results = collect(out)
    _, record = load_study(out)
    folder = out / REPORT_FOLDER
    tables = {metric: metric_rows(results, metric) for metric in results.metrics}
    pictures = {}
    for metric in results.metrics:
        pictures[metric] = metric_plot(folder / f"{slug(metric)}.png", metric, list(results.spec.settings),
                                       [results.values(metric, s) for s in results.spec.settings],
                                       results.spec.baselines)
    command = f"latentdirs study run {record.get('spec_file', 'SPEC')} --out {out}"
    labels = label_rows(results)
    markdown = _markdown(results, tables, {m: p.name for m, p in pictures.items()}, labels, command)
    files = [folder / "report.md", folder / "summary.csv", folder / "values.csv", folder / "report.html"]
    write_text(files[0], markdown)
    write_text(files[1], _summary_csv(tables))
    write_text(files[2], _values_csv(results))
    write_text(files[3], _html(results, tables, pictures, labels, command))
    if labels:
        files.append(folder / "labels.csv")
        write_text(files[-1], _labels_csv(results))
    else:
        (folder / "labels.csv").unlink(missing_ok=True)  # from a report of cells since re-read without a classifier
    return Report(markdown, files + list(pictures.values()))


def _header(results: StudyResults, command: str) -> list[str]:
    spec = results.spec
    cpu_hours = sum(cell.cpu_seconds for cell in results.finished) / 3600
    lines = [f"Base command `{spec.command}`, {len(spec.settings)} settings × {len(spec.seeds)} seeds "
             f"({', '.join(map(str, spec.seeds))}); {len(results.finished)} of {len(results.cells)} cells finished, "
             f"{cpu_hours:.2f} CPU-hours spent on them (every attempt, interrupted ones included).",
             f"Run with `{command}`; numbers recomputed from the run folders by `latentdirs study report`."]
    if results.missing:
        lines.append(f"Not finished (left out): {', '.join(results.missing)}.")
    return lines


HEADINGS = ("setting", "n", "mean ± std", "median", "baseline", "Δ mean", "higher in", "test", "p")


def _test_cell(row: Row) -> tuple[str, str, str, str, str]:
    """(baseline, Δ mean, higher in (paired seeds above the baseline), test, p) as table text."""
    comparison = row.comparison
    if comparison is None:
        return "", "", "", "", ""
    delta = "—" if not math.isfinite(comparison.mean_difference) else f"{comparison.mean_difference:+.4g}"
    higher = "—" if comparison.higher is None else f"{comparison.higher} of {comparison.pairs}"
    test = comparison.test or "— (fewer than 2 values)"
    return comparison.baseline, delta, higher, test, number(comparison.p_value, 3)


def _notes(rows: list[Row]) -> list[str]:
    notes = []
    for row in rows:
        if row.summary.n >= 2 and row.summary.std == 0:
            notes.append(f"{row.setting}: its {row.summary.n} values are identical, so it does not vary with the "
                         f"seed (e.g. a closed-form method evaluated with a fixed evaluation seed): one result counted "
                         f"{row.summary.n} times, no spread of its own.")
        c = row.comparison
        if c is not None and c.test is not None and c.smallest_p >= 0.05:
            notes.append(f"{row.setting}: with these sample sizes {c.test} cannot give p below "
                         f"{c.smallest_p:.3g}, so no difference can reach p < 0.05.")
    return notes


def _markdown(results: StudyResults, tables: dict[str, list[Row]], pictures: dict[str, str],
              labels: list[LabelRow], command: str) -> str:
    spec = results.spec
    lines = [f"# Study {spec.name}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [*_header(results, command), ""]
    for metric, rows in tables.items():
        lines += [f"## {metric}", "", *_markdown_head(HEADINGS)]
        for row in rows:
            s = row.summary
            lines.append(f"| {row.setting} | {s.n} | {number(s.mean)} ± {number(s.std)} | {number(s.median)} | "
                         + " | ".join(_test_cell(row)) + " |")
        lines += ["", *[f"- {note}" for note in _notes(rows)], f"![{metric}]({pictures[metric]})", ""]
    if labels:
        lines += [f"## {LABEL_TITLE}", "", *_markdown_head(LABEL_HEADINGS),
                  *[f"| {row.setting} | {row.units} | {row.text} |" for row in labels], ""]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


def _markdown_head(headings: tuple[str, ...]) -> list[str]:
    """A Markdown table's heading line and rule."""
    return ["| " + " | ".join(headings) + " |", "|---" * len(headings) + "|"]


def _summary_csv(tables: dict[str, list[Row]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "setting", "n", "mean", "std", "median", "baseline", "test", "statistic", "p_value",
                     "mean_difference", "smallest_p", "higher", "pairs"])
    for metric, rows in tables.items():
        for row in rows:
            s, c = row.summary, row.comparison
            tested = c is not None and c.test is not None
            writer.writerow([metric, row.setting, s.n, _csv(s.mean), _csv(s.std), _csv(s.median),
                             c.baseline if c else "", (c.test or "") if c else "",
                             _csv(c.statistic) if tested else "", _csv(c.p_value) if tested else "",
                             _csv(c.mean_difference) if c else "", _csv(c.smallest_p) if tested else "",
                             "" if c is None or c.higher is None else c.higher, c.pairs if c and c.pairs else ""])
    return buffer.getvalue()


def _values_csv(results: StudyResults) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", "seed", "metric", "value"])
    for cell in results.finished:
        for metric in results.metrics:
            if metric in cell.values:
                writer.writerow([cell.setting, cell.seed, metric, repr(cell.values[metric])])
    return buffer.getvalue()


def _labels_csv(results: StudyResults) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", "seed", "direction", "label"])
    for cell in results.finished:
        writer.writerows([cell.setting, cell.seed, index, label] for index, label in enumerate(cell.labels))
    return buffer.getvalue()


def _csv(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _html(results: StudyResults, tables: dict[str, list[Row]], pictures: dict[str, Path], labels: list[LabelRow],
          command: str) -> str:
    spec, e = results.spec, html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Study {e(spec.name)}</title><style>"
             "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
             "text-align:right}td:first-child,th:first-child{text-align:left}code{background:#f4f4f4}"
             "</style></head><body>", f"<h1>Study {e(spec.name)}</h1>"]
    if spec.description:
        parts.append(f"<p>{e(spec.description.strip())}</p>")
    parts += [f"<p>{_inline_code(e(line))}</p>" for line in _header(results, command)]
    for metric, rows in tables.items():
        parts.append(f"<h2>{e(metric)}</h2><table>" + _html_row(HEADINGS, "th"))
        for row in rows:
            s = row.summary
            cells = [row.setting, str(s.n), f"{number(s.mean)} ± {number(s.std)}", number(s.median), *_test_cell(row)]
            parts.append(_html_row(cells))
        parts.append("</table>")
        parts += [f"<p><small>{e(note)}</small></p>" for note in _notes(rows)]
        data = base64.b64encode(pictures[metric].read_bytes()).decode()
        parts.append(f"<img alt='{e(metric)}' src='data:image/png;base64,{data}'>")
    if labels:
        parts.append(f"<h2>{LABEL_TITLE}</h2><table>" + _html_row(LABEL_HEADINGS, "th"))
        parts += [_html_row((row.setting, str(row.units), row.text)) for row in labels]
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_row(texts: Sequence[str], tag: str = "td") -> str:
    """One HTML table row of escaped ``texts`` in ``tag`` cells."""
    return "<tr>" + "".join(f"<{tag}>{html.escape(text)}</{tag}>" for text in texts) + "</tr>"


def _inline_code(text: str) -> str:
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", text)
