"""Ground-truth datasets: procedural dSprites and threeDots, file loaders on tiny files."""

from __future__ import annotations

import numpy as np
import pytest

from latentdirs.data import DATASET_NAMES, get_dataset
from latentdirs.data.dsprites import ORIENTATIONS, POSITIONS, SCALES, DSprites
from latentdirs.errors import UserError

# ----------------------------------------------------------------------------------------------
# dSprites (procedural)


@pytest.fixture(scope="module")
def dsprites() -> DSprites:
    data = get_dataset("dsprites")
    assert isinstance(data, DSprites)
    return data


def _render(data, *factors) -> np.ndarray:
    """One image ``[H, W]`` for one factor tuple."""
    return data.observations_from_factors(np.array([factors]))[0, 0]


def _bbox(image: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(image)
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


def test_dsprites_factor_grid(dsprites):
    assert dsprites.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert dsprites.factor_sizes == (3, 6, 40, 32, 32)
    assert dsprites.num_observations == 737_280
    assert dsprites.observation_shape == (1, 64, 64)
    np.testing.assert_allclose(SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert ORIENTATIONS[0] == 0.0 and ORIENTATIONS[-1] == 2 * np.pi and len(ORIENTATIONS) == 40
    np.testing.assert_allclose(np.diff(ORIENTATIONS), 2 * np.pi / 39)
    assert POSITIONS[0] == 0.0 and POSITIONS[-1] == 1.0 and len(POSITIONS) == 32
    values = dsprites.factor_values(np.array([[2, 5, 39, 31, 0]]))
    np.testing.assert_allclose(values, [[2.0, 1.0, 2 * np.pi, 1.0, 0.0]])


def test_dsprites_binary_float_nchw(dsprites):
    images = dsprites.observations_from_factors(dsprites.sample_factors(32, np.random.RandomState(0)))
    assert images.shape == (32, 1, 64, 64) and images.dtype == np.float32
    assert set(np.unique(images)) <= {0.0, 1.0}
    as_bytes = dsprites.observations_from_factors(np.array([[0, 5, 0, 15, 15]]), dtype="uint8")
    assert as_bytes.dtype == np.uint8 and set(np.unique(as_bytes)) == {0, 255}


def test_dsprites_centred_square(dsprites):
    # posX = posY = index 15 (0.4839) puts the centre at 16 + 32 * 15/31 = 31.48 px; the scale-1 square
    # (19.2 px side) covers pixel centres 22.5 … 40.5 → rows/columns 22 … 40, 19 × 19 pixels.
    square = _render(dsprites, 0, 5, 0, 15, 15)
    assert _bbox(square) == (22, 40, 22, 40)
    assert square.sum() == 19 * 19
    # Index 16 (0.5161) is the mirror image about the image centre line (between pixels 31 and 32).
    mirrored = _render(dsprites, 0, 5, 0, 16, 16)
    assert _bbox(mirrored) == (23, 41, 23, 41)
    np.testing.assert_array_equal(mirrored, square[::-1, ::-1])


def test_dsprites_orientation_wraps(dsprites):
    for shape in range(3):
        for scale in (0, 5):
            first = _render(dsprites, shape, scale, 0, 7, 20)
            last = _render(dsprites, shape, scale, 39, 7, 20)
            np.testing.assert_array_equal(first, last)
    # A quarter turn of the square (index 10 ≈ 92°) is not the identity everywhere, but the square's
    # area stays about the same.
    quarter = _render(dsprites, 0, 5, 10, 15, 15)
    assert abs(quarter.sum() - 361) < 0.1 * 361


def test_dsprites_areas_ratio_and_scale(dsprites):
    areas = np.array([[_render(dsprites, shape, scale, 0, 15, 15).sum() for scale in range(6)] for shape in range(3)])
    assert (np.diff(areas, axis=1) > 0).all(), areas  # every shape grows with scale
    # Area ∝ scale²: the scale-1 sprite is about 4× the scale-0.5 one.
    np.testing.assert_allclose(areas[:, 5] / areas[:, 0], 4.0, rtol=0.2)
    square, ellipse, heart = areas[:, 5]
    # Continuous areas: square 4, ellipse π·1.4·0.7 ≈ 3.08, heart ≈ 2.7 sprite units² (1 unit = 9.6 px).
    assert 0.6 < ellipse / square < 0.9 and 0.55 < heart / square < 0.85
    assert heart < ellipse < square


def test_dsprites_mean_intensity_like_original(dsprites):
    # The original file's mean pixel value is about 0.043: sprite sizes are calibrated to it.
    images = dsprites.sample_observations(2048, np.random.RandomState(11))
    assert 0.040 < images.mean() < 0.047


def test_dsprites_heart_points_down(dsprites):
    heart = _render(dsprites, 2, 5, 0, 15, 15)
    top, bottom, left, right = _bbox(heart)
    widths = heart.sum(axis=1)
    assert widths[bottom] <= 2 < widths[top]  # the point at the bottom, the two lobes on top
    assert heart[top, (left + right) // 2] == 0  # the notch between the lobes


def test_dsprites_posx_moves_right_posy_moves_down(dsprites):
    def centroid(image):
        rows, cols = np.nonzero(image)
        return rows.mean(), cols.mean()

    xs = [centroid(_render(dsprites, 1, 3, 4, px, 10))[1] for px in range(32)]
    ys = [centroid(_render(dsprites, 1, 3, 4, 10, py))[0] for py in range(32)]
    assert (np.diff(xs) > 0).all() and (np.diff(ys) > 0).all()
    # The centre sweeps 16 → 48 px (pixel-centre coordinates: −½).
    np.testing.assert_allclose([xs[0], xs[-1], ys[0], ys[-1]], [15.5, 47.5, 15.5, 47.5], atol=0.6)
    # Shifting posX by one step moves the image by about one pixel, never changing the row profile.
    a, b = _render(dsprites, 0, 2, 0, 3, 9), _render(dsprites, 0, 2, 0, 4, 9)
    np.testing.assert_array_equal(a.sum(axis=1), b.sum(axis=1))


def test_dsprites_every_sprite_whole(dsprites):
    # Extreme positions, largest scale, every orientation and shape: nothing touches the border.
    factors = np.array([[s, 5, o, p, q] for s in range(3) for o in range(40) for p in (0, 31) for q in (0, 31)])
    images = dsprites.observations_from_factors(factors)[:, 0]
    border = images[:, 0, :].sum() + images[:, -1, :].sum() + images[:, :, 0].sum() + images[:, :, -1].sum()
    assert border == 0 and (images.sum(axis=(1, 2)) > 0).all()


def test_dsprites_batch_equals_single(dsprites):
    factors = dsprites.sample_factors(40, np.random.RandomState(3))
    batch = dsprites.observations_from_factors(factors)
    single = np.concatenate([dsprites.observations_from_factors(f[None]) for f in factors])
    np.testing.assert_array_equal(batch, single)


def test_dsprites_deterministic(dsprites):
    f1, x1 = dsprites.sample(50, np.random.RandomState(123))
    f2, x2 = dsprites.sample(50, np.random.RandomState(123))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(x1, x2)
    f3, _ = dsprites.sample(50, np.random.RandomState(124))
    assert not np.array_equal(f1, f3)
    assert f1.dtype == np.int64 and f1.shape == (50, 5)
    assert (f1.max(axis=0) < np.array(dsprites.factor_sizes)).all() and f1.min() >= 0


def test_index_factor_round_trip(dsprites):
    index = np.array([0, 1, 31, 32, 1023, 1024, 737_279, 123_456])
    factors = dsprites.factors_from_index(index)
    np.testing.assert_array_equal(dsprites.index_from_factors(factors), index)
    np.testing.assert_array_equal(factors[0], [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(factors[2], [0, 0, 0, 0, 31])  # posY varies fastest (row-major)
    np.testing.assert_array_equal(factors[3], [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(factors[6], [2, 5, 39, 31, 31])
    sampled = dsprites.sample_factors(200, np.random.RandomState(9))
    np.testing.assert_array_equal(dsprites.factors_from_index(dsprites.index_from_factors(sampled)), sampled)
    with pytest.raises(UserError, match="index out of range"):
        dsprites.factors_from_index(np.array([737_280]))


def test_torch_dataset_view(dsprites):
    view = dsprites.torch_dataset()
    assert len(view) == 737_280
    image, factors = view[32 + 31]
    assert tuple(image.shape) == (1, 64, 64)
    assert factors.tolist() == [0, 0, 0, 1, 31]


@pytest.mark.parametrize(
    "factors, message",
    [
        (np.zeros((3, 4), np.int64), r"shape \[N, 5\]"),
        (np.zeros(5, np.int64), r"shape \[N, 5\]"),
        (np.zeros((2, 5)), "integer indices"),
        (np.array([[3, 0, 0, 0, 0]]), "out of range"),
        (np.array([[0, 0, 40, 0, 0]]), "out of range"),
        (np.array([[0, 0, 0, -1, 0]]), "out of range"),
    ],
)
def test_check_factors_errors(dsprites, factors, message):
    with pytest.raises(UserError, match=message):
        dsprites.observations_from_factors(factors)


def test_unknown_dataset_lists_names():
    with pytest.raises(UserError) as info:
        get_dataset("mnist")
    for name in DATASET_NAMES:
        assert name in str(info.value)
    assert "dsprites" in DATASET_NAMES


def test_get_dataset_paths():
    with pytest.raises(UserError, match="3dshapes.h5"):
        get_dataset("3dshapes")
    with pytest.raises(UserError, match="MPI3D"):
        get_dataset("mpi3d")
    with pytest.raises(UserError, match="procedural"):
        get_dataset("threedots", path="x.npz")
    assert get_dataset(" DSprites ").name == "dsprites"


# ----------------------------------------------------------------------------------------------
# threeDots


@pytest.fixture(scope="module")
def threedots():
    return get_dataset("threedots")


def _supersampled_disc(cx: float, cy: float, radius: float, samples: int = 48) -> np.ndarray:
    """Oracle: fraction of ``samples²`` sub-pixel points of each pixel inside the disc."""
    offsets = (np.arange(samples) + 0.5) / samples
    coords = (np.arange(64)[:, None] + offsets[None, :]).ravel()
    inside = (coords[None, :] - cx) ** 2 + (coords[:, None] - cy) ** 2 <= radius**2
    return inside.reshape(64, samples, 64, samples).mean(axis=(1, 3))


def test_threedots_grid(threedots):
    assert threedots.factor_names == ("x1", "y1", "x2", "y2", "x3", "y3")
    assert threedots.factor_sizes == (64,) * 6
    assert threedots.num_observations == 64**6
    assert threedots.observation_shape == (1, 64, 64)
    centres = threedots.dot_centres(np.array([[0, 63, 63, 0, 21, 42]]))[0]
    np.testing.assert_allclose(centres, [[0, 64], [64, 0], [64 / 3, 128 / 3]])  # (x, y) px, 64 · index / 63


def test_threedots_three_discs(threedots):
    from scipy import ndimage

    from latentdirs.data.threedots import RADIUS_PX

    factors = np.array([[10, 12, 32, 50, 52, 20]])  # well apart, well inside
    image = threedots.observations_from_factors(factors)[0, 0]
    assert image.dtype == np.float32 and image.min() == 0.0 and image.max() == 1.0
    dark = 1.0 - image
    labels, count = ndimage.label(dark > 0)
    assert count == 3
    disc_area = np.pi * RADIUS_PX**2  # 82.35 px²
    for k in range(1, 4):
        assert abs(dark[labels == k].sum() - disc_area) < 0.01 * disc_area
    assert (image[0, :] == 1.0).all() and (image[:, -1] == 1.0).all()  # white background
    grey = (image > 0) & (image < 1)
    assert grey.sum() >= 3 * 30  # anti-aliased rims (about 2πr ≈ 32 pixels per disc)
    # Where the discs are: disc 2 (x = 32/63, y = 50/63 of the side) has its darkness centroid there.
    for x, y in factors[0].reshape(3, 2):
        centre = 64 * np.array([x, y]) / 63
        rows, cols = np.nonzero(labels == labels[int(centre[1]), int(centre[0])])
        weights = dark[rows, cols]
        centroid = [np.average(cols + 0.5, weights=weights), np.average(rows + 0.5, weights=weights)]
        np.testing.assert_allclose(centroid, centre, atol=0.05)


def test_threedots_coverage_matches_supersampling(threedots):
    from latentdirs.data.threedots import RADIUS_PX

    for x, y in [(20, 31), (33, 7), (45, 45), (0, 17), (63, 40), (62, 1)]:
        image = threedots.observations_from_factors(np.array([[x, y] * 3]))[0, 0]
        oracle = _supersampled_disc(64 * x / 63, 64 * y / 63, RADIUS_PX)
        assert np.abs((1 - image) - oracle).max() < 0.03


def test_threedots_overlap_is_union(threedots):
    single = 1 - threedots.observations_from_factors(np.array([[20, 20, 20, 20, 20, 20]]))[0, 0]
    assert abs(single.sum() - np.pi * 5.12**2) < 0.5  # three coincident discs darken one disc's area
    overlapping = 1 - threedots.observations_from_factors(np.array([[20, 20, 23, 20, 50, 50]]))[0, 0]
    assert single.sum() < overlapping.sum() < 3 * single.sum()
    assert overlapping.max() == 1.0 and (overlapping >= 0).all()


def test_threedots_deterministic_and_permutation_invariant(threedots):
    f1, x1 = threedots.sample(16, np.random.RandomState(5))
    f2, x2 = threedots.sample(16, np.random.RandomState(5))
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(x1, x2)
    swapped = f1[:, [4, 5, 0, 1, 2, 3]]
    np.testing.assert_allclose(threedots.observations_from_factors(swapped), x1, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# File loaders on tiny files in the original formats

TINY_DSPRITES_SIZES = (2, 2, 3, 2, 2)  # shape, scale, orientation, posX, posY: 48 images


def _grid(sizes) -> np.ndarray:
    """Every combination of ``sizes`` in row-major order ``[prod, K]``."""
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


def _write_dsprites(path, compressed=True, shuffle=False, **overrides):
    rs = np.random.RandomState(0)
    classes = _grid(TINY_DSPRITES_SIZES)
    imgs = (rs.rand(len(classes), 64, 64) < 0.3).astype(np.uint8)
    order = rs.permutation(len(classes)) if shuffle else np.arange(len(classes))
    arrays = {
        "imgs": imgs[order],
        "latents_classes": np.concatenate([np.zeros((len(classes), 1), np.int64), classes], axis=1)[order],
        "latents_values": classes[order].astype(np.float64),
        "metadata": np.array({"note": "pickled, never read"}, dtype=object),
    }
    arrays.update(overrides)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return imgs  # in row-major order of the classes


@pytest.mark.parametrize("compressed, shuffle", [(True, False), (False, False), (True, True)])
def test_dsprites_file_loads_images(tmp_path, compressed, shuffle):
    from latentdirs.data.dsprites_file import DSpritesFile

    path = tmp_path / "dsprites.npz"
    imgs = _write_dsprites(path, compressed=compressed, shuffle=shuffle)
    data = get_dataset("dsprites", path=str(path))
    assert isinstance(data, DSpritesFile)
    assert data.factor_sizes == TINY_DSPRITES_SIZES and data.factor_names[0] == "shape"
    factors = data.sample_factors(20, np.random.RandomState(1))
    expected = imgs[data.index_from_factors(factors)]
    got = data.observations_from_factors(factors)
    assert got.shape == (20, 1, 64, 64) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 0], expected.astype(np.float32))
    np.testing.assert_array_equal(data.observations_from_factors(factors, dtype="uint8")[:, 0], expected * 255)
    np.testing.assert_array_equal(data.observations_from_factors(factors[:0]).shape, (0, 1, 64, 64))


def test_file_loaders_pickle_without_their_arrays(tmp_path):
    import pickle

    path = tmp_path / "dsprites.npz"
    imgs = _write_dsprites(path)
    data = get_dataset("dsprites", path=str(path))
    data.observations_from_factors(np.zeros((1, 5), np.int64))  # loads the images
    clone = pickle.loads(pickle.dumps(data))
    assert clone._images is None and data._images is not None
    np.testing.assert_array_equal(clone.observations_from_factors(np.array([[1, 1, 2, 1, 1]]))[0, 0], imgs[-1])


def _write_3dshapes(path, shuffle=False, images_key="images", labels_shape=None):
    import h5py

    sizes = (2, 2, 1, 2, 3, 2)  # floor, wall, object hue, scale, shape, orientation: 48 images
    grids = [np.linspace(0, 0.9, 10)[:2], np.linspace(0, 0.9, 10)[3:5], np.array([0.5]),
             np.linspace(0.75, 1.25, 8)[[0, 7]], np.array([0.0, 1.0, 3.0]), np.linspace(-30, 30, 15)[[0, 14]]]
    classes = _grid(sizes)
    labels = np.stack([grids[k][classes[:, k]] for k in range(6)], axis=1)
    images = np.random.RandomState(2).randint(0, 256, size=(len(classes), 64, 64, 3)).astype(np.uint8)
    order = np.random.RandomState(3).permutation(len(classes)) if shuffle else np.arange(len(classes))
    with h5py.File(path, "w") as handle:
        handle.create_dataset(images_key, data=images[order], chunks=(4, 64, 64, 3), compression="gzip")
        handle.create_dataset("labels", data=labels[order] if labels_shape is None else np.zeros(labels_shape))
    return sizes, grids, images


@pytest.mark.parametrize("shuffle, preload", [(False, False), (True, False), (False, True)])
def test_3dshapes_file_loads_images(tmp_path, shuffle, preload):
    from latentdirs.data.shapes3d import Shapes3D

    path = tmp_path / "3dshapes.h5"
    sizes, grids, images = _write_3dshapes(path, shuffle=shuffle)
    data = Shapes3D(path, preload=preload) if preload else get_dataset("3dshapes", path=str(path))
    assert data.factor_sizes == sizes and data.observation_shape == (3, 64, 64)
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    for k in range(6):
        np.testing.assert_allclose(data.factor_values[k], grids[k])
    factors = np.concatenate([data.sample_factors(15, np.random.RandomState(4)), [[1, 0, 0, 1, 2, 1]] * 2])
    expected = images[data.index_from_factors(factors)].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(data.observations_from_factors(factors, dtype="uint8"), expected)
    np.testing.assert_allclose(data.observations_from_factors(factors), expected / 255.0, atol=1e-7)


def _write_mpi3d(path, sizes, compressed):
    images = np.random.RandomState(5).randint(0, 256, size=(int(np.prod(sizes)), 64, 64, 3)).astype(np.uint8)
    (np.savez_compressed if compressed else np.savez)(path, images=images)
    return images


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_file_loads_images(tmp_path, compressed):
    from latentdirs.data.mpi3d import MPI3D

    sizes = (2, 1, 2, 1, 3, 2, 2)
    path = tmp_path / "mpi3d_tiny.npz"
    images = _write_mpi3d(path, sizes, compressed)
    data = MPI3D(path, factor_sizes=sizes)
    assert data.factor_names == ("object_color", "object_shape", "object_size", "camera_height",
                                 "background_color", "horizontal_axis", "vertical_axis")
    factors = data.sample_factors(12, np.random.RandomState(6))
    # Row-major: the last factor (vertical_axis) varies fastest.
    np.testing.assert_array_equal(data.index_from_factors(np.array([[0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0]])),
                                  [1, 2])
    expected = images[data.index_from_factors(factors)].transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(data.observations_from_factors(factors, dtype="uint8"), expected)
    assert data.observations_from_factors(factors).shape == (12, 3, 64, 64)
    with pytest.raises(UserError, match="1036800"):
        get_dataset("mpi3d", path=str(path))  # the size of the grid cannot be told from 48 images
    with pytest.raises(UserError, match="do not fit"):
        MPI3D(path, factor_sizes=(2, 2, 2, 1, 3, 2, 2))


# -- bad files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, filename", [("dsprites", "d.npz"), ("3dshapes", "s.h5"), ("mpi3d", "m.npz")])
def test_missing_and_garbage_files(tmp_path, name, filename):
    missing = tmp_path / filename
    with pytest.raises(UserError, match="not found") as info:
        get_dataset(name, path=str(missing))
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    missing.write_bytes(np.random.RandomState(7).bytes(4000))
    with pytest.raises(UserError, match="not a readable") as info:
        get_dataset(name, path=str(missing))
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError, match="not a file"):
        get_dataset(name, path=str(tmp_path))


def test_dsprites_file_wrong_content(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(UserError, match=r"no array 'imgs' .*holds images"):
        get_dataset("dsprites", path=str(path))
    _write_dsprites(path, imgs=np.zeros((48, 32, 32), np.uint8))
    with pytest.raises(UserError, match=r"'imgs' is uint8 \[48, 32, 32\]; expected uint8 \[N, 64, 64\]"):
        get_dataset("dsprites", path=str(path))
    _write_dsprites(path, latents_classes=np.zeros((48, 5), np.int64))
    with pytest.raises(UserError, match=r"expected integer \[48, 6\]"):
        get_dataset("dsprites", path=str(path))
    duplicated = np.concatenate([np.zeros((48, 1), np.int64), _grid(TINY_DSPRITES_SIZES)], axis=1)
    duplicated[1] = duplicated[0]
    _write_dsprites(path, latents_classes=duplicated)
    with pytest.raises(UserError, match="repeat some combinations"):
        get_dataset("dsprites", path=str(path))
    _write_dsprites(path, imgs=np.full((48, 64, 64), 255, np.uint8))
    with pytest.raises(UserError, match="expected binary 0/1"):
        get_dataset("dsprites", path=str(path)).observations_from_factors(np.zeros((1, 5), np.int64))


def test_corrupt_compressed_member(tmp_path):
    path = tmp_path / "d.npz"
    _write_dsprites(path)
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 2000] = bytes(2000)  # damage the deflated pixels, keep the zip directory
    path.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="d.npz") as info:
        get_dataset("dsprites", path=str(path)).observations_from_factors(np.zeros((1, 5), np.int64))
    assert "\n" not in str(info.value)


def test_truncated_file(tmp_path):
    from latentdirs.data.mpi3d import MPI3D

    path = tmp_path / "m.npz"
    _write_mpi3d(path, (1, 1, 1, 1, 1, 2, 2), compressed=False)
    path.write_bytes(path.read_bytes()[:30000])  # the zip directory at the end is lost
    with pytest.raises(UserError, match="m.npz is not a readable .npz archive"):
        MPI3D(path, factor_sizes=(1, 1, 1, 1, 1, 2, 2))
    # A stored member whose header promises more rows than the file holds cannot be memory-mapped.
    _write_mpi3d(path, (1, 1, 1, 1, 1, 2, 2), compressed=False)
    raw = path.read_bytes()
    assert raw.count(b"(4, 64, 64, 3)") == 1
    path.write_bytes(raw.replace(b"(4, 64, 64, 3)", b"(9, 64, 64, 3)"))
    data = MPI3D(path, factor_sizes=(1, 1, 1, 1, 1, 3, 3))
    with pytest.raises(UserError, match="m.npz: cannot map 'images', the file looks truncated"):
        data.observations_from_factors(np.zeros((1, 7), np.int64))


def test_3dshapes_corrupt_chunks(tmp_path):
    path = tmp_path / "s.h5"
    _write_3dshapes(path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 5000] = bytes(5000)  # zero part of the gzip-compressed image chunks
    path.write_bytes(bytes(raw))
    data = get_dataset("3dshapes", path=str(path))
    with pytest.raises(UserError, match="s.h5: cannot read images"):
        data.observations_from_factors(data.factors_from_index(np.arange(48)))


def test_3dshapes_wrong_content(tmp_path):
    path = tmp_path / "s.h5"
    _write_3dshapes(path, images_key="pictures")
    with pytest.raises(UserError, match=r"expected datasets 'images' .* it holds labels, pictures"):
        get_dataset("3dshapes", path=str(path))
    path.unlink()
    _write_3dshapes(path, labels_shape=(48, 5))
    with pytest.raises(UserError, match=r"'labels' is float64 \[48, 5\]; expected numbers \[48, 6\]"):
        get_dataset("3dshapes", path=str(path))
    path.unlink()
    _write_3dshapes(path, labels_shape=(48, 6))  # all-zero labels: one value per factor, 48 images for 1 combination
    with pytest.raises(UserError, match="one image per combination"):
        get_dataset("3dshapes", path=str(path))


def test_mpi3d_wrong_content(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, imgs=np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(UserError, match=r"no array 'images'"):
        get_dataset("mpi3d", path=str(path))
    np.savez(path, images=np.zeros((4, 3, 64, 64), np.uint8))
    with pytest.raises(UserError, match=r"expected uint8 \[N, 64, 64, 3\]"):
        get_dataset("mpi3d", path=str(path))
