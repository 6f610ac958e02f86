"""The paper's zero-shot baseline: rank candidate tails by the cosine between the head's image
feature and each tail's text feature, with no training at all."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..encoders.info import EncoderInfo
from ..errors import VLKGEError
from .ranking import evaluate_ranking


def zero_shot_vectors(run, features: dict | None = None, encoder_info: dict | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(query vectors, answer vectors, mode) for every entity of the run's graph, from the run's
    own features or, where it has no text features, ``features`` {modality: (features, mask)}
    made by the encoder ``encoder_info`` describes (:func:`vlkge.pipeline.zero_shot` makes them)."""
    graph = run.graph
    if graph is None:
        raise VLKGEError(f"{run.path}: the run's data is not available for zero-shot evaluation")
    feats = {m: (run.model.entity.features(m), run.model.entity.masks[:, i])
             for i, m in enumerate(run.model.entity.modalities) if m != "structural"}
    encoder = run.encoder
    if "textual" not in feats:
        if features is None or "textual" not in features:
            raise VLKGEError(f"{run.path}: the run has no text features; zero-shot needs them extracted "
                             "(vlkge.pipeline.zero_shot does)")
        feats, encoder = features, EncoderInfo.from_record(encoder_info)
    text, text_ok = feats["textual"]
    query = text.clone()
    mode = "text-to-text"
    if "visual" in feats and encoder.vision_language:
        img, img_ok = feats["visual"]
        query[img_ok] = img[img_ok]  # an entity with an image is queried by its image
        mode = "image-to-text"
    elif "visual" in feats:
        mode = "text-to-text (the encoder has no joint image-text space)"
    return F.normalize(query, dim=-1), F.normalize(text, dim=-1) * text_ok[:, None], mode


def evaluate_zero_shot(run, split: str = "test", protocol: str | None = None,
                       features: dict | None = None, encoder_info: dict | None = None) -> dict:
    q, a, mode = zero_shot_vectors(run, features, encoder_info)
    res = evaluate_ranking(run.graph, lambda h, r: q[h] @ a.T, lambda t, r: a[t] @ q.T,
                           score_tails_among=lambda h, r, c: q[h] @ a[c].T,
                           split=split, protocol=protocol or run.protocol)
    res["zero_shot"] = mode
    return res
