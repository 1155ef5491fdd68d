"""Name the machine a number was measured on."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return cpu


def gpu_name() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        return None


def describe_hardware() -> str:
    gpu = gpu_name()
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, " + (f"GPU: {gpu}" if gpu else "no GPU")
