"""The loss registry: every loss term of both subsystems, by name.

A term is an ``nn.Module`` subclass of :class:`LossTerm` registered with :func:`register`. It
declares its hyper-parameters (:class:`Param`, with defaults), what it needs from the model
(``needs``: names of :class:`LossContext` fields), which trainers it serves (``domains``) and its
role (a base ``objective`` or an added ``regularizer``). Its docstring carries the formula and the
paper. Trainers build terms from strings such as ``topdis:gamma=5,delay=1000`` or from config
dicts, check ``needs`` against what they provide, call ``term(ctx)`` each step and
``term.after_step(ctx)`` after the optimizer step (for terms with their own optimizer, e.g. the
FactorVAE discriminator).
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import UserError

OBJECTIVE = "objective"
REGULARIZER = "regularizer"


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: default value, type (bool/int/float/str), optional choices, and for numbers an
    optional lower bound: ``minimum`` (value ≥ minimum) or ``above`` (value > above). Floats must be finite."""

    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    above: float | None = None

    @property
    def type(self) -> type:
        return type(self.default)

    def cast(self, name: str, value: Any, owner: str) -> Any:
        """Convert ``value`` (a string from the command line, or a JSON value) to this type."""
        kind = self.type
        try:
            if kind is bool:
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    value = lowered in ("true", "1", "yes")
                value = bool(value)
            elif kind is int:
                as_float = float(value)
                if as_float != int(as_float):
                    raise ValueError(value)
                value = int(as_float)
            elif kind is float:
                value = float(value)
            else:
                value = str(value)
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{owner}: parameter {name}={value!r} is not a valid {kind.__name__}") from None
        if kind is float and not math.isfinite(value):
            raise UserError(f"{owner}: parameter {name}={value!r} must be a finite number")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"{owner}: parameter {name}={value!r} must be one of {list(self.choices)}")
        if self.minimum is not None and value < self.minimum:
            raise UserError(f"{owner}: parameter {name}={value!r} must be ≥ {self.minimum}")
        if self.above is not None and value <= self.above:
            raise UserError(f"{owner}: parameter {name}={value!r} must be > {self.above}")
        return value


class LossContext:
    """What a trainer hands to its loss terms for one step: named fields, read as attributes.

    Each trainer documents the fields it provides (``available``); a term lists the ones it
    reads in ``needs`` so a mismatch is reported before training starts.
    """

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    @property
    def available(self) -> frozenset[str]:
        return frozenset(self.__dict__)


class LossTerm(nn.Module):
    """Base class of every registered loss term.

    Subclasses set the class attributes and implement :meth:`forward`, which returns a dict whose
    ``"loss"`` entry is the term's (already weighted) contribution to the total; other entries are
    logged. Hyper-parameters are available as ``self.hp[name]``.
    """

    name: ClassVar[str] = ""
    role: ClassVar[str] = REGULARIZER
    domains: ClassVar[frozenset[str]] = frozenset({"vae"})
    needs: ClassVar[frozenset[str]] = frozenset()
    params: ClassVar[dict[str, Param]] = {}
    encoder_only: ClassVar[bool] = False  # an objective with no reconstruction: the VAE trainer wants no decoder

    def __init__(self, **hparams: Any) -> None:
        super().__init__()
        self.hp: dict[str, Any] = resolve_params(type(self), hparams)

    def forward(self, ctx: LossContext) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_model(self, latent_dim: int) -> None:
        """Raise a UserError for settings that cannot work with a model of ``latent_dim`` codes (default: none
        can fail). The VAE trainer calls it before the first step, so such a run stops at once, not at the
        step where the term first acts (after its delay, perhaps hours in)."""

    def after_step(self, ctx: LossContext) -> dict[str, float]:
        """Updates of the term's own parameters after the main optimizer step (default: none)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """State beyond ``state_dict`` that a checkpoint must keep (e.g. an own optimizer)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`extra_state`."""

    def describe(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.hp.items())
        return f"{self.name}:{args}" if args else self.name


_REGISTRY: dict[str, type[LossTerm]] = {}


def register(cls: type[LossTerm]) -> type[LossTerm]:
    """Class decorator adding a :class:`LossTerm` subclass to the registry under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if cls.role not in (OBJECTIVE, REGULARIZER):
        raise ValueError(f"{cls.name}: role must be {OBJECTIVE!r} or {REGULARIZER!r}")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"loss {cls.name!r} registered twice ({existing.__qualname__}, {cls.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin_terms() -> None:
    """Import the modules that register the built-in terms (each registers on import)."""
    import importlib
    import pkgutil

    from .. import losses

    for module in pkgutil.iter_modules(losses.__path__):
        if module.name != "registry":
            importlib.import_module(f"{losses.__name__}.{module.name}")


