"""Direction models: K directions in a d-dimensional latent space, ``A [K, d]`` (one direction per row).

Parameterizations (``DirectionModel(parameterization=…)``):

- ``orthonormal`` — ``A = (Q₀ · exp(S − Sᵀ))[:K]`` with a trainable ``S [d, d]`` (zero at start) and a
  fixed random orthogonal ``Q₀``: the matrix exponential of a skew-symmetric matrix is orthogonal,
  so the rows stay orthonormal to rounding for any ``S`` (Lezcano-Casado & Martínez-Rubio, ICML 2019).
- ``qr`` — ``A = Qᵀ`` from the reduced QR decomposition ``M = QR`` of a trainable ``M [d, K]``, signs
  fixed so that ``diag(R) > 0`` (unique and continuous in ``M``). Orthonormal rows.
- ``unit`` — ``A = M / ‖M‖`` row-wise: unit-norm, not necessarily orthogonal directions.
- ``linear`` — ``A = M`` free (Voynov & Babenko's linear deformator).
- ``fixed`` — a given matrix, not trainable (closed-form or imported directions).

Initial values come from an explicit ``torch.Generator``: random unit rows (``unit``/``linear``) or a
random orthonormal frame (``orthonormal``/``qr``).

A ``subspace [m, d]`` with orthonormal rows confines the directions to its span: the parameterization
above lives in the ``m`` coordinates of the subspace and ``A = A_m · subspace`` (``K ≤ m`` for
``orthonormal``/``qr``; with ``m = K`` an orthonormal ``A`` is a rotation of the subspace's rows). The
TopDis objective uses it to search among the leading principal components of W
(:mod:`latentdirs.directions.objectives`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import UserError

PARAMETERIZATIONS = ("orthonormal", "qr", "unit", "linear", "fixed")


def random_orthogonal(d: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal ``[d, d]`` matrix (QR of a Gaussian matrix with the sign fix)."""
    gaussian = torch.randn(d, d, generator=generator, device=generator.device, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.sign(torch.diagonal(r))[None, :]).float()


def qr_rows(m: torch.Tensor) -> torch.Tensor:
    """Orthonormal rows spanning the columns of ``m [d, K]``: ``Qᵀ`` of ``m = QR`` with ``diag(R) > 0``."""
    q, r = torch.linalg.qr(m)
    signs = torch.sign(torch.diagonal(r))
    signs = torch.where(signs == 0, torch.ones_like(signs), signs)
    return (q * signs[None, :]).T


class DirectionModel(nn.Module):
    """``K`` directions in a ``d``-dimensional space; ``forward()`` returns ``A [K, d]``."""

    def __init__(self, num_directions: int, dim: int, parameterization: str = "orthonormal", *,
                 generator: torch.Generator | None = None, init: torch.Tensor | None = None,
                 subspace: torch.Tensor | None = None) -> None:
        super().__init__()
        if parameterization not in PARAMETERIZATIONS:
            raise UserError(f"unknown parameterization {parameterization!r}; expected one of {PARAMETERIZATIONS}")
        if num_directions < 1 or dim < 1:
            raise UserError(f"need at least one direction in at least one dimension, got K={num_directions}, d={dim}")
        self.num_directions = int(num_directions)
        self.dim = int(dim)
        self.parameterization = parameterization
        if init is not None:
            init = torch.as_tensor(init, dtype=torch.float32)
            if tuple(init.shape) != (num_directions, dim):
                raise UserError(f"initial directions must have shape [{num_directions}, {dim}], got {list(init.shape)}")
        elif parameterization == "fixed":
            raise UserError("fixed directions need an initial matrix")
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        if subspace is not None:
            subspace = _checked_subspace(subspace, dim).to(gen.device)
            if init is not None:
                init = _coordinates(init.to(gen.device), subspace)
            dim = subspace.shape[0]
        self.register_buffer("subspace", subspace)
        if parameterization in ("orthonormal", "qr") and num_directions > dim:
            raise UserError(f"{parameterization}: cannot have {num_directions} orthonormal directions "
                            f"in {dim} dimensions")

        if parameterization == "orthonormal":
            if init is not None:
                basis = _complete_orthonormal(init, gen)
            else:
                basis = random_orthogonal(dim, gen)
            self.register_buffer("basis", basis.to(gen.device))
            self.skew = nn.Parameter(torch.zeros(dim, dim, device=gen.device))
        elif parameterization == "qr":
            start = init.T if init is not None else random_orthogonal(dim, gen)[:, :num_directions]
            self.weight = nn.Parameter(start.clone().to(gen.device))
        elif parameterization == "fixed":
            self.register_buffer("matrix", init.clone().to(gen.device))
        else:
            if init is None:
                init = torch.randn(num_directions, dim, generator=gen, device=gen.device)
                init = init / init.norm(dim=1, keepdim=True)
            self.weight = nn.Parameter(init.clone().to(gen.device))

    def forward(self) -> torch.Tensor:
        directions = self._coordinates()
        return directions if self.subspace is None else directions @ self.subspace

    def _coordinates(self) -> torch.Tensor:
        if self.parameterization == "orthonormal":
            rotation = torch.linalg.matrix_exp(self.skew - self.skew.T)
            return (self.basis @ rotation)[: self.num_directions]
        if self.parameterization == "qr":
            return qr_rows(self.weight)
        if self.parameterization == "unit":
            return self.weight / self.weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
        if self.parameterization == "linear":
            return self.weight
        return self.matrix

    def extra_repr(self) -> str:
        span = "" if self.subspace is None else f", in a {self.subspace.shape[0]}-dim subspace"
        return f"K={self.num_directions}, d={self.dim}, parameterization={self.parameterization}{span}"


def _checked_subspace(subspace: torch.Tensor, dim: int) -> torch.Tensor:
    """``subspace [m, dim]`` as float32, checked to have 1 ≤ m ≤ dim orthonormal rows."""
    subspace = torch.as_tensor(subspace, dtype=torch.float32)
    if subspace.ndim != 2 or subspace.shape[1] != dim or not 1 <= subspace.shape[0] <= dim:
        raise UserError(f"a direction subspace must have shape [m, {dim}] with 1 ≤ m ≤ {dim}, "
                        f"got {list(subspace.shape)}")
    gram = subspace.double() @ subspace.double().T
    if not torch.allclose(gram, torch.eye(subspace.shape[0], dtype=torch.float64), atol=1e-4):
        raise UserError("the rows of a direction subspace must be orthonormal")
    return subspace


def _coordinates(rows: torch.Tensor, subspace: torch.Tensor) -> torch.Tensor:
    """Coordinates ``rows · subspaceᵀ`` of ``rows [K, d]``; a UserError if a row leaves the subspace."""
    coordinates = rows @ subspace.T
    residual = (rows - coordinates @ subspace).norm(dim=1)
    if (residual > 1e-4 * rows.norm(dim=1).clamp_min(1.0)).any():
        raise UserError("initial directions must lie in the direction subspace")
    return coordinates


def _complete_orthonormal(rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A ``[d, d]`` orthogonal matrix whose first rows are the orthonormalized ``rows [K, d]``."""
    k, d = rows.shape
    filler = torch.randn(d - k, d, generator=generator, device=generator.device)
    full = torch.cat([rows.to(filler.device).double(), filler.double()], dim=0)
    return qr_rows(full.T).float()
