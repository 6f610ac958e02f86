"""vlkge's filtered realistic-rank evaluation agrees with PyKEEN's RankBasedEvaluator when both are
fed the same scores (a fixed random DistMult on UMLS)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pykeen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_same_mrr_as_pykeen_rank_based_evaluator():
    from vs_pykeen import cross_check_eval
    res = cross_check_eval("umls", dim=32, seed=0)
    assert res["vlkge_count"] == 2 * 661  # UMLS test triples, head and tail
    for side in ("both", "tail", "head"):
        assert res[side]["vlkge"] == pytest.approx(res[side]["pykeen"], abs=1e-6), side
    assert 0.01 < res["both"]["vlkge"] < 0.5  # random embeddings: far from perfect, far from zero