def available(role: str | None = None, domain: str | None = None) -> dict[str, type[LossTerm]]:
    """Registered terms, optionally filtered by role and domain, sorted by name."""
    _load_builtin_terms()
    return {
        name: cls
        for name, cls in sorted(_REGISTRY.items())
        if (role is None or cls.role == role) and (domain is None or domain in cls.domains)
    }


def get(name: str, role: str | None = None, domain: str | None = None) -> type[LossTerm]:
    """The term class called ``name``; a UserError listing the choices when there is none."""
    choices = available(role, domain)
    if name in choices:
        return choices[name]
    what = f"{role or 'loss'}" + (f" for {domain}" if domain else "")
    close = difflib.get_close_matches(name, list(choices), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown {what} {name!r}{hint}; available: {', '.join(choices) or 'none'}")


def resolve_params(cls: type[LossTerm], given: dict[str, Any]) -> dict[str, Any]:
    """Defaults of ``cls.params`` updated with ``given`` (cast and checked)."""
    unknown = sorted(set(given) - set(cls.params))
    if unknown:
        known = ", ".join(f"{k}={p.default}" for k, p in cls.params.items()) or "none"
        raise UserError(f"{cls.name}: unknown parameter(s) {', '.join(unknown)}; parameters: {known}")
    values = {k: p.default for k, p in cls.params.items()}
    for key, value in given.items():
        values[key] = cls.params[key].cast(key, value, cls.name)
    return values


def parse_spec(spec: str, check_name: Callable[[str], object] | None = None) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` (the ``--reg`` syntax) into a name and raw values. ``check_name``
    (e.g. a registry lookup that raises for an unknown name) sees the name before the values are parsed, so
    ``nope:1`` is reported as an unknown name rather than as bad ``key=value`` syntax."""
    spec = spec.strip()
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise UserError(f"bad loss spec {spec!r}; expected name or name:key=value,key=value")
    if check_name is not None:
        check_name(name)
    values: dict[str, str] = {}
    if rest.strip():
        for item in rest.split(","):
            key, sep, value = item.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise UserError(f"bad loss spec {spec!r}: {item.strip()!r} is not key=value")
            if key in values:
                raise UserError(f"bad loss spec {spec!r}: {key} given twice")
            values[key] = value
    return name, values


def build(
    spec: str | dict[str, Any], role: str | None = None, domain: str | None = None, **overrides: Any
) -> LossTerm:
    """Instantiate a term from ``name:key=value,…`` or ``{"name": ..., key: value, ...}``."""
    if isinstance(spec, str):
        name, values = parse_spec(spec, lambda known: get(known, role, domain))
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        values = {k: v for k, v in spec.items() if k != "name"}
        name = spec["name"]
    else:
        raise UserError(f"bad loss spec {spec!r}; expected 'name:key=value' or an object with a 'name'")
    cls = get(name, role, domain)
    return cls(**{**values, **overrides})


def check_needs(terms: list[LossTerm], provided: frozenset[str], trainer: str) -> None:
    """Raise a UserError when a term needs a context field the trainer does not provide."""
    for term in terms:
        missing = sorted(term.needs - provided)
        if missing:
            raise UserError(
                f"loss {term.name!r} needs {', '.join(missing)}, which the {trainer} trainer does not provide"
            )


def _heading(name: str, cls: type[LossTerm]) -> str:
    return f"{name} [{cls.role}; {'/'.join(sorted(cls.domains))}]"


def describe_all(domain: str | None = None) -> str:
    """A human-readable table of registered terms and their parameters (for ``--help``-like output)."""
    lines = []
    for name, cls in available(domain=domain).items():
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        params = ", ".join(f"{k}={p.default}" for k, p in cls.params.items())
        lines.append(f"{_heading(name, cls)} {summary}\n    {params}")
    return "\n".join(lines)


def describe_term(name: str) -> str:
    """One term in full: its docstring, then each parameter with its default, meaning, choices and bound."""
    cls = get(name)
    lines = [_heading(name, cls), "", inspect.cleandoc(cls.__doc__ or ""), "",
             "parameters (NAME:key=value,…):"]
    for key, param in cls.params.items():
        extra = [f"one of {', '.join(map(str, param.choices))}"] if param.choices else []
        extra += [f"≥ {param.minimum:g}"] if param.minimum is not None else []
        extra += [f"> {param.above:g}"] if param.above is not None else []
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"  {key}={param.default}  {param.help}{tail}")
    return "\n".join(lines)
