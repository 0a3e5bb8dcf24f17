"""What a VAE training run is: a plain dict of options, checked, with loss terms fully resolved.

A run's ``config.json`` holds exactly these keys, so ``train-vae --config run/config.json`` re-runs
it. Terms are written as ``{"name": ..., <every hyper-parameter>: value}``; on input they may also be
``"name:key=value,…"`` strings (the ``--reg`` syntax).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .. import validation as v
from ..errors import UserError
from ..losses.registry import OBJECTIVE, REGULARIZER, LossTerm, get, parse_spec
from .reconstruction import RECONSTRUCTIONS

#: objectives that mean something without a decoder (recon = 0): prior matching of the aggregate posterior; the
#: per-sample KL of the others is minimised by a collapsed encoder (see latentdirs.losses.prior_matching)
DECODER_FREE_OBJECTIVES = ("wae-mmd",)
_BOUNDS = {"latent_dim": v.LATENT_DIM, "steps": v.STEPS, "batch_size": v.BATCH, "lr": v.LEARNING_RATE,
           "seed": v.SEED, "checkpoint_every": v.EVERY, "log_every": v.EVERY}

# Options that may differ when a run is resumed (they do not change the weights it computes).
RESUME_MAY_CHANGE = frozenset({"steps", "device", "checkpoint_every", "log_every"})


@dataclass
class TrainConfig:
    """Every option of a VAE training run (defaults as in disentanglement_lib where it has one)."""

    dataset: str = "dsprites"
    data_path: str | None = None
    objective: dict[str, Any] = field(default_factory=lambda: {"name": "beta-vae"})
    regularizers: list[dict[str, Any]] = field(default_factory=list)
    latent_dim: int = 10
    reconstruction: str = "bernoulli"
    decoder: bool = True
    steps: int = 300_000
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1000
    log_every: int = 10

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Check names and types of ``values`` (unknown keys are an error) and resolve the terms."""
        if not isinstance(values, dict):
            raise UserError(f"{source}: expected a JSON object of options, got {type(values).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(f"{source}: unknown option(s) {', '.join(unknown)}; options: {', '.join(known)}")
        config = cls(**{key: _checked(key, value, source) for key, value in values.items()})
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        if self.reconstruction not in RECONSTRUCTIONS:
            raise UserError(
                f"{source}: reconstruction must be one of {list(RECONSTRUCTIONS)}, got {self.reconstruction!r}"
            )
        for key, bounds in _BOUNDS.items():
            bounds.check(getattr(self, key), f"{source}: {key}")
        if self.batch_size < 2:
            raise UserError(f"{source}: batch_size must be ≥ 2 (batch statistics), got {self.batch_size}")
        v.check_device_name(self.device)
        objective = build_objective(self.objective, self.latent_dim)
        if objective.encoder_only and self.decoder:
            raise UserError(f"{source}: objective {objective.name!r} trains the encoder alone (it has no "
                            "reconstruction term); pass --no-decoder")
        if not self.decoder and not objective.encoder_only and objective.name not in DECODER_FREE_OBJECTIVES:
            raise UserError(f"{source}: --no-decoder trains without a reconstruction, and objective "
                            f"{objective.name!r} then only pulls every posterior onto the prior; use "
                            f"{', '.join(DECODER_FREE_OBJECTIVES)} or decoder-free-gmg")
        self.objective = term_spec(objective)
        self.regularizers = [term_spec(build_regularizer(spec, self.latent_dim)) for spec in self.regularizers]

    def build_terms(self) -> list[LossTerm]:
        """Fresh instances of the objective followed by the regularizers."""
        return [build_objective(self.objective, self.latent_dim)] + [
            build_regularizer(spec, self.latent_dim) for spec in self.regularizers
        ]


_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "data_path": (str, type(None)), "objective": (str, dict), "regularizers": (list,),
    "latent_dim": (int,), "reconstruction": (str,), "decoder": (bool,), "steps": (int,), "batch_size": (int,),
    "lr": (float, int), "seed": (int,), "device": (str,), "checkpoint_every": (int,), "log_every": (int,),
}


def _checked(key: str, value: Any, source: str) -> Any:
    kinds = _TYPES[key]
    if isinstance(value, bool) and bool not in kinds:
        kinds = ()
    if not isinstance(value, kinds):
        expected = " or ".join("null" if k is type(None) else k.__name__ for k in _TYPES[key])
        raise UserError(f"{source}: option {key} must be {expected}, got {value!r}")
    if key == "lr":
        return float(value)
    if key == "regularizers":
        for item in value:
            if not isinstance(item, str | dict):
                raise UserError(f"{source}: each regularizer must be 'name:k=v,…' or an object, got {item!r}")
        return list(value)
    return value


def build_objective(spec: str | dict[str, Any], latent_dim: int) -> LossTerm:
    return _build(spec, OBJECTIVE, latent_dim)


def build_regularizer(spec: str | dict[str, Any], latent_dim: int) -> LossTerm:
    return _build(spec, REGULARIZER, latent_dim)


def _build(spec: str | dict[str, Any], role: str, latent_dim: int) -> LossTerm:
    """Build a VAE term; a term declaring a ``latent_dim`` parameter gets the model's (e.g. FactorVAE)."""
    if isinstance(spec, str):
        name, values = parse_spec(spec, lambda known: get(known, role=role, domain="vae"))
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name, values = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise UserError(f"bad loss spec {spec!r}; expected 'name:key=value' or an object with a 'name'")
    cls = get(name, role=role, domain="vae")
    if "latent_dim" in cls.params:
        given = cls.params["latent_dim"].cast("latent_dim", values.get("latent_dim", latent_dim), name)
        if given != latent_dim:
            raise UserError(f"{name}: latent_dim={given} differs from the model's latent_dim={latent_dim}")
        values = {**values, "latent_dim": latent_dim}
    return cls(**values)


def term_spec(term: LossTerm) -> dict[str, Any]:
    """``{"name": ..., every hyper-parameter: value}`` — the resolved form written to config.json."""
    return {"name": term.name, **term.hp}


def set_strength(objective: dict[str, Any], value: float) -> dict[str, Any]:
    """``--beta``: set the objective's ``beta``, else its ``gamma``; an error when it has neither."""
    for key in ("beta", "gamma"):
        if key in objective:
            return {**objective, key: float(value)}
    params = ", ".join(k for k in objective if k != "name")
    raise UserError(
        f"--beta: objective {objective['name']!r} has no beta or gamma (its parameters: {params}); "
        f"set them with --objective {objective['name']}:key=value"
    )


def merge_options(base: dict[str, Any], overrides: dict[str, Any], beta: float | None, source: str) -> TrainConfig:
    """``base`` (defaults, a config file or a saved run) updated with ``overrides``; then ``--beta``."""
    config = TrainConfig.from_dict({**base, **overrides}, source)
    if beta is not None:
        config.objective = set_strength(config.objective, beta)
        config.validate(source)
    return config


def differences(saved: dict[str, Any], asked: dict[str, Any], ignore: frozenset[str] = RESUME_MAY_CHANGE) -> list[str]:
    """Human-readable ``key: saved → asked`` for each option that differs (except ``ignore``)."""
    return [
        f"{key}: {saved.get(key)!r} → {asked.get(key)!r}"
        for key in sorted(set(saved) | set(asked))
        if key not in ignore and saved.get(key) != asked.get(key)
    ]
