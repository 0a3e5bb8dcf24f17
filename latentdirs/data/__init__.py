"""Ground-truth datasets: procedural renderers and loaders of the original files.

``get_dataset(name, path=None)`` is the one entry point; ``DATASET_NAMES`` lists the names:

* ``dsprites``  — procedural dSprites (:mod:`.dsprites`), or the original ``.npz`` when ``path`` is
  given (:mod:`.dsprites_file`);
* ``threedots`` — procedural threeDots of the JL1-VAE paper (:mod:`.threedots`);
* ``ellipses``  — procedural colour ellipses on a grey background, seven factors (:mod:`.ellipses`);
* ``3dshapes``  — ``3dshapes.h5`` at ``path`` (:mod:`.shapes3d`);
* ``mpi3d``     — an MPI3D ``.npz`` at ``path`` (:mod:`.mpi3d`).

Images are NCHW float32 in [0, 1], 64×64; factors are integer indices ``[N, K]``.
"""

from __future__ import annotations

from .base import GroundTruthData

DATASET_NAMES: tuple[str, ...] = ("dsprites", "threedots", "ellipses", "3dshapes", "mpi3d")

_FILES = {
    "3dshapes": "3dshapes.h5 (https://github.com/deepmind/3d-shapes)",
    "mpi3d": "an MPI3D .npz such as mpi3d_toy.npz (https://github.com/rr-learning/disentanglement_dataset)",
}


def get_dataset(name: str, path: str | None = None) -> GroundTruthData:
    """The dataset called ``name`` (one of ``DATASET_NAMES``); ``path`` is the file of a file-backed one."""
    from ..errors import UserError

    key = str(name).strip().lower()
    if key not in DATASET_NAMES:
        raise UserError(f"unknown dataset {name!r}; available: {', '.join(DATASET_NAMES)}")
    if key in _FILES and path is None:
        raise UserError(f"dataset {key} is read from a file: give the path to {_FILES[key]}")
    if key == "dsprites":
        if path is None:
            from .dsprites import DSprites

            return DSprites()
        from .dsprites_file import DSpritesFile

        return DSpritesFile(path)
    if key in ("threedots", "ellipses"):
        if path is not None:
            raise UserError(f"dataset {key} is procedural and reads no file; leave the path out")
        if key == "ellipses":
            from .ellipses import ColourEllipses

            return ColourEllipses()
        from .threedots import ThreeDots

        return ThreeDots()
    if key == "3dshapes":
        from .shapes3d import Shapes3D

        return Shapes3D(path)
    from .mpi3d import MPI3D

    return MPI3D(path)


__all__ = ["DATASET_NAMES", "GroundTruthData", "get_dataset"]
