"""Build a latentdirs direction set from a foreign file (see :mod:`.formats`) for a given generator.

Values the file carries are kept (GANSpace ``lat_stdev`` and ``lat_mean``, SeFa eigenvalues and
layers); the others are computed from sampled codes as for discovered directions.
"""

from __future__ import annotations

import os

import torch

from ..errors import UserError
from ..seeding import torch_generator
from .dirfile import DirectionSet
from .formats import import_directions
from .generator import GeneratorHandle
from .spaces import LatentSpace, SpaceRenderer, format_layers
from .statistics import make_direction_set


def directions_from_file(handle: GeneratorHandle, fmt: str, source: str | os.PathLike | list, *, space: str = "w",
                         layers: str | None = None, seed: int = 0, stats_samples: int = 4096) -> DirectionSet:
    imported = import_directions(fmt, source)
    if layers is None and imported.layers is not None and space != "z":
        layers = format_layers(imported.layers)
    latent_space = LatentSpace.create(space, layers, handle.num_ws)
    renderer = SpaceRenderer(handle, latent_space)
    d = imported.directions.shape[1]
    if d != renderer.dim:
        raise UserError(f"the {fmt} directions have dimension {d}, but space {latent_space} of this generator has "
                        f"{renderer.dim}; check --space and --generator")
    directions = torch.from_numpy(imported.directions)
    eigenvalues = None if imported.eigenvalues is None else torch.from_numpy(imported.eigenvalues)
    sources = [str(s) for s in source] if isinstance(source, list) else str(source)
    dset = make_direction_set(renderer, directions, method=f"import:{fmt}",
                              generator=torch_generator(seed, handle.device), num_samples=stats_samples, seed=seed,
                              eigenvalues=eigenvalues, extra={"source": sources})
    if imported.scales is not None:
        dset.scales = torch.from_numpy(imported.scales)
    if imported.mean is not None:
        dset.mean = torch.from_numpy(imported.mean)
    return dset
