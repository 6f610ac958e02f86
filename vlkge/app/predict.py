"""Predictions with their evidence, evaluation tables, the audit queue, placing a new artwork
and searching artworks by a free-text description."""
from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import VLKGEError
from .embed import nearest, unit_vectors
from .facts import Adjacency, path_text
from .search import EntityIndex


def _conf(x: float | None) -> float | None:
    # A run whose calibration failed stores temperature NaN, making every confidence NaN:
    # show "uncalibrated" rather than "nan%".
    return x if x is not None and math.isfinite(x) else None


@dataclass
class Row:
    rank: int
    entity: str
    index: int
    label: str
    score: float
    confidence: float | None
    known: str | None  # train/val/test or None (novel)
    type: str


def predictions(run: Any, anchor: str, relation: str, direction: str = "tail", k: int = 10,
                filter_known: bool = True) -> list[Row]:
    """Ranked candidates for (anchor, relation, ?) or (?, relation, anchor)."""
    fn = run.predict_tails if direction == "tail" else run.predict_heads
    return rows_of(run, fn(anchor, relation, k=k, filter_known=filter_known))


def graph_answers(run: Any, anchor: str, relation: str, direction: str = "tail") -> list[Row]:
    """What the graph says now for (anchor, relation, ?) (or (?, relation, anchor)), with each
    answer's rank and confidence among the same candidates as the suggestions."""
    return rows_of(run, run.graph_answers(anchor, relation, direction))


def rows_of(run: Any, preds: list) -> list[Row]:
    g = run.graph
    out = []
    for p in preds:
        i = run.entity_index(p.entity)
        out.append(Row(p.rank, p.entity, i, p.label or p.entity, p.score, _conf(p.confidence), p.known,
                       g.types[i] if g is not None else ""))
    return out


def answer_text(rows: list[Row], shown: int = 3) -> str:
    """The graph's current answers in one line: "Impressionism (test) · 8.9%, …"; plain text
    (escape it for Markdown)."""
    if not rows:
        return "no link yet"
    parts = [f"{r.label} ({r.known}) · {'uncalibrated' if r.confidence is None else f'{100 * r.confidence:.1f}%'}"
             for r in rows[:shown]]
    return ", ".join(parts) + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


def relations_for(run: Any, anchor_type: str | None, direction: str = "tail") -> list[str]:
    """Relations that take entities of ``anchor_type`` as heads (as tails, for head prediction)
    in training, most frequent first: an artwork is offered isCreatedByArtist, hasStyle..., not
    hasNationality; an entity no relation takes gets none (the page says so)."""
    g = run.graph
    if g is None or anchor_type is None:
        return list(run.relations)
    names, tid = g.type_ids
    if anchor_type not in names:
        return []
    col = 0 if direction == "tail" else 2
    takes = g.position_types[col // 2, :, names.index(anchor_type)]
    t = g.all_triples()
    sel = t[tid[t[:, col]] == names.index(anchor_type)]
    counts = torch.bincount(sel[:, 1], minlength=g.num_relations)
    return [g.relations[r] for r in torch.argsort(-counts, stable=True).tolist() if takes[r]]


def similar_with_link(run: Any, head: int, relation: str, candidate: int, k: int = 5,
                      direction: str = "tail") -> list[tuple[int, float]]:
    """Evidence by analogy: the training entities most similar to ``head`` (cosine of fused
    vectors) that have the link (x, relation, candidate) in train."""
    g = run.graph
    r = g.relation_index[relation]
    tr = g.split("train").numpy()
    if direction == "tail":
        others = tr[(tr[:, 1] == r) & (tr[:, 2] == candidate), 0]
    else:
        others = tr[(tr[:, 1] == r) & (tr[:, 0] == candidate), 2]
    others = np.unique(others)
    others = others[others != head]
    if len(others) == 0:
        return []
    vecs, _ = unit_vectors(run, "fused")
    # among the entities with the link only, not every entity (81k rows per card on Audit)
    return [(int(others[j]), s) for j, s in nearest(vecs[torch.as_tensor(others)], vecs[head], k)]


def evidence(run: Any, adj: Adjacency, anchor: int, relation: str, candidate: int, k: int = 5,
             max_hops: int = 3, direction: str = "tail") -> dict[str, Any]:
    """Why a candidate might be right: similar entities with the link, and short graph paths."""
    paths = adj.paths(anchor, candidate, max_hops=max_hops, limit=5, exclude_relation=relation)
    return {"similar": similar_with_link(run, anchor, relation, candidate, k, direction),
            "paths": paths, "path_texts": [path_text(run.graph, p) for p in paths]}


def metrics_table(run: Any, split: str = "test") -> list[dict[str, Any]]:
    """Per-relation MRR / Hits@k rows (plus an "all" row) from the run's stored metrics."""
    m = (run.metrics or {}).get(split) or {}
    keys = ("mrr", "mr", "hits@1", "hits@3", "hits@10", "count")
    rows = [{"relation": rel, **{k: v.get(k) for k in keys}} for rel, v in sorted((m.get("per_relation") or {}).items())]
    if m:
        rows.append({"relation": "all", **{k: m.get(k) for k in keys}})
    return rows


# ---------------------------------------------------------------- audit queue
@dataclass
class Candidate:
    head: str
    relation: str
    tail: str
    head_label: str
    tail_label: str
    score: float
    confidence: float | None
    current: str = ""  # the graph's answer now for (head, relation, ?), as answer_text writes it
    priority: float = 0.0  # review_priority: what a verdict would teach the model
    proposed: bool = False  # the head is a new artwork sent from New artwork, not yet in the graph

    def as_dict(self) -> dict:
        return asdict(self)


def review_priority(confidence: float | None, score: float, head_degree: int) -> float:
    """The queue's order: uncertainty × impact.

    Uncertainty is 1 − |2p − 1| for the link's calibrated confidence p: 1 on the decision boundary
    (p = ½), where the model is as likely wrong as right and either verdict corrects it most,
    0 where it is sure. Without a calibration p is sigmoid(score). Impact is log(2 + degree of the
    head): a verdict on a well-connected entity moves its embedding, and so every prediction that
    goes through it. Confident links come later (they mostly confirm what the model knows)."""
    p = confidence if confidence is not None else 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))
    return (1.0 - abs(2.0 * p - 1.0)) * math.log(2.0 + head_degree)


