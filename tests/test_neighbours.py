"""The neighbour vote: the answers of the entities nearest by features, added to the tail scores
of an entity placed from its features, weighted as validation says.

The graph is made so that its text features tell an unseen artwork's artist through its
neighbours but not through any linear map: each artist paints in two styles whose feature centres
are opposite (c and -c), so a projection sends the two to opposite sides of its bias, and no
artist vector can be near both. Its image features are noise: placed from its image alone, an
artwork's neighbours know nothing, and the vote's weight for that case must say so."""
from __future__ import annotations

import json

import pytest
import torch

from dataclasses import replace

from helpers import write_graph
from vlkge.data.readers import load_graph
from vlkge.models.neighbours import NeighbourVote
from vlkge.pipeline import train_and_evaluate
from vlkge.prediction.run import NewEntity, load_run
from vlkge.training.config import TrainConfig, resolve

REL = "isCreatedByArtist"
ARTISTS, PER_ARTIST, DIM = 8, 12, 16


def antipodal_graph(folder):
    ents = [(f"artist_{a}", "artist", f"Artist {a}", "", "") for a in range(ARTISTS)]
    trip = []
    for a in range(ARTISTS):
        for k in range(PER_ARTIST):
            aid = f"artwork_{a}_{k}"
            ents.append((aid, "artwork", "Untitled", "", ""))
            mode = "val" if k in (8, 9) else "test" if k in (10, 11) else "train"  # both styles in every split
            trip.append((aid, REL, f"artist_{a}", mode))
    return write_graph(folder, ents, trip)


def antipodal_features(graph, noise: float = 0.15, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(ARTISTS, DIM, generator=gen), dim=1)
    feats = torch.zeros(graph.num_entities, DIM)
    mask = torch.zeros(graph.num_entities, dtype=torch.bool)
    for i, e in enumerate(graph.entities):
        if e.startswith("artwork_"):
            a, k = map(int, e.split("_")[1:])
            feats[i] = (1 if k % 2 else -1) * centres[a] + noise * torch.randn(DIM, generator=gen)
            mask[i] = True
    return feats, mask, centres


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    g = load_graph(antipodal_graph(tmp_path_factory.mktemp("antipodal") / "g"))
    feats, mask, centres = antipodal_features(g)
    noise = torch.randn(g.num_entities, DIM, generator=torch.Generator().manual_seed(1)) * mask[:, None]
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = resolve(TrainConfig(dim=16, epochs=40, eval_every=10, modalities=["structural", "textual"]), g)
    cfg = replace(cfg, modalities=["structural", "textual", "visual"])  # the graph has no image files
    train_and_evaluate(g, cfg, out, features={"textual": (feats, mask), "visual": (noise, mask)}, progress=False)
    return out, centres


def test_votes_are_the_similarity_weighted_answers_of_the_nearest_heads():
    # heads 0, 1, 2 of relation 0 answer 5, 5, 6; entity 3 answers relation 1 only
    triples = torch.tensor([[0, 0, 5], [1, 0, 5], [2, 0, 6], [3, 1, 6]])
    vote = NeighbourVote(triples, 7, torch.ones(2), k=2)
    sim = torch.tensor([[0.9, 0.1, 0.3, 1.0, 0.0, 0.0, 0.0]])
    v = vote.votes(sim, torch.tensor([0]))[0]
    # entity 3 is the most similar but no head of relation 0: heads 0 (0.9) and 2 (0.3) vote
    assert v[5] == pytest.approx(0.75) and v[6] == pytest.approx(0.25) and v[:5].abs().sum() == 0
    assert vote.votes(sim, torch.tensor([1]))[0, 6] == pytest.approx(1.0)
    # with all three heads voting (5: 0.9 + 0.1, 6: 0.3 of 1.3), the log vote floors unvoted
    # tails at half an equal share (0.5 / 3), below every voted one
    vote3 = NeighbourVote(triples, 7, torch.tensor([2.0, 0.0]), k=3)
    lv = vote3.log_votes(sim, torch.tensor([0]), torch.tensor([4, 5, 6]))[0]
    assert torch.allclose(lv, torch.log(torch.tensor([0.5 / 3, 1.0 / 1.3, 0.3 / 1.3])))
    one = torch.ones(1, 1, dtype=torch.bool)  # the query has the model's one feature modality
    assert torch.allclose(vote3(sim, torch.tensor([0]), one), 2.0 * vote3.log_votes(sim, torch.tensor([0])))
    # with two feature modalities, a weight per set the query has: text, image, both
    by_set = NeighbourVote(triples, 7, torch.tensor([[1.0, 0.0], [0.0, 0.0], [3.0, 0.0]]), k=3)
    present = torch.tensor([[True, False], [False, True], [True, True]])
    added = by_set(sim.repeat(3, 1), torch.zeros(3, dtype=torch.long), present)
    assert torch.allclose(added, torch.tensor([1.0, 0.0, 3.0])[:, None] * vote3.log_votes(sim, torch.tensor([0])))
    # a triple listed twice is still one answer of its head
    twice = NeighbourVote(torch.cat([triples, triples[:1]]), 7, torch.ones(2), k=2)
    assert torch.allclose(twice.votes(sim, torch.tensor([0])), v[None])
    # relations are grouped by who their heads are: one top-k serves a group
    three = NeighbourVote(torch.cat([triples, torch.tensor([[0, 2, 4], [1, 2, 4], [2, 2, 4]])]), 7, torch.ones(3))
    groups = three.head_groups([0, 1, 2])
    assert [rels for rels, _ in groups] == [[0, 2], [1]]
    assert groups[0][1].tolist() == [True, True, True, False, False, False, False]


