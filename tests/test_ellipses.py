"""The colour-ellipses dataset and its re-render score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from latentdirs.data import get_dataset
from latentdirs.data.ellipses import ASPECTS, ORIENTATIONS, POSITIONS, SEMI_MAJOR, ColourEllipses
from latentdirs.errors import UserError
from latentdirs.factors import colour_quality, fitted_colour_quality, is_layered, resolve_metric


def _box_filtered_coverage(factors: np.ndarray, supersample: int = 16,
                           geometry: tuple[float, ...] | None = None) -> np.ndarray:
    """Oracle: exact pixel coverage of the ellipse by point sampling ``supersample²`` points per pixel (at the
    grid's geometry of ``factors``, or at ``geometry`` = (a, b/a, θ, x, y))."""
    a, aspect, theta, centre_x, centre_y = geometry or (SEMI_MAJOR[factors[2]], ASPECTS[factors[3]],
                                                        ORIENTATIONS[factors[4]], POSITIONS[factors[5]],
                                                        POSITIONS[factors[6]])
    b = a * aspect
    grid = (np.arange(64 * supersample) + 0.5) / supersample
    x, y = np.meshgrid(grid - centre_x, grid - centre_y)
    # counter-clockwise on screen (y down): the major axis points along (cos θ, −sin θ)
    u = np.cos(theta) * x - np.sin(theta) * y
    v = -np.sin(theta) * x - np.cos(theta) * y
    inside = ((u / a) ** 2 + (v / b) ** 2 <= 1.0).astype(np.float64)
    return inside.reshape(64, supersample, 64, supersample).mean(axis=(1, 3))


def test_images_are_colour_and_deterministic():
    data = get_dataset("ellipses")
    factors, images = data.sample(16, np.random.RandomState(0))
    assert images.shape == (16, 3, 64, 64) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, data.observations_from_factors(factors))
    assert data.num_factors == 7 and data.num_observations == 8 * 4 * 6 * 4 * 10 * 16 * 16


def test_coverage_matches_box_filtered_oracle():
    data = ColourEllipses()
    factors = data.sample_factors(12, np.random.RandomState(3))
    ours = data.coverage(factors)
    for i, row in enumerate(factors):
        exact = _box_filtered_coverage(row)
        assert np.abs(ours[i] - exact).max() < 0.08
        assert abs(ours[i].sum() / exact.sum() - 1.0) < 0.02


def test_each_factor_changes_the_image():
    data = ColourEllipses()
    base = np.array([[2, 1, 3, 1, 3, 7, 8]])
    image = data.observations_from_factors(base)
    for column, size in enumerate(data.factor_sizes):
        for value in range(size):
            if value == base[0, column]:
                continue
            other = base.copy()
            other[0, column] = value
            assert np.abs(data.observations_from_factors(other) - image).max() > 0.1, (column, value)


def test_edges_are_smooth_and_object_is_whole():
    data = ColourEllipses()
    factors = data.sample_factors(64, np.random.RandomState(1))
    alpha = data.coverage(factors)
    fractional = ((alpha > 0.02) & (alpha < 0.98)).sum(axis=(1, 2))
    assert (fractional > 8).all()  # anti-aliased rim on every image
    assert (alpha[:, 0, :] == 0).all() and (alpha[:, -1, :] == 0).all()  # never cut by the border
    assert (alpha[:, :, 0] == 0).all() and (alpha[:, :, -1] == 0).all()


def test_colour_score_is_one_for_a_perfect_rerender_and_drops_for_each_kind_of_error():
    data = ColourEllipses()
    factors, images = data.sample(32, np.random.RandomState(2))
    assert is_layered(data) and resolve_metric(data) == "colour"
    perfect, blank = colour_quality(data, images, factors, images)
    np.testing.assert_allclose(perfect, 1.0)
    assert not blank.any()
    for column, shift in ((0, 1), (1, 1), (5, 3), (2, 3)):
        wrong = factors.copy()
        wrong[:, column] = (wrong[:, column] + shift) % data.factor_sizes[column]
        scores, _ = colour_quality(data, images, wrong, data.observations_from_factors(wrong))
        assert scores.mean() < 0.93, column
    empty = np.broadcast_to(images[:, :, :1, :1], images.shape).copy()  # background only
    scores, blank = colour_quality(data, empty, factors, images)
    assert blank.all() and (scores == 0).all()


