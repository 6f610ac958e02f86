"""Building an encoder from its spec (see :mod:`vlkge.encoders`)."""
from __future__ import annotations

import logging

from ..errors import VLKGEError
from .base import Encoder
from .clip import DEFAULT_CLIP

log = logging.getLogger(__name__)


def load_encoder(spec: str = "auto", device: str = "auto", n_texts: int | None = None) -> Encoder:
    """Build the encoder named by ``spec`` on ``device`` ("auto" | "cpu" | "cuda"); ``n_texts``, the
    number of texts it is for, picks the offline text model where the spec leaves it open."""
    spec = (spec or "auto").strip()
    kind, _, arg = spec.partition(":")
    if kind == "auto":
        from .clip import ClipEncoder
        try:
            return ClipEncoder(DEFAULT_CLIP, device=device)
        except VLKGEError as e:
            log.warning("encoder auto: CLIP unavailable, using the offline encoder "
                        "(MiniLM text + EfficientNet-Lite0 ImageNet + descriptor, not a VLM): %s", e)
            from .offline import OfflineEncoder, default_text_model
            return OfflineEncoder(device=device, text_model=default_text_model(n_texts))
    if kind == "clip":
        from .clip import ClipEncoder
        return ClipEncoder(arg or DEFAULT_CLIP, device=device)
    if kind == "offline":
        from .offline import OfflineEncoder, offline_variant
        text_model, image_features = offline_variant(arg, n_texts)
        return OfflineEncoder(device=device, image_features=image_features, text_model=text_model)
    if spec == "effnet-lite0":
        from .effnet import EffNetLite0Encoder
        return EffNetLite0Encoder(device=device)
    raise VLKGEError(f"unknown encoder {spec!r}: use auto, clip[:<hub id or dir>], offline or effnet-lite0 "
                     "(imported features are loaded with load_imported)")
