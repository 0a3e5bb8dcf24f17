"""The direction-discovery trainer: learns K directions of a frozen generator with registry terms.

Each step draws a batch of base codes ``z ~ N(0, I)`` (mapped to W when the space is W/W+), renders
``G(base)``, draws a Voynov–Babenko shift ``(k, ε)`` per sample, renders ``G(base + ε·a_k)`` when a
term needs it, and minimises the sum of the terms' ``loss`` over the direction parameters (Adam).
Terms with their own networks (the reconstructor) step their own optimizers in ``after_step``. The
context fields are documented in :mod:`latentdirs.directions.objectives`.

A term may confine the directions to the span of the ``m`` leading principal components of the
space's codes (``subspace(space, K)``, see :mod:`latentdirs.directions.objectives`): the trainer then
samples ``pca_samples`` codes with their own generator seeded from ``seed`` (the codes GANSpace uses
for the same seed) and trains the directions as a :class:`~.model.DirectionModel` in that subspace.

Every random draw comes from one ``torch.Generator`` seeded from ``seed`` and saved in checkpoints,
the generator renders with constant noise, and term networks are initialised from fixed seeds, so a
run resumed from a checkpoint continues bit for bit like an uninterrupted one (same device).

Under ``torchrun --nproc_per_node N`` (:mod:`latentdirs.distributed`) ``batch_size`` is the global batch B:
every rank draws the whole batch (codes, shifts) from the one generator, renders ``images`` and
``shifted_images`` for its B/N rows only (the direction model inside DistributedDataParallel) and gathers them
(the shifted images with autograd), so every term sees the global batch as in one process. The terms run
replicated on every rank: the reconstructor (its network gets identical gradients on every rank and so stays
identical), and ``dir-topdis``/``dir-gmg``, whose own ``render`` calls are not sharded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import distributed
from .. import validation as v
from ..errors import UserError
from ..io import torch_load, torch_save
from ..losses.registry import LossContext, LossTerm, available, build, check_needs, parse_spec
from ..seeding import torch_generator
from .dirfile import DirectionSet
from .generator import GeneratorHandle
from .model import DirectionModel
from .objectives import DOMAIN, DirectionSetup
from .shifts import ShiftSampler
from .spaces import LatentSpace, SpaceRenderer
from .statistics import make_direction_set

PROVIDED = frozenset({"directions", "num_directions", "dim", "space", "device", "base", "images", "direction_index",
                      "shift", "shifted_images", "render", "shift_sampler", "generator", "step", "total_steps"})
CLOSED_FORM_METHODS = ("ganspace", "sefa", "random")
LOG_EVERY = 10  # steps between entries of the kept loss history


def resolve_term_name(name: str) -> str:
    """A directions term's registry name: ``name`` itself, or ``dir-<name>`` when ``name`` is a VAE term."""
    terms = available(domain=DOMAIN)
    if name in terms:
        return name
    if f"dir-{name}" in terms:
        return f"dir-{name}"
    choices = ", ".join(sorted(set(terms) | {n[4:] for n in terms if n.startswith("dir-")}))
    raise UserError(f"unknown direction objective {name!r}; available: {choices}")


def build_term(spec: str) -> LossTerm:
    """A directions term from ``name:key=value,…`` (``topdis`` means ``dir-topdis`` and so on)."""
    name, values = parse_spec(spec, resolve_term_name)
    return build({"name": resolve_term_name(name), **values}, domain=DOMAIN)


@dataclass
class DiscoveryConfig:
    """Everything that defines a discovery run (written to ``config.json``; resume checks it)."""

    method: str = "reconstructor"
    regs: list[str] = field(default_factory=list)
    num_directions: int = 10
    space: str = "w"
    layers: str = "all"
    parameterization: str = "orthonormal"
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-4
    shift_min: float = 0.5
    shift_max: float = 6.0
    seed: int = 0
    truncation_psi: float = 1.0
    class_index: int | None = None
    stats_samples: int = 4096
    pca_samples: int = 20000
    sefa_torgb: bool = True
    checkpoint_every: int = 500

    def __post_init__(self) -> None:
        for name, bounds in (("lr", v.LEARNING_RATE), ("truncation_psi", v.TRUNCATION), ("steps", v.STEPS),
                             ("num_directions", v.COUNT), ("batch_size", v.BATCH), ("seed", v.SEED),
                             ("stats_samples", v.SPREAD_SAMPLES), ("pca_samples", v.SPREAD_SAMPLES),
                             ("checkpoint_every", v.EVERY_OR_END)):
            bounds.check(getattr(self, name), name)
        v.check_shift_range(self.shift_min, self.shift_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DiscoveryConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"unknown discovery settings {', '.join(unknown)}")
        return cls(**values)

    def training_identity(self) -> dict[str, Any]:
        """The settings a resumed run must share with the checkpoint (all but steps and checkpointing)."""
        values = self.to_dict()
        for key in ("steps", "checkpoint_every"):
            values.pop(key)
        return values