def test_the_vote_places_what_the_projection_cannot(trained):
    out, _ = trained
    run = load_run(out)
    weights = json.loads((out / "config.json").read_text())["neighbour_vote"]["weights"]
    assert set(weights) == {"textual", "visual", "textual+visual"}
    # the text's neighbours know the artist, the noise image's do not
    assert weights["textual"][REL] > 0 and weights["textual+visual"][REL] > 0 and weights["visual"][REL] == 0
    assert run.model.neighbour_vote is not None
    saved = run.model.neighbour_vote.weight[:, run.relation_index(REL)].tolist()
    assert saved == pytest.approx([weights[s][REL] for s in ("textual", "visual", "textual+visual")])
    with_vote = run.evaluate("test")["per_relation"][REL]["mrr"]
    run.model.neighbour_vote = None
    without = run.evaluate("test")["per_relation"][REL]["mrr"]
    assert with_vote > 0.9 and without < 0.6
    # metrics.json is the run as saved: with its vote
    m = json.loads((out / "metrics.json").read_text())
    assert m["test"]["per_relation"][REL]["mrr"] == pytest.approx(with_vote)


def test_a_new_entity_is_placed_by_its_neighbours(trained):
    out, centres = trained
    run = load_run(out)
    for a in range(ARTISTS):
        feats = {"textual": (-centres[a])[None, :]}  # a new work, text only
        new = NewEntity(run.model.entity.from_features(feats), feats)
        assert run.rank_new(new, REL, k=1)[0].entity == f"artist_{a}"
    # a bare vector is the model's own placement, without the vote
    bare = [run.rank_new(run.model.entity.from_features({"textual": (s * centres[a])[None, :]}), REL, k=1)[0].entity
            for a in range(ARTISTS) for s in (1, -1)]
    assert sum(e == f"artist_{i // 2}" for i, e in enumerate(bare)) < 12


def test_a_query_is_not_its_own_neighbour(trained):
    out, _ = trained
    run = load_run(out)
    rep = run.model.entity
    h = torch.tensor([run.entity_index("artwork_0_0")])
    sim = rep.feature_similarity({"textual": rep.features("textual")[h]}, exclude=h)
    assert sim[0, h] == float("-inf") and float(sim[0].max()) < 1.0
    # compared with some entities only, itself among them: the same similarities, itself left out
    among = torch.tensor([run.entity_index(e) for e in ("artwork_1_0", "artwork_0_0", "artwork_0_2")])
    part = rep.feature_similarity({"textual": rep.features("textual")[h]}, exclude=h,
                                  targets=rep.similarity_targets(among))
    assert part[0, 1] == float("-inf")
    torch.testing.assert_close(part[0, [0, 2]], sim[0, among[[0, 2]]])
    # artists have no features: they are nobody's neighbour
    assert sim[0, run.entity_index("artist_0")] == float("-inf")


def test_a_placement_is_as_confident_as_placements_are_right(trained):
    # Placed from its features alone an artwork's answer is right less often than a trained
    # one's: each feature set has its own temperature. From its noise image alone the artist is a
    # guess among 8, and the confidence must say so; from its text the vote finds it.
    from vlkge.pipeline import calibrate
    out, _ = trained
    calibrate(out, load_run(out).graph)
    run = load_run(out)
    assert set(run.config["calibration"]["placed"]) == {"textual", "visual", "textual+visual"}
    rep, test = run.model.entity, run.graph.split("test")
    conf = {"visual": [], "textual": []}
    right = {"visual": [], "textual": []}
    for h, _, t in test.tolist():
        for m in conf:
            feats = {m: rep.features(m)[h:h + 1]}
            top = run.rank_new(NewEntity(rep.from_features(feats), feats), REL, k=1)[0]
            conf[m].append(top.confidence)
            right[m].append(top.entity == run.entities[t])
    mean = {m: sum(v) / len(v) for m, v in conf.items()}
    accuracy = {m: sum(v) / len(v) for m, v in right.items()}
    assert mean["visual"] < 2 / ARTISTS  # near a uniform guess (1/8), not sure of a wrong artist
    assert accuracy["textual"] > 0.8 and abs(mean["textual"] - accuracy["textual"]) < 0.2


