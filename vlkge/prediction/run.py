"""A trained run, loaded for scoring, ranking, evaluation and placing new entities."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from ..data.graph import Graph
from ..data.readers import load_graph
from ..errors import VLKGEError
from ..evaluation.ranking import candidate_mask, default_protocol, evaluate_model
from ..models.model import KGEModel, build_model
from ..models.prior import TailPrior
from ..runs import CONFIG_FILE, METRICS_FILE, MODEL_FILE, load_tensors, read_json
from ..training.config import TrainConfig


@dataclass
class Prediction:
    entity: str
    score: float
    known: str | None = None  # the split the link is known in, or None when novel
    label: str = ""
    rank: int = 0
    confidence: float | None = None  # temperature-scaled softmax over the candidates


class Run:
    def __init__(self, path: Path, config: dict, model: KGEModel, graph: Graph | None, metrics: dict):
        self.path, self.config, self.model, self.graph, self.metrics = path, config, model, graph, metrics
        self.entities: list[str] = config["entities"]
        self.relations: list[str] = config["relations"]
        self.train_config = TrainConfig.from_dict(config["train"])
        self._eidx = {e: i for i, e in enumerate(self.entities)}
        self._ridx = {r: i for i, r in enumerate(self.relations)}

    # ------------------------------------------------------------ lookups
    @property
    def protocol(self) -> str:
        return self.config["train"].get("eval_protocol_used") or (
            default_protocol(self.graph) if self.graph else "both")

    @property
    def temperature(self) -> float:
        return float(self.config.get("calibration", {}).get("temperature", 1.0))

    def entity_index(self, entity: str) -> int:
        try:
            return self._eidx[entity]
        except KeyError:
            raise VLKGEError(f"unknown entity {entity!r} in run {self.path}") from None

    def relation_index(self, relation: str) -> int:
        try:
            return self._ridx[relation]
        except KeyError:
            raise VLKGEError(f"unknown relation {relation!r} (run has: {', '.join(self.relations)})") from None

    @cached_property
    def entity_vectors(self) -> Tensor:
        with torch.no_grad():
            return self.model.entity().detach()

    def embeddings(self, space: str = "fused") -> tuple[Tensor, Tensor]:
        """Entity vectors in ``space`` (fused, structural, visual, textual) and a presence mask."""
        if space == "fused":
            return self.entity_vectors, torch.ones(len(self.entities), dtype=torch.bool)
        if space not in self.model.entity.modalities:
            raise VLKGEError(f"this run has no {space} modality (it has: {', '.join(self.model.entity.modalities)})")
        with torch.no_grad():
            v, m = self.model.entity.modality_vectors(space)
        return v.detach(), m

    @cached_property
    def candidate_pools(self) -> Tensor | None:
        """bool [R, N] per-relation candidates when the run uses the candidate protocol."""
        if self.graph is None or self.protocol != "tail-candidates":
            return None
        return candidate_mask(self.graph)

    @cached_property
    def _known_answers(self) -> dict[tuple[str, int, int], dict[int, str]]:
        """(direction, anchor, relation) -> {known answer: the split it is known in}."""
        out: dict[tuple[str, int, int], dict[int, str]] = {}
        if self.graph is not None:
            for (h, r, t), split in self.graph.known_split().items():
                out.setdefault(("tail", h, r), {})[t] = split
                out.setdefault(("head", t, r), {})[h] = split
        return out

    # ------------------------------------------------------------ scoring
    def score_tails(self, heads: list[str], relation: str) -> Tensor:
        h = torch.tensor([self.entity_index(e) for e in heads])
        r = torch.full_like(h, self.relation_index(relation))
        with torch.no_grad():
            return self.model.score_tails(h, r, self.entity_vectors)

    def score_heads(self, tails: list[str], relation: str) -> Tensor:
        t = torch.tensor([self.entity_index(e) for e in tails])
        r = torch.full_like(t, self.relation_index(relation))
        with torch.no_grad():
            return self.model.score_heads(t, r, self.entity_vectors)

    def predict_tails(self, head: str, relation: str, k: int | None = 10,
                      filter_known: bool = True) -> list[Prediction]:
        scores = self.score_tails([head], relation)[0]
        return self._rank(scores, self.entity_index(head), self.relation_index(relation), "tail", k, filter_known)

    def predict_heads(self, tail: str, relation: str, k: int | None = 10,
                      filter_known: bool = True) -> list[Prediction]:
        scores = self.score_heads([tail], relation)[0]
        return self._rank(scores, self.entity_index(tail), self.relation_index(relation), "head", k, filter_known)

    def predict_new(self, relation: str, image=None, text: str | None = None, k: int | None = 10,
                    encoder=None) -> list[Prediction]:
        """Rank candidate tails of ``relation`` for an entity not in the graph, placed from its
        image (path, bytes or PIL image) and/or text alone."""
        return self.rank_new(self.embed_new(image=image, text=text, encoder=encoder), relation, k)

    def rank_new(self, vector: Tensor, relation: str, k: int | None = 10) -> list[Prediction]:
        """Rank candidate tails of ``relation`` for an entity not in the graph given by its vector
        (from :meth:`embed_new`), so one placement is embedded once for many relations."""
        r = torch.tensor([self.relation_index(relation)])
        with torch.no_grad():
            scores = self.model.score_tails_of(vector, r, self.entity_vectors)[0]
        return self._rank(scores, None, int(r), "tail", k, False)

    def embed_new(self, image=None, text: str | None = None, encoder=None) -> Tensor:
        from .placement import new_entity_features
        feats = new_entity_features(self, image=image, text=text, encoder=encoder)
        with torch.no_grad():
            return self.model.entity.from_features(feats)

    def _rank(self, scores: Tensor, anchor: int | None, r: int, direction: str, k: int | None,
              filter_known: bool) -> list[Prediction]:
        scores = scores.clone().float()
        allowed = torch.ones_like(scores, dtype=torch.bool)
        if direction == "tail" and self.candidate_pools is not None:
            allowed &= self.candidate_pools[r]
        if anchor is not None:
            allowed[anchor] = False  # an entity is not its own answer
        known = self._known_answers.get((direction, anchor, r), {}) if anchor is not None else {}
        if filter_known and known:
            allowed[torch.tensor(list(known))] = False
        idx = torch.nonzero(allowed).squeeze(1)
        s = scores[idx]
        order = torch.argsort(s, descending=True, stable=True)
        probs = torch.softmax(s / self.temperature, 0)
        if k is not None:
            order = order[:k]
        labels = self.graph.labels if self.graph is not None else self.entities
        return [Prediction(entity=self.entities[int(idx[o])], score=float(s[o]), known=known.get(int(idx[o])),
                           label=labels[int(idx[o])], rank=n + 1, confidence=float(probs[o]))
                for n, o in enumerate(order.tolist())]

    # ------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "test", protocol: str | None = None, filter: str | None = None) -> dict:
        if self.graph is None:
            raise VLKGEError(f"{self.path}: the run's data ({self.config['data']['source']}) is not available")
        return evaluate_model(self.model, self.graph, split=split, protocol=protocol or self.protocol,
                              filter=filter or self.train_config.eval_filter, entity_vectors=self.entity_vectors)


def load_run(path: str | Path, graph: Graph | None = None, data: str | Path | None = None) -> Run:
    """Load a run directory (safetensors + JSON only; nothing is unpickled).

    The run's graph is reloaded from its recorded source (or ``data``) when available, for known
    links, candidate pools and evaluation; without it, scoring still works on the vocabularies.
    """
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / MODEL_FILE).is_file():
        raise VLKGEError(f"{path}: not a run directory (needs {MODEL_FILE} and {CONFIG_FILE})")
    config = read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or "entities" not in config or "train" not in config:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a vlkge run config")
    try:
        src = data or (config.get("data") or {})["source"]
        tc = TrainConfig.from_dict(config["train"])
        n, n_rel = len(config["entities"]), len(config["relations"])
        modalities = list(config.get("features", {}))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a usable vlkge run config "
                         f"({type(e).__name__}: {e})") from None
    tensors = load_tensors(path / MODEL_FILE)
    if graph is None:
        try:
            graph = load_graph(src) if src else None
        except VLKGEError:
            graph = None
    if graph is not None and graph.entities != config["entities"]:
        raise VLKGEError(f"{path}: the graph {graph.source} does not match the run's entity vocabulary")
    missing = [m for m in modalities if f"entity.{m}_features" not in tensors]
    if missing:
        raise VLKGEError(f"{path / MODEL_FILE}: does not match config.json (no {missing[0]} features)")
    # Masks and features are restored from the state dict; placeholders give the right shapes.
    feat_args = {m: (tensors[f"entity.{m}_features"], torch.ones(n, dtype=torch.bool)) for m in modalities}
    try:
        model = build_model(tc.model, n, n_rel, tc.dim, torch.ones(n, dtype=torch.bool),
                            feat_args, tc.fusion, tc.p)
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a usable vlkge run config "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    tensors.setdefault("offset", torch.zeros(()))  # runs written before the learned loss offset
    if "tail_prior.weight" in tensors:  # a popularity prior fitted on validation (models.prior)
        model.tail_prior = TailPrior(tensors["tail_prior.log_prior"], tensors["tail_prior.weight"])
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise VLKGEError(f"{path / MODEL_FILE}: does not match config.json ({str(e).splitlines()[0]})") from None
    model.eval()
    metrics = read_json(path / METRICS_FILE) if (path / METRICS_FILE).exists() else {}
    return Run(path, config, model, graph, metrics)
