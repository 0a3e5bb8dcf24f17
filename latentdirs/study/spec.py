"""A study spec: one base command, named settings × seeds, a baseline, the evaluation and what to report.

A spec is a JSON or YAML (PyYAML) file holding one object::

    name: topdis-cpu                       # optional; default: the file's stem
    description: β-VAE vs β-VAE + TopDis…  # optional free text (the report shows it)
    command: train-vae                     # train-vae | discover
    options: {dataset: dsprites, steps: 6000, objective: "beta-vae:beta=4"}   # every cell's options
    settings:                              # name → options added to (or, null, removed from) the base ones
      beta-vae: {}
      beta-vae+topdis: {reg: ["topdis:gamma=5"]}
    seeds: [0, 1, 2, 3, 4]                 # or a count: 5 means 0…4
    baseline: beta-vae                     # or {setting: its baseline, …}
    evaluate: {metrics: "mig,sap,dci,factor_vae"}   # options of `evaluate` / `evaluate-directions`
    metrics: [mig, dci.disentanglement]    # optional: the numbers the report tabulates (default: all)
    resources: {cpus: 1, gpus: 0}          # optional: what each run asks for (default: 1 CPU, no GPU)

Option names are the command's long options without ``--`` (``batch-size`` or ``batch_size``); a value is
a string, a number, true/false (a flag: ``fast: true``, ``decoder: false`` → ``--no-decoder``) or a list
(a repeatable option such as ``reg``). Whether an option exists and its value is valid is decided by the
command itself (see :mod:`latentdirs.study.cells`); this module checks the spec's shape.

``resources`` is what one run (and its evaluation) asks the executor for: ``cpus`` are also its torch threads
(``--threads``, at least 1), ``gpus`` what a Ray cluster reserves for it (fractions share a GPU; the run's
``device`` option still says where it computes). The local executor reserves nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import validation as v
from ..errors import UserError
from ..executors.base import Resources

Value = str | int | float | bool | list
COMMANDS = ("train-vae", "discover")
KEYS = ("name", "description", "command", "options", "settings", "seeds", "baseline", "evaluate", "metrics",
        "resources")
#: setting names become folder names: letters, digits and ``+ - _ . =``, not starting with a dot
SETTING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+\-_.=]{0,99}$")
OPTION_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
RESERVED_SETTINGS = ("report",)  # folders of the study itself
MAX_SEEDS = 1000


@dataclass(frozen=True)
class StudySpec:
    """A checked spec (see the module docstring); ``baselines`` maps each compared setting to its baseline."""

    name: str
    description: str
    command: str
    options: dict[str, Value]
    settings: dict[str, dict[str, Value | None]]
    seeds: tuple[int, ...]
    baselines: dict[str, str]
    evaluate: dict[str, Value]
    metrics: tuple[str, ...] | None
    resources: Resources | None = None  # None: the executor's default (1 CPU)

    def to_dict(self) -> dict[str, Any]:
        """The spec as written to a study folder's ``study.json`` (and read back by :func:`spec_from_dict`)."""
        record = {"name": self.name, "description": self.description, "command": self.command,
                  "options": self.options, "settings": self.settings, "seeds": list(self.seeds),
                  "baseline": self.baselines, "evaluate": self.evaluate,
                  "metrics": list(self.metrics) if self.metrics is not None else None}
        if self.resources is not None:
            record["resources"] = {"cpus": self.resources.cpus, "gpus": self.resources.gpus}
        return record

    def setting_options(self, setting: str) -> dict[str, Value]:
        """The base options with ``setting``'s on top (a null removes a base option)."""
        merged: dict[str, Any] = dict(self.options)
        for key, value in self.settings[setting].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged


def load_spec(path: str | Path) -> StudySpec:
    """Read and check the spec file ``path`` (``.json``, ``.yaml`` or ``.yml``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"study spec not found: {path}" if not path.exists() else f"study spec {path} is not a file")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        data = _parse_yaml(text, path)
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"study spec {path} is not valid JSON ({exc})") from None
    else:
        raise UserError(f"study spec {path}: expected a .json, .yaml or .yml file")
    return spec_from_dict(data, f"study spec {path}", default_name=path.stem)


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise UserError(f"study spec {path} is YAML and PyYAML is not installed (pip install pyyaml), "
                        "or write the spec as JSON") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UserError(f"study spec {path} is not valid YAML{line} ({getattr(exc, 'problem', None) or exc})") from None


def spec_from_dict(data: Any, source: str, default_name: str = "study") -> StudySpec:
    """Check the shape of a parsed spec; every mistake is one :class:`UserError` naming ``source`` and the key."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected an object with keys {', '.join(KEYS)}")
    unknown = sorted(set(data) - set(KEYS), key=str)
    if unknown:
        raise UserError(f"{source}: unknown key(s) {', '.join(map(str, unknown))}; keys: {', '.join(KEYS)}")
    for key in ("command", "settings", "seeds", "baseline"):
        if key not in data:
            raise UserError(f"{source}: missing key {key!r}")
    command = data["command"]
    if command not in COMMANDS:
        raise UserError(f"{source}: command must be one of {', '.join(COMMANDS)}, got {command!r}")
    name = _text(data.get("name", default_name), "name", source)
    if not SETTING_NAME.match(name):
        raise UserError(f"{source}: name {name!r} must be letters, digits and + - _ . = (at most 100)")
    settings = _settings(data["settings"], source)
    return StudySpec(
        name=name, description=_text(data.get("description", ""), "description", source), command=command,
        options=_options(data.get("options", {}), "options", source, allow_null=False),
        settings=settings, seeds=_seeds(data["seeds"], source),
        baselines=_baselines(data["baseline"], settings, source),
        evaluate=_options(data.get("evaluate", {}), "evaluate", source, allow_null=False),
        metrics=_metrics(data.get("metrics"), source), resources=_resources(data.get("resources"), source))


