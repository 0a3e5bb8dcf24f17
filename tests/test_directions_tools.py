"""Exports keep their meaning in the real tools: each test reads our export with the tool's own load and edit
lines, reproduced here (written for these tests, not imported), and compares the image with ours.

- GANSpace (harskish/ganspace): ``interactive.py`` loads ``np.load(dump, allow_pickle=False)['lat_comp']``
  and ``['lat_stdev']``; its saved edits carry ``edit_start``/``edit_end`` (end exclusive) and
  ``notebooks/notebook_utils.py`` edits ``z = [z] * max_latents; for i in range(layer_start, layer_end):
  z[i] = z[i] + lat_comp * sigma * lat_stdev``.
- InterFaceGAN (genforce/interfacegan): ``edit.py`` loads ``boundary = np.load(path)`` and
  ``utils/manipulator.py``'s ``linear_interpolate`` returns ``x + (linspace(start, end, steps) − x·bᵀ)·b`` for
  a code ``[1, d]`` and ``x + linspace·b`` (every layer) for a W+ code ``[1, L, d]``.
- SeFa (genforce/sefa): ``sefa.py`` edits ``temp_code[:, layers, :] += boundary * d`` on W+ codes.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from directions_support import tiny_generator, tiny_generator_file

from latentdirs.cli import main
from latentdirs.directions.closed_form import sefa_directions
from latentdirs.directions.dirfile import save_directions
from latentdirs.directions.editing import direction_vector, seed_latent, to_unit_range, traverse_images
from latentdirs.directions.formats import export_directions, import_directions
from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.importing import directions_from_file
from latentdirs.directions.model import DirectionModel
from latentdirs.directions.spaces import LatentSpace, SpaceRenderer
from latentdirs.directions.statistics import make_direction_set
from latentdirs.errors import LatentdirsWarning, UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "dsprites_generator.json"
SEED, STRENGTH = 3, 2.5


def _set(handle, space="w", layers=None, k=3, seed=0):
    renderer = SpaceRenderer(handle, LatentSpace.create(space, layers, handle.num_ws))
    gen = torch.Generator().manual_seed(seed)
    directions = DirectionModel(k, renderer.dim, "orthonormal", generator=gen)().detach()
    return make_direction_set(renderer, directions, method="test", generator=gen, num_samples=256, seed=seed)


def _ours(handle, dset, k):
    """Our edit: the code of image SEED moved STRENGTH σ along direction k, in [0, 1]."""
    renderer = SpaceRenderer(handle, dset.space)
    return traverse_images(renderer, seed_latent(SEED, renderer), direction_vector(dset, k), [STRENGTH])[0]


def _seed_w(handle):
    """The seed's W code ``[1, w_dim]`` (every W+ layer holds it: ψ = 1, no cutoff)."""
    ws = seed_latent(SEED, SpaceRenderer(handle, LatentSpace("w"))).ws
    assert torch.equal(ws[:, 0], ws[:, -1])
    return ws[:, 0]


def _render(handle, ws):
    with torch.no_grad():
        return to_unit_range(handle.synthesis(torch.as_tensor(ws, dtype=torch.float32)))[0]


# -- GANSpace -------------------------------------------------------------------------------------
def _ganspace_edit(handle, w, path, k, sigma, whole_range=False):
    data = np.load(path, allow_pickle=False)  # interactive.py load_components
    lat_comp, lat_stdev = torch.from_numpy(data["lat_comp"]), torch.from_numpy(data["lat_stdev"])
    layer_start, layer_end = (0, handle.num_ws) if whole_range else (int(data["edit_start"][k]),
                                                                      int(data["edit_end"][k]))
    z = [w] * handle.num_ws  # notebook_utils._create_strip_batch_lat, mode 'latent', center=False
    delta = lat_comp[k] * sigma * lat_stdev[k]
    for i in range(layer_start, layer_end):
        z[i] = z[i] + delta
    return _render(handle, torch.stack(z, dim=1))


