"""Per-setting summaries of one metric and the test of each setting against its baseline.

Summary: n, mean, sample standard deviation (n − 1; undefined for n = 1), median.

Test against the baseline (two-sided, scipy.stats):

- when both settings have a value for exactly the same seeds (≥ 2), the **Wilcoxon signed-rank** test on
  the per-seed differences (runs of one seed share the initialisation and the data order, so they are
  paired); all differences zero gives p = 1. Its smallest possible p with n pairs and no ties is
  2 / 2ⁿ (0.0625 for 5 seeds, 0.031 for 6);
- otherwise the **Mann–Whitney U** test of the two samples (each ≥ 2), whose smallest possible p is
  2 / C(n₁ + n₂, n₁) (0.0079 for 5 + 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WILCOXON = "Wilcoxon signed-rank (paired by seed)"
MANN_WHITNEY = "Mann–Whitney U"


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float  # NaN for n < 2
    median: float


@dataclass(frozen=True)
class Comparison:
    baseline: str
    test: str | None  # None: too few values for a test
    statistic: float
    p_value: float
    mean_difference: float  # mean(setting) − mean(baseline)
    smallest_p: float  # the smallest p the test can give with these sample sizes
    higher: int | None = None  # paired: the seeds in which the setting is above its baseline (None: unpaired)
    pairs: int = 0  # paired: the number of seeds compared


def summarise(values: list[float]) -> Summary:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return Summary(0, math.nan, math.nan, math.nan)
    std = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return Summary(int(array.size), float(array.mean()), std, float(np.median(array)))


def compare(values: dict[int, float], baseline_values: dict[int, float], baseline: str) -> Comparison:
    """Test ``values`` (seed → value) against ``baseline_values`` (see the module docstring)."""
    from scipy import stats

    mine, theirs = list(values.values()), list(baseline_values.values())
    difference = float(np.mean(mine) - np.mean(theirs)) if mine and theirs else math.nan
    if set(values) == set(baseline_values) and len(values) >= 2:
        seeds = sorted(values)
        diffs = np.array([values[s] - baseline_values[s] for s in seeds])
        smallest = 2.0 / 2 ** len(seeds)
        counts = {"higher": int(np.sum(diffs > 0)), "pairs": len(seeds)}
        if np.all(diffs == 0):
            return Comparison(baseline, WILCOXON, 0.0, 1.0, difference, smallest, **counts)
        result = stats.wilcoxon(diffs, alternative="two-sided")
        return Comparison(baseline, WILCOXON, float(result.statistic), float(result.pvalue), difference, smallest,
                          **counts)
    if len(mine) >= 2 and len(theirs) >= 2:
        smallest = 2.0 / math.comb(len(mine) + len(theirs), len(mine))
        if len(set(mine) | set(theirs)) == 1:  # every value equal
            return Comparison(baseline, MANN_WHITNEY, len(mine) * len(theirs) / 2, 1.0, difference, smallest)
        result = stats.mannwhitneyu(mine, theirs, alternative="two-sided")
        return Comparison(baseline, MANN_WHITNEY, float(result.statistic), float(result.pvalue), difference, smallest)
    return Comparison(baseline, None, math.nan, math.nan, difference, math.nan)
