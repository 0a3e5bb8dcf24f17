"""Closed-form directions: GANSpace (PCA of sampled codes), SeFa (eigenvectors of style affines) and the
random-orthonormal baseline.

**GANSpace** (Härkönen, Hertzmann, Lehtinen, Paris, NeurIPS 2020, arXiv 2004.02546): sample codes
``x_i`` of the space (``w = mapping(z)`` in W/W+, ``z`` in Z), centre them and take the principal
axes: the eigenvectors of the sample covariance ``C = XᵀX / (n − 1)`` with the largest eigenvalues
``λ_k``; the component std is ``√λ_k``.

**SeFa** (Shen & Zhou, CVPR 2021, arXiv 2007.06600): every synthesis layer ``l`` modulates its
convolution with the style ``s_l = A_l w + b_l`` (``A_l [c_l, w_dim]``, stylegan2-ada's
``….affine.weight``). Stack the affines of the chosen layers into ``A = [A_l1; A_l2; …]``, normalise
each row (each style channel's weight vector; SeFa's "column" normalisation of ``Aᵀ``) to unit norm,
and take the eigenvectors of ``AᵀA [w_dim, w_dim]`` with the largest eigenvalues — the directions
``n`` maximising ``‖A n‖²`` over unit ``n``, i.e. those that move the styles the most. Symmetric
eigendecomposition (``torch.linalg.eigh``) in float64, sorted by decreasing eigenvalue. Which affines are
stacked differs from the reference code (genforce/sefa ``factorize_weight``), which takes one affine per
W+ index — the convolution's, except at the last index, where it takes the final ToRGB's instead: here
every style affine whose W+ index is chosen is stacked, the ToRGB ones of all resolutions included
(``include_torgb=False``: convolutions only).

**Random** (the chance baseline of a direction comparison): ``K`` orthonormal directions drawn uniformly
(Haar measure on the Stiefel manifold): ``Q`` of the QR decomposition of a ``d × K`` standard normal matrix,
each column multiplied by the sign of ``R``'s diagonal entry, which makes the draw uniform (Mezzadri,
"How to generate random matrices from the classical compact groups", Notices AMS 2007).

Eigenvectors have no intrinsic sign; both methods orient each so that its largest-magnitude entry
is positive (deterministic output).
"""

from __future__ import annotations

import torch

from ..errors import UserError
from .generator import GeneratorHandle


def _orient(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row of ``vectors [K, d]`` so that its largest-|·| entry is positive."""
    index = vectors.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vectors.gather(1, index))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def _top_eigenpairs(matrix: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh(matrix.double())
    order = torch.argsort(values, descending=True)[:k]
    return values[order], _orient(vectors[:, order].T)


def pca_directions(codes: torch.Tensor, num_directions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace: the ``K`` leading principal axes ``[K, d]`` of ``codes [n, d]`` and their stds ``[K]``."""
    n, d = codes.shape
    if num_directions > d:
        raise UserError(f"ganspace: cannot have {num_directions} principal components in {d} dimensions")
    if n < 2:
        raise UserError("ganspace needs at least two samples")
    centred = codes.double() - codes.double().mean(dim=0, keepdim=True)
    covariance = centred.T @ centred / (n - 1)
    values, vectors = _top_eigenpairs(covariance, num_directions)
    return vectors.float(), values.clamp_min(0).sqrt().float()


def random_directions(dim: int, num_directions: int, seed: int) -> torch.Tensor:
    """``K`` uniformly random orthonormal directions ``[K, dim]`` (float32), the same for a seed on any device
    (drawn on the CPU in float64)."""
    if num_directions > dim:
        raise UserError(f"random: cannot have {num_directions} orthonormal directions in {dim} dimensions")
    gaussian = torch.randn(dim, num_directions, generator=torch.Generator().manual_seed(int(seed)),
                           dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(r))
    return (q * torch.where(signs == 0, torch.ones_like(signs), signs)).T.contiguous().float()


def sefa_directions(handle: GeneratorHandle, layers: tuple[int, ...] | None, num_directions: int,
                    include_torgb: bool = True) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """SeFa: the ``K`` leading eigenvectors ``[K, w_dim]`` of the chosen layers' normalised affines.

    ``layers`` are W+ indices (``None``: all); returns the directions, their eigenvalues and the names
    of the affine weights used.
    """
    if num_directions > handle.w_dim:
        raise UserError(f"sefa: cannot have {num_directions} directions in {handle.w_dim} dimensions")
    chosen = [layer for layer in handle.affine_layers()
              if (layers is None or layer.ws_index in layers) and (include_torgb or ".torgb." not in layer.name)]
    if not chosen:
        raise UserError("sefa: the generator has no style affines (synthesis.b*.conv*/torgb.affine.weight) "
                        f"in layers {layers if layers is not None else 'all'}")
    stacked = torch.cat([layer.weight.double().cpu() for layer in chosen], dim=0)
    if stacked.shape[1] != handle.w_dim:
        raise UserError(f"sefa: affine weights have {stacked.shape[1]} inputs, expected w_dim={handle.w_dim}")
    stacked = stacked / stacked.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = _top_eigenpairs(stacked.T @ stacked, num_directions)
    return vectors.float(), values.float(), [layer.name for layer in chosen]
