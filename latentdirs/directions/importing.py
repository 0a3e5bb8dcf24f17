"""Build a latentdirs direction set from a foreign file (see :mod:`.formats`) for a given generator.

Values the file carries are kept (GANSpace ``lat_stdev`` and ``lat_mean``, SeFa eigenvalues and
layers); the others are computed from sampled codes as for discovered directions. A file that records
its latent space or W+ layers (our exports: SeFa ``space``/``layers``, GANSpace ``latent_space`` and
``edit_start``/``edit_end``, an InterFaceGAN folder's ``latentdirs.json``) must agree with ``--space`` and
``--layers``: a Z direction read as a W one (or the reverse) moves the image along another path.
"""

from __future__ import annotations

import os

import torch

from ..errors import UserError
from ..seeding import torch_generator
from .dirfile import DirectionSet
from .formats import ImportedDirections, import_directions
from .generator import GeneratorHandle
from .spaces import LatentSpace, SpaceRenderer, format_layers
from .statistics import make_direction_set


def directions_from_file(handle: GeneratorHandle, fmt: str, source: str | os.PathLike | list, *, space: str = "w",
                         layers: str | None = None, seed: int = 0, stats_samples: int = 4096) -> DirectionSet:
    imported = import_directions(fmt, source)
    latent_space = _checked_space(imported, fmt, source, space, layers, handle.num_ws)
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


def _checked_space(imported: ImportedDirections, fmt: str, source: str | os.PathLike | list, space: str,
                   layers: str | None, num_ws: int) -> LatentSpace:
    """The space of ``--space``/``--layers``, filled in from and checked against what the file records."""
    what = f"the {fmt} file{'s' if isinstance(source, list) else ''} {_name(source)}"
    recorded = imported.space
    if recorded is not None and (recorded == "z") != (space.lower() == "z"):
        raise UserError(f"{what}: the directions live in {recorded.upper()}, not in --space {space}; pass --space "
                        f"{recorded} (a direction of one space moves an image along another path in the other)")
    file_layers = imported.layers
    if space.lower() == "z" and file_layers == tuple(range(num_ws)):
        file_layers = None  # every layer (GANSpace's full edit range): a plain Z edit
    if file_layers is None:
        return LatentSpace.create(space, layers, num_ws)
    if space.lower() == "z":
        raise UserError(f"{what}: the directions act on W+ layers {format_layers(imported.layers)}, and Z has no "
                        "layers; pass --space w")
    from_file = LatentSpace.create(space, imported.layers, num_ws)
    if layers is not None and LatentSpace.create(space, layers, num_ws) != from_file:
        raise UserError(f"{what}: the directions act on W+ layers {format_layers(imported.layers)}, not on --layers "
                        f"{layers}; leave out --layers to use the file's")
    return from_file


def _name(source: str | os.PathLike | list) -> str:
    return ", ".join(str(s) for s in source) if isinstance(source, list) else str(source)