def test_ganspace_carries_the_layer_range(tmp_path, capsys):
    """W+ directions on layers 1-3 exported without their range: GANSpace edited every layer."""
    handle = GeneratorHandle(tiny_generator())
    dset = _set(handle, "w+", "1-3")
    (path,) = export_directions(dset, "ganspace", tmp_path / "g.npz", num_ws=handle.num_ws)
    with np.load(path, allow_pickle=False) as data:
        assert data["edit_start"].tolist() == [1, 1, 1] and data["edit_end"].tolist() == [4, 4, 4]
        assert str(data["latent_space"]) == "W"
    w = _seed_w(handle)
    for k in range(dset.num_directions):
        ours = _ours(handle, dset, k)
        assert np.abs(_ganspace_edit(handle, w, path, k, STRENGTH) - ours).max() < 1e-5
        every_layer = _ganspace_edit(handle, w, path, k, STRENGTH, whole_range=True)
        assert np.abs(every_layer - ours).max() > 1e-3  # what GANSpace drew before: another image
    full = _set(handle, "w")  # W directions: the whole range
    (path,) = export_directions(full, "ganspace", tmp_path / "f.npz", num_ws=handle.num_ws)
    assert np.abs(_ganspace_edit(handle, w, path, 0, STRENGTH) - _ours(handle, full, 0)).max() < 1e-5
    back = directions_from_file(handle, "ganspace", tmp_path / "g.npz", stats_samples=64)  # and back
    assert back.space == LatentSpace("w+", (1, 2, 3))
    z_set = _set(handle, "z")  # Z: the whole range, read back as Z
    (path,) = export_directions(z_set, "ganspace", tmp_path / "z.npz", num_ws=handle.num_ws)
    assert directions_from_file(handle, "ganspace", path, space="z", stats_samples=64).space == LatentSpace("z")
    with pytest.raises(UserError, match="live in Z, not in --space w"):
        directions_from_file(handle, "ganspace", path, space="w", stats_samples=64)


def test_ganspace_layer_set_that_is_not_one_range_goes_to_a_sidecar(tmp_path):
    handle = GeneratorHandle(tiny_generator())
    dset = _set(handle, "w+", "0-1,4")
    with pytest.warns(LatentdirsWarning, match=r"GANSpace cannot hold the W\+ layer set 0-1,4.*every layer"):
        paths = export_directions(dset, "ganspace", tmp_path / "g.npz", num_ws=handle.num_ws)
    assert [p.name for p in paths] == ["g.npz", "g.latentdirs.json"]
    with np.load(paths[0], allow_pickle=False) as data:
        assert "edit_start" not in data.files
    side = json.loads(paths[1].read_text())
    assert side["space"] == {"kind": "w+", "layers": [0, 1, 4]} and side["tool_edits_layers"] == "all"
    assert directions_from_file(handle, "ganspace", paths[0], stats_samples=64).space == LatentSpace("w+", (0, 1, 4))


# -- SeFa -----------------------------------------------------------------------------------------
def _sefa_edit(handle, w, path, k, distance):
    data = np.load(path, allow_pickle=False)
    layers, boundaries = data["layers"], data["boundaries"]
    temp_code = w[:, None, :].repeat(1, handle.num_ws, 1).numpy().copy()  # codes after mapping, [1, L, d]
    boundary = boundaries[k:k + 1]
    temp_code[:, layers, :] += boundary * distance  # sefa.py
    return _render(handle, temp_code)


def test_sefa_edits_the_exported_layers(tmp_path):
    handle = GeneratorHandle(tiny_generator())
    w = _seed_w(handle)
    for space, layers in (("w+", "2-4"), ("w", None)):
        dset = _set(handle, space, layers)
        (path,) = export_directions(dset, "sefa", tmp_path / f"s_{space}.npz", num_ws=handle.num_ws)
        for k in range(dset.num_directions):
            distance = STRENGTH * float(dset.scales[k])
            assert np.abs(_sefa_edit(handle, w, path, k, distance) - _ours(handle, dset, k)).max() < 1e-5


