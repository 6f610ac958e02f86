"""A trained run, loaded for scoring, ranking, evaluation and placing new entities."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor

from ..data.graph import SPLITS, Graph, vocabulary_difference
from ..data.readers import absolute, load_graph, spec_path
from ..encoders.info import EncoderInfo
from ..errors import VLKGEError
from ..evaluation.ranking import KnownIndex, candidate_mask, evaluate_model
from ..models.model import FEATURE_BUFFERS, KGEModel, build_model
from ..models.neighbours import NeighbourVote
from ..models.prior import TailBias, TailPrior
from ..models.rejected import RejectedLinks
from ..runs import CONFIG_FILE, METRICS_FILE, MODEL_FILE, load_tensors, read_json
from ..training.config import ResolvedConfig


def placement_key(modalities: list[str]) -> str:
    """How a set of feature modalities names its placement temperature in config.json."""
    return "+".join(sorted(modalities))


@dataclass
class Prediction:
    entity: str
    score: float
    known: str | None = None  # the split the link is known in, or None when novel
    label: str = ""
    rank: int = 0
    confidence: float | None = None  # temperature-scaled softmax over the candidates


@dataclass
class NewEntity:
    """An entity outside the graph placed from its features: its fused vector [1, dim] and the
    features ``{modality: [1, d_m]}`` it came from (which the neighbour vote compares)."""
    vector: Tensor
    features: dict[str, Tensor]


class Run:
    def __init__(self, path: Path, config: dict, model: KGEModel, graph: Graph | None, metrics: dict,
                 no_graph: str = ""):
        self.path, self.config, self.model, self.graph, self.metrics = path, config, model, graph, metrics
        self.no_graph = no_graph or f"{path}: the run has no graph; pass --data GRAPH"  # why graph is None
        self.entities: list[str] = config["entities"]
        self.relations: list[str] = config["relations"]
        # what training.config.resolve decided for the run, as its config.json recorded it
        self.train_config = ResolvedConfig.from_dict(config["train"])
        self._eidx = dict(zip(self.entities, range(len(self.entities))))
        self._ridx = dict(zip(self.relations, range(len(self.relations))))
        self._known_indexes: dict[str, KnownIndex] = {}

    # ------------------------------------------------------------ lookups
    @property
    def protocol(self) -> str:
        return self.train_config.eval_protocol_used

    @cached_property
    def encoder(self) -> EncoderInfo:
        """The encoder that made this run's features."""
        return EncoderInfo.from_record(self.config.get("encoder_used"))

    @property
    def temperature(self) -> float:
        return float(self.config.get("calibration", {}).get("temperature", 1.0))

    def placement_temperature(self, features: dict[str, Tensor], relation: str) -> float:
        """The temperature of an entity placed from ``features`` (its modalities that are present):
        fitted for that set of modalities and ``relation``, or the set's over all relations (see
        :func:`vlkge.pipeline.calibrate`); a run calibrated before placements were has only the
        trained entities' one."""
        key = placement_key([m for m, f in features.items() if f is not None and bool(f.float().norm() > 0)])
        cal = self.config.get("calibration", {})
        own = (cal.get("placed_per_relation") or {}).get(key, {}).get(relation)
        return float(own if own is not None else (cal.get("placed") or {}).get(key, self.temperature))

    def entity_index(self, entity: str) -> int:
        try:
            return self._eidx[entity]
        except KeyError:
            close = self.close_entities(entity)
            hint = "; did you mean " + " or ".join(
                f"{self.entities[i]} ({self.graph.labels[i]})" if self.graph and self.graph.labels[i] not in
                ("", self.entities[i]) else self.entities[i] for i in close) + "?" if close else ""
            raise VLKGEError(f"no entity {entity!r} in run {self.path}{hint}") from None

    def close_entities(self, text: str, n: int = 3) -> list[int]:
        """Indices of the entities whose id or label (when the graph is here) is closest to
        ``text``, ignoring case: those containing it first (shortest first: "Monet" is the artist
        before his works), then near spellings."""
        names = [(e.lower(), i) for i, e in enumerate(self.entities)]
        if self.graph is not None:
            names += [(label.lower(), i) for i, label in enumerate(self.graph.labels) if label]
        query = text.lower().strip()
        found = [i for name, i in sorted(names, key=lambda x: len(x[0])) if query and query in name]
        by_name = dict(names)
        found += [by_name[m] for m in difflib.get_close_matches(query, [name for name, _ in names], n=n, cutoff=0.6)]
        return list(dict.fromkeys(found))[:n]

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
    def _known_triples(self) -> tuple[Tensor, Tensor]:
        """The graph's triples, every split, and each one's split."""
        parts = [self.graph.split(s) for s in SPLITS]
        return torch.cat(parts), torch.cat([torch.full((len(p),), i) for i, p in enumerate(parts)])

    def _known_index(self, direction: str) -> KnownIndex:
        """The sorted index of the known triples for ``direction``, built on its first query."""
        if direction not in self._known_indexes:
            self._known_indexes[direction] = KnownIndex(self._known_triples[0], self.graph.num_relations, direction)
        return self._known_indexes[direction]

    def known_answers(self, direction: str, anchor: int, relation: int) -> dict[int, str]:
        """{known answer: the split it is first known in} of one (anchor, relation) query."""
        if self.graph is None:
            return {}
        index, split_of = self._known_index(direction), self._known_triples[1]
        span = index.span(anchor, relation)
        out: dict[int, str] = {}
        for a, s in zip(index.answers[span].tolist(), split_of[index.rows[span]].tolist()):
            out.setdefault(a, SPLITS[s])
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
        h, r = self.entity_index(head), self.relation_index(relation)
        if self.candidate_pools is None:
            scores = self.score_tails([head], relation)[0]
        else:  # only the relation's pool can be an answer: score it alone (1,118 artists, not 81k)
            pool = torch.nonzero(self.candidate_pools[r]).squeeze(1)
            with torch.no_grad():
                pooled = self.model.score_tails(torch.tensor([h]), torch.tensor([r]), self.entity_vectors, pool)[0]
            scores = torch.full((len(self.entities),), float("-inf"))
            scores[pool] = pooled.float().cpu()
        return self._rank(scores, h, r, "tail", k, filter_known)

    def predict_heads(self, tail: str, relation: str, k: int | None = 10,
                      filter_known: bool = True) -> list[Prediction]:
        scores = self.score_heads([tail], relation)[0]
        return self._rank(scores, self.entity_index(tail), self.relation_index(relation), "head", k, filter_known)

    def predict_new(self, relation: str, image=None, text: str | None = None, k: int | None = 10,
                    encoder=None) -> list[Prediction]:
        """Rank candidate tails of ``relation`` for an entity not in the graph, placed from its
        image (path, bytes or PIL image) and/or text alone."""
        return self.rank_new(self.new_entity(image=image, text=text, encoder=encoder), relation, k)

    def rank_new(self, entity: "NewEntity | Tensor", relation: str, k: int | None = 10) -> list[Prediction]:
        """Rank candidate tails of ``relation`` for an entity not in the graph (from
        :meth:`new_entity`), so one placement is encoded once for many relations. A bare vector
        (from :meth:`embed_new`) is ranked by the model alone, without the neighbour vote its
        features would add."""
        vector, features = (entity.vector, entity.features) if isinstance(entity, NewEntity) else (entity, None)
        r = torch.tensor([self.relation_index(relation)])
        with torch.no_grad():
            scores = self.model.score_tails_of(vector, r, self.entity_vectors, features=features)[0]
        return self._rank(scores, None, int(r), "tail", k, False,
                          temperature=self.placement_temperature(features, relation) if features else None)

    def new_entity(self, image=None, text: str | None = None, encoder=None) -> "NewEntity":
        """An entity not in the graph, placed from its image and/or text: its features and vector."""
        from .placement import new_entity_features
        feats = new_entity_features(self, image=image, text=text, encoder=encoder)
        with torch.no_grad():
            return NewEntity(self.model.entity.from_features(feats), feats)

    def embed_new(self, image=None, text: str | None = None, encoder=None) -> Tensor:
        """The fused vector [1, dim] of an entity not in the graph (see :meth:`new_entity`)."""
        return self.new_entity(image=image, text=text, encoder=encoder).vector

    def candidates(self, r: int, direction: str, anchor: int | None = None) -> Tensor:
        """bool [N]: the full candidate set of (anchor, r, ?) ("tail") or (?, r, anchor) ("head"):
        entities of the types relation ``r`` takes in that position (and, under the
        tail-candidates protocol, its candidate pool), less the anchor itself.

        A prediction's confidence is the calibrated softmax over this whole set, so it is a
        property of the link: hiding known links changes what is listed, never the figures.
        """
        allowed = torch.ones(len(self.entities), dtype=torch.bool)
        if direction == "tail" and self.candidate_pools is not None:
            allowed &= self.candidate_pools[r]
        if self.graph is not None:
            allowed &= self.graph.typed_candidates(r, direction)
        if anchor is not None:
            allowed[anchor] = False  # an entity is not its own answer
        return allowed

    def graph_answers(self, entity: str, relation: str, direction: str = "tail") -> list[Prediction]:
        """The links the graph already has for (entity, relation, ?) (or (?, relation, entity)),
        each with its rank and confidence among the full candidate set: what a suggestion
        would replace or join."""
        fn = self.predict_tails if direction == "tail" else self.predict_heads
        return [p for p in fn(entity, relation, k=None, filter_known=False) if p.known]

    def _rank(self, scores: Tensor, anchor: int | None, r: int, direction: str, k: int | None,
              filter_known: bool, temperature: float | None = None) -> list[Prediction]:
        # Without the graph there are no candidate pools or known links: ranking every entity
        # would offer artworks as the artist of an artwork.
        if self.graph is None and ((filter_known and anchor is not None) or
                                   (direction == "tail" and self.protocol == "tail-candidates")):
            raise VLKGEError(self.no_graph)
        scores = scores.clone().float()
        idx = torch.nonzero(self.candidates(r, direction, anchor)).squeeze(1)
        probs = torch.softmax(scores[idx] / (temperature or self.temperature), 0)  # before anything is hidden
        known = self.known_answers(direction, anchor, r) if anchor is not None else {}
        if filter_known and known:
            shown = ~torch.isin(idx, torch.tensor(list(known)))
            idx, probs = idx[shown], probs[shown]
        s = scores[idx]
        order = torch.argsort(s, descending=True, stable=True)
        if k is not None:
            order = order[:k]
        labels = self.graph.labels if self.graph is not None else self.entities
        return [Prediction(entity=self.entities[int(idx[o])], score=float(s[o]), known=known.get(int(idx[o])),
                           label=labels[int(idx[o])], rank=n + 1, confidence=float(probs[o]))
                for n, o in enumerate(order.tolist())]

    # ------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "test", protocol: str | None = None, filter: str | None = None) -> dict:
        if self.graph is None:
            raise VLKGEError(self.no_graph)
        return evaluate_model(self.model, self.graph, split=split, protocol=protocol or self.protocol,
                              filter=filter or self.train_config.eval_filter, entity_vectors=self.entity_vectors)


