"""Latent directions of a pretrained generator: models, discovery, editing, exchange formats, evaluation.

Directions live in Z, W or W+ (a layer subset) of a StyleGAN2 generator (:mod:`.spaces`); a
:class:`~.model.DirectionModel` holds K of them as a matrix with a parameterization; closed-form
baselines are in :mod:`.closed_form`; learned objectives are loss-registry terms of the
``"directions"`` domain (:mod:`.objectives`); files are in :mod:`.dirfile` (ours) and :mod:`.formats`
(GANSpace, InterFaceGAN, SeFa).
"""

from .dirfile import DirectionSet, load_directions, save_directions
from .discovery import run_discovery
from .generator import GeneratorHandle
from .model import DirectionModel
from .shifts import ShiftSampler
from .spaces import LatentSpace, SpaceRenderer
from .trainer import DirectionTrainer, DiscoveryConfig

__all__ = ["DirectionModel", "DirectionSet", "DirectionTrainer", "DiscoveryConfig", "GeneratorHandle", "LatentSpace",
           "ShiftSampler", "SpaceRenderer", "load_directions", "run_discovery", "save_directions"]
