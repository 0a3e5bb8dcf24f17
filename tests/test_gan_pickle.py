"""StyleGAN2-ADA pickles: synthetic ones built here round-trip; payloads inside them never run.

The pickles are made with our own small stand-ins whose ``__reduce__`` produces the persistent-object
protocol (``torch_utils.persistence._reconstruct_persistent_obj(meta)``, ``dnnlib.util.EasyDict``);
the stand-in modules exist in ``sys.modules`` only while pickling. No NVIDIA code is involved.
"""

import contextlib
import io
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from latentdirs.cli import main
from latentdirs.errors import UserError
from latentdirs.gan import Generator, generator_fingerprint, load_generator

CONFIGS = {
    "skip_clamp": dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                       mapping_kwargs={"num_layers": 2},
                       synthesis_kwargs={"channel_base": 128, "channel_max": 16, "conv_clamp": 256}),
    "resnet_conditional": dict(z_dim=8, c_dim=3, w_dim=16, img_resolution=8, img_channels=1,
                               mapping_kwargs={"num_layers": 3},
                               synthesis_kwargs={"channel_base": 64, "channel_max": 16, "architecture": "resnet"}),
}


# -- stand-ins for NVIDIA's module names, registered only while pickling -----------------------
@contextlib.contextmanager
def nvidia_names(permissive=False):
    """``permissive``: the stand-in reconstruct returns ``meta`` (for plain-pickle control loads)."""

    def _reconstruct_persistent_obj(meta):
        if not permissive:
            raise AssertionError("stand-in: a loader must never call the pickled reconstruct function")
        return meta

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    modules = {name: types.ModuleType(name) for name in ("torch_utils", "torch_utils.persistence", "dnnlib",
                                                         "dnnlib.util")}
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    modules["dnnlib.util"].EasyDict = EasyDict
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=EasyDict)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent:
    """Pickles as ``_reconstruct_persistent_obj(meta)``, as a persistent network object does."""

    def __init__(self, fake, class_name, state, module_src):
        self.fake, self.class_name, self.state, self.module_src = fake, class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return self.fake.reconstruct, (meta,), None


def persistent_tree(module, fake, module_src, init_kwargs=None, extra=None):
    """A module's ``__dict__``-like state: scalars (float gains as numpy scalars), parameters, buffers, children."""
    state = {k: (np.float64(v) if isinstance(v, float) else v) for k, v in vars(module).items()
             if isinstance(v, bool | int | float | str | type(None))}
    state.update(
        training=False, _parameters=OrderedDict(module._parameters), _buffers=OrderedDict(module._buffers),
        _non_persistent_buffers_set=set(), _forward_hooks=OrderedDict(), _backward_hooks=OrderedDict(),
        _modules=OrderedDict((n, persistent_tree(c, fake, module_src)) for n, c in module._modules.items()),
        _init_args=(), _init_kwargs=fake.EasyDict(init_kwargs or {}))
    state.update(extra or {})
    return Persistent(fake, type(module).__name__, state, module_src)


def easy_kwargs(fake, generator, flat=False):
    kw = {k: v for k, v in generator.init_kwargs.items() if k not in ("mapping_kwargs", "synthesis_kwargs")}
    kw["img_resolution"] = np.int64(kw["img_resolution"])
    kw["mapping_kwargs"] = fake.EasyDict(generator.init_kwargs["mapping_kwargs"])
    synthesis = fake.EasyDict(generator.init_kwargs["synthesis_kwargs"])
    if flat:  # stylegan3 repository's StyleGAN2: synthesis options at top level
        kw.update(synthesis)
    else:
        kw["synthesis_kwargs"] = synthesis
    return fake.EasyDict(kw)


