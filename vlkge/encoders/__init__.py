"""Frozen feature encoders and the on-disk feature cache.

``load_encoder(spec)`` specs:
  * ``auto`` (default): CLIP ViT-B/32 when its weights are available locally, else ``offline``;
  * ``clip`` / ``clip:<hub id or local dir>``: any CLIP-family checkpoint (CLIP, SigLIP, ALIGN);
  * ``offline`` / ``offline:<static|transformer>``: MiniLM text (by default its distilled static
    token table) + a hand-made image descriptor (a fallback, not a VLM).
"""
from __future__ import annotations

import logging

from ..errors import VLKGEError
from .base import Encoder, open_image
from .clip import DEFAULT_CLIP

log = logging.getLogger(__name__)

__all__ = ["Encoder", "load_encoder", "available_encoders", "open_image", "DEFAULT_CLIP",
           "FeatureStore", "extract_features", "import_features", "load_imported",
           "load_feature_pickle"]


def load_encoder(spec: str = "auto", device: str = "auto") -> Encoder:
    """Build the encoder named by ``spec`` on ``device`` ("auto" | "cpu" | "cuda")."""
    spec = (spec or "auto").strip()
    kind, _, arg = spec.partition(":")
    if kind == "auto":
        from .clip import ClipEncoder
        try:
            return ClipEncoder(DEFAULT_CLIP, device=device)
        except VLKGEError as e:
            log.warning("encoder auto: CLIP unavailable, using the offline encoder "
                        "(MiniLM text + image descriptor, not a VLM): %s", e)
            from .offline import OfflineEncoder
            return OfflineEncoder(device=device)
    if kind == "clip":
        from .clip import ClipEncoder
        return ClipEncoder(arg or DEFAULT_CLIP, device=device)
    if kind == "offline":
        from .offline import OfflineEncoder
        return OfflineEncoder(device=device, text_model=arg or "static")
    raise VLKGEError(f"unknown encoder {spec!r}: use auto, clip[:<hub id or dir>] or offline[:static|transformer] "
                     "(imported features are loaded with load_imported)")


def clip_cached(model: str = DEFAULT_CLIP) -> tuple[bool, str]:
    """Whether ``model``'s weights are in the local HF cache, checked without loading them."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False, "huggingface_hub is not installed"
    for name in ("model.safetensors", "pytorch_model.bin"):
        hit = try_to_load_from_cache(model, name)
        if isinstance(hit, str):
            return True, f"weights cached at {hit}"
    return False, f"weights for {model} are not in the local Hugging Face cache"


def available_encoders() -> list[dict]:
    """What the app can offer here: [{spec, usable, joint_space, reason}]."""
    ok, why = clip_cached(DEFAULT_CLIP)
    out = [{"spec": f"clip:{DEFAULT_CLIP}", "usable": ok, "joint_space": True, "reason": why}]
    try:
        from .offline import minilm_dir
        d = minilm_dir()
        out.append({"spec": "offline", "usable": True, "joint_space": False,
                    "reason": f"MiniLM at {d} + image descriptor (fallback, not a VLM)"})
    except VLKGEError as e:
        out.append({"spec": "offline", "usable": False, "joint_space": False, "reason": str(e)})
    out.insert(0, {"spec": "auto", "usable": any(o["usable"] for o in out), "joint_space": ok,
                   "reason": "uses CLIP" if ok else "falls back to offline (no CLIP weights)"})
    return out


def __getattr__(name: str):
    # The store and importer pull in safetensors; keep `import vlkge.encoders` light.
    if name in ("FeatureStore", "extract_features"):
        from . import store
        return getattr(store, name)
    if name in ("import_features", "load_imported", "load_feature_pickle"):
        from . import import_features
        return getattr(import_features, name)
    raise AttributeError(name)