class DirectionTrainer:
    """Holds the direction model, the terms, the optimizer and the random state of one run."""

    def __init__(self, handle: GeneratorHandle, config: DiscoveryConfig,
                 initial_directions: torch.Tensor | None = None) -> None:
        if config.method in CLOSED_FORM_METHODS:
            raise UserError(f"{config.method} is closed-form; use discover_closed_form")
        if config.batch_size < 2:
            raise UserError("batch size must be at least 2")
        self.handle = handle
        self.config = config
        rows = distributed.environment_world().rows(config.batch_size)  # before joining: a bad size stops all
        self.world, _ = distributed.setup(handle.device)
        self.rows = torch.arange(config.batch_size, device=handle.device)[rows]
        self.space = LatentSpace.create(config.space, config.layers, handle.num_ws)
        self.renderer = SpaceRenderer(handle, self.space)
        self.shift_sampler = ShiftSampler(config.shift_min, config.shift_max)
        self.terms = [build_term(spec) for spec in [config.method, *config.regs]]
        names = [term.name for term in self.terms]
        if len(set(names)) != len(names):
            raise UserError(f"a loss term is given twice: {', '.join(names)}")
        check_needs(self.terms, PROVIDED, "directions")
        self.device = handle.device
        self.generator = torch_generator(config.seed, self.device)
        subspace, self.subspace_stds = self._principal_subspace()
        self.model = DirectionModel(config.num_directions, self.renderer.dim, config.parameterization,
                                    generator=self.generator, init=initial_directions, subspace=subspace)
        self.model.to(self.device)
        self.sharded_model = distributed.wrap_data_parallel(self.model, self.world, self.device)
        setup_shape = handle.image_shape
        for index, term in enumerate(self.terms):
            term.to(self.device)
            if hasattr(term, "bind"):
                term.bind(DirectionSetup(config.num_directions, self.renderer.dim, setup_shape, self.device,
                                         config.seed * 1009 + index + 1))
        params = list(self.model.parameters())
        self.optimizer = torch.optim.Adam(params, lr=config.lr) if params else None
        self._needs = frozenset().union(*(term.needs for term in self.terms))
        self.step = 0
        self.history: list[dict[str, float]] = []

    def _principal_subspace(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The leading principal axes ``[m, d]`` of the codes and their stds ``[m]`` when a term asks for them."""
        from .closed_form import pca_directions
        from .statistics import sample_base_codes

        requests = {term.name: term.subspace(self.space, self.config.num_directions)
                    for term in self.terms if hasattr(term, "subspace")}
        sizes = {size for size in requests.values() if size is not None}
        if not sizes:
            return None, None
        if len(sizes) > 1:
            raise UserError(f"the loss terms ask for principal subspaces of different sizes: {requests}")
        components = sizes.pop()
        if not self.config.num_directions <= components <= self.renderer.dim:
            raise UserError(f"{', '.join(requests)}: the directions' subspace of {components} principal components "
                            f"must hold the {self.config.num_directions} directions and fit in the "
                            f"{self.renderer.dim}-dimensional space")
        codes = sample_base_codes(self.renderer, self.config.pca_samples, torch_generator(self.config.seed,
                                                                                           self.device))
        axes, stds = pca_directions(codes, components)
        return axes.to(self.device), stds

    # -- one step ---------------------------------------------------------------------------------
    def context(self, directions: torch.Tensor) -> LossContext:
        """A fresh batch and its context (draws from the run's generator)."""
        cfg = self.config
        batch = self.renderer.sample(cfg.batch_size, self.generator)
        sharded = self.world.distributed
        with torch.no_grad():
            if sharded:  # this rank's rows, then every rank's
                images = self.world.gather_detached(self.renderer.render(batch.select(self.rows)))
            else:
                images = self.renderer.render(batch)
        index, shift = self.shift_sampler.sample(cfg.batch_size, cfg.num_directions, self.generator)
        index, shift = index.to(self.device), shift.to(self.device)

        def render(delta: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
            return self.renderer.render(batch if rows is None else batch.select(rows), delta)

        fields: dict[str, Any] = dict(
            directions=directions, num_directions=cfg.num_directions, dim=self.renderer.dim, space=self.space,
            device=self.device, base=batch.base, images=images, direction_index=index, shift=shift, render=render,
            shift_sampler=self.shift_sampler, generator=self.generator, step=self.step, total_steps=cfg.steps)
        if "shifted_images" in self._needs and sharded:
            rows = self.rows
            fields["shifted_images"] = self.world.gather(render(shift[rows, None] * directions[index[rows]], rows))
        elif "shifted_images" in self._needs:
            fields["shifted_images"] = render(shift[:, None] * directions[index])
        return LossContext(**fields)

    def train_step(self) -> dict[str, float]:
        directions = self.sharded_model()
        ctx = self.context(directions)
        total = torch.zeros((), device=self.device)
        logs: dict[str, float] = {}
        for term in self.terms:
            out = term(ctx)
            contribution = out["loss"] + out.get("loss_orthogonal", 0.0)
            total = total + contribution
            for key, value in out.items():
                logs[f"{term.name}/{key}"] = float(value.detach()) if torch.is_tensor(value) else float(value)
        if not torch.isfinite(total):
            raise UserError(f"the loss became {float(total)} at step {self.step}; lower the learning rate or weights")
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
        if total.requires_grad:
            total.backward()
        if self.optimizer is not None:
            self.optimizer.step()
        for term in self.terms:
            for key, value in term.after_step(ctx).items():
                logs[f"{term.name}/{key}"] = float(value)
        logs["loss"] = float(total.detach())
        logs["step"] = self.step
        if self.step % LOG_EVERY == 0 or self.step == self.config.steps - 1:
            self.history.append(logs)
        self.step += 1
        return logs

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": "latentdirs-discovery-checkpoint", "step": self.step, "config": self.config.to_dict(),
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "terms": [term.state_dict() for term in self.terms],
            "terms_extra": [term.extra_state() for term in self.terms],
            "rng": self.generator.get_state(), "history": self.history,
            "generator_fingerprint": self.handle.fingerprint,
        }

    def save_checkpoint(self, path: str | Path) -> None:
        torch_save(path, self.state())

    def load_checkpoint(self, path: str | Path) -> None:
        state = torch_load(path, "discovery checkpoint")
        if not isinstance(state, dict) or state.get("format") != "latentdirs-discovery-checkpoint":
            raise UserError(f"{path} is not a latentdirs discovery checkpoint")
        if state["generator_fingerprint"] != self.handle.fingerprint:
            raise UserError(f"checkpoint {path} was made with another generator")
        saved = DiscoveryConfig.from_dict(state["config"]).training_identity()
        mine = self.config.training_identity()
        if saved != mine:
            changed = sorted(k for k in mine if saved.get(k) != mine[k])
            raise UserError(f"checkpoint {path} was made with different settings ({', '.join(changed)}); "
                            "resume with the same settings or start a new output folder")
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        for term, term_state, extra in zip(self.terms, state["terms"], state["terms_extra"], strict=True):
            term.load_state_dict(term_state)
            term.load_extra_state(extra)
        self.generator.set_state(state["rng"])
        self.step = int(state["step"])
        self.history = list(state["history"])

    def directions(self) -> torch.Tensor:
        with torch.no_grad():
            return self.model().detach()

    def result(self) -> DirectionSet:
        """The learned directions with their statistics and provenance."""
        stats_generator = torch_generator(self.config.seed + 7919, self.device)
        losses = [{"spec": term.describe(), "name": term.name, "params": dict(term.hp)} for term in self.terms]
        extra: dict[str, Any] = {"config": self.config.to_dict()}
        if self.subspace_stds is not None:
            extra["subspace_component_stds"] = self.subspace_stds.tolist()
        return make_direction_set(self.renderer, self.directions(), method=self.config.method,
                                  generator=stats_generator, num_samples=self.config.stats_samples,
                                  parameterization=self.config.parameterization, losses=losses, steps=self.step,
                                  seed=self.config.seed, extra=extra)


def discover_closed_form(handle: GeneratorHandle, config: DiscoveryConfig) -> DirectionSet:
    """GANSpace, SeFa or random orthonormal directions (see :mod:`.closed_form`)."""
    from .closed_form import pca_directions, random_directions, sefa_directions
    from .statistics import sample_base_codes

    space = LatentSpace.create(config.space, config.layers, handle.num_ws)
    renderer = SpaceRenderer(handle, space)
    generator = torch_generator(config.seed, handle.device)
    if config.method == "ganspace":
        codes = sample_base_codes(renderer, config.pca_samples, generator)
        directions, stds = pca_directions(codes, config.num_directions)
        extra = {"pca_samples": config.pca_samples, "component_stds": stds.tolist()}
        return make_direction_set(renderer, directions, method="ganspace", generator=generator, codes=codes,
                                  seed=config.seed, extra={"config": config.to_dict(), **extra})
    if config.method == "sefa":
        if space.kind == "z":
            raise UserError("sefa finds directions in W (it factorises the style affines); use --space w or w+")
        directions, values, names = sefa_directions(handle, space.layers, config.num_directions, config.sefa_torgb)
        return make_direction_set(renderer, directions, method="sefa", generator=generator,
                                  num_samples=config.stats_samples, eigenvalues=values, seed=config.seed,
                                  extra={"config": config.to_dict(), "affine_layers": names})
    if config.method == "random":
        directions = random_directions(renderer.dim, config.num_directions, config.seed)
        return make_direction_set(renderer, directions, method="random", generator=generator,
                                  num_samples=config.stats_samples, seed=config.seed,
                                  extra={"config": config.to_dict()})
    raise UserError(f"unknown closed-form method {config.method!r}; expected {', '.join(CLOSED_FORM_METHODS)}")
