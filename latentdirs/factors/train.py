"""Training a :class:`FactorClassifier` on freshly rendered samples of a ground-truth dataset.

Every step draws a new batch of factor combinations (uniform per factor) and renders it, so the
classifier never sees the same finite training set twice. Loss: the sum over factors of the
cross-entropy of each head. Adam with a cosine learning-rate decay to zero. Light augmentation
(additive Gaussian pixel noise with a per-image σ uniform in [0, ``noise``]) makes it tolerant of the
slightly grey, soft-edged images a generator produces. For colour datasets whose factors do not include
saturation, ``saturation_jitter`` J > 0 also desaturates each image by a factor ``s`` uniform in [1 − J, 1]
(:func:`desaturate`): a classifier trained on one fixed saturation can otherwise read a generator's paler drawing
as another factor (the ellipses classifier read ×0.7 saturation as half an aspect step,
``scripts/ground_truth_leakage.py``).

With a ``checkpoint`` path the whole training state (weights, optimizer, schedule, both random
streams, step, accuracy tallies) is written there atomically every ``checkpoint_every`` steps; a
later call with ``resume=True`` and the same settings continues bit for bit. The caller removes the
checkpoint once it has saved the classifier (``latentdirs train-factor-classifier`` does), so a crash
between the end of training and the saving loses nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..data.base import GroundTruthData
from ..errors import UserError
from ..interrupt import Interrupted, StopRequest
from ..io import torch_load, torch_save
from ..progress import progress_bar
from ..seeding import random_state_from_tensor_dict, random_state_to_tensor_dict, resolve_device, torch_generator
from .model import FactorClassifier


def desaturate(images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``g + s · (x − g)`` per pixel, ``g`` the mean of its channels and ``s = keep`` ``[N]`` per image: each pixel's
    chroma ``max − min`` over channels scaled by ``s``, its hue and every grey pixel unchanged."""
    grey = images.mean(dim=1, keepdim=True)
    return grey + keep.reshape(-1, 1, 1, 1) * (images - grey)


def build_factor_classifier(dataset: GroundTruthData, width: int = 32, hidden: int = 256,
                            seed: int = 0) -> FactorClassifier:
    """A freshly initialized classifier for ``dataset`` (initialization seeded by ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FactorClassifier(dataset.observation_shape, dataset.factor_sizes, dataset.factor_names,
                                width=width, hidden=hidden, dataset=dataset.name)


def train_factor_classifier(dataset: GroundTruthData, steps: int = 3000, seed: int = 0, device: str = "auto",
                            batch_size: int = 64, lr: float = 2e-3, width: int = 32, hidden: int = 256,
                            noise: float = 0.05, progress: bool = True, checkpoint: str | Path | None = None,
                            checkpoint_every: int = 500, resume: bool = False,
                            saturation_jitter: float = 0.0) -> tuple[FactorClassifier, dict]:
    """Train a classifier for every factor of ``dataset``; returns ``(classifier in eval mode, info)``.

    ``info`` holds the training settings, the wall time and the final per-factor training accuracy
    (over the last 10 % of steps). ``checkpoint``/``checkpoint_every``/``resume``: see the module doc.
    """
    if steps < 1 or batch_size < 2 or checkpoint_every < 1:
        raise UserError(f"need steps ≥ 1, batch_size ≥ 2 and checkpoint_every ≥ 1, got steps={steps}, "
                        f"batch_size={batch_size}, checkpoint_every={checkpoint_every}")
    if not 0.0 <= saturation_jitter < 1.0 or (saturation_jitter > 0 and dataset.observation_shape[0] != 3):
        raise UserError(f"--saturation-jitter must be in [0, 1) and needs RGB images, got {saturation_jitter} for "
                        f"{dataset.observation_shape[0]}-channel {dataset.name}")
    settings = {"dataset": dataset.name, "steps": steps, "seed": seed, "batch_size": batch_size, "lr": lr,
                "width": width, "hidden": hidden, "noise": noise}
    if saturation_jitter > 0:  # absent when off: checkpoints of runs without it still resume
        settings["saturation_jitter"] = saturation_jitter
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
    seen, first_step, elapsed = 0, 0, 0.0
    if checkpoint is not None and Path(checkpoint).exists():
        if not resume:
            raise UserError(f"{checkpoint} holds an unfinished training run; pass --resume to continue it "
                            "(or delete the file to start again)")
        state = torch_load(checkpoint, "factor-classifier checkpoint")
        saved = state.get("settings") or {}
        changed = [f"{key} {saved.get(key)!r} → {value!r}" for key, value in settings.items()
                   if saved.get(key) != value]
        if changed:
            raise UserError(f"{checkpoint} was written with other settings ({'; '.join(changed)}); resume with the "
                            "same ones")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        rs = random_state_from_tensor_dict(state["data_rs"])
        gen.set_state(state["gen"])
        correct, seen = state["correct"].numpy().astype(np.float64), int(state["seen"])
        first_step, elapsed = int(state["step"]), float(state["wall_time_s"])
    start = time.time() - elapsed
    bar = progress_bar(range(first_step, steps), total=steps, initial=first_step, desc="factor classifier",
                       disable=not progress)
    # Ctrl-C waits for the step boundary only where a checkpoint can be saved there; otherwise it stops at once
    stop_request = StopRequest() if checkpoint is not None else contextlib.nullcontext(StopRequest())
    with bar, stop_request as stop:
        for step in bar:
            factors, images = dataset.sample(batch_size, rs)
            x = torch.from_numpy(images).to(dev)
            if saturation_jitter > 0:
                x = desaturate(x, 1.0 - saturation_jitter * torch.rand(x.shape[0], generator=gen, device=dev))
            if noise > 0:
                sigma = torch.rand(x.shape[0], 1, 1, 1, generator=gen, device=dev) * noise
                x = x + sigma * torch.randn(x.shape, generator=gen, device=dev)
            y = torch.from_numpy(factors).to(dev)
            logits = model(x)
            loss = sum(F.cross_entropy(logits[name], y[:, col]) for name, col in zip(names, columns, strict=True))
            if not torch.isfinite(loss):
                saved = checkpoint is not None and Path(checkpoint).exists()
                raise UserError(f"training diverged: the loss is {loss.item()} at step {step}"
                                + (f"; the last checkpoint, {checkpoint}, is kept" if saved else "") + " (lower --lr)")
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
            if checkpoint is not None and step + 1 < steps and ((step + 1) % checkpoint_every == 0 or stop.requested):
                torch_save(checkpoint, {
                    "settings": settings, "step": step + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "data_rs": random_state_to_tensor_dict(rs), "gen": gen.get_state(),
                    "correct": torch.from_numpy(correct), "seen": seen, "wall_time_s": time.time() - start})
                if stop.requested:
                    raise Interrupted.at(f"step {step + 1} of {steps}", checkpoint)
    model.eval()
    info = {
        "steps": steps, "seed": seed, "batch_size": batch_size, "lr": lr, "noise": noise,
        "saturation_jitter": saturation_jitter, "wall_time_s": round(time.time() - start, 1), "device": str(dev),
        "train_accuracy_last_10pct": {n: round(float(c / max(seen, 1)), 4)
                                      for n, c in zip(names, correct, strict=True)},
    }
    return model, info
