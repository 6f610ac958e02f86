"""The one in-memory graph type: vocabularies, entity attributes and split triples."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

SPLITS = ("train", "val", "test")


@dataclass
class Graph:
    """A typed, possibly multimodal knowledge graph.

    Entities and relations are identified by string ids; their position in ``entities`` /
    ``relations`` is their index everywhere (tensors, embeddings, scores). ``triples[split]`` is a
    LongTensor [n, 3] of (head, relation, tail) indices. ``images[i]`` is a path relative to
    ``root`` that was checked to exist inside it, or "" when the entity has no image.
    """

    entities: list[str]
    relations: list[str]
    types: list[str]
    labels: list[str]
    descriptions: list[str]
    images: list[str]
    triples: dict[str, torch.Tensor]
    root: Path | None = None
    source: str = ""
    fingerprint: str = ""
    warnings: list[str] = field(default_factory=list)
    # Relations trained on but never evaluated (WikiArt-MKG-v2 leaves out its link relations).
    excluded_from_eval: list[str] = field(default_factory=list)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @cached_property
    def entity_index(self) -> dict[str, int]:
        return {e: i for i, e in enumerate(self.entities)}

    @cached_property
    def relation_index(self) -> dict[str, int]:
        return {r: i for i, r in enumerate(self.relations)}

    def split(self, name: str) -> torch.Tensor:
        return self.triples.get(name, torch.empty(0, 3, dtype=torch.long))

    def all_triples(self) -> torch.Tensor:
        return torch.cat([self.split(s) for s in SPLITS])

    def text(self, i: int) -> str:
        """The entity's text modality: its label, followed by its description when it has one."""
        label, desc = self.labels[i], self.descriptions[i]
        if desc and desc != label:
            return f"{label}: {desc}" if label else desc
        return label

    def image_path(self, i: int) -> Path | None:
        if not self.images[i] or self.root is None:
            return None
        return self.root / self.images[i]

    @cached_property
    def has_image(self) -> torch.Tensor:
        return torch.tensor([bool(p) for p in self.images], dtype=torch.bool)

    @cached_property
    def has_text(self) -> torch.Tensor:
        return torch.tensor([bool(self.labels[i] or self.descriptions[i])
                             for i in range(self.num_entities)], dtype=torch.bool)

    @cached_property
    def train_entities(self) -> torch.Tensor:
        """Boolean mask of entities that occur in a training triple."""
        mask = torch.zeros(self.num_entities, dtype=torch.bool)
        tr = self.split("train")
        mask[tr[:, 0]] = True
        mask[tr[:, 2]] = True
        return mask

    # Domain and range: which entity types each relation takes in each position. Learned from
    # the training triples, which are what the model saw; a relation with none there (held out
    # entirely) takes its types from every split so it is not left with no candidates.
    @cached_property
    def type_ids(self) -> tuple[list[str], torch.Tensor]:
        """The distinct entity types and each entity's index among them."""
        names = sorted(set(self.types))
        pos = {t: i for i, t in enumerate(names)}
        return names, torch.tensor([pos[t] for t in self.types], dtype=torch.long)

    @cached_property
    def position_types(self) -> torch.Tensor:
        """bool [2, num_relations, num_types]: types seen as heads (0) and tails (1) of each relation."""
        names, tid = self.type_ids
        seen = torch.zeros(2, self.num_relations, len(names), dtype=torch.bool)
        for triples in (self.split("train"), self.all_triples()):
            empty = ~seen.any(-1).any(0)  # relations with no types yet
            sel = triples[empty[triples[:, 1]]]
            seen[0, sel[:, 1], tid[sel[:, 0]]] = True
            seen[1, sel[:, 1], tid[sel[:, 2]]] = True
        return seen

    def relation_domain(self, r: int) -> set[str]:
        """The types of entities seen as heads of relation ``r``."""
        return {self.type_ids[0][i] for i in torch.nonzero(self.position_types[0, r]).flatten().tolist()}

    def relation_range(self, r: int) -> set[str]:
        """The types of entities seen as tails of relation ``r``."""
        return {self.type_ids[0][i] for i in torch.nonzero(self.position_types[1, r]).flatten().tolist()}

    def typed_candidates(self, r: int, position: str) -> torch.Tensor:
        """bool [num_entities]: entities whose type relation ``r`` takes as its ``position``
        ("head" or "tail")."""
        return self.position_types[0 if position == "head" else 1, r][self.type_ids[1]]

    def known_split(self) -> dict[tuple[int, int, int], str]:
        """(h, r, t) -> the split it is known in."""
        out: dict[tuple[int, int, int], str] = {}
        for s in SPLITS:
            for h, r, t in self.split(s).tolist():
                out.setdefault((h, r, t), s)
        return out

    def summary(self) -> dict:
        """Counts for a collection overview: entities per type, triples per relation and split,
        modality coverage."""
        per_rel: dict[str, dict[str, int]] = {r: {s: 0 for s in SPLITS} for r in self.relations}
        for s in SPLITS:
            counts = torch.bincount(self.split(s)[:, 1], minlength=self.num_relations).tolist()
            for r, c in zip(self.relations, counts):
                per_rel[r][s] = c
        return {
            "source": self.source,
            "entities": self.num_entities,
            "relations": self.num_relations,
            "entities_per_type": dict(Counter(self.types).most_common()),
            "triples_per_split": {s: int(self.split(s).shape[0]) for s in SPLITS},
            "triples_per_relation": per_rel,
            "with_image": int(self.has_image.sum()),
            "with_text": int(self.has_text.sum()),
            "with_description": sum(1 for d in self.descriptions if d),
            "unseen_in_train": int((~self.train_entities).sum()),
        }


def vocabulary_difference(graph: Graph, entities: list[str], relations: list[str]) -> str:
    """What tells ``graph``'s ids apart from ``entities``/``relations`` (index order counts: it is
    what embeddings are aligned to), or "" when they are the same."""
    for kind, ours, theirs in (("entity", graph.entities, entities), ("relation", graph.relations, relations)):
        if len(ours) != len(theirs):
            return f"it has {len(ours)} {kind} ids, the run {len(theirs)}"
        i = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
        if i is not None:
            return f"{kind} {i} is {ours[i]!r}, the run's is {theirs[i]!r}"
    return ""


def fingerprint_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


# The evaluation protocol and its candidate pools are facts about the graph: training picks its
# negatives by them as evaluation ranks by them.
def candidate_mask(graph: Graph) -> torch.Tensor:
    """bool [num_relations, num_entities]: entities seen as a tail of each relation (any split)."""
    allt = graph.all_triples()
    mask = torch.zeros(graph.num_relations, graph.num_entities, dtype=torch.bool)
    mask[allt[:, 1], allt[:, 2]] = True
    return mask


def default_protocol(graph: Graph) -> str:
    """Typed or visual graphs (art collections) follow WikiArt-MKG: tail prediction over
    per-relation candidate pools; plain graphs rank both directions over all entities."""
    typed = len(set(graph.types)) > 1
    return "tail-candidates" if typed or bool(graph.has_image.any()) else "both"
