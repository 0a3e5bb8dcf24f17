"""Checks of what a user hands in, before any work: numeric ranges, device names, memory, file headers, finiteness.

Every check raises :class:`~latentdirs.errors.UserError` (one ``error: …`` line, exit status 2). The ranges
are defined once here: the CLI's option types (``latentdirs/commands/_options.py``) are built from them, and
configs read from files (``train-vae --config``, a run folder's ``config.json``) are checked against the same
ones. The upper limits are far above any real use (StyleGAN2's largest networks, disentanglement_lib's
settings) and far below what would exhaust a machine or overflow float32 arithmetic; sizes that only
multiply out to too much (images × resolution, a network's weights) are checked against free memory by
:func:`check_fits`. Light on purpose: no torch, numpy only inside functions.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError


@dataclass(frozen=True)
class Bounds:
    """A closed (or half-open) interval of allowed numbers, plus isolated extra values (e.g. ``-1`` = all CPUs).

    ``check`` refuses NaN, ±inf, non-numbers and values outside; ``integer`` bounds refuse fractions."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()

    def text(self) -> str:
        """The range as help shows it: ``[1, 4096]``, ``(0, 1]``, ``≥ 1``, ``-1 or [1, 1024]``."""
        if self.lo is not None and self.hi is not None:
            core = f"{'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            core = f"{'>' if self.lo_open else '≥'} {_num(self.lo)}"
        elif self.hi is not None:
            core = f"{'<' if self.hi_open else '≤'} {_num(self.hi)}"
        else:
            core = "finite"
        return " or ".join([*(_num(a) for a in self.also), core])

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is refused, or None when it is allowed."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number"
        if self.integer and value != int(value):
            return f"{value} is not a whole number"
        if value in self.also:
            return None
        below = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        above = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        return f"{_num(value)} is not in {self.text()}" if below or above else None

    def check(self, value: Any, name: str) -> Any:
        """``value`` when allowed, else a UserError ``NAME: <problem>``."""
        problem = self.problem(value)
        if problem:
            raise UserError(f"{name}: {problem}")
        return value


def _num(value: float) -> str:
    """A number as a user typed it: whole numbers in full (up to 30 digits), others in ``%g``."""
    if isinstance(value, int) or (math.isfinite(value) and float(value).is_integer()):
        return str(int(value)) if abs(value) < 10**30 else f"{value:.3g}"
    return f"{value:g}"


