"""Direction files and the GANSpace / InterFaceGAN / SeFa formats: round trips, refusals, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from directions_support import tiny_generator

from latentdirs.directions.closed_form import sefa_directions
from latentdirs.directions.dirfile import DirectionSet, load_directions, save_directions
from latentdirs.directions.formats import export_directions, import_directions
from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.model import DirectionModel
from latentdirs.directions.spaces import LatentSpace, SpaceRenderer
from latentdirs.directions.statistics import make_direction_set
from latentdirs.errors import UserError


def _set(handle, space="w", layers=None, k=4, eigen=False, seed=0):
    renderer = SpaceRenderer(handle, LatentSpace.create(space, layers, handle.num_ws))
    gen = torch.Generator().manual_seed(seed)
    directions = DirectionModel(k, renderer.dim, "orthonormal", generator=gen)().detach()
    extra = {}
    if eigen:
        directions, values, _ = sefa_directions(handle, renderer.space.layers, k)
        extra["eigenvalues"] = values
    return make_direction_set(renderer, directions, method="test", generator=gen, num_samples=256, seed=seed,
                              losses=[{"name": "reconstructor", "weight": 1.0}], **extra)


def test_direction_file_round_trip_and_metadata(tmp_path):
    handle = GeneratorHandle(tiny_generator(), source="tiny.safetensors")
    dset = _set(handle, "w", "1-2")
    path = save_directions(tmp_path / "d.safetensors", dset)
    back = load_directions(path, handle)
    assert torch.equal(back.directions, dset.directions) and torch.equal(back.scales, dset.scales)
    assert torch.equal(back.mean, dset.mean) and torch.equal(back.random_stdevs, dset.random_stdevs)
    assert back.space == LatentSpace("w+", (1, 2)) and back.method == "test" and back.seed == 0
    meta = back.metadata()
    assert meta["generator"]["fingerprint"] == handle.fingerprint
    assert meta["generator"]["config"]["z_dim"] == 8 and meta["latentdirs_version"]
    assert meta["losses"] == [{"name": "reconstructor", "weight": 1.0}]
    # scales are the std of the sampled codes along each unit direction
    assert torch.all(dset.scales > 0) and dset.total_variance > 0


def test_direction_file_for_another_generator_is_refused(tmp_path):
    dset = _set(GeneratorHandle(tiny_generator(seed=0)))
    path = save_directions(tmp_path / "d.safetensors", dset)
    with pytest.raises(UserError, match="another generator"):
        load_directions(path, GeneratorHandle(tiny_generator(seed=1)))


@pytest.mark.parametrize("content", [b"", b"not a safetensors file at all", b"\xff" * 64])
def test_corrupt_direction_files_give_user_errors(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(UserError, match="bad.safetensors"):
        load_directions(path)
    with pytest.raises(UserError, match="not found"):
        load_directions(tmp_path / "missing.safetensors")


def test_foreign_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(UserError, match="import"):
        load_directions(tmp_path / "other.safetensors")


def test_ganspace_round_trip(tmp_path):
    dset = _set(GeneratorHandle(tiny_generator()))
    (path,) = export_directions(dset, "ganspace", tmp_path / "g.npz")
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        assert {"lat_comp", "lat_mean", "lat_stdev", "act_comp", "act_mean", "act_stdev", "var_ratio",
                "random_stdevs"} <= keys
        assert data["lat_comp"].shape == (4, 1, 8) and data["lat_mean"].shape == (1, 8)
        assert data["lat_stdev"].shape == (4,) and data["lat_comp"].dtype == np.float32
        assert np.allclose(np.linalg.norm(data["lat_comp"], axis=-1), 1, atol=1e-6)
        assert np.allclose(data["var_ratio"], data["lat_stdev"] ** 2 / dset.total_variance, rtol=1e-5)
    back = import_directions("ganspace", path)
    assert np.allclose(back.directions, dset.directions.numpy(), atol=1e-6)
    assert np.array_equal(back.scales, dset.scales.numpy()) and np.array_equal(back.mean, dset.mean.numpy())


def test_interfacegan_round_trip(tmp_path):
    dset = _set(GeneratorHandle(tiny_generator()), "z", None, k=3)
    paths = export_directions(dset, "interfacegan", tmp_path / "ifg")
    assert [p.name for p in paths] == ["boundary_00.npy", "boundary_01.npy", "boundary_02.npy"]
    for k, p in enumerate(paths):
        b = np.load(p)
        assert b.shape == (1, 8) and b.dtype == np.float32
        assert abs(np.linalg.norm(b) - 1) < 1e-6
        assert np.allclose(b[0], dset.directions[k].numpy(), atol=1e-6)
    folder = import_directions("interfacegan", tmp_path / "ifg")
    assert np.allclose(folder.directions, dset.directions.numpy(), atol=1e-6)
    assert np.allclose(import_directions("interfacegan", [paths[2], paths[0]]).directions,
                       dset.directions.numpy()[[2, 0]], atol=1e-6)


def test_interfacegan_folder_keeps_direction_order_past_100(tmp_path):
    many = SimpleNamespace(directions=torch.randn(101, 8, generator=torch.Generator().manual_seed(0)),
                           space=LatentSpace("z"))
    paths = export_directions(many, "interfacegan", tmp_path / "ifg")
    assert paths[0].name == "boundary_000.npy" and paths[-1].name == "boundary_100.npy"
    unit = many.directions.numpy() / np.linalg.norm(many.directions.numpy(), axis=1, keepdims=True)
    assert np.allclose(import_directions("interfacegan", tmp_path / "ifg").directions, unit, atol=1e-6)
    for k in (2, 10):  # another tool's unpadded names: numbers compare as numbers
        (tmp_path / "ifg" / f"boundary_{k:03d}.npy").rename(tmp_path / "ifg" / f"boundary_{k}.npy")
    assert np.allclose(import_directions("interfacegan", tmp_path / "ifg").directions, unit, atol=1e-6)
    dset = _set(GeneratorHandle(tiny_generator()), "z", None, k=3)  # a smaller export replaces the earlier one
    export_directions(dset, "interfacegan", tmp_path / "ifg")
    assert sorted(p.name for p in (tmp_path / "ifg").iterdir()) == ["boundary_00.npy", "boundary_01.npy",
                                                                     "boundary_02.npy"]
    assert np.allclose(import_directions("interfacegan", tmp_path / "ifg").directions, dset.directions, atol=1e-6)


def test_sefa_round_trip_with_eigenvalues(tmp_path):
    handle = GeneratorHandle(tiny_generator())
    dset = _set(handle, "w", "0-2", eigen=True)
    (path,) = export_directions(dset, "sefa", tmp_path / "s.npz", num_ws=handle.num_ws)
    back = import_directions("sefa", path)
    assert np.allclose(back.directions, dset.directions.numpy(), atol=1e-6)
    assert np.array_equal(back.eigenvalues, dset.eigenvalues.numpy()) and back.layers == (0, 1, 2)
    plain = _set(handle, "w")
    (path2,) = export_directions(plain, "sefa", tmp_path / "s2.npz", num_ws=handle.num_ws)
    back2 = import_directions("sefa", path2)
    assert back2.eigenvalues is None and np.allclose(back2.scales, plain.scales.numpy(), rtol=1e-6)
    assert back2.layers == tuple(range(handle.num_ws))


def test_bad_foreign_files(tmp_path):
    np.savez(tmp_path / "x.npz", foo=np.zeros(3))
    with pytest.raises(UserError, match="lat_comp"):
        import_directions("ganspace", tmp_path / "x.npz")
    with pytest.raises(UserError, match="boundaries"):
        import_directions("sefa", tmp_path / "x.npz")
    np.save(tmp_path / "b.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(UserError, match=r"\[1, d\]"):
        import_directions("interfacegan", tmp_path / "b.npy")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(UserError, match="junk.npz"):
        import_directions("ganspace", tmp_path / "junk.npz")
    (tmp_path / "noise.npz").write_bytes(bytes(range(256)) * 4)  # numpy's own message would advise unpickling
    with pytest.raises(UserError, match=r"noise.npz is not a readable SeFa .npz file \(no .npy array") as exc:
        import_directions("sefa", tmp_path / "noise.npz")
    assert "pickle" not in str(exc.value)
    for fmt in ("ganspace", "sefa"):  # a single .npy array gave a TypeError traceback
        with pytest.raises(UserError, match="b.npy is a single .npy array, not a .* .npz archive"):
            import_directions(fmt, tmp_path / "b.npy")
    np.savez(tmp_path / "nan.npz", boundaries=np.full((2, 3), np.nan, np.float32))
    with pytest.raises(UserError, match="finite"):
        import_directions("sefa", tmp_path / "nan.npz")
    with pytest.raises(UserError, match="format"):
        import_directions("stylespace", tmp_path / "nan.npz")


def test_direction_set_validates_shapes():
    with pytest.raises(UserError):
        DirectionSet(torch.zeros(3, 4), torch.zeros(2), torch.zeros(4), LatentSpace("z"), {}, "m")
    with pytest.raises(UserError):
        DirectionSet(torch.full((3, 4), float("nan")), torch.zeros(3), torch.zeros(4), LatentSpace("z"), {}, "m")
