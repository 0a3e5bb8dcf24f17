"""Optimal-transport kernels: cost matrices, the entropic Gromov-Wasserstein solver, the Gromov-Monge gap.

Tensors in, differentiable values out; nothing here knows about VAEs or GANs.
"""