def _text(value: Any, key: str, source: str) -> str:
    if not isinstance(value, str):
        raise UserError(f"{source}: {key} must be a string, got {value!r}")
    return value


def _options(value: Any, where: str, source: str, allow_null: bool) -> dict[str, Any]:
    """Option name → value; names normalised to the CLI's dashes."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{source}: {where} must be an object of option: value, got {value!r}")
    options: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not OPTION_NAME.match(key.lstrip("-")):
            raise UserError(f"{source}: {where}: {key!r} is not an option name (e.g. steps, batch-size)")
        name = key.lstrip("-").replace("_", "-")
        if name in options:
            raise UserError(f"{source}: {where}: option {name} is given twice")
        if item is None and allow_null:
            options[name] = None
            continue
        items = item if isinstance(item, list) else [item]
        if isinstance(item, list) and not item:
            raise UserError(f"{source}: {where}: option {name} is an empty list (leave it out, or null to drop it)")
        for element in items:
            if not isinstance(element, str | int | float) or (isinstance(item, list) and isinstance(element, bool)):
                kind = "null" if element is None else type(element).__name__
                raise UserError(f"{source}: {where}: option {name} must be a string, a number, true/false or a "
                                f"list of strings and numbers, got {kind} {element!r}")
        options[name] = list(item) if isinstance(item, list) else item
    return options


def _settings(value: Any, source: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not value:
        raise UserError(f"{source}: settings must be a non-empty object of setting name: {{options}}")
    settings: dict[str, dict[str, Any]] = {}
    for name, options in value.items():
        if not isinstance(name, str) or not SETTING_NAME.match(name) or name in RESERVED_SETTINGS:
            raise UserError(f"{source}: setting name {name!r} must be letters, digits and + - _ . = (a folder name; "
                            f"at most 100, not {', '.join(RESERVED_SETTINGS)})")
        settings[name] = _options(options, f"setting {name!r}", source, allow_null=True)
    return settings


def _seeds(value: Any, source: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            raise UserError(f"{source}: seeds as a count must be between 1 and {MAX_SEEDS}, got {value}")
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise UserError(f"{source}: seeds must be a non-empty list of seeds or a count, got {value!r}")
    for seed in value:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise UserError(f"{source}: seed {seed!r} is not an integer in 0 … 2^32 − 1")
    if len(set(value)) != len(value):
        twice = sorted({seed for seed in value if value.count(seed) > 1})
        raise UserError(f"{source}: seeds must be distinct; given twice: {', '.join(map(str, twice))}")
    return tuple(value)


def _baselines(value: Any, settings: dict[str, Any], source: str) -> dict[str, str]:
    """``{compared setting: its baseline}``: one name compares every other setting with it."""
    def known(name: Any, role: str) -> str:
        if name not in settings:
            raise UserError(f"{source}: {role} {name!r} is not a setting; settings: {', '.join(settings)}")
        return name

    if isinstance(value, str):
        base = known(value, "baseline")
        return {name: base for name in settings if name != base}
    if isinstance(value, dict) and value:
        pairs = {known(name, "baseline key"): known(base, f"baseline of {name!r}") for name, base in value.items()}
        same = [name for name, base in pairs.items() if name == base]
        if same:
            raise UserError(f"{source}: setting {same[0]!r} cannot be its own baseline")
        return pairs
    raise UserError(f"{source}: baseline must be a setting name or an object of setting: baseline setting, "
                    f"got {value!r}")


def _metrics(value: Any, source: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise UserError(f"{source}: metrics must be a non-empty list of metric names (e.g. mig, dci.disentanglement)")
    if len(set(value)) != len(value):
        raise UserError(f"{source}: metrics lists a metric twice")
    return tuple(value)


def _resources(value: Any, source: str) -> Resources | None:
    """``{cpus: C, gpus: G}`` (either may be left out) → :class:`Resources`."""
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= {"cpus", "gpus"}:
        raise UserError(f"{source}: resources must be an object with cpus and/or gpus (per run), got {value!r}")
    checked = {key: bounds.check(value.get(key, default), f"{source}: resources.{key}")
               for key, bounds, default in (("cpus", v.RUN_CPUS, 1), ("gpus", v.RUN_GPUS, 0))}
    return Resources(float(checked["cpus"]), float(checked["gpus"]))
