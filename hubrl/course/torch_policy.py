"""A loaded agent back in torch: the course notebook's ``Policy`` (``forward`` -> probabilities, ``act``), its weights.

:meth:`hubrl.policy.Policy.to_torch` builds it. The layers carry hubrl's state-dict names (``net.0.weight``...), so
the weights are the loaded ones bit for bit; ``forward`` gives the same action probabilities as the numpy policy.
It is an ordinary ``nn.Module``: the course's ``reinforce()`` and ``torch.optim.Adam`` fine-tune it, and
:func:`hubrl.course.push_to_hub` pushes it back (it reads this ``forward`` like any student's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

__all__ = ["CoursePolicy"]


def _activation(name: str, param: float | None) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(param)
    if name == "elu":
        return nn.ELU(param)
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()


class CoursePolicy(nn.Module):
    """The course's ``Policy``: an MLP whose ``forward`` returns action probabilities and whose ``act`` samples.

    Args:
        config: the loaded policy's :class:`~hubrl.policy.PolicyConfig` (kept as ``self.config``).
        tensors: its weights by state-dict name (``net.0.weight``, ``net.0.bias``, ...; ``obs_mean``/``obs_var``/
            ``obs_count`` when the agent normalises observations, kept frozen as buffers).

    Example:
        >>> model = load_from_hub("bob/Reinforce-CartPole-v1").policy.to_torch()
        >>> action, log_prob = model.act(state)
    """

    def __init__(self, config: Any, tensors: Mapping[str, np.ndarray]):
        super().__init__()
        self.config = config
        sizes = [config.obs_dim, *config.hidden_sizes, config.n_actions]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(_activation(config.activation, config.activation_param))
        self.net = nn.Sequential(*layers)
        self.obs_norm = bool(config.obs_norm)
        if self.obs_norm:
            self.register_buffer("obs_mean", torch.zeros(config.obs_dim))
            self.register_buffer("obs_var", torch.ones(config.obs_dim))
            self.register_buffer("obs_count", torch.zeros((), dtype=torch.float64))
        self.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Action probabilities for a batch of observations (softmax over the actions, as in the course)."""
        if self.obs_norm:
            x = ((x - self.obs_mean) / torch.sqrt(self.obs_var + 1e-8)).clamp(-10.0, 10.0)
        return F.softmax(self.net(x), dim=-1)

    def act(self, state: np.ndarray) -> tuple[int, torch.Tensor]:
        """The course's ``act``: one action sampled from a ``Categorical``, and its log-probability (with grad)."""
        param = next(self.parameters())
        x = torch.from_numpy(np.asarray(state, dtype=np.float32)).unsqueeze(0).to(param.device)
        probs = self.forward(x).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)
