"""The names the commands offer as choices and in their help, kept here so that building the CLI
(``latentdirs --help``, ``latentdirs CMD --help``, an argument error) imports neither torch nor scikit-learn.

Each is a copy of the tuple in the module that defines it (named beside it);
``tests/test_cli_startup.py`` checks that every copy equals its source.
"""

from __future__ import annotations

#: latentdirs.metrics.suite.ARRAY_METRICS
ARRAY_METRICS = ("mig", "sap", "dci", "modularity", "explicitness", "irs", "unsupervised")
#: latentdirs.metrics.suite.ALL_METRICS
ALL_METRICS = ARRAY_METRICS + ("factor_vae", "beta_vae", "local")
#: latentdirs.metrics.suite.DEFAULT_EVALUATE_METRICS
DEFAULT_EVALUATE_METRICS = ARRAY_METRICS + ("factor_vae",)
#: latentdirs.directions.model.PARAMETERIZATIONS without "fixed" (what ``discover`` can learn)
LEARNED_PARAMETERIZATIONS = ("orthonormal", "qr", "unit", "linear")
#: latentdirs.directions.editing.UNITS
UNITS = ("sigma", "raw")
#: latentdirs.directions.formats.FORMATS
EXCHANGE_FORMATS = ("ganspace", "interfacegan", "sefa")
#: sorted(latentdirs.vae.reconstruction.RECONSTRUCTIONS)
RECONSTRUCTIONS = ("bernoulli", "gaussian")
#: latentdirs.directions.spaces.SPACE_KINDS
SPACES = ("z", "w", "w+")
#: latentdirs.directions.reconstructor.NETS
RECONSTRUCTOR_NETS = ("resnet18", "lenet", "small")
#: latentdirs.directions.evaluation.RCA_CHECKPOINT
RCA_CHECKPOINT = "rca_checkpoint.pt"
#: latentdirs.executors.EXECUTORS
EXECUTORS = ("local", "ray")
