"""A StyleGAN2 generator configuration checked before anything is built.

A generator is built from constructor arguments read from a file (a latentdirs JSON's ``init_kwargs``, an
ADA pickle's recorded ``_init_args``/``_init_kwargs``, the settings read off a rosinality checkpoint), and
building allocates every tensor those arguments name: a 2.6 KB JSON with ``z_dim = 2**24`` beside genuine
weights allocated 9 GB for 29 s before its weights were compared, ``num_layers = 200000`` ran for 57 s, and
``img_resolution = 2**20`` ended in a ZeroDivisionError. :func:`check_generator_config` therefore

1. checks every field's type and range (:data:`LIMITS`; enumerations against the layers' own tables), and
2. predicts the state-dict shapes the configuration implies (:func:`state_shapes`: arithmetic only, nothing
   allocated) and compares them, name by name, with the weights' shapes (a safetensors header, a pickle's or
   checkpoint's tensors),

so that a generator is built only when it holds exactly the tensors the weights supply. ``state_shapes``
mirrors :mod:`.mapping`, :mod:`.synthesis` and :mod:`.layers`; ``tests/test_gan_formats.py`` checks it
against the built networks' state dicts over every architecture and option.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import UserError
from .layers import ACTIVATIONS
from .synthesis import ARCHITECTURES

#: supported mapping options and their defaults (those of the reference MappingNetwork)
MAPPING_DEFAULTS: dict[str, Any] = dict(num_layers=8, embed_features=None, layer_features=None, activation="lrelu",
                                        lr_multiplier=0.01, w_avg_beta=0.995)
#: supported synthesis options (SynthesisNetwork, SynthesisBlock, SynthesisLayer) and their defaults
SYNTHESIS_DEFAULTS: dict[str, Any] = dict(channel_base=32768, channel_max=512, num_fp16_res=0, architecture="skip",
                                          resample_filter=[1, 3, 3, 1], conv_clamp=None, fp16_channels_last=False,
                                          use_noise=True, activation="lrelu", kernel_size=3)

#: inclusive ranges of the integer fields: far beyond any published StyleGAN2 (z/w 512, 8 mapping layers,
#: 1024 px, 512 channels, 3×3 kernels), small enough that no check below costs anything; ``img_resolution``
#: must also be a power of two
LIMITS: dict[str, tuple[int, int]] = {
    "z_dim": (0, 2**16), "c_dim": (0, 2**16), "w_dim": (1, 2**16), "img_resolution": (4, 2**14),
    "img_channels": (1, 64), "num_layers": (1, 64), "embed_features": (1, 2**16), "layer_features": (1, 2**16),
    "channel_base": (1, 2**31), "channel_max": (1, 2**16), "num_fp16_res": (0, 32), "kernel_size": (1, 15),
}
#: at most this many taps per side in ``resample_filter``
MAX_FILTER_TAPS = 16

Shape = tuple[int, ...]


def check_generator_config(kwargs: Any, shapes: Mapping[str, Sequence[int]], what: str) -> None:
    """Refuse (one-line UserError naming ``what``) a configuration that is malformed, out of range, or
    whose implied state dict differs from ``shapes`` (``{name: shape}`` of the weights) in a name or shape."""
    expected = state_shapes(kwargs, what)
    given = {name: tuple(int(d) for d in shape) for name, shape in shapes.items()}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        raise UserError(f"{what}: weights do not match the StyleGAN2 configuration {_brief(kwargs)}: "
                        f"missing {missing[:5]}{' …' if len(missing) > 5 else ''}, "
                        f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}")
    for name, shape in expected.items():
        if given[name] != shape:
            raise UserError(f"{what}: {name} has shape {list(given[name])} in the weights; the configuration "
                            f"{_brief(kwargs)} implies {list(shape)}")


def state_shapes(kwargs: Any, what: str = "generator config") -> dict[str, Shape]:
    """``{name: shape}`` of ``Generator(**kwargs).state_dict()``, from the arguments alone (checked first)."""
    top, mapping, synthesis = check_generator_kwargs(kwargs, what)
    shapes: dict[str, Shape] = {}
    resolution = top["img_resolution"]
    block_resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
    channels = {res: min(synthesis["channel_base"] // res, synthesis["channel_max"]) for res in block_resolutions}
    filter_shape = _filter_shape(synthesis["resample_filter"])
    w_dim, kernel = top["w_dim"], synthesis["kernel_size"]

    def styled(prefix: str, in_ch: int, out_ch: int, res: int, taps: Shape) -> None:  # SynthesisLayer
        shapes[f"{prefix}.resample_filter"] = taps
        shapes[f"{prefix}.affine.weight"], shapes[f"{prefix}.affine.bias"] = (in_ch, w_dim), (in_ch,)
        shapes[f"{prefix}.weight"], shapes[f"{prefix}.bias"] = (out_ch, in_ch, kernel, kernel), (out_ch,)
        if synthesis["use_noise"]:
            shapes[f"{prefix}.noise_const"], shapes[f"{prefix}.noise_strength"] = (res, res), ()

    for res in block_resolutions:
        block, in_ch, out_ch = f"synthesis.b{res}", channels.get(res // 2, 0), channels[res]
        shapes[f"{block}.resample_filter"] = filter_shape
        if res == 4:
            shapes[f"{block}.const"] = (out_ch, res, res)
        else:
            styled(f"{block}.conv0", in_ch, out_ch, res, filter_shape)
        styled(f"{block}.conv1", out_ch, out_ch, res, (4, 4))  # conv1 keeps SynthesisLayer's default [1, 3, 3, 1]
        if res == resolution or synthesis["architecture"] == "skip":  # ToRGBLayer
            shapes[f"{block}.torgb.affine.weight"], shapes[f"{block}.torgb.affine.bias"] = (out_ch, w_dim), (out_ch,)
            shapes[f"{block}.torgb.weight"] = (top["img_channels"], out_ch, 1, 1)
            shapes[f"{block}.torgb.bias"] = (top["img_channels"],)
        if res > 4 and synthesis["architecture"] == "resnet":  # Conv2dLayer, 1×1, no bias
            shapes[f"{block}.skip.resample_filter"] = filter_shape
            shapes[f"{block}.skip.weight"] = (out_ch, in_ch, 1, 1)

    embed = 0 if top["c_dim"] == 0 else (mapping["embed_features"] or w_dim)
    hidden = mapping["layer_features"] or w_dim
    features = [top["z_dim"] + embed] + [hidden] * (mapping["num_layers"] - 1) + [w_dim]
    if top["c_dim"] > 0:
        shapes["mapping.embed.weight"], shapes["mapping.embed.bias"] = (embed, top["c_dim"]), (embed,)
    for index in range(mapping["num_layers"]):
        shapes[f"mapping.fc{index}.weight"] = (features[index + 1], features[index])
        shapes[f"mapping.fc{index}.bias"] = (features[index + 1],)
    if mapping["w_avg_beta"] is not None:
        shapes["mapping.w_avg"] = (w_dim,)
    return shapes


def check_generator_kwargs(kwargs: Any, what: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Top-level, mapping and synthesis settings (defaults filled in), every field type- and range-checked
    (a one-line UserError naming ``what`` otherwise)."""
    def fail(field: str, value: Any, expected: str) -> UserError:
        return UserError(f"{what}: generator config field {field} = {_short(value)} is refused (expected {expected})")

    if not isinstance(kwargs, Mapping):
        raise UserError(f"{what}: the generator configuration is a {type(kwargs).__name__}, expected an object")
    required = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    known = (*required, "mapping_kwargs", "synthesis_kwargs")
    missing, unknown = [k for k in required if k not in kwargs], sorted(set(map(str, kwargs)) - set(known))
    if missing or unknown:
        raise UserError(f"{what}: the generator configuration lacks {missing} or has unknown fields {unknown}")
    groups = []
    for group, defaults in (("mapping_kwargs", MAPPING_DEFAULTS), ("synthesis_kwargs", SYNTHESIS_DEFAULTS)):
        values = kwargs.get(group) or {}
        if not isinstance(values, Mapping):
            raise fail(group, values, "an object")
        unknown = sorted(set(map(str, values)) - set(defaults))
        if unknown:
            raise UserError(f"{what}: unsupported {group} {unknown}; supported: {list(defaults)}")
        groups.append({**defaults, **values})
    mapping, synthesis = groups

    def integer(field: str, value: Any, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        low, high = LIMITS[field]
        integral = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
            and value == int(value)
        if not integral or not low <= int(value) <= high:
            raise fail(field, value, f"an integer in [{low}, {high}]" + (" or null" if optional else ""))
        return int(value)

    top = {k: integer(k, kwargs[k]) for k in ("z_dim", "c_dim", "w_dim", "img_channels")}
    if top["z_dim"] + top["c_dim"] == 0:
        raise fail("z_dim", 0, "z_dim or c_dim at least 1")
    resolution = integer("img_resolution", kwargs["img_resolution"])
    if resolution & (resolution - 1):
        raise fail("img_resolution", resolution, f"a power of two from {LIMITS['img_resolution'][0]} to "
                   f"{LIMITS['img_resolution'][1]}")
    top["img_resolution"] = resolution

    mapping["num_layers"] = integer("num_layers", mapping["num_layers"])
    for field in ("embed_features", "layer_features"):
        mapping[field] = integer(field, mapping[field], optional=True)
    _number(fail, "lr_multiplier", mapping["lr_multiplier"], positive=True)
    if mapping["w_avg_beta"] is not None:
        beta = _number(fail, "w_avg_beta", mapping["w_avg_beta"])
        if not 0.0 <= beta <= 1.0:
            raise fail("w_avg_beta", beta, "a number in [0, 1] or null")
    for field in ("channel_base", "channel_max", "num_fp16_res", "kernel_size"):
        synthesis[field] = integer(field, synthesis[field])
    if synthesis["kernel_size"] % 2 == 0:
        raise fail("kernel_size", synthesis["kernel_size"], "an odd number")
    if synthesis["channel_base"] < resolution:
        raise fail("channel_base", synthesis["channel_base"],
                   f"at least img_resolution = {resolution}, so that every block has a channel")
    for group, values in (("mapping_kwargs", mapping), ("synthesis_kwargs", synthesis)):
        if values["activation"] not in ACTIVATIONS:
            raise fail(f"{group}.activation", values["activation"], f"one of {sorted(ACTIVATIONS)}")
    if synthesis["architecture"] not in ARCHITECTURES:
        raise fail("architecture", synthesis["architecture"], f"one of {list(ARCHITECTURES)}")
    for field in ("use_noise", "fp16_channels_last"):
        if not isinstance(synthesis[field], bool):
            raise fail(field, synthesis[field], "true or false")
    if synthesis["conv_clamp"] is not None:
        _number(fail, "conv_clamp", synthesis["conv_clamp"], positive=True)
    _filter_shape(synthesis["resample_filter"], fail)
    return top, mapping, synthesis


def _number(fail: Any, field: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or (positive and not value > 0):
        raise fail(field, value, "a finite positive number" if positive else "a finite number")
    return float(value)


def _filter_shape(taps: Any, fail: Any = None) -> Shape:
    """Shape of the ``resample_filter`` buffer that :func:`.resample.setup_filter` makes from ``taps``: 1-D
    lists of fewer than 8 taps become their outer product, longer ones stay 1-D, 2-D lists stay as they are.
    With ``fail``, also checks that the taps are finite numbers (at most :data:`MAX_FILTER_TAPS` per side)
    with a non-zero sum."""
    rows = taps if isinstance(taps, list | tuple) else [taps]
    nested = bool(rows) and all(isinstance(row, list | tuple) for row in rows)
    flat = [x for row in rows for x in row] if nested else list(rows)
    if fail is not None:
        ok = (0 < len(rows) <= MAX_FILTER_TAPS and all(not isinstance(x, bool) and isinstance(x, numbers.Real)
                                                        and math.isfinite(x) for x in flat))
        ok = ok and (not nested or len({len(row) for row in rows}) == 1 and 0 < len(rows[0]) <= MAX_FILTER_TAPS)
        if not ok or sum(flat) == 0:
            raise fail("resample_filter", taps, f"1 to {MAX_FILTER_TAPS} finite taps (or rows of them) with a "
                       "non-zero sum")
    if nested:
        return (len(rows), len(rows[0]))
    return (len(rows), len(rows)) if len(rows) < 8 else (len(rows),)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _brief(kwargs: Mapping[str, Any]) -> str:
    return _short({k: kwargs[k] for k in ("z_dim", "w_dim", "img_resolution") if k in kwargs})
