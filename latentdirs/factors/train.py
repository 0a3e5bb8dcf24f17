"""Training a :class:`FactorClassifier` on freshly rendered samples of a ground-truth dataset.

Every step draws a new batch of factor combinations (uniform per factor) and renders it, so the
classifier never sees the same finite training set twice. Loss: the sum over factors of the
cross-entropy of each head. Adam with a cosine learning-rate decay to zero. Light augmentation
(additive Gaussian pixel noise with a per-image σ uniform in [0, ``noise``]) makes it tolerant of the
slightly grey, soft-edged images a generator produces.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from ..data.base import GroundTruthData
from ..errors import UserError
from ..progress import progress_bar
from ..seeding import resolve_device, torch_generator
from .model import FactorClassifier


def build_factor_classifier(dataset: GroundTruthData, width: int = 32, hidden: int = 256,
                            seed: int = 0) -> FactorClassifier:
    """A freshly initialized classifier for ``dataset`` (initialization seeded by ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FactorClassifier(dataset.observation_shape, dataset.factor_sizes, dataset.factor_names,
                                width=width, hidden=hidden, dataset=dataset.name)


def train_factor_classifier(dataset: GroundTruthData, steps: int = 3000, seed: int = 0, device: str = "auto",
                            batch_size: int = 64, lr: float = 2e-3, width: int = 32, hidden: int = 256,
                            noise: float = 0.05, progress: bool = True) -> tuple[FactorClassifier, dict]:
    """Train a classifier for every factor of ``dataset``; returns ``(classifier in eval mode, info)``.

    ``info`` holds the training settings, the wall time and the final per-factor training accuracy
    (over the last 10 % of steps).
    """
    if steps < 1 or batch_size < 2:
        raise UserError(f"need steps ≥ 1 and batch_size ≥ 2, got steps={steps}, batch_size={batch_size}")
    dev = resolve_device(device)
    model = build_factor_classifier(dataset, width, hidden, seed).to(dev).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1.0 + math.cos(math.pi * s / steps)))
    rs = np.random.RandomState(seed)
    gen = torch_generator(seed, dev)
    names = list(model.heads)
    columns = [model.factor_names.index(name) for name in names]
    tail_start = int(steps * 0.9)
    correct = np.zeros(len(names))
    seen = 0
    start = time.time()
    bar = progress_bar(range(steps), desc="factor classifier", disable=not progress)
    for step in bar:
        factors, images = dataset.sample(batch_size, rs)
        x = torch.from_numpy(images).to(dev)
        if noise > 0:
            sigma = torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=dev) * noise
            x = x + sigma * torch.randn(x.shape, generator=gen, device=dev)
        y = torch.from_numpy(factors).to(dev)
        logits = model(x)
        loss = sum(F.cross_entropy(logits[name], y[:, col]) for name, col in zip(names, columns, strict=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step >= tail_start:
            with torch.no_grad():
                correct += [(logits[n].argmax(1) == y[:, c]).sum().item()
                            for n, c in zip(names, columns, strict=True)]
            seen += batch_size
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    info = {
        "steps": steps, "seed": seed, "batch_size": batch_size, "lr": lr, "noise": noise,
        "wall_time_s": round(time.time() - start, 1), "device": str(dev),
        "train_accuracy_last_10pct": {n: round(float(c / max(seen, 1)), 4)
                                      for n, c in zip(names, correct, strict=True)},
    }
    return model, info