def test_the_vote_is_computed_in_blocks_with_the_same_scores(trained, monkeypatch):
    """The vote's [queries, entities] similarities are made a block of rows at a time (a 70k-object
    catalogue's evaluation held 4,096 x 82k of them at once, 9.4 GB): blocks of one row give the
    same scores (to float rounding), for placed heads in the graph and for new entities."""
    import vlkge.models.model as model_module
    out, centres = trained
    run = load_run(out)
    g = run.graph
    q = g.split("test")
    h, r = q[:, 0], q[:, 1]
    feats = {"textual": torch.stack([(1 if k % 2 else -1) * centres[k % ARTISTS] for k in range(ARTISTS)])}
    vote = run.model.neighbour_vote  # forget the saved neighbours: they are found again, in blocks
    vote.forget()
    with torch.no_grad():
        whole = run.model.score_tails(h, r, run.entity_vectors)
        new = run.model.score_tails_of(run.model.entity.from_features(feats), r[:ARTISTS], run.entity_vectors,
                                       features=feats)
        monkeypatch.setattr(model_module, "SIMILARITY_BLOCK", 1)  # one row a block
        blocks = list(run.model.entity.similarity_blocks({"textual": run.model.entity.features("textual")[h]}))
        assert len(blocks) == len(h)
        # the same up to float rounding (a matrix product of one row sums in another order)
        vote.forget()
        torch.testing.assert_close(run.model.score_tails(h, r, run.entity_vectors), whole, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(run.model.score_tails_of(run.model.entity.from_features(feats), r[:ARTISTS],
                                                            run.entity_vectors, features=feats), new, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("heads_apart_below", [0.5, 1.0])  # 1.0: compared with the training heads alone
def test_a_placed_entitys_neighbours_are_found_once_and_saved_with_the_run(trained, monkeypatch, heads_apart_below):
    """A graph entity placed from its features votes through neighbours that depend on nothing
    else: the run remembers them (evaluation and the app then score a placed artwork without its
    similarity to every entity), and what it remembers scores as finding them afresh does."""
    import vlkge.models.model as model_module
    monkeypatch.setattr(model_module, "HEADS_APART_BELOW", heads_apart_below)
    out, _ = trained
    run = load_run(out)
    model, rep = run.model, run.model.entity
    vote = model.neighbour_vote
    q = run.graph.split("test")
    h, r = q[:, 0], q[:, 1]
    assert bool(rep.placed_from_features(h).all())
    # the oracle: the vote of the heads' own features, similarities computed now
    own = {m: rep.features(m)[h] for m in rep.modalities[1:]}
    with torch.no_grad():
        fresh = model.vote_scores(own, r, present=rep.masks[h, 1:], exclude=h)
        pool = torch.tensor([run.entity_index(f"artist_{a}") for a in range(ARTISTS)])
        fresh_pool = model.vote_scores(own, r, pool, present=rep.masks[h, 1:], exclude=h)
    assert bool((fresh != 0).any())
    # every placed head's neighbours are in the saved run, so scoring needs no similarity at all
    keys = vote.key(torch.full_like(h, 2), r, h)  # set 2 = textual+visual, what every test head has
    assert bool(vote.remembered(keys)[0].all())

    def no_similarity(*args, **kwargs):
        raise AssertionError("the similarities were computed again")
    monkeypatch.setattr(type(rep), "feature_similarity", no_similarity)
    with torch.no_grad():
        torch.testing.assert_close(model.entity_vote_scores(h, r), fresh)
        torch.testing.assert_close(model.entity_vote_scores(h, r, pool), fresh_pool)
        torch.testing.assert_close(fresh_pool, fresh[:, pool])
    monkeypatch.undo()
    # forgotten, they are found again, to the same scores, and remembered
    vote.forget()
    with torch.no_grad():
        torch.testing.assert_close(model.entity_vote_scores(h, r, pool), fresh_pool)
    assert bool(vote.remembered(keys)[0].all())
    # only relations the vote weighs are remembered: a zero weight needs no neighbours
    weighted = vote.weight[torch.div(vote.memo_keys, vote.num_entities * vote.weight.shape[1],
                                     rounding_mode="floor"),
                           torch.div(vote.memo_keys, vote.num_entities, rounding_mode="floor") % vote.weight.shape[1]]
    assert bool((weighted != 0).all())
