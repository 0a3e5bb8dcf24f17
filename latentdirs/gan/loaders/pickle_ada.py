"""Read StyleGAN2-ADA generator pickles (``network-snapshot-*.pkl``, ``ffhq.pkl``) without running them.

Loading such a file the official way executes Python source stored inside it: every network object
is pickled as ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` holds
``type='class'``, ``version``, ``module_src`` (the source of ``training/networks.py``),
``class_name`` and ``state`` (the module's ``__dict__``: ``_parameters``, ``_buffers``,
``_modules``, ``_init_args``, ``_init_kwargs``, …), and the official function ``exec``\\ s
``module_src``. Here:

- :class:`RestrictedUnpickler` resolves only the globals in :data:`ALLOWED_GLOBALS`; anything else
  (``os.system``, ``builtins.eval``, an unknown class, …) stops the load before it is called;
- ``_reconstruct_persistent_obj`` becomes a function returning a :class:`PersistentRecord` that keeps
  ``class_name`` and ``state`` and never reads ``module_src``;
- tensor storages (``torch.storage._load_from_bytes``) are read with
  ``torch.load(..., weights_only=True)``; ``dnnlib.util.EasyDict`` becomes a plain dict; numpy
  scalars and arrays (``numpy.core`` and ``numpy._core`` names) are allowed as data, of plain numeric
  dtypes only (bool, integer, float, complex);
- the state a pickle applies to an object it built (the BUILD opcode) is checked first: numpy dtypes
  and arrays accept only the state numpy itself writes for plain numeric data (a forged dtype state
  could otherwise turn raw bytes into object pointers), dict-like records accept plain attributes,
  and nothing else (classes, functions) accepts any, so a file cannot alter this module. The
  Python implementation of the unpickler is used because its opcodes can be checked one by one.

The generator (``G_ema``, else ``G``) is rebuilt from its recorded constructor arguments and its
parameters and buffers are loaded with ``strict=True``. TensorFlow-era pickles
(``dnnlib.tflib.network.Network``) and StyleGAN3 pickles are recognised and refused by name.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import UserError
from .build import build_generator

#: synthesis options of StyleGAN3 generators that a StyleGAN2 synthesis network never has
STYLEGAN3_KWARGS = {"magnitude_ema_beta", "num_critical", "first_cutoff", "first_stopband", "last_stopband_rel",
                    "margin_size", "output_scale", "conv_kernel", "filter_size", "lrelu_upsampling",
                    "use_radial_filters", "num_layers"}
#: keyword arguments that only matter for training; accepted and dropped
TRAINING_ONLY_KWARGS = {"mapping_kwargs": {"freeze_layers", "freeze_embed"},
                        "synthesis_kwargs": {"fused_modconv_default"}}
GENERATOR_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")


@dataclass
class PersistentRecord:
    """What a persistent object's ``meta`` held, minus its source code."""

    class_name: str
    state: dict[str, Any]
    children: dict[str, PersistentRecord] = field(default_factory=dict)


class EasyDictStandIn(dict):
    """Receives pickled ``dnnlib.util.EasyDict`` objects (a dict; attributes from BUILD are kept apart)."""


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class TensorFlowPickle(pickle.UnpicklingError):
    pass


class BadEmbeddedStorage(pickle.UnpicklingError):
    pass


class RefusedData(pickle.UnpicklingError):
    """Data an official pickle never holds (an object dtype, a forged state, …); the message says which."""


# -- replacements for the globals a StyleGAN2-ADA pickle uses -----------------------------------
def _load_storage_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes``, but through the weights-only unpickler."""
    if not isinstance(data, bytes | bytearray):
        raise BadEmbeddedStorage(f"storage payload is {type(data).__name__}, expected bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BadEmbeddedStorage(f"an embedded tensor storage is not plain data ({first[:160]})") from None
    if not isinstance(storage, torch.TypedStorage):
        raise BadEmbeddedStorage(f"an embedded storage holds {type(storage).__name__}, not a tensor storage")
    return storage


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> torch.Tensor:
    if not isinstance(storage, torch.TypedStorage):
        raise BadEmbeddedStorage(f"tensor built from {type(storage).__name__}, expected a storage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch._utils._rebuild_tensor_v2(storage, int(storage_offset), tuple(size), tuple(stride), False,
                                               OrderedDict())


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise BadEmbeddedStorage(f"parameter built from {type(data).__name__}, expected a tensor")
    return data


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for raw bytes."""
    if encoding.replace("-", "").lower() != "latin1" or not isinstance(text, str):
        raise RefusedGlobal("_codecs", f"encode({encoding!r})")
    return codecs.encode(text, "latin1")


