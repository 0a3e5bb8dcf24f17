"""Evaluation of a direction set: reconstructor accuracy and perceptual (LPIPS) traversal scores.

- **RCA** (reconstructor classification accuracy; Voynov & Babenko, ICML 2020): a *fresh*
  reconstructor is trained for ``steps`` on the *frozen* directions with the Voynov–Babenko shifts
  (Adam, lr 1e-4, loss weights 1 and 0.25 as the paper), then its accuracy at telling which direction
  moved an image is measured on new batches in eval mode (batch norm with running statistics, as the
  reference code's ``validate_classifier``) — overall and per direction (chance level is 1/K). High RCA
  means the directions have distinguishable effects. The network is the paper's ResNet-18 at full
  resolution by default; ``net="small"`` is our fast stand-in (see :mod:`.reconstructor`).
- **LPIPS along traversals**: for each direction, ``samples`` codes are moved through strengths
  ``s_0 < … < s_T`` (σ units). With ``d_t = LPIPS(x_t, x_{t+1})`` per sample:
  ``path = Σ_t d_t`` (perceptual path length of the traversal), ``effect = LPIPS(x_0, x_T)`` (size of
  the change end to end) and ``smoothness = (Σ_t d_t)² / (T · Σ_t d_t²)`` ∈ [1/T, 1] — 1 when every
  step changes the image by the same perceptual amount, small when the change happens in one jump.
  All three are averaged over samples. LPIPS uses AlexNet ImageNet weights only when they are on this
  machine (see :mod:`.features`); otherwise a random backbone, and the result says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..progress import progress_bar
from ..seeding import torch_generator
from .dirfile import DirectionSet
from .discovery import train_with_checkpoints
from .editing import direction_vector, traverse
from .features import LpipsEmbedding
from .generator import GeneratorHandle
from .groundtruth import GroundTruthResult
from .reconstructor import parameter_count
from .spaces import SpaceRenderer, format_layers
from .trainer import DirectionTrainer, DiscoveryConfig

RCA_CHECKPOINT = "rca_checkpoint.pt"


@dataclass
class RcaResult:
    accuracy: float
    per_direction: list[float]
    chance: float
    steps: int
    net: str = "resnet18"
    parameters: int = 0
    input_size: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def describe(self) -> str:
        return (f"RCA: a fresh {self.net} reconstructor ({self.parameters / 1e6:.2f} M parameters, "
                f"{self.input_size} px input) trained {self.steps} steps on the frozen directions")


def reconstructor_accuracy(handle: GeneratorHandle, dset: DirectionSet, *, steps: int = 1000, batch_size: int = 32,
                           eval_batches: int = 10, lr: float = 1e-4, net: str = "resnet18", size: int = 0,
                           shift_min: float = 0.5, shift_max: float = 6.0, seed: int = 0, progress: bool = False,
                           checkpoint: str | os.PathLike | None = None, resume: bool = False,
                           checkpoint_every: int = 100) -> RcaResult:
    """Train a fresh reconstructor ``net`` (see :mod:`.reconstructor`) on the frozen ``dset`` and measure its
    accuracy (see module docstring). With ``checkpoint`` the training is saved there every ``checkpoint_every``
    steps, at the end and on Ctrl-C; ``resume`` continues from it (same directions and settings)."""
    config = DiscoveryConfig(
        method=f"reconstructor:lr={lr},net={net},size={size}", num_directions=dset.num_directions,
        space=dset.space.kind, layers=format_layers(dset.space.layers), parameterization="fixed", steps=steps,
        batch_size=batch_size, shift_min=shift_min, shift_max=shift_max, seed=seed,
        truncation_psi=handle.truncation_psi, class_index=handle.class_index, checkpoint_every=checkpoint_every)
    trainer = DirectionTrainer(handle, config, initial_directions=dset.directions)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if resume:
        if checkpoint is None or not checkpoint.is_file():
            raise UserError(f"nothing to resume: {checkpoint or 'no RCA checkpoint given'} does not exist")
        trainer.load_checkpoint(checkpoint)
        if not torch.equal(trainer.directions().cpu(), dset.directions.float().cpu()):
            raise UserError(f"RCA checkpoint {checkpoint} was made for other directions; run without --resume")
    train_with_checkpoints(trainer, checkpoint, progress, f"RCA: training a fresh {net} reconstructor")
    term = trainer.terms[0]
    correct = torch.zeros(dset.num_directions)
    seen = torch.zeros(dset.num_directions)
    term.net.eval()  # batch norm with its running statistics, as the reference code's validate_classifier
    with torch.no_grad():
        directions = trainer.model()
        for _ in range(eval_batches):
            ctx = trainer.context(directions)
            logits, _ = term.net(ctx.images, ctx.shifted_images)
            hits = (logits.argmax(dim=1) == ctx.direction_index).float().cpu()
            index = ctx.direction_index.cpu()
            correct.index_add_(0, index, hits)
            seen.index_add_(0, index, torch.ones_like(hits))
    term.net.train()
    per_direction = (correct / seen.clamp_min(1)).tolist()
    per_direction = [value if count > 0 else float("nan") for value, count in zip(per_direction, seen.tolist(),
                                                                                   strict=True)]
    input_size = term.net.size or handle.image_shape[1]
    return RcaResult(float(correct.sum() / seen.sum()), per_direction, 1.0 / dset.num_directions, steps, net,
                     parameter_count(term.net), input_size, trainer.history)


@dataclass
class LpipsResult:
    path: list[float]
    effect: list[float]
    smoothness: list[float]
    backbone: str
    pretrained_backbone: bool


def traversal_distances(embedding: torch.nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """LPIPS between consecutive frames ``[N, T, C, H, W]`` → ``[N, T−1]``, plus first-to-last ``[N]`` appended."""
    n, t = frames.shape[:2]
    features = embedding(frames.reshape(n * t, *frames.shape[2:])).reshape(n, t, -1)
    steps = (features[:, 1:] - features[:, :-1]).square().sum(dim=-1)
    ends = (features[:, -1] - features[:, 0]).square().sum(dim=-1)
    return torch.cat([steps, ends[:, None]], dim=1)


def lpips_scores(handle: GeneratorHandle, dset: DirectionSet, *, samples: int = 8, strengths: list[float] | None = None,
                 seed: int = 0, embedding: LpipsEmbedding | None = None, progress: bool = False) -> LpipsResult:
    """Path length, effect size and smoothness of every direction under LPIPS (see module docstring)."""
    strengths = strengths or [float(s) for s in np.linspace(-3, 3, 7)]
    if len(strengths) < 2:
        raise ValueError("need at least two strengths")
    embedding = (embedding or LpipsEmbedding()).to(handle.device)
    renderer = SpaceRenderer(handle, dset.space)
    batch = renderer.sample(samples, torch_generator(seed, handle.device))
    path, effect, smoothness = [], [], []
    steps = len(strengths) - 1
    with torch.no_grad():
        for k in progress_bar(range(dset.num_directions), desc="LPIPS along directions", disable=not progress):
            frames = traverse(renderer, batch, direction_vector(dset, k), strengths)
            distances = traversal_distances(embedding, frames).double().cpu()
            step_distances, ends = distances[:, :-1], distances[:, -1]
            total = step_distances.sum(dim=1)
            ratio = total.square() / (steps * step_distances.square().sum(dim=1)).clamp_min(1e-30)
            path.append(float(total.mean()))
            effect.append(float(ends.mean()))
            smoothness.append(float(ratio.mean()))
    return LpipsResult(path, effect, smoothness, embedding.description, embedding.pretrained_backbone)


#: every score ``summarise`` can put in the summary (``evaluation.json``'s ``"summary"``), in its order
SUMMARY_KEYS = ("RCA (fresh reconstructor)", "RCA chance level", "mean LPIPS effect", "mean LPIPS smoothness",
                "ground truth: disentanglement D", "ground truth: completeness C", "ground truth: gap (MIG-style)")


def summarise(rca: RcaResult | None, lpips: LpipsResult | None, truth: GroundTruthResult | None = None
              ) -> tuple[dict[str, Any], dict[str, list[Any]], list[str]]:
    """Report pieces: summary scores, per-direction columns and notes."""
    summary: dict[str, Any] = {}
    columns: dict[str, list[Any]] = {}
    notes: list[str] = []
    if rca is not None:
        summary["RCA (fresh reconstructor)"] = rca.accuracy
        summary["RCA chance level"] = rca.chance
        columns["RCA"] = rca.per_direction
        notes.append(rca.describe())
    if lpips is not None:
        summary["mean LPIPS effect"] = float(np.mean(lpips.effect))
        summary["mean LPIPS smoothness"] = float(np.mean(lpips.smoothness))
        columns["LPIPS effect"] = lpips.effect
        columns["LPIPS path"] = lpips.path
        columns["smoothness"] = lpips.smoothness
        notes.append(f"perceptual distances: {lpips.backbone}")
    if truth is not None:
        summary["ground truth: disentanglement D"] = truth.disentanglement
        summary["ground truth: completeness C"] = truth.completeness
        summary["ground truth: gap (MIG-style)"] = truth.gap
        columns["main factor"] = truth.main_factor
        columns["its share"] = truth.main_share
    return summary, columns, notes


def direction_table(columns: dict[str, list[Any]]) -> list[str]:
    """The per-direction columns of :func:`summarise` as aligned text lines, one row per direction (the
    ground-truth factor and its share first, when measured); no lines when there are no columns."""
    names = sorted(columns, key=lambda name: name not in ("main factor", "its share"))
    if not names:
        return []
    rows = [["direction", *names]]
    for k in range(len(columns[names[0]])):
        rows.append([str(k), *(f"{value:.3f}" if isinstance(value, float) else str(value)
                                for value in (columns[name][k] for name in names))])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