# --- the ranges ---------------------------------------------------------------------------------------------------
#: seeds of numpy's RandomState (what every --seed feeds)
SEED = Bounds(0, 2**32 - 1, integer=True)
#: a count of things a user asks for (directions, images per row, batches measured, …)
COUNT = Bounds(1, 1_000_000, integer=True)
#: training steps
STEPS = Bounds(1, 1_000_000_000, integer=True)
#: steps between checkpoints or log rows
EVERY = Bounds(1, 1_000_000_000, integer=True)
#: the same where 0 means only at the end
EVERY_OR_END = Bounds(0, 1_000_000_000, integer=True)
#: a batch of images
BATCH = Bounds(1, 65_536, integer=True)
#: sampled codes or images (memory is checked as well where they are held at once)
SAMPLES = Bounds(1, 100_000_000, integer=True)
#: samples a spread (σ) is measured on: at least two
SPREAD_SAMPLES = Bounds(2, 100_000_000, integer=True)
THREADS = Bounds(1, 4096, integer=True)
#: an image side to downsample to, 0 for none
IMAGE_SIDE_OR_NONE = Bounds(0, 4096, integer=True)
#: a TCP port to listen on
PORT = Bounds(1, 65535, integer=True)
#: jobs a server runs at once
JOB_WORKERS = Bounds(1, 64, integer=True)
#: CPUs and GPUs one run asks a cluster for (Ray shares a GPU between runs asking for fractions)
RUN_CPUS = Bounds(0.0, 4096.0, lo_open=True)
RUN_GPUS = Bounds(0.0, 64.0)
N_JOBS = Bounds(1, 4096, integer=True, also=(-1,))
#: an index (a direction k, a class of a conditional generator; checked against the file later)
INDEX = Bounds(0, 2**31 - 1, integer=True)
#: rows or columns of a picture grid
GRID = Bounds(1, 1024, integer=True)
#: Adam learning rates (a step of lr per parameter: above 1 nothing trains)
LEARNING_RATE = Bounds(0.0, 1.0, lo_open=True)
#: truncation ψ (1: none; values far outside [0, 1] are already off the data, larger ones overflow)
TRUNCATION = Bounds(-10.0, 10.0)
#: an edit's strength (σ or raw units); float32 images overflow long before 1e30
STRENGTH = Bounds(-1000.0, 1000.0)
#: how far (±) a traversal grid reaches, in σ
SPAN = Bounds(0.0, 1000.0, lo_open=True)
#: a shift magnitude |ε| of direction discovery
SHIFT = Bounds(0.0, 1000.0)
#: a share of rows, strictly between 0 and 1
FRACTION = Bounds(0.0, 1.0, lo_open=True, hi_open=True)
#: histogram bins per code dimension (disentanglement_lib: 20)
NUM_BINS = Bounds(1, 100_000, integer=True)
#: a VAE's latent dimension (disentanglement_lib: 10)
LATENT_DIM = Bounds(1, 4096, integer=True)
#: StyleGAN2 latent widths z_dim / w_dim (the largest published: 512)
LATENT_WIDTH = Bounds(1, 4096, integer=True)
#: a StyleGAN2 generator's W+ layers (num_ws; 18 at 1024 px)
NUM_WS = Bounds(1, 4096, integer=True)
#: StyleGAN2 mapping layers (published: 2 to 8)
MAPPING_LAYERS = Bounds(1, 64, integer=True)
#: image resolution of a trained GAN (a power of two, checked by its config)
RESOLUTION = Bounds(8, 4096, integer=True)
#: StyleGAN2 channel_base (channels = min(base // res, max); published: 16384, 32768)
CHANNEL_BASE = Bounds(1, 1 << 20, integer=True)
#: StyleGAN2 channel_max (published: 512)
CHANNEL_MAX = Bounds(1, 8192, integer=True)
#: StyleGAN2 generator / discriminator architectures (Karras et al. 2020, Fig. 7)
GAN_ARCHITECTURES = ("orig", "skip", "resnet")
#: width of the factor classifier's first layers
WIDTH = Bounds(1, 4096, integer=True)
#: the largest σ of the pixel noise added to training images in [0, 1]
PIXEL_NOISE = Bounds(0.0, 10.0)
SATURATION_JITTER = Bounds(0.0, 1.0, hi_open=True)
#: thousands of images (run length and the intervals within it)
KIMG = Bounds(0.0, 1e7, lo_open=True)
#: the same where 0 is allowed (an EMA half-life of 0: no averaging)
KIMG_OR_ZERO = Bounds(0.0, 1e7)
#: a loss weight (β, γ, R1 γ, path length; published: 0.0002 to 100)
WEIGHT = Bounds(0.0, 1e6)
#: steps between lazy regularization passes
REG_INTERVAL = Bounds(1, 1_000_000, integer=True)
#: minibatch-std group size
MBSTD_GROUP = Bounds(1, 1024, integer=True)
PROBABILITY = Bounds(0.0, 1.0)
#: a wall-time budget in minutes
MINUTES = Bounds(0.0, 1e7, lo_open=True)


# --- devices ------------------------------------------------------------------------------------------------------
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d{1,4})?")


