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

    for x, y in [(20, 31), (33, 7), (45, 45), (0, 17)]:
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
