"""Edited images for the editor and the API, with what repeats kept in memory.

An edit is ``latentdirs edit`` with several directions at once: the code of a seed (or a given latent)
moves by ``Σ_k s_k · v_k`` (``v_k``: direction k at strength 1, in σ or raw units;
:func:`~latentdirs.directions.editing.combined_step`) and is rendered alone, through the same functions
the command uses — so one direction at strength ``s`` gives the command's pixels bit for bit.

Cached: each loaded generator (by name, with its weights' fingerprint), the handles on it (per ψ, noise
mode and class), direction sets (by file and modification time) and the mapped codes of seeds (per
generator, ψ, class, space and seed), each in a small least-recently-used store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from ..directions.dirfile import DirectionSet, load_directions
from ..directions.editing import (
    combined_step,
    edit_renderer,
    latent_from_array,
    png_bytes,
    seed_latent,
    traverse_images,
)
from ..directions.generator import GeneratorHandle
from ..directions.spaces import LatentBatch, LatentSpace, SpaceRenderer
from ..errors import UserError
from .registry import Registry

Value = TypeVar("Value")
NOISE_MODES = ("const", "random", "none")


class LruStore(Generic[Value]):
    """A thread-safe least-recently-used map of at most ``size`` values; ``get(key, make)`` makes a missing one
    (under a lock per store, so two requests never make the same value twice)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Value] = OrderedDict()
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], Value]) -> Value:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                return self._values[key]
            self.misses += 1
            value = make()
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
            return value


@dataclass
class EditRequest:
    """One edit: images of ``seeds`` (or one ``latent``), moved by ``strengths`` {direction: s} of a direction
    set, at truncation ``trunc`` (None: the directions' ψ, as ``latentdirs edit``), as a grid of ``columns``."""

    generator: str
    directions: str | None = None
    seeds: list[int] = field(default_factory=list)
    latent: Any = None
    strengths: dict[int, float] = field(default_factory=dict)
    units: str = "sigma"
    layers: str | None = None
    trunc: float | None = None
    noise_mode: str = "const"
    class_index: int | None = None
    columns: int | None = None
    scale: int = 1


@dataclass(frozen=True)
class LoadedGenerator:
    module: torch.nn.Module
    fingerprint: str
    source: str


class Renderer:
    """Renders :class:`EditRequest` s for the models a :class:`Registry` lists."""

    def __init__(self, registry: Registry, device: str = "cpu", *, generators: int = 4, seeds: int = 4096) -> None:
        self.registry = registry
        self.device = device
        self.generators: LruStore[LoadedGenerator] = LruStore(generators)
        self.handles: LruStore[GeneratorHandle] = LruStore(64)
        self.direction_files: LruStore[DirectionSet] = LruStore(64)
        self.codes: LruStore[LatentBatch] = LruStore(seeds)

    # -- cached pieces --------------------------------------------------------------------------------
    def generator(self, name: str) -> LoadedGenerator:
        entry = self.registry.generator(name)
        stat = entry.path.stat()

        def load() -> LoadedGenerator:
            from ..gan import generator_fingerprint, load_generator

            module = load_generator(entry.path, device=self.device).eval().requires_grad_(False)
            return LoadedGenerator(module, generator_fingerprint(module), str(entry.path))

        return self.generators.get((name, stat.st_mtime_ns, stat.st_size), load)

    def handle(self, name: str, psi: float, noise_mode: str = "const", class_index: int | None = None
               ) -> GeneratorHandle:
        loaded = self.generator(name)
        return self.handles.get(
            (name, id(loaded), psi, noise_mode, class_index),
            lambda: GeneratorHandle(loaded.module, device=self.device, truncation_psi=psi, noise_mode=noise_mode,
                                    class_index=class_index, source=loaded.source, fingerprint=loaded.fingerprint))

    def direction_set(self, name: str) -> DirectionSet:
        path = self.registry.direction_set(name).path
        stat = path.stat()
        return self.direction_files.get((str(path), stat.st_mtime_ns, stat.st_size), lambda: load_directions(path))

    def seed_code(self, renderer: SpaceRenderer, key: tuple, seed: int) -> LatentBatch:
        """The mapped code of ``seed`` (as ``latentdirs edit --seed`` draws it), kept per generator and space."""
        return self.codes.get((*key, str(renderer.space), seed), lambda: seed_latent(seed, renderer))

    # -- rendering --------------------------------------------------------------------------------------
    def render(self, request: EditRequest) -> bytes:
        """The PNG of an edit: one image unpadded, several as a padded grid (as ``latentdirs edit`` writes them)."""
        images = self.images(request)
        columns = request.columns or min(len(images), 8)
        return png_bytes(images, nrow=columns, scale=request.scale)

    def images(self, request: EditRequest) -> np.ndarray:
        """``[N, C, H, W]`` in [0, 1], one per seed (or the latent's)."""
        if request.noise_mode not in NOISE_MODES:
            raise UserError(f"unknown noise mode {request.noise_mode!r}; expected one of {', '.join(NOISE_MODES)}")
        if (not request.seeds) == (request.latent is None):
            raise UserError("give seeds or a latent (exactly one of them)")
        dset = self.direction_set(request.directions) if request.directions else None
        psi = request.trunc if request.trunc is not None else (
            float(dset.generator.get("truncation_psi", 1.0)) if dset is not None else 1.0)
        handle = self.handle(request.generator, psi, request.noise_mode, request.class_index)
        if dset is not None:
            dset.check_generator(handle, f"direction set {request.directions}")
            renderer = edit_renderer(handle, dset, request.layers)
            step = combined_step(dset, request.strengths, request.units)
        else:
            if request.strengths or request.layers:
                raise UserError("strengths and layers need a direction set")
            renderer = SpaceRenderer(handle, LatentSpace("w"))
            step = torch.zeros(handle.w_dim)
        if request.latent is not None:
            try:
                array = np.asarray(request.latent, dtype=np.float64)
            except (TypeError, ValueError):
                raise UserError("latent: expected a (nested) list of numbers") from None
            batches = [latent_from_array(array, renderer, "latent")]
        else:
            key = (handle.fingerprint, psi, request.class_index)
            batches = [self.seed_code(renderer, key, seed) for seed in request.seeds]
        return np.concatenate([traverse_images(renderer, batch, step, [1.0]) for batch in batches])
