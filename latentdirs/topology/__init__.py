"""Topology kernels: Vietoris–Rips persistence pairs, differentiable RTD, the TopDis latent shift.

Tensors in, differentiable values out; nothing here knows about VAEs or GANs.
"""

from .persistence import PersistencePairs, h1_pairs, h1_pairs_many, submit_h1_pairs
from .rtd import pairwise_distances, quantile_scale, r_cross_barcode, r_cross_matrix, rtd, rtd_from_distances
from .shift import LatentShift, ShiftResult, quantile_shift, shift_latents

__all__ = [
    "PersistencePairs", "h1_pairs", "h1_pairs_many", "submit_h1_pairs",
    "pairwise_distances", "quantile_scale", "r_cross_barcode", "r_cross_matrix", "rtd", "rtd_from_distances",
    "LatentShift", "ShiftResult", "quantile_shift", "shift_latents",
]