def audit_queue(run: Any, relation: str, store: Any = None, heads: int = 40, per_head: int = 1,
                seed: int = 0, head_type: str | None = None) -> list[Candidate]:
    """Novel predictions of ``relation`` to review, most instructive first (review_priority):
    sample ``heads`` heads of the relation's domain (or of ``head_type``), those with no link of
    this relation yet first, take each one's top novel tail(s), drop links a curator already
    decided (``store.pending``); links sent for review from New artwork (``store.suggestions``)
    come first.

    A head without the link is the gap in the catalogue a verdict fills (accepted: a new fact;
    rejected: the model's best guess ruled out); for a one-answer relation such as an artwork's
    artist, the next answer of a head that already has one is almost always wrong, so those heads
    only fill the sample after the missing links."""
    g = run.graph
    r = g.relation_index[relation]
    t = g.all_triples().numpy()
    linked = np.zeros(g.num_entities, dtype=bool)
    linked[t[t[:, 1] == r, 0]] = True
    domain = (np.asarray([ty == head_type for ty in g.types]) if head_type
              else g.typed_candidates(r, "head").numpy())
    degree = np.bincount(np.concatenate([t[:, 0], t[:, 2]]), minlength=g.num_entities)
    rng = random.Random(f"{seed}-{relation}")
    missing = np.nonzero(domain & ~linked)[0].tolist()
    sample = rng.sample(missing, min(heads, len(missing)))
    rest = np.nonzero(domain & linked)[0].tolist()
    sample += rng.sample(rest, min(heads - len(sample), len(rest)))
    out: list[Candidate] = []
    for h in sample:
        # one ranking gives both the graph's answer (the known links) and the suggestions (the
        # best novel ones: confidences are over every candidate, so hiding the known is a filter)
        ranked = run.predict_tails(g.entities[h], relation, k=None, filter_known=False)
        current = answer_text(rows_of(run, [p for p in ranked if p.known]))
        # a few extra so decided links can be dropped and the head still contributes
        for p in [p for p in ranked if not p.known][:per_head + 3]:
            conf = _conf(p.confidence)
            out.append(Candidate(g.entities[h], relation, p.entity, g.labels[h] or g.entities[h],
                                 p.label or p.entity, p.score, conf, current,
                                 review_priority(conf, p.score, int(degree[h]))))
    if store is not None:
        out = store.pending(out)
    # keep only the best per_head per head after removing decided ones
    seen: dict[str, int] = {}
    kept = []
    for c in out:
        if seen.get(c.head, 0) < per_head:
            kept.append(c)
            seen[c.head] = seen.get(c.head, 0) + 1
    kept.sort(key=lambda c: -c.priority)
    return (suggested(run, relation, store) if store is not None else []) + kept


