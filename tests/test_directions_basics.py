"""Direction models, shift sampling, latent spaces, closed-form directions (tiny generator, CPU)."""

import numpy as np
import pytest
import torch
from directions_support import tiny_generator

from latentdirs.directions.closed_form import pca_directions, sefa_directions
from latentdirs.directions.generator import GeneratorHandle, affine_layers
from latentdirs.directions.model import PARAMETERIZATIONS, DirectionModel
from latentdirs.directions.shifts import ShiftSampler
from latentdirs.directions.spaces import LatentSpace, SpaceRenderer, format_layers, parse_layers
from latentdirs.errors import UserError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("parameterization", ["orthonormal", "qr"])
def test_orthonormal_parameterizations_stay_orthonormal_while_training(parameterization):
    model = DirectionModel(5, 12, parameterization, generator=_gen())
    opt = torch.optim.Adam(model.parameters(), lr=0.3)
    target = torch.randn(5, 12, generator=_gen(1))
    for _ in range(25):
        opt.zero_grad()
        loss = ((model() - target) ** 2).sum()
        loss.backward()
        opt.step()
        a = model()
        assert torch.allclose(a @ a.T, torch.eye(5), atol=1e-5)
    assert model().shape == (5, 12)
    assert not torch.allclose(model(), DirectionModel(5, 12, parameterization, generator=_gen())())  # it moved


def test_other_parameterizations_and_gradients():
    for parameterization in PARAMETERIZATIONS:
        init = torch.randn(3, 6, generator=_gen(2)) if parameterization == "fixed" else None
        model = DirectionModel(3, 6, parameterization, generator=_gen(), init=init)
        a = model()
        assert a.shape == (3, 6)
        if parameterization in ("unit", "orthonormal", "qr"):
            assert torch.allclose(a.norm(dim=1), torch.ones(3), atol=1e-5)
        params = list(model.parameters())
        if parameterization == "fixed":
            assert params == [] and torch.equal(a, init)
        else:
            a.sum().backward()
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    with pytest.raises(UserError):
        DirectionModel(7, 6, "orthonormal")
    with pytest.raises(UserError):
        DirectionModel(2, 6, "nonsense")


def test_orthonormal_init_keeps_given_rows():
    rows = torch.linalg.qr(torch.randn(8, 3, generator=_gen(3)))[0].T
    for parameterization in ("orthonormal", "qr"):
        model = DirectionModel(3, 8, parameterization, generator=_gen(), init=rows)
        assert torch.allclose(model(), rows, atol=1e-5)


@pytest.mark.parametrize("parameterization", ["orthonormal", "qr", "unit", "linear"])
def test_a_subspace_confines_the_directions_while_training(parameterization):
    subspace = torch.linalg.qr(torch.randn(12, 4, generator=_gen(5)))[0].T  # 4 orthonormal rows in R^12
    model = DirectionModel(3, 12, parameterization, generator=_gen(), subspace=subspace)
    opt = torch.optim.Adam(model.parameters(), lr=0.3)
    target = torch.randn(3, 12, generator=_gen(6))
    start = model().detach()
    for _ in range(25):
        opt.zero_grad()
        ((model() - target) ** 2).sum().backward()
        opt.step()
    a = model().detach()
    assert a.shape == (3, 12) and not torch.allclose(a, start)
    assert torch.allclose(a @ subspace.T @ subspace, a, atol=1e-5)  # never leaves the span
    assert ((a - target) ** 2).sum() < ((start - target) ** 2).sum()  # it moved toward the target's projection
    if parameterization in ("orthonormal", "qr"):
        assert torch.allclose(a @ a.T, torch.eye(3), atol=1e-5)


def test_subspace_initial_rows_and_bad_subspaces():
    subspace = torch.linalg.qr(torch.randn(8, 3, generator=_gen(7)))[0].T
    rows = torch.linalg.qr(torch.randn(3, 2, generator=_gen(8)))[0].T @ subspace  # 2 orthonormal rows inside
    for parameterization in ("orthonormal", "qr", "fixed"):
        model = DirectionModel(2, 8, parameterization, generator=_gen(), init=rows, subspace=subspace)
        assert torch.allclose(model(), rows, atol=1e-5)
    outside = torch.eye(8)[:2]
    with pytest.raises(UserError, match="subspace"):
        DirectionModel(2, 8, "orthonormal", init=outside + 10 * rows, subspace=subspace)
    with pytest.raises(UserError, match="orthonormal"):
        DirectionModel(2, 8, subspace=2 * subspace)
    with pytest.raises(UserError, match="shape"):
        DirectionModel(2, 8, subspace=subspace[:, :5])
    with pytest.raises(UserError, match="3 dimensions"):
        DirectionModel(4, 8, "orthonormal", subspace=subspace)
    assert "subspace" not in DirectionModel(2, 8).state_dict()  # checkpoints without one load as before
    assert "subspace" in DirectionModel(2, 8, subspace=subspace).state_dict()


def test_shift_sampler_ranges_signs_and_determinism():
    sampler = ShiftSampler(0.5, 6.0)
    k, eps = sampler.sample(20000, 7, _gen(4))
    assert k.dtype == torch.int64 and k.min() == 0 and k.max() == 6
    assert eps.abs().min() >= 0.5 and eps.abs().max() <= 6.0
    assert abs((eps > 0).float().mean().item() - 0.5) < 0.02
    # |eps| uniform on [0.5, 6]: mean 3.25, variance 5.5²/12
    assert abs(eps.abs().mean().item() - 3.25) < 0.05
    assert abs(eps.abs().var().item() - 5.5**2 / 12) < 0.1
    k2, eps2 = sampler.sample(20000, 7, _gen(4))
    assert torch.equal(k, k2) and torch.equal(eps, eps2)
    assert ShiftSampler.parse("1:3") == ShiftSampler(1.0, 3.0)
    with pytest.raises(UserError):
        ShiftSampler.parse("a:b")
    with pytest.raises(UserError):
        ShiftSampler(3.0, 1.0)


