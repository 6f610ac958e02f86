"""Frozen feature encoders and the on-disk feature cache.

``load_encoder(spec)`` specs:
  * ``auto`` (default): CLIP ViT-B/32 when its weights are available locally, else ``offline``;
  * ``clip`` / ``clip:<hub id or local dir>``: any CLIP-family checkpoint (CLIP, SigLIP, ALIGN);
  * ``offline``: MiniLM text (the transformer, or for graphs of over 20,000 texts its distilled
    static token table; ``offline:static`` / ``offline:transformer`` choose) + EfficientNet-Lite0
    ImageNet features (two mid-level layers and the head) fused with a hand-made image descriptor
    (a fallback, not a VLM); ``offline:minilm+effnet-lite0+descriptor-v1`` (the head alone) and
    ``offline:minilm+descriptor-v1`` (the descriptor alone) rebuild older runs' encoders;
  * ``effnet-lite0``: EfficientNet-Lite0 ImageNet features alone (images only).
"""
from __future__ import annotations

# Loaded on first use (PEP 562): reading a run's encoder record (``encoders.info``) must not
# import PIL, the image readers and the encoder classes.
_EXPORTS = {"Encoder": "base", "open_image": "base", "DEFAULT_CLIP": "clip", "load_encoder": "loading",
            "FeatureStore": "store", "extract_features": "store", "import_features": "import_features",
            "load_imported": "import_features", "load_feature_pickle": "import_features"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # after the submodule import, which binds its own name here
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
