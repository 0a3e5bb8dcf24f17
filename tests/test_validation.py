"""The checks every command runs before its work: ranges, device names, memory, file headers, finiteness."""

import json

import numpy as np
import pytest
import torch

from latentdirs import validation as v
from latentdirs.errors import UserError
from latentdirs.io import read_npy, write_json


def test_bounds_refuse_non_finite_huge_fractional_and_outside_values():
    lr, n_jobs = v.LEARNING_RATE, v.N_JOBS
    assert [lr.problem(x) for x in (1e-4, 1.0)] == [None, None]
    assert lr.problem(0.0) == "0 is not in (0, 1]" and lr.problem(1e30) == "1e+30 is not in (0, 1]"
    assert lr.problem(float("nan")) == "nan is not a finite number" and "finite" in lr.problem(float("-inf"))
    assert n_jobs.problem(-1) is None and n_jobs.problem(0) == "0 is not in -1 or [1, 4096]"
    assert v.SEED.problem(2**70) == "1180591620717411303424 is not in [0, 4294967295]"
    assert v.SEED.problem(10**40) == "1e+40 is not in [0, 4294967295]"
    assert v.LATENT_DIM.problem(2.5) == "2.5 is not a whole number" and v.LATENT_DIM.problem(True) is not None
    assert v.LATENT_DIM.problem("10") == "'10' is not a number"
    with pytest.raises(UserError, match="^latent_dim: 0 is not in"):
        v.LATENT_DIM.check(0, "latent_dim")


def test_device_names_are_checked_by_spelling():
    for good in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert v.check_device_name(good) == good
    for bad in ("xla", "cuda:", "cuda:-1", "CPU", "", "cpu ", "cuda:0;rm"):
        with pytest.raises(UserError, match="unknown device"):
            v.check_device_name(bad)


def test_sizes_beyond_free_memory_are_one_line_naming_the_need(monkeypatch):
    monkeypatch.setattr(v, "available_memory", lambda device=None: 2 * 10**9)
    v.check_fits(10**9, "small")
    with pytest.raises(UserError, match=r"^4096 samples needs 3.2 TB of memory; 2 GB is free \(lower --num\)$"):
        v.check_fits(3.2e12, "4096 samples", hint="lower --num")
    assert v.available_memory() > 10**8  # the real query: MemAvailable (Linux) or the physical memory


def test_model_bytes_counts_without_allocating():
    big = v.model_bytes(lambda: torch.nn.Linear(100_000, 100_000))  # 40 GB of float32 weights, nothing allocated
    assert big == (100_000 * 100_000 + 100_000) * 4


def _npy_with_header(path, shape, descr="<f8", payload=b""):
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode().ljust(117) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload)


def test_npy_headers_are_checked_before_the_data_is_read(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(6.0).reshape(2, 3))
    header = v.npy_header(good, "codes")
    assert header.shape == (2, 3) and header.dtype == np.float64 and header.nbytes == 48
    _npy_with_header(tmp_path / "huge.npy", (10**12, 10), payload=bytes(80))
    with pytest.raises(UserError, match=r"truncated or corrupt .npy file: its header declares shape "
                                        r"\(1000000000000, 10\) of float64 \(80 TB\), the file holds 80 bytes"):
        read_npy(tmp_path / "huge.npy", "codes")
    _npy_with_header(tmp_path / "objects.npy", (2,), descr="|O", payload=bytes(16))
    with pytest.raises(UserError, match="holds Python objects"):
        read_npy(tmp_path / "objects.npy", "codes")
    (tmp_path / "mangled.npy").write_bytes(good.read_bytes()[:12] + b"__import__('os')" + good.read_bytes()[28:])
    with pytest.raises(UserError, match="corrupt header"):
        read_npy(tmp_path / "mangled.npy", "codes")


def test_npz_members_are_checked_before_any_is_read(tmp_path):
    import zipfile

    _npy_with_header(tmp_path / "member.npy", (2**40,), descr="<f4")
    with zipfile.ZipFile(tmp_path / "a.npz", "w") as archive:
        archive.write(tmp_path / "member.npy", "lat_comp.npy")
    with pytest.raises(UserError, match=r"a.npz \(array lat_comp.npy\) is a truncated"):
        v.npz_headers(tmp_path / "a.npz", "GANSpace")


def test_safetensors_headers_are_checked_before_any_tensor_is_read(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(3)}, str(tmp_path / "ok.safetensors"), metadata={"format": "f"})
    assert v.safetensors_header(tmp_path / "ok.safetensors", "file")["x"]["shape"] == [3]

    def header_file(name, header, payload=b""):
        text = json.dumps(header).encode()
        (tmp_path / name).write_bytes(len(text).to_bytes(8, "little") + text + payload)
        return tmp_path / name

    cases = {
        "long.safetensors": ((10**15).to_bytes(8, "little") + b"{}", "header length"),
        "short.safetensors": (b"\x01", "shorter than a header"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(UserError, match=message):
            v.safetensors_header(tmp_path / name, "file")
    for header, message in (({"x": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, "does not fit"),
                            ({"x": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}, "no dtype"),
                            ({"__metadata__": {"a": 1}}, "metadata"), ([1, 2], "not a JSON object")):
        with pytest.raises(UserError, match=message):
            v.safetensors_header(header_file("h.safetensors", header, bytes(4)), "file")


def test_finiteness_of_values_and_weights():
    assert v.all_finite(np.arange(3)) and v.all_finite(torch.ones(2)) and not v.all_finite(np.array([1.0, np.inf]))
    module = torch.nn.Linear(2, 2)
    assert v.require_finite_weights(module, "m") is module
    with torch.no_grad():
        module.bias[1] = float("nan")
    with pytest.raises(UserError, match="m: weight bias holds NaN"):
        v.require_finite_weights(module, "m")


def test_json_files_are_always_valid_json(tmp_path):
    """A NaN or inf number (a diverged score, an undefined metric) is written as null, never as bare NaN."""
    write_json(tmp_path / "s.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": np.float32("nan"),
                                     "d": np.array([0.5, np.nan]), "e": {"f": -float("inf")}})
    text = (tmp_path / "s.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": None, "d": [0.5, None], "e": {"f": None}}


def test_traversal_and_shift_specs():
    assert v.parse_traverse("-3:3:7") == (-3.0, 3.0, 7) and v.parse_shift_range("6") == (0.0, 6.0)
    for bad, message in (("-1e30:1e30:3", "not in"), ("0:1", "START:STOP:COUNT"), ("0:1:0", "between 1 and 1000"),
                         ("nan:1:2", "finite")):
        with pytest.raises(UserError, match=message):
            v.parse_traverse(bad)
    for bad, message in (("0:0", "MAX > 0"), ("2:1", "MIN <= MAX"), ("0:1e9", "not in"), ("a:b", "MIN:MAX")):
        with pytest.raises(UserError, match=message):
            v.parse_shift_range(bad)