def snapshot_bytes(g_ema, g=None, marker=None, protocol=4, g_ema_extra=None, flat=False, keys=("G", "D", "G_ema")):
    """A StyleGAN2-ADA-like snapshot pickle; ``module_src`` would write ``marker`` if anyone ran it."""
    module_src = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src ran')\n"
    with nvidia_names() as fake:
        d_state = {"_parameters": OrderedDict(b4=torch.nn.Parameter(torch.randn(3))), "_buffers": OrderedDict(),
                   "_modules": OrderedDict(), "_init_kwargs": fake.EasyDict(c_dim=0)}
        data = {"G": persistent_tree(g or g_ema, fake, module_src, easy_kwargs(fake, g or g_ema, flat)),
                "D": Persistent(fake, "Discriminator", d_state, module_src),
                "G_ema": persistent_tree(g_ema, fake, module_src, easy_kwargs(fake, g_ema, flat), g_ema_extra),
                "augment_pipe": Persistent(fake, "AugmentPipe", {"p": np.array([0.2], np.float32)}, module_src),
                "training_set_kwargs": {"resolution": 16, "use_labels": False}}
        return pickle.dumps({k: data[k] for k in (*keys, "augment_pipe", "training_set_kwargs")}, protocol=protocol)


def make_generator(name, seed):
    torch.manual_seed(seed)
    generator = Generator(**CONFIGS[name])
    with torch.no_grad():  # move everything away from init so every tensor matters
        for tensor in (*generator.parameters(), *generator.buffers()):
            tensor.add_(0.1 * torch.randn_like(tensor))
    return generator.eval()


@torch.no_grad()
def render(generator, n=3):
    z = torch.randn(n, generator.z_dim, generator=torch.Generator().manual_seed(7))
    c = torch.eye(generator.c_dim)[:n] if generator.c_dim else None
    return generator(z, c, truncation_psi=0.7, truncation_cutoff=2, noise_mode="const")


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("protocol", [2, 4])
def test_ada_pickle_load_convert_load_identical(tmp_path, name, protocol, capsys):
    g_ema, g = make_generator(name, 1), make_generator(name, 2)
    marker = tmp_path / "module_src_ran"
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(snapshot_bytes(g_ema, g, marker, protocol))

    loaded = load_generator(path)
    assert loaded.source["format"] == "stylegan2-ada-pickle" and loaded.source["pickle_key"] == "G_ema"
    assert loaded.init_kwargs == g_ema.init_kwargs
    assert torch.equal(render(loaded), render(g_ema))
    assert not torch.equal(render(loaded), render(g))

    main(["convert", str(path), str(tmp_path / "out")])
    assert "wrote" in capsys.readouterr().out
    again = load_generator(tmp_path / "out.json")
    assert torch.equal(render(again), render(loaded))
    assert generator_fingerprint(again) == generator_fingerprint(loaded) == generator_fingerprint(g_ema)
    assert again.source["provenance"]["format"] == "stylegan2-ada-pickle"
    assert not marker.exists()


def test_g_is_used_without_g_ema(tmp_path):
    g = make_generator("skip_clamp", 3)
    path = tmp_path / "g.pkl"
    path.write_bytes(snapshot_bytes(g, keys=("G", "D")))
    loaded = load_generator(path)
    assert loaded.source["pickle_key"] == "G" and torch.equal(render(loaded), render(g))


def test_stylegan3_repository_layout_of_stylegan2(tmp_path):
    """Synthesis options at top level; conv_clamp missing from kwargs is read from the pickled layers."""
    g = make_generator("skip_clamp", 4)
    with nvidia_names() as fake:
        kwargs = easy_kwargs(fake, g, flat=True)
        kwargs.pop("conv_clamp")
        kwargs["fused_modconv_default"] = "inference_only"
        module_src = "raise SystemExit('never run')"
        data = pickle.dumps({"G_ema": persistent_tree(g, fake, module_src, kwargs)})
    path = tmp_path / "sg3repo.pkl"
    path.write_bytes(data)
    loaded = load_generator(path)
    assert loaded.init_kwargs["synthesis_kwargs"]["conv_clamp"] == 256
    assert any("stylegan3 repository layout" in n for n in loaded.source["notes"])
    assert torch.equal(render(loaded), render(g))


