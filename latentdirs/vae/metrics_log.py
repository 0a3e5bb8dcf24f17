"""Training logs: ``log.csv`` (always) and TensorBoard (when ``torch.utils.tensorboard`` imports)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..io import write_text


class MetricsLog:
    """Rows ``step, key…`` appended to a CSV file; on resume, rows past the checkpoint are dropped."""

    def __init__(self, csv_path: Path, tensorboard_dir: Path | None, keep_until_step: int) -> None:
        self.csv_path = csv_path
        self.columns: list[str] = ["step"]
        self.rows: list[dict[str, str]] = []
        if keep_until_step > 0 and csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or ["step"])
                self.rows = [row for row in reader if _step(row) <= keep_until_step]
        self._rewrite()
        self.writer = _tensorboard_writer(tensorboard_dir, keep_until_step) if tensorboard_dir is not None else None

    def write(self, step: int, values: dict[str, float]) -> None:
        row = {"step": str(step), **{key: f"{value:.6g}" for key, value in values.items()}}
        self.rows.append(row)
        new_columns = [key for key in row if key not in self.columns]
        if new_columns:
            self.columns += new_columns
            self._rewrite()
        else:
            with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
                csv.DictWriter(handle, self.columns).writerow(row)
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.csv_path, buffer.getvalue())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _step(row: dict[str, str | None]) -> int:
    """The row's step, or a huge number for a damaged row (so it is dropped)."""
    text = row.get("step") or ""
    return int(text) if text.isdigit() else 1 << 62


def _tensorboard_writer(directory: Path, purge_step: int):  # -> SummaryWriter | None
    """A SummaryWriter, or None when TensorBoard is not installed (then only the CSV is written)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(directory), purge_step=purge_step if purge_step > 0 else None)
