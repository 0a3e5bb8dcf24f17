"""README.txt of a run directory: what was trained, where things are, how to continue or re-run."""

from __future__ import annotations

from typing import Any

from ..io import write_text
from .config import TrainConfig
from .runs import RunDir


def _term(spec: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return f"{spec['name']} ({args})" if args else spec["name"]


def write_readme(run: RunDir, config: TrainConfig, step: int, summary: dict[str, Any] | None) -> None:
    regularizers = "; ".join(_term(spec) for spec in config.regularizers) or "none"
    data = f"{config.dataset}" + (f" from {config.data_path}" if config.data_path else "")
    lines = [
        "latentdirs train-vae run",
        "========================",
        f"objective:      {_term(config.objective)}",
        f"regularizers:   {regularizers}",
        f"dataset:        {data}",
        f"model:          disentanglement_lib conv encoder{' + deconv decoder' if config.decoder else ' only'}, "
        f"{config.latent_dim} latents, {config.reconstruction} reconstruction",
        f"training:       {step} of {config.steps} steps, batch {config.batch_size}, Adam lr {config.lr}, "
        f"seed {config.seed}, device {config.device}",
    ]
    if summary is not None:
        final = ", ".join(f"{k}={v:.4g}" for k, v in summary["final"].items())
        lines += [
            f"final losses:   {final}",
            f"active latents: {summary['active_latents']} of {config.latent_dim} (mean KL > 0.1 nats; "
            "per-latent KL in summary.json)",
        ]
    lines += [
        "",
        "Files",
        "  config.json          every option of this run",
        "  checkpoints/last.pt  model, optimizers, loss-term states, RNG states, step",
        "  log.csv              mean loss terms per logging interval (tensorboard/ when installed)",
        "  model.safetensors    final weights",
        "  summary.json         final losses, per-latent KL, time, machine",
    ]
    if config.decoder:
        order = summary["traversal_rows"] if summary is not None else "the latents by decreasing KL"
        lines += [
            "  reconstructions.png  inputs (top row) and reconstructions from the posterior mean (bottom row)",
            "  traversals.png       row r decodes z = mu + t e_d for t = -2 ... 2 (mu: one input's posterior mean),",
            f"                       d = {order}: latents by decreasing KL (traversal_rows in summary.json)",
        ]
    where = run.path
    lines += [
        "",
        f"Continue or extend:   latentdirs train-vae --out {where} --resume [--steps N]",
        f"Re-run from scratch:  latentdirs train-vae --config {where / 'config.json'} --out NEW_DIR",
        f"Load in Python:       from latentdirs.vae.runs import load_trained; vae = load_trained('{where}')",
        "                      codes = vae.encode_mean(images)  # images [N, C, 64, 64] float32 in [0, 1]",
    ]
    write_text(run.readme, "\n".join(lines) + "\n")