_np_reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
_np_scalar = np.float64(0).__reduce__()[0]
_np_frombuffer = np.arange(1).__reduce_ex__(5)[0]
NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex


class _NdarrayType:
    """Stands for ``numpy.ndarray``, which pickles name only as ``_reconstruct``'s first argument."""


NDARRAY = _NdarrayType()


def _plain_dtype(dtype: Any, what: str) -> np.dtype:
    """``dtype`` if it is a plain numeric numpy dtype (no fields, no sub-array, no objects), else refused."""
    if (not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS or dtype.fields is not None
            or dtype.subdtype is not None or dtype.hasobject):
        raise RefusedData(f"a numpy {what} of dtype {dtype} (only bool, integer, float and complex dtypes are read)")
    return dtype


def _dtype_of(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    """``numpy.dtype(spec, align)`` for a type code such as ``'f8'``, only for plain numeric types, and always a
    copy (numpy's pickles ask for one and set its byte order by BUILD; never numpy's shared instance)."""
    if not isinstance(spec, str):
        raise RefusedData(f"numpy dtype from a {type(spec).__name__}")
    try:
        dtype = np.dtype(spec, align=bool(align), copy=True)
    except TypeError:
        raise RefusedData(f"numpy dtype {spec[:20]!r}") from None
    return _plain_dtype(dtype, "type")


def _ndarray_reconstruct(subtype, shape, dtype):
    if subtype is not NDARRAY:
        raise RefusedData(f"numpy array of type {type(subtype).__name__}")
    return _np_reconstruct(np.ndarray, shape, dtype)


def _scalar_of(dtype, data=None):
    dtype = _plain_dtype(dtype, "scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise RefusedData(f"numpy {dtype} scalar from {type(data).__name__} data")
    return _np_scalar(dtype, data)


def _frombuffer_of(buffer, dtype, shape, order):
    dtype = _plain_dtype(dtype, "array")
    if not isinstance(buffer, bytes | bytearray | pickle.PickleBuffer):
        raise RefusedData(f"numpy array from a {type(buffer).__name__}")
    return _np_frombuffer(buffer, dtype, shape, order)


def _check_build(target: Any, state: Any) -> None:
    """Refuse a BUILD whose state is not what the official pickles hold for ``target`` (see module doc)."""
    if isinstance(target, np.dtype):
        _plain_dtype(target, "type")
        canonical = [d.__reduce__()[2] for d in (target, target.newbyteorder("<"), target.newbyteorder(">"))]
        if not isinstance(state, tuple) or state not in canonical:
            raise RefusedData(f"numpy dtype state {str(state)[:80]} (not that of a plain {target})")
    elif type(target) is np.ndarray:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], bytes)):
            raise RefusedData("numpy array state (expected version, shape, dtype, order, bytes)")
        _plain_dtype(state[2], "array")
    elif type(target) in (EasyDictStandIn, dict, OrderedDict):
        if not isinstance(state, dict) or not all(isinstance(k, str) and not k.startswith("__") for k in state):
            raise RefusedData(f"{type(target).__name__} state {str(state)[:80]}")
    else:
        raise RefusedData(f"state set on a {type(target).__name__} (only data objects take state)")


#: (module, name) → the object the unpickler hands out instead of importing anything
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_encode,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("torch", "Size"): torch.Size,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): _dtype_of,
    ("numpy", "ndarray"): NDARRAY,
    **{(f"{root}.multiarray", "_reconstruct"): _ndarray_reconstruct for root in ("numpy.core", "numpy._core")},
    **{(f"{root}.multiarray", "scalar"): _scalar_of for root in ("numpy.core", "numpy._core")},
    **{(f"{root}.numeric", "_frombuffer"): _frombuffer_of for root in ("numpy.core", "numpy._core")},
}
PERSISTENT_GLOBAL = ("torch_utils.persistence", "_reconstruct_persistent_obj")
#: classes a pickle may instantiate with ``cls.__new__`` (the NEWOBJ opcodes)
NEWOBJ_CLASSES = (EasyDictStandIn, OrderedDict, set, frozenset)