def test_sefa_refuses_z_directions(tmp_path, capsys):
    """Z directions were exported with layers=[], so SeFa's edit changed nothing (image change 0.0), silently."""
    handle = GeneratorHandle(tiny_generator())
    dset = _set(handle, "z")
    w = _seed_w(handle)
    old_export = tmp_path / "old.npz"  # what the export wrote before: SeFa's own lines change no pixel with it
    np.savez(old_export, boundaries=dset.unit_directions().numpy(), values=dset.scales.numpy() ** 2,
             layers=np.zeros(0, np.int64), values_kind=np.array("variance"), space=np.array("z"))
    assert np.abs(_sefa_edit(handle, w, old_export, 0, 5.0) - _render(handle, w[:, None].repeat(1, 6, 1))).max() == 0
    with pytest.raises(UserError, match="SeFa edits W\\+ codes.*live in Z"):
        export_directions(dset, "sefa", tmp_path / "s.npz", num_ws=handle.num_ws)
    generator = tiny_generator_file(tmp_path)
    dfile = tmp_path / "z.safetensors"
    dset.generator = GeneratorHandle(tiny_generator(), source=generator).describe()
    save_directions(dfile, dset)
    with pytest.raises(SystemExit) as exc:
        main(["export", str(dfile), "--format", "sefa", "--out", str(tmp_path / "s.npz")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: SeFa edits W+ codes") and err.count("\n") == 1
    assert not (tmp_path / "s.npz").exists()


def test_import_checks_the_space_and_layers_a_file_records(tmp_path, capsys):
    """`import --format sefa --space w` accepted a file recording space='z'."""
    generator = tiny_generator_file(tmp_path)
    rows = np.linalg.qr(np.random.RandomState(0).randn(8, 2))[0].T.astype(np.float32)
    np.savez(tmp_path / "z.npz", boundaries=rows, values=np.ones(2, np.float32), layers=np.zeros(0, np.int64),
             values_kind=np.array("variance"), space=np.array("z"))
    np.savez(tmp_path / "w.npz", boundaries=rows, values=np.ones(2, np.float32), layers=np.arange(3),
             values_kind=np.array("variance"), space=np.array("w+"))
    out = str(tmp_path / "i.safetensors")
    for source, extra, message in (("z.npz", ["--space", "w"], "the directions live in Z, not in --space w"),
                                   ("w.npz", ["--space", "z"], "the directions live in W+, not in --space z"),
                                   ("w.npz", ["--layers", "3-4"], "act on W+ layers 0-2, not on --layers 3-4")):
        with pytest.raises(SystemExit) as exc:
            main(["import", str(tmp_path / source), "--format", "sefa", "--generator", generator, *extra,
                  "--stats-samples", "16", "--out", out])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not Path(out).exists()
    main(["import", str(tmp_path / "z.npz"), "--format", "sefa", "--generator", generator, "--space", "z",
          "--stats-samples", "16", "--out", out])
    main(["import", str(tmp_path / "w.npz"), "--format", "sefa", "--generator", generator, "--stats-samples", "16",
          "--out", str(tmp_path / "w.safetensors")])
    assert "w+[0-2]" in capsys.readouterr().out
    np.savez(tmp_path / "empty.npz", boundaries=rows, layers=np.zeros(0, np.int64))  # no space recorded
    with pytest.raises(UserError, match="lists no W\\+ layers"):
        import_directions("sefa", tmp_path / "empty.npz")


# -- InterFaceGAN ---------------------------------------------------------------------------------
def linear_interpolate(latent_code, boundary, start_distance=-3.0, end_distance=3.0, steps=10):
    """InterFaceGAN's utils/manipulator.py, the two branches it has (reproduced for the test)."""
    linspace = np.linspace(start_distance, end_distance, steps)
    if len(latent_code.shape) == 2:
        linspace = linspace - latent_code.dot(boundary.T)
        linspace = linspace.reshape(-1, 1).astype(np.float32)
        return latent_code + linspace * boundary
    linspace = linspace.reshape(-1, 1, 1).astype(np.float32)
    return latent_code + linspace * boundary.reshape(1, 1, -1)


def test_interfacegan_layer_range_goes_to_a_sidecar_with_a_warning(tmp_path):
    """InterFaceGAN boundaries cannot hold a layer range: InterFaceGAN edits every W+ layer."""
    handle = GeneratorHandle(tiny_generator())
    dset = _set(handle, "w+", "1-3")
    with pytest.warns(LatentdirsWarning, match=r"InterFaceGAN cannot hold the W\+ layer set 1-3"):
        paths = export_directions(dset, "interfacegan", tmp_path / "ifg")
    assert paths[-1].name == "latentdirs.json"
    side = json.loads(paths[-1].read_text())
    assert side["space"] == {"kind": "w+", "layers": [1, 2, 3]}
    w = _seed_w(handle).numpy()
    wp = np.repeat(w[:, None, :], handle.num_ws, axis=1)
    k = 1
    boundary = np.load(tmp_path / "ifg" / side["directions"][k]["file"])  # edit.py
    distance = STRENGTH * side["directions"][k]["sigma"]
    edited = linear_interpolate(wp, boundary, distance, distance, steps=1)  # a W+ code: every layer moves
    ours = _ours(handle, dset, k)
    assert np.abs(_render(handle, edited) - ours).max() > 1e-3
    outside = [i for i in range(handle.num_ws) if i not in side["space"]["layers"]]
    edited[:, outside] = wp[:, outside]  # what the sidecar's layers tell a user to keep
    assert np.abs(_render(handle, edited) - ours).max() < 1e-5
    back = directions_from_file(handle, "interfacegan", tmp_path / "ifg", stats_samples=64)
    assert back.space == LatentSpace("w+", (1, 2, 3))
    with pytest.raises(UserError, match="live in W\\+, not in --space z"):
        directions_from_file(handle, "interfacegan", tmp_path / "ifg", space="z")
    export_directions(_set(handle, "w"), "interfacegan", tmp_path / "ifg")  # a later plain export: no stale sidecar
    assert not (tmp_path / "ifg" / "latentdirs.json").exists()


def test_interfacegan_centred_export_sweeps_across_the_codes(tmp_path, capsys):
    """InterFaceGAN's sweep positions a code at distances from the hyperplane through the origin; W codes have a
    mean, so its default -3…3 lay on one side of many codes. The centred export's distances put the codes inside."""
    from latentdirs.directions.generator import load_handle

    handle = load_handle(str(PRETRAINED))
    directions, values, _ = sefa_directions(handle, None, 6)
    renderer = SpaceRenderer(handle, LatentSpace("w"))
    dset = make_direction_set(renderer, directions, method="sefa", generator=torch.Generator().manual_seed(0),
                              num_samples=2048, seed=0, eigenvalues=values)
    dset.generator = handle.describe()
    save_directions(tmp_path / "d.safetensors", dset)
    main(["export", str(tmp_path / "d.safetensors"), "--format", "interfacegan", "--out", str(tmp_path / "plain")])
    plain = capsys.readouterr().out
    assert "note: InterFaceGAN sweeps -3…3 from the origin" in plain and "--centred" in plain
    assert not (tmp_path / "plain" / "latentdirs.json").exists()
    main(["export", str(tmp_path / "d.safetensors"), "--format", "interfacegan", "--out", str(tmp_path / "ifg"),
          "--centred"])
    assert "--start_distance" in capsys.readouterr().out
    side = json.loads((tmp_path / "ifg" / "latentdirs.json").read_text())
    with torch.no_grad():  # fresh codes, as InterFaceGAN's generate_data.py would give them
        codes = handle.mapping(torch.randn(4000, handle.z_dim, generator=torch.Generator().manual_seed(7)))[:, 0]
    codes = codes.double().numpy()
    default_misses, centred_misses = [], []
    for entry in side["directions"]:
        boundary = np.load(tmp_path / "ifg" / entry["file"])
        projection = codes @ boundary[0].astype(np.float64)
        default_misses.append(np.mean((projection < -3) | (projection > 3)))
        centred_misses.append(np.mean((projection < entry["start_distance"]) | (projection > entry["end_distance"])))
        sweep = linear_interpolate(codes[:1].astype(np.float32), boundary, entry["start_distance"],
                                   entry["end_distance"], steps=7)  # the sweep the tool makes with them
        reached = sweep.astype(np.float64) @ boundary[0]
        assert np.allclose(reached, np.linspace(entry["start_distance"], entry["end_distance"], 7), atol=1e-4)
        assert abs(reached[3] - entry["offset"]) < 1e-4  # the middle frame sits at the codes' mean projection
    assert max(default_misses) > 0.25  # the bundled generator: measured 0.88 of codes outside -3…3 (direction 0)
    assert max(centred_misses) < 0.02  # inside offset ± 3σ
