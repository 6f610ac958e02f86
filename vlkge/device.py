"""Which torch device a run or an encoder uses."""
from __future__ import annotations

import torch

from .errors import VLKGEError


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise VLKGEError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VLKGEError("device cuda requested but no CUDA GPU is available; use --device cpu")
    return device
