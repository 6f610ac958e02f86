"""How an entity's modality vectors become one vector: the fusion strategies.

A strategy takes the modality vectors ``parts`` [B, M, dim] and their presence ``mask`` [B, M] of
a batch and returns [B, dim]. Its parameters are registered on the entity representation that
uses it (``add_parameters``), under the names saved models have always had, so a run saved
before the strategies were split out loads unchanged.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class Average:
    """The mean of the modality vectors an entity has."""

    name = "average"

    def add_parameters(self, rep: nn.Module, modalities: int, dim: int) -> None:
        pass

    def weights(self, rep: nn.Module, mask: Tensor) -> Tensor:
        return mask.float()

    def __call__(self, rep: nn.Module, parts: Tensor, mask: Tensor) -> Tensor:
        w = self.weights(rep, mask)
        w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return (parts * w.unsqueeze(-1)).sum(dim=1)


class Weighted(Average):
    """A learned softmax weight per modality, renormalised over the modalities an entity has."""

    name = "weighted"

    def add_parameters(self, rep, modalities, dim):
        rep.modality_logits = nn.Parameter(torch.zeros(modalities))

    def weights(self, rep, mask):
        return torch.softmax(rep.modality_logits, 0) * mask.float()


class Concat:
    """A linear map of the concatenated modality vectors (absent ones zero)."""

    name = "concat"

    def add_parameters(self, rep, modalities, dim):
        rep.combine = nn.Linear(dim * modalities, dim)

    def __call__(self, rep, parts, mask):
        return rep.combine((parts * mask.float().unsqueeze(-1)).flatten(1))


FUSIONS: dict[str, type] = {f.name: f for f in (Average, Concat, Weighted)}


def make_fusion(name: str):
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r} (choose from {', '.join(FUSIONS)})")
    return FUSIONS[name]()