def test_colour_metric_refused_on_a_dataset_without_layers():
    with pytest.raises(UserError, match="layered"):
        resolve_metric(get_dataset("threedots"), "colour")


def test_procedural_dataset_refuses_a_path():
    with pytest.raises(UserError, match="procedural"):
        get_dataset("ellipses", path="x.npz")


def test_off_grid_coverage_interpolates_the_geometry_and_matches_the_oracle():
    data = ColourEllipses()
    factors = data.sample_factors(6, np.random.RandomState(7))
    np.testing.assert_array_equal(data.coverage(factors, np.zeros((6, 5))), data.coverage(factors))
    offsets = np.random.RandomState(8).uniform(-0.5, 0.5, (6, 5))
    alpha = data.coverage(factors, offsets)
    for f, delta, drawn in zip(factors, offsets, alpha, strict=True):
        def between(grid, k, d):
            return float(np.interp(k + d, np.arange(len(grid)), grid))
        geometry = (between(SEMI_MAJOR, f[2], delta[0]), between(ASPECTS, f[3], delta[1]),
                    (f[4] + delta[2]) * np.pi / len(ORIENTATIONS), between(POSITIONS, f[5], delta[3]),
                    between(POSITIONS, f[6], delta[4]))
        oracle = _box_filtered_coverage(f, geometry=geometry)
        assert np.abs(drawn - oracle).max() < 0.08
        assert abs(drawn.sum() / oracle.sum() - 1) < 0.02
    with pytest.raises(ValueError, match="offsets"):
        data.coverage(factors, np.zeros((6, 4)))


def test_fitted_score_forgives_off_grid_geometry_but_not_blur_or_colour():
    data = ColourEllipses()
    rng = np.random.RandomState(9)
    factors, images = data.sample(48, rng)
    fitted, offsets = fitted_colour_quality(data, images, factors)
    np.testing.assert_allclose(fitted, 1.0)  # a dataset image keeps its perfect score, at offset 0
    assert not offsets.any()
    # exact ellipses drawn between grid values: the grid score charges it, the fit does not
    objects, backgrounds = data.colours(factors)
    between = data.coverage(factors, rng.uniform(-0.45, 0.45, (48, 5)))[:, None]
    off_grid = (backgrounds[:, :, None, None] + between * (objects - backgrounds)[:, :, None, None]).astype(np.float32)
    grid_scores, _ = colour_quality(data, off_grid, factors, images)
    fitted, _ = fitted_colour_quality(data, off_grid, factors)
    assert grid_scores.mean() < 0.85 and fitted.mean() > 0.97 and (fitted >= grid_scores).all()
    # a blurred drawing still loses (its rim spreads into the colour error), if leniently: a 7 x 7 box blur
    # of the dataset's images scores about 0.90 (0.84 on the grid), a 3 x 3 one 0.975
    blurred = uniform_filter(images, size=(1, 1, 7, 7), mode="nearest")
    blurred_scores, _ = fitted_colour_quality(data, blurred, factors)
    assert blurred_scores.mean() < 0.93
    # so does the wrong colour: the fit moves geometry only
    wrong = factors.copy()
    wrong[:, 0] = (wrong[:, 0] + 1) % data.factor_sizes[0]
    wrong_scores, _ = fitted_colour_quality(data, images, wrong)
    assert wrong_scores.mean() < 0.93


def test_fitted_score_needs_a_dataset_with_drawable_geometry():
    from latentdirs.factors import rerender_quality
    from latentdirs.factors.model import FactorClassifier

    data = get_dataset("threedots")
    model = FactorClassifier(data.observation_shape, data.factor_sizes, data.factor_names)
    with pytest.raises(UserError, match="fitted score"):
        rerender_quality(model, data, data.sample_observations(2, np.random.RandomState(0)), fit=True)
