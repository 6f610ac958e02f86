"""Building an encoder from its spec (see :mod:`vlkge.encoders`)."""
from __future__ import annotations

import logging

from ..errors import VLKGEError
from .base import Encoder
from .clip import DEFAULT_CLIP

log = logging.getLogger(__name__)


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
                        "(MiniLM text + EfficientNet-Lite0 ImageNet + descriptor, not a VLM): %s", e)
            from .offline import OfflineEncoder
            return OfflineEncoder(device=device)
    if kind == "clip":
        from .clip import ClipEncoder
        return ClipEncoder(arg or DEFAULT_CLIP, device=device)
    if kind == "offline":
        from .offline import OfflineEncoder, offline_variant
        return OfflineEncoder(device=device, image_features=offline_variant(arg))
    if spec == "effnet-lite0":
        from .effnet import EffNetLite0Encoder
        return EffNetLite0Encoder(device=device)
    raise VLKGEError(f"unknown encoder {spec!r}: use auto, clip[:<hub id or dir>], offline or effnet-lite0 "
                     "(imported features are loaded with load_imported)")
