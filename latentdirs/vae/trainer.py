"""The VAE trainer: one objective plus any registered regularizers, checkpointed and resumable.

Each step: a batch x of ``batch_size`` observations drawn with the run's own numpy RandomState;
(μ, log σ²) = encoder(x); z = μ + σ ε with ε from the run's noise generator; logits = decoder(z);
``recon`` by the configured reconstruction loss; every term is called with the :class:`LossContext`
below; the total of their ``"loss"`` entries is minimised by Adam (lr 1e-4, betas (0.9, 0.999), ε 1e-8 as in
disentanglement_lib; TensorFlow 1 adds its ε after the bias correction, i.e. PyTorch's ε/√(1 − β₂ᵗ), which
differs only for gradients of order 1e-7 or smaller). A term's ``"loss_orthogonal"`` entry is added
through its gradient, with the component opposing the reconstruction gradient removed
(:mod:`latentdirs.vae.gradients`). Terms then run ``after_step`` (e.g. the FactorVAE discriminator update).

Context fields: x, mu, logvar, z, x_logits, recon, reconstruction, model, encode, decode, step,
total_steps, generator, dataset_size, next_batch (decoder-free runs: no x_logits or decode; recon 0).

Every random stream (data, second batches, reparameterization noise, the terms' generator, torch /
numpy / Python global states) is seeded from ``seed`` and saved in checkpoints, so a resumed run
reaches the same weights bit for bit as an uninterrupted one (same device and thread count).

Under ``torchrun --nproc_per_node N`` (:mod:`latentdirs.distributed`) ``batch_size`` is the global batch B.
Every rank draws the global batch's factors and noise from the same streams and keeps its B/N rows; the
encoder and decoder run on those rows inside DistributedDataParallel (:class:`TrainingPass`); μ, log σ², z
(and x, x_logits when a term reads them) are all-gathered with autograd and ``recon`` is the mean of the ranks'
means, so every term sees the global batch, as in one process: the FactorVAE discriminator, TopDis, GMG,
WAE's MMD, β-TCVAE's minibatch estimator and DIP-VAE's covariance included. The terms themselves, and their own
extra passes (TopDis's shifted decode, JL1's tangents, GMG's decoder map, the discriminator and its update), run
replicated on every rank on the same global tensors; their gradients reach each rank's rows through the
gather and are averaged by DDP, which gives the single-process gradient. Only rank 0 writes; the checkpoint
holds the global state, so a run resumes under any N (weights equal to a single-process run up to the
rounding of the sharded sums, see the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import distributed
from ..data.base import GroundTruthData
from ..errors import UserError
from ..interrupt import Interrupted, StopRequest
from ..io import save_safetensors, write_json
from ..losses.registry import LossContext, LossTerm, check_needs
from ..progress import progress_bar
from ..seeding import (
    capture_rng_state,
    random_state_from_tensor_dict,
    random_state_to_tensor_dict,
    resolve_device,
    restore_rng_state,
    seed_everything,
    torch_generator,
)
from .config import TrainConfig
from .gradients import orthogonalized_gradients
from .machine import machine_info
from .metrics_log import MetricsLog
from .models import VAE, reparameterize
from .pictures import reconstruction_grid, traversal_grid
from .readme import write_readme
from .reconstruction import RECONSTRUCTIONS
from .runs import RunDir, build_model, load_checkpoint, load_dataset, place_model, save_checkpoint

CONTEXT_FIELDS = frozenset({
    "x", "mu", "logvar", "z", "x_logits", "recon", "reconstruction", "model", "encode", "decode",
    "step", "total_steps", "generator", "dataset_size", "next_batch",
})
DECODER_FIELDS = frozenset({"x_logits", "decode"})

ACTIVE_KL = 0.1  # nats: a latent whose mean KL to the prior exceeds this carries information

# Independent random streams derived from the run seed.
_DATA, _SECOND_BATCH, _NOISE, _TERMS, _EVALUATION = range(5)


def context_fields(with_decoder: bool) -> frozenset[str]:
    """The LossContext fields the VAE trainer provides."""
    return CONTEXT_FIELDS if with_decoder else CONTEXT_FIELDS - DECODER_FIELDS


def stream_seed(seed: int, stream: int) -> int:
    """A 32-bit seed for one of the run's independent random streams."""
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


class TrainingPass(torch.nn.Module):
    """The sharded part of a step, what DDP wraps: x → (μ, log σ²) → z = μ + σ ε → decoder logits."""

    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mu, logvar = self.model.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterize(), with this rank's rows of the global noise
        if self.model.decoder is None:
            return mu, logvar, z
        return mu, logvar, z, self.model.decoder(z)


@dataclass
class TrainResult:
    run: RunDir
    steps: int
    summary: dict[str, Any]
    pictures: list[Path]