def suggested(run: Any, relation: str, store: Any) -> list[Candidate]:
    """Undecided links of ``relation`` sent for review (New artwork placements), oldest first."""
    g = run.graph
    names = store.proposed()
    out = []
    for s in store.pending(store.suggestions(relation)):
        h, t = s["head"], s["tail"]
        head_label = (names.get(h) or {}).get("title") or h
        if h in g.entity_index:
            head_label = g.labels[g.entity_index[h]] or h
        tail_label = g.labels[g.entity_index[t]] or t if t in g.entity_index else t
        conf = _conf(s["confidence"])
        out.append(Candidate(h, relation, t, head_label, tail_label, s["score"] or 0.0, conf,
                             "not in the graph yet" if h in names else "", review_priority(conf, s["score"] or 0.0, 0),
                             proposed=h in names))
    return out


def selection_relations(run: Any, entities: list[int]) -> list[str]:
    """Relations some of ``entities`` can be the head of (their types, as seen in training), for
    sending a map selection's predictions to review; most frequent first for the commonest type."""
    g = run.graph
    types = list(dict.fromkeys(g.types[i] for i in entities))
    out: list[str] = []
    for t in types:
        out += [r for r in relations_for(run, t) if r not in out]
    return out


def selection_links(run: Any, entities: list[int], relation: str, limit: int = 500) -> list[Candidate]:
    """Each of the first ``limit`` of ``entities`` that can be the head of ``relation`` (typed, as
    predictions are): its top novel tail, to send to the Audit queue (``AuditStore.suggest``)."""
    g = run.graph
    r = g.relation_index[relation]
    takes = g.position_types[0, r]
    names, tid = g.type_ids
    heads = [i for i in entities if bool(takes[tid[i]])][:limit]
    out = []
    for h in heads:
        preds = run.predict_tails(g.entities[h], relation, k=1, filter_known=True)
        if preds:
            p = preds[0]
            out.append(Candidate(g.entities[h], relation, p.entity, g.labels[h] or g.entities[h], p.label or p.entity,
                                 p.score, _conf(p.confidence)))
    return out


def review_queue(sent: list[Candidate], model: Iterable[Candidate]) -> list[Candidate]:
    """The Audit queue: links sent for review first, then the model's own that are not among them
    (a map selection sends the very links the model's queue may hold: each is listed once)."""
    seen = {(c.head, c.relation, c.tail) for c in sent}
    return sent + [c for c in model if (c.head, c.relation, c.tail) not in seen]


def bulk_preview(queue: list[Candidate], threshold: float) -> list[Candidate]:
    """The links "accept all above ``threshold``" would accept: calibrated confidence ≥ threshold."""
    return [c for c in queue if c.confidence is not None and c.confidence >= threshold]


def decision_rows(graph: Any, store: Any, decisions: list) -> list[dict[str, Any]]:
    """Decisions as the page lists them: titles, not ids (a proposed artwork by its title)."""
    names = store.proposed()

    def title(e: str) -> str:
        if e in graph.entity_index:
            return graph.labels[graph.entity_index[e]] or e
        return (names.get(e) or {}).get("title") or e
    return [{"head": title(d.head), "relation": d.relation, "tail": title(d.tail), "verdict": d.verdict,
             "curator": d.curator, "comment": d.comment, "time": d.timestamp} for d in decisions]


