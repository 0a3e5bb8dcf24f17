"""StyleGAN2 mapping network Z (+ class label) → W, with the tracked mean ``w_avg`` and truncation.

- ``normalize_2nd_moment(z) = z / sqrt(mean(z², dim=1) + 1e-8)`` (pixel norm of the latent);
- a conditional model embeds the one-hot label with a linear layer and normalizes it the same way,
  then concatenates it to the normalized z;
- ``num_layers`` equalized-lr FC layers with lrelu and learning-rate multiplier 0.01;
- during training ``w_avg ← lerp(mean_batch(w), w_avg, β)`` (β = 0.995);
- truncation (Karras et al., StyleGAN, CVPR 2019, arXiv 1812.04948):
  ``w' = w_avg + ψ (w - w_avg)`` on the first ``cutoff`` of the ``num_ws`` copies (all when None).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import FullyConnectedLayer


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def z_to_w(self, z: torch.Tensor | None, c: torch.Tensor | None = None) -> torch.Tensor:
        """One w ``[N, w_dim]`` per sample (no broadcast, no truncation, no ``w_avg`` update)."""
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must be [N, {self.z_dim}], got {None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"c must be [N, {self.c_dim}] (one-hot labels), got "
                                 f"{None if c is None else tuple(c.shape)}")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """``w_avg + ψ (ws - w_avg)`` on ``ws[:, :cutoff]`` (all of ``ws`` when cutoff is None or ws is 2-D)."""
        if psi == 1:
            return ws
        if not hasattr(self, "w_avg"):
            raise ValueError("this mapping network tracks no w_avg (w_avg_beta=None): truncation is impossible")
        if ws.ndim == 2 or cutoff is None:
            return self.w_avg.lerp(ws, psi)
        head = self.w_avg.lerp(ws[:, :cutoff], psi)
        return torch.cat([head, ws[:, cutoff:]], dim=1)

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        skip_w_avg_update: bool = False,
    ) -> torch.Tensor:
        """``ws`` ``[N, num_ws, w_dim]`` (``[N, w_dim]`` when num_ws is None); updates ``w_avg`` in training."""
        x = self.z_to_w(z, c)
        if self.w_avg_beta is not None and self.training and not skip_w_avg_update and hasattr(self, "w_avg"):
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return self.truncate(x, truncation_psi, truncation_cutoff)
