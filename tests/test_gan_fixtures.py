"""Our StyleGAN2 against outputs of the official stylegan2-ada-pytorch code (../shared/fixtures/stylegan2)."""

import copy
import json

import numpy as np
import pytest
import torch

from latentdirs.gan import Generator

CASES = ["a_res32_rgb_skip_clamp256", "b_res64_gray_resnet_noclamp"]
IMG_TOL = dict(atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module", params=CASES)
def case(request, shared_fixtures):
    from safetensors.torch import load_file

    folder = shared_fixtures / "stylegan2" / request.param
    config = json.loads((folder / "config.json").read_text())
    state = load_file(str(folder / "state.safetensors"))
    generator = Generator(**config["init_kwargs"]).eval()
    generator.load_state_dict(state, strict=True)
    io = {k: torch.from_numpy(v) for k, v in np.load(folder / "io.npz").items()}
    blocks = {k: torch.from_numpy(v) for k, v in np.load(folder / "debug_blocks.npz").items()}
    return config, state, generator, io, blocks


def test_state_dict_names_shapes_kinds_and_order(case):
    config, _, generator, _, _ = case
    entries = config["state_dict_entries"]
    params = dict(generator.named_parameters())
    ours = generator.state_dict()
    assert list(ours) == [e["name"] for e in entries]
    for e in entries:
        assert list(ours[e["name"]].shape) == e["shape"], e["name"]
        assert ("parameter" if e["name"] in params else "buffer") == e["kind"], e["name"]
    assert generator.num_ws == config["num_ws"]
    assert generator.synthesis.block_resolutions == config["block_resolutions"]


@torch.no_grad()
def test_mapping_reproduces_ws(case):
    config, _, generator, io, _ = case
    out = config["outputs"]["ws"]
    ws = generator.mapping(io["z"], io.get("c"), truncation_psi=out["truncation_psi"],
                           truncation_cutoff=out["truncation_cutoff"])
    torch.testing.assert_close(ws, io["ws"], atol=1e-5, rtol=1e-5)
    if "ws_psi1" in io:
        torch.testing.assert_close(generator.mapping(io["z"], io.get("c")), io["ws_psi1"], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_synthesis_const_block_by_block(case):
    _, _, generator, io, blocks = case
    seen = {}
    hooks = [block.register_forward_hook(lambda m, i, o, res=res: seen.__setitem__(res, o))
             for res, block in generator.synthesis.blocks()]
    try:
        img = generator.synthesis(io["ws"], noise_mode="const")
    finally:
        for hook in hooks:
            hook.remove()
    for res, (x, block_img) in seen.items():
        torch.testing.assert_close(x, blocks[f"block{res}_x"], **IMG_TOL, msg=f"block {res} x")
        if f"block{res}_img" in blocks:
            torch.testing.assert_close(block_img, blocks[f"block{res}_img"], **IMG_TOL, msg=f"block {res} img")
    torch.testing.assert_close(img, io["img_const"], **IMG_TOL)


@torch.no_grad()
@pytest.mark.parametrize("fused", [True, False])
def test_images_const_none_and_full_call(case, fused):
    config, _, generator, io, _ = case
    torch.testing.assert_close(generator.synthesis(io["ws"], noise_mode="const", fused_modconv=fused),
                               io["img_const"], **IMG_TOL)
    torch.testing.assert_close(generator.synthesis(io["ws"], noise_mode="none", fused_modconv=fused),
                               io["img_none"], **IMG_TOL)
    opts = config["outputs"]["img_G"]
    img = generator(io["z"], io.get("c"), truncation_psi=opts["truncation_psi"],
                    truncation_cutoff=opts["truncation_cutoff"], noise_mode=opts["noise_mode"], fused_modconv=fused)
    torch.testing.assert_close(img, io["img_G"], **IMG_TOL)


@torch.no_grad()
def test_conv_clamp_probe(case):
    config, state, _, io, _ = case
    kwargs = copy.deepcopy(config["init_kwargs"])
    kwargs["synthesis_kwargs"]["conv_clamp"] = config["outputs"]["img_const_clamp_probe"]["conv_clamp"]
    clamped = Generator(**kwargs).eval()
    clamped.load_state_dict(state, strict=True)
    torch.testing.assert_close(clamped.synthesis(io["ws"], noise_mode="const"), io["img_const_clamp_probe"], **IMG_TOL)


@torch.no_grad()
def test_style_space_round_trip_and_edit(case):
    _, _, generator, io, _ = case
    styles = generator.ws_to_styles(io["ws"])
    assert list(styles) == generator.synthesis.layer_names()
    torch.testing.assert_close(generator.synthesize(styles=styles), io["img_const"], **IMG_TOL)
    name = generator.synthesis.layer_names()[0]
    edited = dict(styles, **{name: styles[name] + 1.0})
    assert (generator.synthesize(io["ws"], styles={name: edited[name]}) - io["img_const"]).abs().max() > 1e-2