def load_run(path: str | Path, graph: Graph | None = None, data: str | Path | None = None) -> Run:
    """Load a run directory (safetensors + JSON only; nothing is unpickled).

    The run's graph (``graph``, else ``data``, else found by :func:`find_run_graph`) gives known
    links, candidate pools and evaluation; without it, scoring still works on the vocabularies.
    A graph whose entity or relation ids differ from the run's is refused.
    """
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / MODEL_FILE).is_file():
        raise VLKGEError(f"{path}: not a run directory (needs {MODEL_FILE} and {CONFIG_FILE})")
    config = read_json(path / CONFIG_FILE)
    if not isinstance(config, dict) or "entities" not in config or "train" not in config:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a vlkge run config")
    try:
        source = (config.get("data") or {})["source"]
        tc = ResolvedConfig.from_dict(config["train"])
        n, n_rel = len(config["entities"]), len(config["relations"])
        modalities = list(config.get("features", {}))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a usable vlkge run config "
                         f"({type(e).__name__}: {e})") from None
    tensors = load_tensors(path / MODEL_FILE)
    no_graph = ""
    if graph is None and data:
        graph = load_graph(data)
    elif graph is None:
        graph = find_run_graph(path, source)
        no_graph = "" if graph else (f"{path}: the run's graph {source or '(none recorded)'} was not found, "
                                     "nor beside the run; pass --data GRAPH")
    if graph is not None:
        refuse_other_graph(path, graph, config)
    missing = [m for m in modalities if f"entity.{FEATURE_BUFFERS.get(m)}" not in tensors]
    if missing:
        raise VLKGEError(f"{path / MODEL_FILE}: does not match config.json (no {missing[0]} features)")
    # Masks and features are restored from the state dict; placeholders give the right shapes.
    feat_args = {m: (tensors[f"entity.{FEATURE_BUFFERS[m]}"], torch.ones(n, dtype=torch.bool)) for m in modalities}
    try:
        model = build_model(tc.model, n, n_rel, tc.dim, torch.ones(n, dtype=torch.bool),
                            feat_args, tc.fusion, tc.p, fill_structural=False)
    except (ValueError, TypeError, KeyError, RuntimeError) as e:
        raise VLKGEError(f"{path / CONFIG_FILE}: not a usable vlkge run config "
                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    tensors.setdefault("offset", torch.zeros(()))  # runs written before the learned loss offset
    if "tail_bias.table.weight" in tensors:  # popularity learned with the model (models.prior)
        model.tail_bias = TailBias(n, n_rel)
    if "tail_prior.weight" in tensors:  # a popularity prior fitted on validation (models.prior)
        model.tail_prior = TailPrior(tensors["tail_prior.log_prior"], tensors["tail_prior.weight"])
    if "neighbour_vote.weight" in tensors:  # fitted on validation (models.neighbours)
        model.neighbour_vote = NeighbourVote(tensors["neighbour_vote.triples"], n, tensors["neighbour_vote.weight"],
                                             int(tensors["neighbour_vote.k"]))
        for name, empty in list(model.neighbour_vote.named_buffers()):  # the memo's size is the run's
            if name.startswith("memo_"):  # (runs saved before the memo have none: empty)
                setattr(model.neighbour_vote, name, tensors.setdefault(f"neighbour_vote.{name}", empty))
    if "rejected_links.triples" in tensors:  # curators' rejected links (models.rejected)
        model.rejected_links = RejectedLinks(tensors["rejected_links.triples"], n)
    try:
        model.load_state_dict(tensors, assign=True)  # the loaded tensors themselves, not copies
    except RuntimeError as e:
        raise VLKGEError(f"{path / MODEL_FILE}: does not match config.json ({str(e).splitlines()[0]})") from None
    model.eval()
    metrics = read_json(path / METRICS_FILE) if (path / METRICS_FILE).exists() else {}
    return Run(path, config, model, graph, metrics, no_graph)


def refuse_other_graph(path: Path, graph: Graph, config: dict) -> None:
    diff = vocabulary_difference(graph, config["entities"], config["relations"])
    if diff:
        raise VLKGEError(f"{path}: the graph {graph.source} does not match the run ({diff}); "
                         "pass --data with the graph it was trained on")


# GRAPH/runs/NAME is two levels up; a few more cover nested --out folders without wandering
# into unrelated graphs near the filesystem root.
BESIDE_LEVELS = 4


def graph_candidates(run_dir: Path, source: str) -> list[str]:
    """Where a run's graph may be, in order: its recorded path; beside the run (runs live in
    GRAPH/runs/NAME: a graph moved with its runs is an ancestor, or holds the recorded name, or
    an old run's relative path); last, an old run's relative path from here."""
    prefix, where = spec_path(source)
    if not where:
        return [source] if source else []
    rel = Path(where)
    beside = []
    for up in list(absolute(run_dir).parents)[:BESIDE_LEVELS]:
        beside += [up / rel] if not rel.is_absolute() else []
        beside += [up / rel.name, up]
    found = [Path(where)] if rel.is_absolute() else []
    found += [p for p in beside if p.exists()] + ([] if rel.is_absolute() else [rel])
    return list(dict.fromkeys(prefix + str(p) for p in found))


def find_run_graph(run_dir: Path, source: str) -> Graph | None:
    """The first graph that loads among :func:`graph_candidates` (whether it is the run's is
    :func:`refuse_other_graph`'s to say)."""
    for spec in graph_candidates(run_dir, source):
        try:
            return load_graph(spec)
        except (VLKGEError, OSError):  # not a graph, or not one we can read: look further
            continue
    return None