class RestrictedUnpickler(pickle._Unpickler):
    """Resolves only :data:`ALLOWED_GLOBALS` and the persistent-object hook, checks every BUILD and NEWOBJ
    (see the module docstring); records class names."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BufferedIOBase) -> None:
        super().__init__(file)
        self.class_names: set[str] = set()

    def load_build(self) -> None:
        _check_build(self.stack[-2], self.stack[-1])
        super().load_build()

    def load_newobj(self) -> None:
        self._check_new(self.stack[-2])
        super().load_newobj()

    def load_newobj_ex(self) -> None:
        self._check_new(self.stack[-3])
        super().load_newobj_ex()

    @staticmethod
    def _check_new(cls: Any) -> None:
        if not any(cls is allowed for allowed in NEWOBJ_CLASSES):
            raise RefusedData(f"instance of {getattr(cls, '__name__', type(cls).__name__)} built with __new__")

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def find_class(self, module: str, name: str) -> Any:
        # protocol-2 pickles name Python 2 modules (``__builtin__.set``); map them as pickle does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) == PERSISTENT_GLOBAL:
            return self._reconstruct_persistent_obj
        if module.startswith("dnnlib.tflib"):
            raise TensorFlowPickle(f"{module}.{name}")
        if (module, name) in ALLOWED_GLOBALS:
            return ALLOWED_GLOBALS[(module, name)]
        raise RefusedGlobal(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by StyleGAN2-ADA pickles")

    def _reconstruct_persistent_obj(self, meta: Any) -> PersistentRecord:
        """Keep ``class_name`` and ``state``; ``module_src`` is never looked at."""
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
            raise pickle.UnpicklingError("malformed persistent object (expected meta with type='class', class_name)")
        state = meta.get("state") or {}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"persistent object {meta['class_name']} has a non-dict state")
        self.class_names.add(meta["class_name"])
        modules = state.get("_modules") or {}
        children = {k: v for k, v in modules.items() if isinstance(v, PersistentRecord)}
        return PersistentRecord(meta["class_name"], dict(state), children)


# -- reading ----------------------------------------------------------------------------------
def read_pickle(path: Path) -> tuple[Any, set[str]]:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; every failure becomes a one-line UserError."""
    try:
        with open(path, "rb") as handle:
            unpickler = RestrictedUnpickler(handle)
            data = unpickler.load()
    except TensorFlowPickle as exc:
        raise UserError(
            f"{path} is a TensorFlow-era StyleGAN/StyleGAN2 pickle ({exc}); it cannot be read without TensorFlow. "
            "Convert it to a PyTorch pickle with stylegan2-ada-pytorch's legacy.py, then load that") from None
    except RefusedGlobal as exc:
        raise UserError(
            f"refused {path}: it references {exc.module}.{exc.name}, which is not on the allow-list for "
            "StyleGAN2-ADA pickles (nothing from the file was run)") from None
    except (BadEmbeddedStorage, RefusedData) as exc:
        raise UserError(f"refused {path}: {exc} (nothing from the file was run)") from None
    except (OSError, MemoryError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # truncated or corrupt pickles raise many types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path} is not a readable StyleGAN2-ADA pickle (truncated or corrupt: {first[:160]})") \
            from None
    return data, unpickler.class_names


def plain(obj: Any) -> Any:
    """EasyDict stand-ins → dicts, numpy scalars/arrays → Python values, recursively (for kwargs)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _generator_record(data: Any, path: Path) -> tuple[PersistentRecord, str]:
    if isinstance(data, PersistentRecord):
        return data, "(top level)"
    if not isinstance(data, dict):
        raise UserError(f"{path} holds a {type(data).__name__}, not a StyleGAN2-ADA snapshot (expected a dict "
                        "with G_ema or G)")
    for key in ("G_ema", "G"):
        if isinstance(data.get(key), PersistentRecord):
            return data[key], key
    raise UserError(f"{path} has no generator: expected a persistent network under G_ema or G, found keys "
                    f"{sorted(map(str, data))[:10]}")


def _looks_stylegan3(record: PersistentRecord, class_names: set[str]) -> bool:
    kwargs = plain(record.state.get("_init_kwargs") or {})
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    synthesis = kwargs.get("synthesis_kwargs") or {}
    keys = set(kwargs) | (set(synthesis) if isinstance(synthesis, dict) else set())
    synth_record = record.children.get("synthesis")
    return ("SynthesisInput" in class_names or bool(keys & STYLEGAN3_KWARGS)
            or (synth_record is not None and "input" in synth_record.children))


def generator_kwargs(record: PersistentRecord, path: Path) -> tuple[dict[str, Any], list[str]]:
    """Constructor kwargs for our Generator from the pickled ``_init_args``/``_init_kwargs``, with notes."""
    notes: list[str] = []
    args = plain(record.state.get("_init_args") or [])
    kwargs = plain(record.state.get("_init_kwargs") or {})
    if not isinstance(kwargs, dict) or not isinstance(args, list) or len(args) > len(GENERATOR_ARGS):
        raise UserError(f"{path}: the generator's recorded constructor arguments are malformed")
    kwargs.update(dict(zip(GENERATOR_ARGS, args, strict=False)))
    missing = [k for k in GENERATOR_ARGS[:5] if k not in kwargs]
    if missing:
        raise UserError(f"{path}: the generator's recorded constructor arguments lack {missing}")
    mapping = dict(kwargs.pop("mapping_kwargs", None) or {})
    synthesis = dict(kwargs.pop("synthesis_kwargs", None) or {})
    flat = {k: kwargs.pop(k) for k in list(kwargs) if k not in GENERATOR_ARGS}
    if flat:  # the stylegan3 repository's StyleGAN2 takes the synthesis options as **kwargs
        synthesis.update(flat)
        notes.append("synthesis options were given at top level (stylegan3 repository layout)")
    for group, values in (("mapping_kwargs", mapping), ("synthesis_kwargs", synthesis)):
        for key in sorted(TRAINING_ONLY_KWARGS[group] & set(values)):
            values.pop(key)
            notes.append(f"dropped training-only option {group}.{key}")
    clamp = _layer_attribute(record, ("synthesis", "b4", "conv1"), "conv_clamp")
    if clamp is not _MISSING and clamp != synthesis.get("conv_clamp"):
        synthesis["conv_clamp"] = clamp
        notes.append(f"conv_clamp={clamp} read from the pickled layers")
    kwargs["mapping_kwargs"] = mapping
    kwargs["synthesis_kwargs"] = synthesis
    return kwargs, notes


_MISSING = object()


def _layer_attribute(record: PersistentRecord, names: tuple[str, ...], attribute: str) -> Any:
    for name in names:
        record = record.children.get(name)
        if record is None:
            return _MISSING
    value = plain(record.state.get(attribute, _MISSING))
    return value if value is None or isinstance(value, int | float) else _MISSING


def record_state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """``state_dict()`` of a pickled module tree: persistent parameters and buffers, dotted names."""
    out: dict[str, torch.Tensor] = {}
    state = record.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is None or (group == "_buffers" and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise UserError(f"{prefix}{name} is a {type(tensor).__name__}, expected a tensor")
            out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise UserError(f"sub-module {prefix}{name} is a {type(child).__name__}, not a persistent network")
        out.update(record_state_dict(child, f"{prefix}{name}."))
    return out


def load_ada_pickle(path: Path, file_sha256: Callable[[], str]) -> Any:
    """Generator from a StyleGAN2-ADA pickle; ``G.source`` records the origin."""
    data, class_names = read_pickle(path)
    record, key = _generator_record(data, path)
    if _looks_stylegan3(record, class_names):
        raise UserError(f"{path} is a StyleGAN3 pickle (networks_stylegan3: SynthesisInput and Fourier-feature "
                        "layers); only StyleGAN2 generators are supported")
    if record.class_name != "Generator":
        raise UserError(f"{path}: {key} is a {record.class_name}, expected a StyleGAN2 Generator")
    kwargs, notes = generator_kwargs(record, path)
    try:
        state = record_state_dict(record)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    source = {"format": "stylegan2-ada-pickle", "file": path.name, "sha256": file_sha256(), "pickle_key": key,
              "notes": notes}
    return build_generator(kwargs, state, str(path), source)
