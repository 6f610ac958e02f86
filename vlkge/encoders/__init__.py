"""Frozen feature encoders and the on-disk feature cache.

``load_encoder(spec)`` specs:
  * ``auto`` (default): CLIP ViT-B/32 when its weights are available locally, else ``offline``;
  * ``clip`` / ``clip:<hub id or local dir>``: any CLIP-family checkpoint (CLIP, SigLIP, ALIGN);
  * ``offline``: MiniLM text (the transformer, or for graphs of over 20,000 texts its distilled
    static token table; ``offline:static`` / ``offline:transformer`` choose) + EfficientNet-Lite0
    ImageNet features fused with a hand-made image descriptor (a fallback, not a VLM);
    ``offline:minilm+descriptor-v1`` is the descriptor alone, the image side of runs trained
    before EfficientNet-Lite0 was added;
  * ``effnet-lite0``: EfficientNet-Lite0 ImageNet features alone (images only).
"""
from __future__ import annotations

from .base import Encoder, open_image
from .clip import DEFAULT_CLIP
from .loading import load_encoder

__all__ = ["Encoder", "load_encoder", "open_image", "DEFAULT_CLIP",
           "FeatureStore", "extract_features", "import_features", "load_imported",
           "load_feature_pickle"]


def __getattr__(name: str):
    # The store and importer pull in safetensors; keep `import vlkge.encoders` light.
    if name in ("FeatureStore", "extract_features"):
        from . import store
        return getattr(store, name)
    if name in ("import_features", "load_imported", "load_feature_pickle"):
        from . import import_features
        return getattr(import_features, name)
    raise AttributeError(name)
