"""One line describing the machine a run or benchmark used (CPU model, torch threads, GPU)."""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info(device: torch.device | None = None) -> dict[str, str | int]:
    info: dict[str, str | int] = {
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device if device is not None and device.type == "cuda" else 0)
    return info


def describe_machine(device: torch.device | None = None) -> str:
    info = machine_info(device)
    text = f"CPU {info['cpu']}, torch {info['torch']} with {info['torch_threads']} threads"
    return text + (f", GPU {info['gpu']}" if "gpu" in info else ", no GPU")