def placement_links(entity: str, predictions: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """A placed artwork's predictions (per relation, dicts with entity, confidence, score) as
    links to send for review: its top one per relation."""
    return [{"head": entity, "relation": rel, "tail": preds[0]["entity"], "confidence": preds[0]["confidence"],
             "score": preds[0]["score"]} for rel, preds in predictions.items() if preds]


# ---------------------------------------------------------------- new artwork
def can_place(run: Any) -> tuple[bool, str]:
    mods = run.model.entity.modalities
    if not any(m in mods for m in ("visual", "textual")):
        return False, ("this run was trained on structure alone: placing a new artwork needs a run "
                       "with visual and/or textual modalities")
    if run.encoder.kind == "imported":
        return False, f"this run uses imported features ({run.encoder.name}); their encoder is not available here"
    return True, ""


def placement_relations(run: Any, entity_type: str = "artwork") -> list[str]:
    """Relations to predict for an upload: those whose heads are of ``entity_type``, with the
    usual artist / style / genre / decade first when present."""
    rels = relations_for(run, entity_type, "tail")
    pref = ("isCreatedByArtist", "hasStyle", "belongsToGenre", "isCreatedInDecade")
    return [r for r in pref if r in rels] + [r for r in rels if r not in pref]


def place_new(run: Any, image: Any = None, text: str | None = None,
              relations: list[str] | None = None, k: int = 5, neighbours: int = 8,
              entity_type: str = "artwork") -> dict[str, Any]:
    """Predictions per relation and the nearest collection entities of type ``entity_type`` for
    a new entity given by its image and/or text."""
    ok, why = can_place(run)
    if not ok:
        raise VLKGEError(why)
    mods = run.model.entity.modalities
    if image is not None and "visual" not in mods and not text:
        raise VLKGEError("this run has no visual modality: give a title or description too")
    new = run.new_entity(image=image if "visual" in mods else None, text=text or None)
    rels = relations if relations is not None else placement_relations(run, entity_type)
    preds = {}
    for rel in rels:
        preds[rel] = run.rank_new(new, rel, k)
        for p in preds[rel]:
            p.confidence = _conf(p.confidence)
    vecs, _ = unit_vectors(run, "fused")
    among = None
    if run.graph is not None:
        among = np.asarray([t == entity_type for t in run.graph.types])
    return {"predictions": preds, "neighbours": nearest(vecs, new.vector[0], neighbours, among)}


# ---------------------------------------------------------------- search by description
def describe_mode(run: Any | None) -> tuple[str, str]:
    """How the description search works with this run: ("joint", ...) text→image with a VLM,
    ("text", ...) query text vs entity text features, or ("fuzzy", ...) plain text matching;
    the second item says why, for the page."""
    if run is None:
        return "fuzzy", "no trained run: matching words of titles and descriptions"
    mods = run.model.entity.modalities
    enc = run.encoder
    if enc.vision_language and "visual" in mods:
        return "joint", f"ranking images by text→image similarity in {enc.name}'s joint space"
    if enc.kind == "offline" and "textual" in mods:
        return "text", (f"the offline fallback ({enc.description.rstrip('.')}) has no joint text-image space, so the "
                        "description is compared with titles and descriptions (its text features), "
                        "not with the images")
    if enc.kind == "imported":
        return "fuzzy", f"the run's features were imported ({enc.name}); their encoder is not here, so plain text matching"
    return "fuzzy", "the run has no text features: matching words of titles and descriptions"


def describe_search(run: Any | None, index: EntityIndex, query: str, k: int = 24,
                    entity_type: str | None = "artwork", encoder: Any = None) -> tuple[str, list[tuple[int, float]]]:
    """Entities best matching a free-text description, and the mode used (see describe_mode)."""
    mode, _ = describe_mode(run)
    g = index.graph
    among = None
    if entity_type and entity_type in index.type_names:
        among = np.asarray(index.types == entity_type)
    if mode in ("joint", "text") and query.strip():
        try:
            from ..prediction.placement import run_encoder
            enc = encoder or run_encoder(run)
            q = enc.encode_texts([query])[0]
            space = "visual" if mode == "joint" else "textual"
            feats = run.model.entity.features(space).float()
            present = run.model.entity.masks[:, run.model.entity.modalities.index(space)].numpy()
            m = present if among is None else (present & among)
            feats = torch.nn.functional.normalize(feats, dim=-1)
            return mode, nearest(feats, q, k, m)
        except VLKGEError:
            mode = "fuzzy"
    # fuzzy fallback: name and description words
    from rapidfuzz import fuzz, process
    from .search import normalise
    texts = [normalise(g.text(i)) for i in range(g.num_entities)] if among is None else None
    if texts is None:
        ids = np.nonzero(among)[0]
        texts = [normalise(g.text(i)) for i in ids]
    else:
        ids = np.arange(g.num_entities)
    res = process.extract(normalise(query), texts, scorer=fuzz.token_set_ratio, limit=k, score_cutoff=30)
    return "fuzzy", [(int(ids[pos]), score / 100.0) for _, score, pos in res]
