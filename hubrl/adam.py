"""Adam for hubrl's CPU training, without ``torch.optim``.

Every ``torch.optim`` optimizer imports ``torch._dynamo`` (``torch.compile``'s machinery) on first use, which takes
longer than importing torch itself: ``hubrl train CartPole-v1`` paid for it twice over a training run of half a
second. This is torch's own single-tensor Adam, the path ``torch.optim.Adam`` takes on CPU, with the same
operations in the same order, for the options hubrl uses (no weight decay, amsgrad or maximize); tests/test_train.py
checks it against ``torch.optim.Adam`` bit for bit, and its ``state_dict`` has ``torch.optim``'s layout, so
checkpoints written with either load into the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


_STEP_DTYPE = {False: torch.float32, True: torch.float64}  # as torch.optim's _get_scalar_dtype()
_TORCH_DEFAULTS = {"weight_decay": 0, "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                   "differentiable": False, "fused": None, "decoupled_weight_decay": False}
"""torch.optim.Adam's other options, at the values this class implements (kept in the state dict for torch)."""


class Adam:
    """``torch.optim.Adam(params, lr, betas, eps)`` on CPU, bit for bit (one parameter group)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        self.param_groups = [{"lr": lr, "betas": tuple(betas), "eps": eps, **_TORCH_DEFAULTS, "params": self.params}]
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], group["eps"]
        for i, param in enumerate(self.params):
            grad = param.grad
            if grad is None:
                continue
            state = self.state.get(i)
            if state is None:
                state = self.state[i] = {
                    "step": torch.tensor(0.0, dtype=_STEP_DTYPE[torch.get_default_dtype() == torch.float64]),
                    "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                    "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
                }
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            state["step"] += 1
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step = state["step"].item()
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)

    def state_dict(self) -> dict[str, Any]:
        """``torch.optim``'s layout: per-parameter state by index, and the group without its tensors."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {"state": {i: dict(s) for i, s in sorted(self.state.items())},
                "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        (group,) = state_dict["param_groups"]
        self.param_groups[0].update(lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"])
        self.state = {int(i): {k: v.clone() if k == "step" else v.to(self.params[int(i)].dtype).clone()
                               for k, v in slots.items()}
                      for i, slots in state_dict["state"].items()}