def test_numpy_core_and_numpy_underscore_core_names_both_load():
    """Pickles from numpy 1.x name ``numpy.core.multiarray``; numpy 2 writes ``numpy._core.multiarray``."""
    from latentdirs.gan.loaders.pickle_ada import RestrictedUnpickler

    value = {"gain": np.float64(0.125), "taps": np.array([1, 3, 3, 1], np.float32)}
    new = pickle.dumps(value, protocol=2)  # protocol 2: GLOBAL opcodes carry the module name as text
    old = new.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy._core" in new and b"numpy._core" not in old
    for data in (new, old):
        loaded = RestrictedUnpickler(io.BytesIO(data)).load()
        assert loaded["gain"] == 0.125 and loaded["gain"].dtype == np.float64
        np.testing.assert_array_equal(loaded["taps"], value["taps"])


# -- payloads never run ----------------------------------------------------------------------
class Trap:
    """A class that writes a marker file when unpickled (what an unknown class could do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __setstate__(self, state):
        Path(state["marker"]).write_text("Trap ran")


class Reducer:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def storage_payload(marker):
    buffer = io.BytesIO()
    torch.save(Reducer(os.system, f"touch {marker}"), buffer, _use_new_zipfile_serialization=False)
    return Reducer(torch.storage._load_from_bytes, buffer.getvalue())


PAYLOADS = {
    "os.system": lambda m: Reducer(os.system, f"touch {m}"),
    "builtins.eval": lambda m: Reducer(eval, f"open({str(m)!r}, 'w').write('eval ran')"),
    "builtins.exec": lambda m: Reducer(exec, f"open({str(m)!r}, 'w').write('exec ran')"),
    "unknown class": Trap,
    "storage payload": storage_payload,
}


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_payload_is_refused_and_never_runs(tmp_path, kind):
    marker = tmp_path / "payload_ran"
    data = snapshot_bytes(make_generator("skip_clamp", 5), marker=tmp_path / "src_ran",
                          g_ema_extra={"hook": PAYLOADS[kind](marker)})
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match="refused") as info:
        load_generator(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists() and not (tmp_path / "src_ran").exists()
    # control: the same bytes through plain pickle do run the payload
    with nvidia_names(permissive=True), contextlib.suppress(Exception):
        pickle.loads(data)
    assert marker.exists()


class ForgedDtype:
    """A structured dtype whose object field is hidden by forged flags (``hasobject`` False): numpy would
    then read raw bytes from the file as object pointers (a crash, or worse)."""

    def __reduce__(self):
        return np.dtype, ("V8", False, True), (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0)


FROMBUFFER = np.arange(1).__reduce_ex__(5)[0]
DTYPE_PAYLOADS = {
    "forged dtype state": Reducer(FROMBUFFER, b"A" * 8, ForgedDtype(), (1,), "C"),
    "object dtype": Reducer(FROMBUFFER, b"A" * 8, np.dtype("O"), (1,), "C"),
    "object scalar": Reducer(np.float64(0).__reduce__()[0], np.dtype("O"), b"A" * 8),
}


@pytest.mark.parametrize("kind", list(DTYPE_PAYLOADS))
def test_numpy_data_of_non_numeric_dtypes_is_refused(tmp_path, kind):
    data = snapshot_bytes(make_generator("skip_clamp", 5), g_ema_extra={"hook": DTYPE_PAYLOADS[kind]})
    path = tmp_path / "dtype.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match="refused .*dtype") as info:
        load_generator(path)
    assert "\n" not in str(info.value)


def test_numpy_data_of_numeric_dtypes_loads_in_either_byte_order():
    from latentdirs.gan.loaders.pickle_ada import RestrictedUnpickler

    value = {"big": np.arange(4, dtype=">f4"), "bool": np.array([True, False]), "gain": np.float32(0.5),
             "int": np.int64(-3), "complex": np.array([1 + 2j], np.complex64)}
    for protocol in (2, 4, 5):
        data = pickle.dumps(value, protocol=protocol)
        loaded, reference = RestrictedUnpickler(io.BytesIO(data)).load(), pickle.loads(data)
        for key, expected in value.items():
            assert loaded[key].dtype == reference[key].dtype, (protocol, key)  # numpy's own choice of byte order
            np.testing.assert_array_equal(loaded[key], expected)
    assert np.dtype("f4").byteorder == "="  # numpy's shared float32 type untouched


def test_state_cannot_be_set_on_classes_or_functions():
    """BUILD with a slot state would set attributes on whatever the unpickler handed out: the stand-in
    classes and replacement functions of the loader itself, for every later load in the process."""
    from latentdirs.gan.loaders import pickle_ada

    before = pickle_ada._rebuild_parameter.__defaults__
    attacks = {
        "class": b"\x80\x02cdnnlib.util\nEasyDict\nN}X\x05\x00\x00\x00pwnedK\x01s\x86b.",
        "function": b"\x80\x02ctorch._utils\n_rebuild_parameter\nN}X\x0c\x00\x00\x00__defaults__K\x07\x85s\x86b.",
        "dunder on a record": b"\x80\x02cdnnlib.util\nEasyDict\n)\x81}X\x09\x00\x00\x00__class__K\x01sb.",
        "new ndarray": b"\x80\x02cnumpy\nndarray\nK\x01\x85\x81.",
    }
    for name, data in attacks.items():
        with pytest.raises(pickle.UnpicklingError):
            pickle_ada.RestrictedUnpickler(io.BytesIO(data)).load()
        assert not hasattr(pickle_ada.EasyDictStandIn, "pwned"), name
        assert pickle_ada._rebuild_parameter.__defaults__ == before, name


# -- wrong files -------------------------------------------------------------------------------
def _bad_files(tmp_path):
    valid = snapshot_bytes(make_generator("skip_clamp", 6))
    with nvidia_names() as fake:
        only_d = pickle.dumps({"G_ema": Persistent(fake, "Discriminator", {"_init_kwargs": {}}, "")})
    return {
        "truncated.pkl": (valid[: len(valid) // 2], "truncated or corrupt"),
        "text.pkl": (b"this is not a pickle\n", "not a generator file"),
        "garbage.pkl": (b"\x80\x04" + bytes(range(256)) * 4, "truncated or corrupt"),
        "empty.pkl": (b"", "empty"),
        "dict.pkl": (pickle.dumps({"a": 1}), "has no generator"),
        "list.pkl": (pickle.dumps([1, 2]), "holds a list"),
        "disc.pkl": (only_d, "expected a StyleGAN2 Generator"),
    }


def test_broken_or_wrong_files_give_one_line_errors(tmp_path):
    for name, (data, message) in _bad_files(tmp_path).items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UserError, match=message) as info:
            load_generator(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name
    with pytest.raises(UserError, match="not found"):
        load_generator(tmp_path / "missing.pkl")


def test_cli_reports_bad_pickle_as_one_line(tmp_path, capsys):
    path = tmp_path / "bad.pkl"
    path.write_bytes(b"\x80\x04nonsense")
    with pytest.raises(SystemExit) as info:
        main(["generate", "--generator", str(path), "--out", str(tmp_path / "g.png")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and str(path) in err and len(err.splitlines()) == 1


def test_tensorflow_pickle_is_refused_by_name(tmp_path):
    network = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __getstate__(self):
            return {"build_module_src": "import os; os.system('touch x')", "variables": []}

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    network.Network = Network
    names = ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update({"dnnlib": types.ModuleType("dnnlib"), "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
                        "dnnlib.tflib.network": network})
    try:
        data = pickle.dumps((Network(), Network(), Network()))
    finally:
        for n, m in saved.items():
            sys.modules.pop(n, None) if m is None else sys.modules.__setitem__(n, m)
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match="TensorFlow-era"):
        load_generator(path)


def test_stylegan3_pickle_is_refused_by_name(tmp_path):
    g = make_generator("skip_clamp", 8)
    with nvidia_names() as fake:
        tree = persistent_tree(g, fake, "", easy_kwargs(fake, g))
        synthesis = tree.state["_modules"]["synthesis"]
        synthesis.state["_modules"] = OrderedDict(input=Persistent(fake, "SynthesisInput", {}, ""))
        data = pickle.dumps({"G_ema": tree})
    path = tmp_path / "stylegan3-t-ffhq.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError, match="StyleGAN3"):
        load_generator(path)