def check_device_name(name: str) -> str:
    """``name`` when it is spelled as a device latentdirs runs on (auto, cpu, cuda, cuda:N, mps); whether it is
    present is checked where it is opened (:func:`latentdirs.seeding.resolve_device`)."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise UserError(f"unknown device {name!r}; expected auto, cpu, cuda, cuda:N or mps")
    return name


# --- cluster addresses ---------------------------------------------------------------------------------------------
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*|\[[0-9A-Fa-f:.]{2,45}\])"
_RAY_ADDRESS = re.compile(rf"(?:ray://)?(?P<host>{_HOST}):(?P<port>\d{{1,5}})")


def parse_ray_address(text: str) -> str:
    """``text`` when it is a Ray address: ``auto`` (the cluster started on this machine), ``local`` (a new
    instance), ``HOST:PORT`` (a cluster's head, joined as a driver) or ``ray://HOST:PORT`` (Ray Client)."""
    if text in ("auto", "local"):
        return text
    match = _RAY_ADDRESS.fullmatch(str(text))
    if match is None:
        raise UserError(f"bad Ray address {text!r}; expected auto, local, HOST:PORT or ray://HOST:PORT")
    PORT.check(int(match["port"]), f"Ray address {text!r}: port")
    return text


# --- memory -------------------------------------------------------------------------------------------------------
def available_memory(device: Any = None) -> int | None:
    """Bytes free for new arrays: the free memory of a CUDA ``device``, else Linux's ``MemAvailable``, else the
    physical memory; None when unknown."""
    if device is not None and str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            free, _total = torch.cuda.mem_get_info(torch.device(device))
            return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def size_text(nbytes: float) -> str:
    """``2.4 GB``, ``310 MB``, ``12 kB``."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def check_fits(nbytes: float, what: str, device: Any = None, hint: str = "") -> None:
    """A UserError ``WHAT needs N GB of memory, M GB is free (HINT)`` when ``nbytes`` exceed what is free on
    ``device`` (the CPU by default), before anything is allocated."""
    free = available_memory(device)
    if free is not None and nbytes > free:
        where = f" on {device}" if device is not None and str(device) != "cpu" else ""
        raise UserError(f"{what} needs {size_text(nbytes)} of memory; {size_text(free)} is free{where}"
                        + (f" ({hint})" if hint else ""))


def model_bytes(build: Any) -> int:
    """Bytes of the parameters and buffers of the torch module ``build()`` makes, counted on the meta device
    (nothing is allocated, however large the sizes)."""
    import torch

    with torch.device("meta"):
        module = build()
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


# --- finiteness ---------------------------------------------------------------------------------------------------
def all_finite(values: Any) -> bool:
    """Whether every entry of a tensor, array or number is finite (integers always are)."""
    if hasattr(values, "isfinite") and hasattr(values, "all"):  # a torch tensor
        return bool(values.isfinite().all())
    import numpy as np

    array = np.asarray(values)
    return bool(np.isfinite(array).all()) if array.dtype.kind in "fc" else True


def require_finite_weights(module: Any, what: str) -> Any:
    """``module`` (a torch module) when every weight and buffer is finite, else a UserError naming the first
    tensor that is not (NaN weights render black or NaN images, never an error of their own)."""
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not all_finite(tensor):
            raise UserError(f"{what}: weight {name} holds NaN or infinite values")
    return module


# --- text specs ---------------------------------------------------------------------------------------------------
def parse_traverse(text: str) -> tuple[float, float, int]:
    """``"-3:3:7"`` → (start, stop, count): strengths within :data:`STRENGTH`, 1 ≤ count ≤ 1000."""
    parts = str(text).split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
    except ValueError:
        raise UserError(f"bad traversal {text!r}; expected START:STOP:COUNT, e.g. -3:3:7") from None
    STRENGTH.check(start, f"traversal {text!r}: START")
    STRENGTH.check(stop, f"traversal {text!r}: STOP")
    if not 1 <= count <= 1000:
        raise UserError(f"traversal count must be between 1 and 1000, got {count}")
    return start, stop, count


def parse_shift_range(text: str) -> tuple[float, float]:
    """``"0.5:6"`` → (min, max) (``"6"``: 0 to 6) with 0 ≤ min ≤ max, max > 0 (a range of only 0 shifts
    nothing), within :data:`SHIFT`."""
    low, sep, high = str(text).partition(":")
    try:
        low, high = (float(low), float(high)) if sep else (0.0, float(low))
    except ValueError:
        raise UserError(f"bad shift range {text!r}; expected MIN:MAX, e.g. 0.5:6") from None
    return check_shift_range(low, high)


def check_shift_range(low: float, high: float) -> tuple[float, float]:
    SHIFT.check(low, "shift range MIN")
    SHIFT.check(high, "shift range MAX")
    if not low <= high or high <= 0:
        raise UserError(f"shift range needs 0 <= MIN <= MAX and MAX > 0, got {low:g}:{high:g}")
    return low, high


# --- file headers -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: Any  # numpy dtype
    fortran_order: bool
    offset: int  # where the data starts

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


_NPY_MAGIC = b"\x93NUMPY"


def npy_header(path: str | os.PathLike, what: str) -> NpyHeader:
    """The header of a ``.npy`` file, checked before its data is read: a plain (non-object) dtype, and a
    declared size the file actually holds (a header may declare any shape)."""
    path = Path(path)
    with open(path, "rb") as handle:
        return read_npy_header(handle, path.stat().st_size, str(path), what)


def read_npy_header(handle: Any, size: int, where: str, what: str) -> NpyHeader:
    """:func:`npy_header` of an open binary stream of ``size`` bytes (e.g. a member of a ``.npz`` archive)."""
    import numpy as np

    start = handle.read(10)
    if start[:2] == b"PK":
        raise UserError(f"{where} is a .npz archive of arrays; expected one .npy {what}")
    if len(start) < 10 or start[:6] != _NPY_MAGIC or start[6] not in (1, 2, 3):
        raise UserError(f"{where} is not a readable .npy {what} (it does not start with a NumPy array header)")
    if start[6] == 1:
        length, offset = int.from_bytes(start[8:10], "little"), 10
    else:
        length, offset = int.from_bytes(start[8:10] + handle.read(2), "little"), 12
    if length > 65_536:
        raise UserError(f"{where}: the .npy header declares {length} bytes of description; refusing to parse it")
    raw = handle.read(length)
    try:
        fields = ast.literal_eval(raw.decode("utf-8" if start[6] == 3 else "latin1"))
        shape = tuple(int(n) for n in fields["shape"])
        dtype = np.dtype(fields["descr"]) if isinstance(fields["descr"], str | list) else None
        fortran = bool(fields["fortran_order"])
    except Exception:  # any malformed description: literal_eval, keys, dtype strings raise many types
        raise UserError(f"{where} is not a readable .npy {what} (corrupt header)") from None
    if dtype is None or dtype.hasobject:
        raise UserError(f"{where}: the .npy {what} holds Python objects; expected numbers (nothing was unpickled)")
    if any(n < 0 for n in shape):
        raise UserError(f"{where} is not a readable .npy {what} (negative size in shape {shape})")
    header = NpyHeader(shape, dtype, fortran, offset + length)
    if header.nbytes > size - header.offset:
        raise UserError(f"{where} is a truncated or corrupt .npy file: its header declares shape {shape} of "
                        f"{dtype} ({size_text(header.nbytes)}), the file holds {size_text(size - header.offset)}")
    return header


def npz_headers(path: str | os.PathLike, what: str) -> dict[str, NpyHeader]:
    """The header of every array of a ``.npz`` archive, each checked as :func:`npy_header` checks a file (the
    archive's listing gives each member's size), before any array is read."""
    import zipfile

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {}
            for info in archive.infolist():
                with archive.open(info) as member:
                    headers[info.filename.removesuffix(".npy")] = read_npy_header(
                        member, info.file_size, f"{path} (array {info.filename})", what)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise UserError(f"{path} is not a readable {what} .npz archive ({str(exc)[:160]})") from None
    check_fits(sum(h.nbytes for h in headers.values()), f"{what} {path}")
    return headers


_SAFETENSORS_DTYPES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                       "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def safetensors_header(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The JSON header of a ``.safetensors`` file, checked before any tensor is read: a declared length the
    file holds, known dtypes, and every tensor's byte range inside the file and matching its shape."""
    path = Path(path)
    size = path.stat().st_size

    def corrupt(why: str) -> UserError:
        return UserError(f"{what} {path} is corrupt or not a safetensors file ({why})")

    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise corrupt("shorter than a header")
        length = int.from_bytes(prefix, "little")
        if length > min(size - 8, 100_000_000):
            raise corrupt(f"header length {length} but {size} bytes in the file")
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise corrupt("its header is not JSON") from None
    if not isinstance(header, dict):
        raise corrupt("its header is not a JSON object")
    data = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise corrupt("metadata must map names to strings")
            continue
        try:
            itemsize = _SAFETENSORS_DTYPES[entry["dtype"]]
            shape = [int(n) for n in entry["shape"]]
            begin, end = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise corrupt(f"tensor {name!r} has no dtype, shape and data offsets") from None
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= data or end - begin != math.prod(shape) * itemsize:
            raise corrupt(f"tensor {name!r} of shape {shape} does not fit its bytes")
    return header