def test_layer_parsing():
    assert parse_layers("0-5") == (0, 1, 2, 3, 4, 5)
    assert parse_layers("all") is None and parse_layers(None) is None
    assert parse_layers("0-2,5") == (0, 1, 2, 5)
    assert format_layers((0, 1, 2, 5)) == "0-2,5"
    for bad in ["a", "3-1", "-1"]:
        with pytest.raises(UserError):
            parse_layers(bad)
    with pytest.raises(UserError):
        parse_layers("0-9", num_ws=6)


def test_spaces_and_shift_broadcast():
    handle = GeneratorHandle(tiny_generator())
    num_ws = handle.num_ws
    assert LatentSpace.create("w", "all", num_ws) == LatentSpace("w", None)
    assert LatentSpace.create("w", f"0-{num_ws - 1}", num_ws) == LatentSpace("w", None)
    assert LatentSpace.create("w", "0-2", num_ws) == LatentSpace("w+", (0, 1, 2))
    assert LatentSpace.create("z", None, num_ws) == LatentSpace("z", None)
    with pytest.raises(UserError):
        LatentSpace.create("z", "0-2", num_ws)
    with pytest.raises(UserError):
        LatentSpace.create("s", None, num_ws)

    space = LatentSpace.create("w+", "1-2", num_ws)
    renderer = SpaceRenderer(handle, space)
    batch = renderer.sample(4, _gen(5))
    assert batch.base.shape == (4, handle.w_dim)
    assert torch.equal(batch.base, batch.ws[:, 1])
    delta = torch.randn(4, handle.w_dim, generator=_gen(6))
    ws = renderer.shifted_ws(batch, delta)
    for layer in range(num_ws):
        expected = batch.ws[:, layer] + delta if layer in (1, 2) else batch.ws[:, layer]
        assert torch.equal(ws[:, layer], expected)
    assert torch.equal(renderer.render(batch, torch.zeros_like(delta)), renderer.render(batch))

    z_renderer = SpaceRenderer(handle, LatentSpace("z"))
    zb = z_renderer.sample(3, _gen(7))
    dz = torch.randn(3, handle.z_dim, generator=_gen(8))
    assert torch.allclose(z_renderer.shifted_ws(zb, dz), handle.mapping(zb.z + dz))
    w_renderer = SpaceRenderer(handle, LatentSpace("w"))
    wb = w_renderer.sample(3, _gen(7))
    assert torch.equal(wb.z, zb.z)
    assert torch.equal(w_renderer.shifted_ws(wb, delta[:3]), wb.ws + delta[:3, None, :])


def test_affine_layers_follow_official_ws_indexing(shared_fixtures):
    from safetensors.torch import load_file

    for case, num_ws in [("a_res32_rgb_skip_clamp256", 8), ("b_res64_gray_resnet_noclamp", 10)]:
        state = load_file(shared_fixtures / "stylegan2" / case / "state.safetensors")
        layers = affine_layers(state)
        by_name = {layer.name: layer.ws_index for layer in layers}
        assert by_name["synthesis.b4.conv1.affine.weight"] == 0
        assert by_name["synthesis.b8.conv0.affine.weight"] == 1
        assert by_name["synthesis.b8.conv1.affine.weight"] == 2
        last = max(int(n.split(".")[1][1:]) for n in by_name)
        assert by_name[f"synthesis.b{last}.torgb.affine.weight"] == num_ws - 1
        assert {layer.ws_index for layer in layers} == set(range(num_ws))
        if case.startswith("a_"):  # skip architecture: every block has a ToRGB sharing the next conv0's index
            assert by_name["synthesis.b4.torgb.affine.weight"] == 1
            assert by_name["synthesis.b8.torgb.affine.weight"] == 3


def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    rs = np.random.RandomState(0)
    codes = rs.randn(500, 6) @ rs.randn(6, 6) + 3.0
    directions, stds = pca_directions(torch.from_numpy(codes), 4)
    pca = PCA(n_components=4).fit(codes)
    for k in range(4):
        assert abs(abs(float(directions[k].double() @ torch.from_numpy(pca.components_[k]))) - 1) < 1e-5
    assert np.allclose(stds.numpy(), np.sqrt(pca.explained_variance_), rtol=1e-5)
    assert torch.all(stds[:-1] >= stds[1:])


def test_sefa_matches_svd_of_normalised_affines():
    handle = GeneratorHandle(tiny_generator())
    layers = (0, 1, 2)
    directions, values, names = sefa_directions(handle, layers, 5)
    state = handle.module.state_dict()
    rows = [state[n].double().numpy() for n in names]
    assert names and all(layer.ws_index in layers for layer in handle.affine_layers() if layer.name in names)
    stacked = np.concatenate(rows, axis=0)
    stacked /= np.linalg.norm(stacked, axis=1, keepdims=True)
    _, s, vt = np.linalg.svd(stacked, full_matrices=False)
    assert np.allclose(values.numpy(), s[:5] ** 2, rtol=1e-5)
    for k in range(5):
        assert abs(abs(float(directions[k].double().numpy() @ vt[k])) - 1) < 1e-5
    assert torch.allclose(directions @ directions.T, torch.eye(5), atol=1e-5)
    no_rgb = sefa_directions(handle, layers, 2, include_torgb=False)[2]
    assert all(".torgb." not in n for n in no_rgb) and len(no_rgb) < len(names)
