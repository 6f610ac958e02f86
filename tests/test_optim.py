"""training.optim.Adam makes torch.optim.Adam's dense and SparseAdam's sparse updates."""
from __future__ import annotations

import torch

from vlkge.training.optim import Adam


def _run(make_opt, sparse: bool, steps: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4, sparse=sparse)
    w = torch.nn.Parameter(torch.randn(4))
    opt = make_opt(emb, w)
    for k in range(steps):
        rows = torch.tensor([k % 10, (3 * k) % 10, k % 10])  # repeated rows: summed, as in a batch
        loss = (emb(rows) * w).sum().pow(2)
        for o in opt:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in opt:
            o.step()
    return emb.weight.detach().clone(), w.detach().clone()


def test_dense_and_sparse_updates_match_torch():
    for sparse in (False, True):
        def ours(emb, w):
            return [Adam([emb.weight, w], lr=0.05)]

        def theirs(emb, w):
            if sparse:
                return [torch.optim.SparseAdam([emb.weight], lr=0.05), torch.optim.Adam([w], lr=0.05)]
            return [torch.optim.Adam([emb.weight, w], lr=0.05)]
        a, b = _run(ours, sparse), _run(theirs, sparse)
        for x, y in zip(a, b):
            assert torch.allclose(x, y, atol=1e-6), (sparse, float((x - y).abs().max()))
        untouched = [r for r in range(10) if r not in {k % 10 for k in range(5)} | {(3 * k) % 10 for k in range(5)}]
        if sparse:  # rows no batch touched keep their initial values
            torch.manual_seed(0)
            init = torch.nn.Embedding(10, 4).weight.detach()
            assert torch.equal(a[0][untouched], init[untouched])


def test_state_round_trips():
    p = torch.nn.Parameter(torch.ones(3))
    opt = Adam([p], lr=0.1)
    p.grad = torch.tensor([1.0, -1.0, 0.5])
    opt.step()
    other = Adam([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    other.load_state_dict(opt.state_dict())
    for o, q in ((opt, p), (other, other.params[0])):
        q.grad = torch.tensor([0.2, 0.2, 0.2])
        o.step()
    assert torch.equal(p, other.params[0])
