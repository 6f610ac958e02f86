"""Placing an entity that is not in the graph (a new artwork) from its image and text."""
from __future__ import annotations

from functools import lru_cache

import torch

from ..errors import VLKGEError


@lru_cache(maxsize=4)
def _encoder(spec: str, device: str):
    from ..encoders import load_encoder
    return load_encoder(spec, device=device)


def run_encoder(run):
    """The encoder that produced the run's features, loaded the same way as at training time."""
    info = run.config.get("encoder_used") or {}
    name = info.get("name")
    if not name:
        raise VLKGEError("this run was trained on structure alone: a new entity cannot be placed "
                         "(train with --modalities structural,textual,visual)")
    if name.startswith("imported:"):
        raise VLKGEError(f"this run uses imported features ({name}); new entities need the same "
                         "encoder, which is not available here")
    # An encoder name is also its spec; older offline runs name the descriptor-only variant.
    return _encoder(name, "auto")


def new_entity_features(run, image=None, text: str | None = None, encoder=None) -> dict[str, torch.Tensor]:
    mods = run.model.entity.modalities
    if image is None and not text:
        raise VLKGEError("give an image and/or a text for the new entity")
    enc = encoder or run_encoder(run)
    feats: dict[str, torch.Tensor] = {}
    if image is not None and "visual" in mods:
        from PIL import Image
        if isinstance(image, Image.Image):
            feats["visual"] = enc.encode_pil([image.convert("RGB")])
        else:
            warns: list[str] = []
            f, ok = enc.encode_images([image], warnings=warns)
            if not bool(ok[0]):
                raise VLKGEError(warns[0] if warns else f"{image}: unreadable image")
            feats["visual"] = f
    if text and "textual" in mods:
        feats["textual"] = enc.encode_texts([text])
    if not feats:
        raise VLKGEError(f"this run's modalities ({', '.join(mods)}) cannot use what was given")
    return feats