class Trainer:
    """Trains ``config`` into ``run`` (a fresh start, or resumed from its last checkpoint)."""

    def __init__(
        self, config: TrainConfig, run: RunDir, dataset: GroundTruthData | None = None,
        progress: bool = True, echo: Callable[[str], None] = print,
    ) -> None:
        self.config, self.run = config, run
        self.rows = distributed.environment_world().rows(config.batch_size)  # before joining: a bad size stops all
        self.world, self.device = distributed.setup(resolve_device(config.device))
        self.progress = progress and self.world.is_main
        self.echo = echo if self.world.is_main else _silent
        self.dataset = dataset if dataset is not None else load_dataset(config)
        if self.device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        seed_everything(config.seed)
        self.model = place_model(build_model(config, self.dataset), self.device)
        self.terms: list[LossTerm] = [term.to(self.device) for term in config.build_terms()]
        check_needs(self.terms, context_fields(config.decoder), "vae")
        for term in self.terms:
            term.check_model(self.model.latent_dim)
        self.labels = _term_labels(self.terms)
        self.needs = frozenset().union(*(term.needs for term in self.terms))
        self.sharded = distributed.wrap_data_parallel(TrainingPass(self.model), self.world, self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
        self.reconstruction_loss = RECONSTRUCTIONS[config.reconstruction]
        self.data_rs = np.random.RandomState(stream_seed(config.seed, _DATA))
        self.second_batch_rs = np.random.RandomState(stream_seed(config.seed, _SECOND_BATCH))
        self.noise = torch_generator(stream_seed(config.seed, _NOISE), self.device)
        self.term_generator = torch_generator(stream_seed(config.seed, _TERMS), self.device)
        self.step = 0
        self.elapsed = 0.0
        self.log_sums: dict[str, Any] = {}
        self.log_counts: dict[str, int] = {}  # per key: a term that is off (e.g. during its delay) logs nothing
        self.last_logged: dict[str, float] = {}

    # -- one step ------------------------------------------------------------------------------
    def batch(self, random_state: np.random.RandomState, rows: slice | None = None) -> torch.Tensor:
        """A batch of ``batch_size`` images drawn with ``random_state`` (only ``rows`` of it rendered when given)."""
        if rows is None:
            images = self.dataset.sample_observations(self.config.batch_size, random_state)
        else:  # the same draws as sample_observations, then only this rank's rows rendered
            factors = self.dataset.sample_factors(self.config.batch_size, random_state)
            images = self.dataset.observations_from_factors(factors[rows])
        return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device)

    def context(self, x: torch.Tensor, step: int) -> LossContext:
        """Encode, sample and decode ``x``; the fields every term may read (under torchrun ``x`` is this rank's
        rows and the fields hold the global batch: :meth:`sharded_context`)."""
        if self.world.distributed:
            return self.sharded_context(x, step)
        mu, logvar = self.model.encoder(x)
        z = reparameterize(mu, logvar, self.noise)
        fields: dict[str, Any] = {
            "x": x, "mu": mu, "logvar": logvar, "z": z, "model": self.model, "encode": self.model.encoder,
            "reconstruction": self.config.reconstruction, "step": step, "total_steps": self.config.steps,
            "generator": self.term_generator, "dataset_size": self.dataset.num_observations,
            "next_batch": lambda: self.batch(self.second_batch_rs),
        }
        if self.model.decoder is not None:
            x_logits = self.model.decoder(z)
            fields.update(x_logits=x_logits, decode=self.model.decoder, recon=self.reconstruction_loss(x_logits, x))
        else:
            fields["recon"] = torch.zeros((), device=self.device)
        return LossContext(**fields)

    def sharded_context(self, x: torch.Tensor, step: int) -> LossContext:
        """The context of the global batch from this rank's rows ``x``: the encoder and decoder run on the rows
        (inside DDP); μ, log σ², z (x and x_logits when a term needs them) are gathered with autograd; recon is
        the mean of the ranks' means (equal shares: the global mean)."""
        world = self.world
        eps = torch.randn((self.config.batch_size, self.model.latent_dim), generator=self.noise, device=self.device,
                          dtype=x.dtype)[self.rows]  # the global draw: the noise stream does not depend on N
        mu, logvar, z, *logits = self.sharded(x, eps)
        fields: dict[str, Any] = {
            "mu": world.gather(mu), "logvar": world.gather(logvar), "z": world.gather(z), "model": self.model,
            "encode": self.model.encoder, "reconstruction": self.config.reconstruction, "step": step,
            "total_steps": self.config.steps, "generator": self.term_generator,
            "dataset_size": self.dataset.num_observations, "next_batch": lambda: self.batch(self.second_batch_rs),
        }
        if "x" in self.needs:
            fields["x"] = world.gather_detached(x)
        if self.model.decoder is not None:
            fields.update(decode=self.model.decoder,
                          recon=world.gather(self.reconstruction_loss(logits[0], x).reshape(1)).mean())
            if "x_logits" in self.needs:
                fields["x_logits"] = world.gather(logits[0])
        else:
            fields["recon"] = torch.zeros((), device=self.device)
        return LossContext(**fields)

    def train_step(self, step: int) -> dict[str, Any]:
        """One optimizer step; returns the logged values (float64 tensors or floats)."""
        self.model.train()
        ctx = self.context(self.batch(self.data_rs, self.rows if self.world.distributed else None), step)
        outputs = [term(ctx) for term in self.terms]
        total = sum(out["loss"] for out in outputs)
        if not torch.isfinite(total):
            self.diverged(f"the loss is {float(total.detach())} at step {step}")
        orthogonal = [out["loss_orthogonal"] for out in outputs
                      if "loss_orthogonal" in out and out["loss_orthogonal"].requires_grad]  # not a term that is off
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        extra = (orthogonalized_gradients(sum(orthogonal), ctx.recon, params, average=self.world.average_)
                 if orthogonal else None)
        total.backward()
        if extra is not None:
            for param, grad in zip(params, extra, strict=True):
                param.grad = grad if param.grad is None else param.grad + grad
        self.optimizer.step()
        if not all(bool(p.isfinite().all()) for p in params):
            self.diverged(f"step {step} made the weights NaN or infinite")
        after = [term.after_step(ctx) for term in self.terms]
        logged: dict[str, Any] = {"loss": total.detach().double()}
        for label, out, post in zip(self.labels, outputs, after, strict=True):
            for key, value in {**out, **post}.items():
                name = ("objective" if key == "loss" else key) if label == "" else f"{label}.{key}"
                logged[name] = value.detach().double() if isinstance(value, torch.Tensor) else float(value)
        return logged

    def diverged(self, what: str) -> None:
        """Stop a run whose loss or weights became NaN/±inf, before anything of it is saved: the last checkpoint
        (``checkpoints/last.pt``, the last good state) stays as it was."""
        kept = (f"the last good checkpoint, {self.run.checkpoint}, is kept" if self.run.checkpoint.exists()
                else "no checkpoint had been saved yet")
        raise UserError(f"training diverged: {what}; {kept} (lower --lr or the loss weights)")

    # -- the loop ------------------------------------------------------------------------------
    def train(self, resume: bool = False) -> TrainResult:
        if resume and self.run.checkpoint.exists():
            self.load(load_checkpoint(self.run.checkpoint))
            self.echo(f"resuming {self.run.path} from step {self.step} of {self.config.steps}")
        elif resume:
            self.echo(f"no checkpoint in {self.run.path} yet; starting at step 0")
        if self.step > self.config.steps:
            raise UserError(f"{self.run.path} is at step {self.step}, beyond --steps {self.config.steps}")
        log = None
        if self.world.is_main:
            write_json(self.run.config, self.config.to_dict())
            write_readme(self.run, self.config, self.step, summary=None)
            log = MetricsLog(self.run.log, self.run.tensorboard, keep_until_step=self.step)
        try:
            self._loop(log)
        finally:
            if log is not None:
                log.close()
        return self.finish()

    def _loop(self, log: MetricsLog | None) -> None:
        config = self.config
        bar = progress_bar(total=config.steps, initial=self.step, desc="train-vae", disable=not self.progress,
                           unit="step")
        started = time.perf_counter()
        with bar, StopRequest() as stop:
            while self.step < config.steps:
                logged = self.train_step(self.step)
                self.step += 1
                for key, value in logged.items():
                    self.log_sums[key] = self.log_sums.get(key, 0.0) + value
                    self.log_counts[key] = self.log_counts.get(key, 0) + 1
                if self.step % config.log_every == 0 or self.step == config.steps:
                    self.last_logged = {k: float(v) / self.log_counts[k] for k, v in self.log_sums.items()}
                    if log is not None:
                        log.write(self.step, self.last_logged)
                    self.log_sums, self.log_counts = {}, {}
                    bar.set_postfix_str(" ".join(f"{k}={v:.4g}" for k, v in self.last_logged.items()), refresh=False)
                bar.update(1)
                stopping = self.world.any(stop.requested)  # a Ctrl-C on one rank stops every rank at this step
                if (self.step % config.checkpoint_every == 0 or stopping) and self.step < config.steps:
                    self.elapsed += time.perf_counter() - started
                    started = time.perf_counter()
                    if self.world.is_main:
                        save_checkpoint(self.run.checkpoint, self.state())
                if stopping and self.step < config.steps:
                    raise Interrupted.at(f"step {self.step} of {config.steps}", self.run.checkpoint)
        self.elapsed += time.perf_counter() - started

    def finish(self) -> TrainResult:
        """Final checkpoint, weights, pictures, summary and README (rank 0; the other ranks write nothing and
        return an empty summary)."""
        if not self.world.is_main:
            self.model.eval()
            return TrainResult(run=self.run, steps=self.step, summary={}, pictures=[])
        save_checkpoint(self.run.checkpoint, self.state())
        self.save_weights(self.run.model)
        self.model.eval()
        rs = np.random.RandomState(stream_seed(self.config.seed, _EVALUATION))
        images = np.ascontiguousarray(self.dataset.sample_observations(256, rs), dtype=np.float32)
        summary = self.summary(images)
        pictures = []
        if self.model.decoder is not None:
            pictures.append(reconstruction_grid(self.model, images[:8], self.run.reconstructions))
            pictures.append(traversal_grid(self.model, images[0], self.run.traversals, summary["traversal_rows"]))
        write_json(self.run.summary, summary)
        write_readme(self.run, self.config, self.step, summary)
        return TrainResult(run=self.run, steps=self.step, summary=summary, pictures=pictures)

    @torch.no_grad()
    def summary(self, images: np.ndarray) -> dict[str, Any]:
        mu, logvar = self.model.encoder(torch.from_numpy(images).to(self.device))
        kl_per_latent = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)).mean(0).cpu().tolist()
        processes = {"processes": self.world.size} if self.world.distributed else {}
        return {
            "steps": self.step,
            **processes,
            "final": self.last_logged,
            "kl_per_latent": [round(v, 5) for v in kl_per_latent],
            "active_latents": sum(v > ACTIVE_KL for v in kl_per_latent),
            "traversal_rows": sorted(range(len(kl_per_latent)), key=lambda d: -kl_per_latent[d]),  # most KL first
            "train_seconds": round(self.elapsed, 2),
            "device": str(self.device),
            "machine": machine_info(self.device),
        }

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "terms": [{"name": t.name, "state": t.state_dict(), "extra": t.extra_state()} for t in self.terms],
            "rng": {
                "data": random_state_to_tensor_dict(self.data_rs),
                "second_batch": random_state_to_tensor_dict(self.second_batch_rs),
                "noise": self.noise.get_state(),
                "terms": self.term_generator.get_state(),
                "global": capture_rng_state(),
            },
            "log": {"counts": dict(self.log_counts), "sums": {k: float(v) for k, v in self.log_sums.items()},
                    "last": self.last_logged},
        }

    def load(self, state: dict[str, Any]) -> None:
        where = self.run.checkpoint
        try:
            names = [entry["name"] for entry in state["terms"]]
            if names != [t.name for t in self.terms]:
                raise UserError(f"checkpoint {where} has loss terms {names}, the config {[t.name for t in self.terms]}")
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            for term, entry in zip(self.terms, state["terms"], strict=True):
                term.load_state_dict(entry["state"])
                term.load_extra_state(entry["extra"])
            rng = state["rng"]
            self.data_rs = random_state_from_tensor_dict(rng["data"])
            self.second_batch_rs = random_state_from_tensor_dict(rng["second_batch"])
            self.noise.set_state(rng["noise"])
            self.term_generator.set_state(rng["terms"])
            restore_rng_state(rng["global"])
            self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
            self.log_sums = dict(state["log"]["sums"])
            counts = state["log"].get("counts")  # checkpoints before per-key counts hold one "count"
            self.log_counts = {k: int(counts[k]) if counts is not None else int(state["log"]["count"])
                               for k in self.log_sums}
            self.last_logged = dict(state["log"]["last"])
        except UserError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"checkpoint {where} does not match this run ({first[:200]})") from None

    def save_weights(self, path: Path) -> None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_safetensors(path, tensors, {"format": "latentdirs-vae", "config": "config.json"})


def _silent(line: str) -> None:
    """The echo of ranks other than 0 under torchrun: one process speaks."""


def _term_labels(terms: list[LossTerm]) -> list[str]:
    """Log prefixes: '' for the objective, the name for each regularizer (``name#2`` when repeated)."""
    labels, seen = [""], {}
    for term in terms[1:]:
        seen[term.name] = seen.get(term.name, 0) + 1
        labels.append(term.name if seen[term.name] == 1 else f"{term.name}#{seen[term.name]}")
    return labels


def train(
    config: TrainConfig, run: RunDir, resume: bool = False, dataset: GroundTruthData | None = None,
    progress: bool = True, echo: Callable[[str], None] = print,
) -> TrainResult:
    """Train (or resume) ``config`` into ``run``; see :class:`Trainer`."""
    return Trainer(config, run, dataset=dataset, progress=progress, echo=echo).train(resume=resume)
