"""Disentanglement metrics: arrays in, numbers out.

Array-level functions take samples-first codes ``[N, D]`` (float) and integer factors ``[N, K]`` and
give the numbers of google-research/disentanglement_lib for the same inputs (see each module's
docstring for the definition, defaults, paper and any deliberate difference):

- :func:`mig` — Mutual Information Gap (Chen et al. 2018)
- :func:`sap` — Separated Attribute Predictability (Kumar et al. 2018)
- :func:`dci` — Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018)
- :func:`modularity`, :func:`explicitness` — Ridgeway & Mozer 2018
- :func:`irs` — Interventional Robustness Score (Suter et al. 2019)
- :func:`unsupervised` — Gaussian total / Wasserstein correlation, mean pairwise MI
- :func:`compute_metrics` — all of them at once, sharing discretisation, MI and the thread pool

Sampling-based metrics on a :class:`~latentdirs.data.base.GroundTruthData` and a representation
function (images ``[n, C, H, W]`` → codes ``[n, D]``): :func:`factor_vae_score`,
:func:`beta_vae_score`, :func:`local_scores` (local MIG / modularity of JL1-VAE),
:func:`sample_labelled_codes` and :func:`evaluate_representation`.
"""

from .beta_vae import beta_vae_score
from .dci import DCIResult, dci
from .discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from .factor_vae import factor_vae_score
from .irs import IRSResult, irs
from .local import local_scores
from .mig import mig
from .modularity import Explicitness, explicitness, modularity
from .sampling import LabelledCodes, sample_labelled_codes
from .sap import sap, sap_score_matrix
from .suite import (
    ALL_METRICS,
    ARRAY_METRICS,
    DEFAULT_EVALUATE_METRICS,
    compute_metrics,
    evaluate_representation,
    parse_metrics,
)
from .unsupervised import UnsupervisedScores, unsupervised

__all__ = [
    "ALL_METRICS",
    "ARRAY_METRICS",
    "DEFAULT_EVALUATE_METRICS",
    "DCIResult",
    "Explicitness",
    "IRSResult",
    "LabelledCodes",
    "UnsupervisedScores",
    "beta_vae_score",
    "compute_metrics",
    "dci",
    "discrete_entropy",
    "discrete_mutual_info",
    "evaluate_representation",
    "explicitness",
    "factor_vae_score",
    "histogram_discretize",
    "irs",
    "local_scores",
    "mig",
    "modularity",
    "parse_metrics",
    "sample_labelled_codes",
    "sap",
    "sap_score_matrix",
    "unsupervised",
]
