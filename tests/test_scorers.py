import math

import pytest
import torch

from vlkge.models.scorers import make_scorer

h = torch.tensor([[1.0, 2.0, 0.5, -1.0]])
r = torch.tensor([[0.5, -1.0, 2.0, 1.0]])
t = torch.tensor([[2.0, 0.0, 1.0, 1.0]])
E = torch.tensor([[2.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, -1.0], [1.0, 1.0, 1.0, 1.0]])


def test_transe_by_hand():
    # h + r - t = [-0.5, 1, 1.5, -1] -> L1 4.0, L2 sqrt(0.25+1+2.25+1)
    assert make_scorer("transe", p=1).triples(h, r, t).item() == pytest.approx(-4.0)
    assert make_scorer("transe", p=2).triples(h, r, t).item() == pytest.approx(-math.sqrt(4.5))


def test_distmult_by_hand():
    # 1*.5*2 + 2*-1*0 + .5*2*1 + -1*1*1 = 1 + 0 + 1 - 1
    assert make_scorer("distmult").triples(h, r, t).item() == pytest.approx(1.0)


def test_complex_by_hand():
    hc = torch.complex(h[0, :2], h[0, 2:])
    rc = torch.complex(r[0, :2], r[0, 2:])
    tc = torch.complex(t[0, :2], t[0, 2:])
    expected = (hc * rc * tc.conj()).real.sum().item()
    assert make_scorer("complex").triples(h, r, t).item() == pytest.approx(expected)


def test_rotate_by_hand():
    phase = torch.tensor([[0.3, -1.2]])
    hc = torch.complex(h[0, :2], h[0, 2:])
    tc = torch.complex(t[0, :2], t[0, 2:])
    rot = torch.polar(torch.ones(2), phase[0])
    expected = -torch.linalg.vector_norm(hc * rot - tc).item()
    assert make_scorer("rotate").triples(h, phase, t).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["transe", "distmult", "complex", "rotate"])
def test_batched_forms_match_triple_form(name):
    torch.manual_seed(0)
    sc = make_scorer(name)
    d = 6
    rd = d // 2 if name == "rotate" else d
    H, R, Ents = torch.randn(5, d), torch.randn(5, rd), torch.randn(7, d)
    tails = sc.tails(H, R, Ents)
    heads = sc.heads(Ents, R, H)
    for i in range(5):
        for j in range(7):
            assert tails[i, j].item() == pytest.approx(sc.triples(H[i:i + 1], R[i:i + 1], Ents[j:j + 1]).item(), abs=1e-4)
            assert heads[i, j].item() == pytest.approx(sc.triples(Ents[j:j + 1], R[i:i + 1], H[i:i + 1]).item(), abs=1e-4)


@pytest.mark.parametrize("name", ["transe", "distmult", "complex", "rotate"])
def test_inverse_relation_scores_the_reversed_triple(name):
    torch.manual_seed(1)
    sc = make_scorer(name)
    d = 6
    h, t, r = torch.randn(4, d), torch.randn(4, d), torch.randn(4, d // 2 if name == "rotate" else d)
    assert torch.allclose(sc.triples(h, sc.inverse(r), t), sc.triples(t, r, h), atol=1e-5)
    assert not torch.allclose(sc.triples(h, r, t), sc.triples(t, r, h), atol=1e-3) or name == "distmult"


@pytest.mark.parametrize("name", ["transe", "distmult", "complex", "rotate"])
def test_the_base_class_derives_the_batched_forms_from_triples(name):
    """A scorer that defines only ``triples`` ranks by broadcasting it; the overrides agree."""
    from vlkge.models.scorers import Scorer
    torch.manual_seed(2)
    sc = make_scorer(name)
    d = 6
    H, R, Ents = torch.randn(5, d), torch.randn(5, d // 2 if name == "rotate" else d), torch.randn(7, d)
    assert torch.allclose(Scorer.tails(sc, H, R, Ents), sc.tails(H, R, Ents), atol=1e-4)
    assert torch.allclose(Scorer.heads(sc, Ents, R, H), sc.heads(Ents, R, H), atol=1e-4)


def test_scorers_declare_what_the_model_needs():
    from vlkge.models.model import build_model
    from vlkge.models.scorers import SCORERS
    assert {n for n, s in SCORERS.items() if s.complex} == {"complex", "rotate"}
    assert {n for n, s in SCORERS.items() if s.distance} == {"transe", "rotate"}
    for name in ("complex", "rotate"):
        with pytest.raises(ValueError, match="even dimension"):
            build_model(name, 4, 2, 7, torch.ones(4, dtype=torch.bool))
    rot = build_model("rotate", 4, 50, 8, torch.ones(4, dtype=torch.bool)).relation.weight
    assert rot.abs().max() <= math.pi and rot.abs().max() > 1.0  # phases, uniform over (-pi, pi)
    assert build_model("distmult", 4, 2, 8, torch.ones(4, dtype=torch.bool)).offset.item() == 0.0
    assert build_model("transe", 4, 2, 8, torch.ones(4, dtype=torch.bool)).offset.item() > 0  # a typical distance
