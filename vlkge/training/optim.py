"""Adam for training, dense and sparse gradients alike, in a few in-place tensor ops.

Not ``torch.optim``: constructing any ``torch.optim`` optimizer imports ``torch._dynamo``
(its step patching is wrapped in ``torch._disable_dynamo``), about as long as importing torch
itself, which a small job pays on every run. The update is the one ``torch.optim.Adam`` makes
for a dense gradient (through the same fused kernel, all dense parameters in one op) and
``torch.optim.SparseAdam`` for a sparse one (moments and weights of the touched rows only); its
state has the same names, so checkpoints hold the same tensors.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


class Adam:
    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params: list[Tensor] = list(params)
        self.param_groups = [{"lr": lr, "betas": betas, "eps": eps, "params": list(range(len(self.params)))}]
        self.state: dict[int, dict[str, Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.detach_().zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        dense: list[tuple[Tensor, Tensor, dict]] = []
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                continue
            st = self.state.get(i)
            if st is None:
                st = self.state[i] = {"step": torch.zeros((), dtype=torch.float32, device=p.device),
                                      "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
            if not g.is_sparse:
                dense.append((p, g, st))
                continue
            g = g.coalesce()
            rows, values = g.indices()[0], g.values()
            if values.numel() == 0:
                continue
            st["step"] += 1
            step = float(st["step"])
            bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m_rows = torch.lerp(m[rows], values, 1 - b1)
            v_rows = v[rows].mul_(b2).addcmul_(values, values, value=1 - b2)
            m.index_copy_(0, rows, m_rows)
            v.index_copy_(0, rows, v_rows)
            # SparseAdam's placement of eps: outside the bias correction
            p.index_add_(0, rows, m_rows.div_(v_rows.sqrt_().add_(eps)), alpha=-lr * math.sqrt(bc2) / bc1)
        if dense:
            self._dense_step(dense, lr, b1, b2, eps)

    @staticmethod
    def _dense_step(dense: list[tuple[Tensor, Tensor, dict]], lr: float, b1: float, b2: float, eps: float) -> None:
        params, grads, states = zip(*dense)
        steps = [st["step"] for st in states]
        torch._foreach_add_(steps, 1)
        if hasattr(torch, "_fused_adam_") and all(p.device.type in ("cpu", "cuda") for p in params):
            # the kernel torch.optim.Adam(fused=True) runs: every dense parameter in one op
            torch._fused_adam_(list(params), list(grads), [st["exp_avg"] for st in states],
                               [st["exp_avg_sq"] for st in states], [], steps, lr=lr, beta1=b1, beta2=b2,
                               weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)
            return
        for p, g, st in dense:
            step = float(st["step"])
            bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
            st["exp_avg"].lerp_(g, 1 - b1)
            st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(st["exp_avg"], (st["exp_avg_sq"].sqrt() / math.sqrt(bc2)).add_(eps), value=-lr / bc1)

    def state_dict(self) -> dict:
        return {"state": {i: dict(st) for i, st in self.state.items()},
                "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, state: dict) -> None:
        groups = state["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError("optimizer state for a different set of parameters")
        self.param_groups = [{**groups[0], "betas": tuple(groups[0]["betas"])}]
        self.state = {}
        for i, st in state["state"].items():
            p = self.params[int(i)]
            if st["exp_avg"].shape != p.shape:
                raise ValueError(f"optimizer state of shape {tuple(st['exp_avg'].shape)} for a parameter of "
                                 f"shape {tuple(p.shape)}")
            self.state[int(i)] = {"step": torch.as_tensor(st["step"], dtype=torch.float32).to(p.device).clone(),
                                  "exp_avg": st["exp_avg"].to(p.device).clone(),
                                  "exp_avg_sq": st["exp_avg_sq"].to(p.device).clone()}
